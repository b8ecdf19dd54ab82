"""Plausibility guards: each model variable may declare the range a sane run stays in (``plausible:`` in
the model files). A run that leaves it is reported with the variable, city and year; ensembles flag such
runs as they are stored (store.Store.implausible), count them and leave them out of percentiles and
probabilities, saying how many."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..engine import Model


def guarded(model: Model, among=None) -> list[str]:
    """The variables that declare a plausible range (of ``among``, in its order, if given)."""
    return [
        name for name in (model.variables if among is None else among) if model.variables[name].plausible is not None
    ]


def messages(model: Model, ds: xr.Dataset, limit: int = 10) -> list[str]:
    """One line per variable and city of a single run that leaves its plausible range: first year, value."""
    lines = []
    for name in guarded(model):
        if name not in ds:
            continue
        var = model.variables[name]
        low, high = var.plausible
        da = ds[name]
        for city in da["city"].values if "city" in da.dims else [None]:
            series = da.sel(city=city) if city is not None else da
            bad = ~((series >= low) & (series <= high))
            if "time" in series.dims and bool(bad.any()):
                t = int(np.flatnonzero(bad.values.reshape(len(series.time), -1).any(axis=1))[0])
                value = float(series.isel(time=t).max() if series.ndim > 1 else series.isel(time=t))
                where = f" in {city}" if city is not None else ""
                lines.append(
                    f"{name}{where} leaves its plausible range [{low:g}, {high:g}] {var.units} in "
                    f"{int(series.time[t])}: {value:.3g}"
                )
    return lines[:limit] + ([f"... and {len(lines) - limit} more"] if len(lines) > limit else [])


def flags(model: Model, names: list[str], values: np.ndarray, labels) -> np.ndarray:
    """Per run of a batch (values[run, save, column], columns named by ``labels``), a bit per variable of
    ``names`` (guarded ones) whose plausible range the run leaves."""
    bits = np.zeros(values.shape[0], dtype="u4")
    columns: dict[str, list[int]] = {}
    for j, (name, _) in enumerate(labels):
        columns.setdefault(name, []).append(j)
    for bit, name in enumerate(names):
        low, high = model.variables[name].plausible
        block = values[:, :, columns[name]]
        bits |= (~((block >= low) & (block <= high)).all(axis=(1, 2))).astype("u4") << bit
    return bits
