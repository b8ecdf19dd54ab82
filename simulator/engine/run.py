"""The batch driver: inputs -> compiled kernel -> arrays -> xarray Dataset with units."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numba
import numpy as np
import xarray as xr

from ..errors import SimulationError
from .build import Model
from .inputs import METHODS, Inputs, TimeGrid
from .kernel import load_kernel
from .layout import columns

TIME_CONVENTION = (
    "time is in years; stocks and other levels (cell_methods 'time: point') are the value "
    "at that time (year end); flows and rates ('time: mean') are averages over the "
    "interval that ends at that time, and at the start time their instantaneous value"
)


@dataclass
class Result:
    """Raw output of a batch: values[run, save, column] and what each column is."""

    model: Model
    grid: TimeGrid
    method: str
    record: list[str]
    values: np.ndarray
    labels: list[tuple[str, int]]
    failed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # runs that went non-finite

    def column(self, name: str, element: int = 0) -> int:
        """Index of a variable's element among the output columns."""
        return self.labels.index((name, element))


def default_record(model: Model) -> list[str]:
    """Every declared stock, flow, auxiliary and series (policy paths and data)."""
    return [n for n, v in model.variables.items() if v.kind in ("stock", "flow", "aux", "series") and not v.hidden]


PARALLEL_CHUNK = 16  # runs a thread takes at a time: threads share the work as they go, so one that
#                     loses its core for a while (to the thread storing the last chunk) holds up nothing


@contextmanager
def threads(n: int | None):
    """Run numba's parallel loops on n threads inside the block, handing out runs PARALLEL_CHUNK at a time."""
    before = numba.get_num_threads()
    if n is not None:
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        with numba.parallel_chunksize(PARALLEL_CHUNK):
            yield
    finally:
        numba.set_num_threads(before)


def simulate(
    model: Model,
    inputs: Inputs,
    grid: TimeGrid,
    method: str = "rk4",
    record=None,
    n_threads: int | None = None,
    dtype=np.float64,
    on_error: str = "raise",
) -> Result:
    """Integrate every run of ``inputs`` with the compiled kernel.

    If a run goes non-finite: ``on_error="raise"`` raises SimulationError naming the variable, element,
    time and run; ``"nan"`` fills that run's outputs with NaN and lists it in ``Result.failed``
    (ensembles and calibration use this, and report the failures).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    record = list(record or default_record(model))
    cols = columns(model, record)
    kernel = load_kernel(model)
    runs = inputs.runs
    out = np.empty((runs, grid.n_saves + 1, len(cols.labels)), dtype=dtype)
    status = np.zeros((runs, 3), dtype=np.int64)
    nonneg = np.array(
        [model.variables[n].nonnegative for n in model.stocks for _ in range(model.size(n))], dtype=np.bool_
    )
    params = np.ascontiguousarray(inputs.params, dtype=np.float64)
    series_grid = inputs.series_grid(grid)
    paths = series_paths(model, grid, method, cols.series, series_grid)
    want = model.reporting_wanted(record)
    want = want if len(want) else np.zeros(1, np.bool_)
    # a level that reads a time path takes, at a save time, the paths of the year that ends there
    levels_read_paths = any(n in model.reads_paths and model.variables[n].report == "point" for n in record)
    levels_read_slow = any(n in model.reads_slow and model.variables[n].report == "point" for n in record)
    with threads(n_threads):
        kernel.run_batch(
            params,
            *series_grid,
            inputs.lookup_table(),
            float(grid.start),
            float(grid.dt),
            grid.n_steps,
            grid.steps_per_save,
            METHODS[method],
            cols.state,
            cols.mean,
            cols.point,
            paths,
            cols.multipliers,
            levels_read_paths,
            levels_read_slow,
            nonneg if len(nonneg) else np.zeros(1, np.bool_),
            want,
            out,
            status,
        )
    failed = np.flatnonzero(status[:, 0])
    if len(failed) and on_error == "raise":
        raise _nonfinite_error(model, inputs, grid, method, status, failed, cols.labels)
    out[failed] = np.nan
    return Result(model, grid, method, record, out, cols.labels, failed)


def save_weights(grid: TimeGrid, method: str, report: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Weights (n_saves + 1, half steps) that turn series values on the half-step grid into what the
    driver records, one for the values where steps start and one for where they end (the two grids of
    Inputs.series_grid): the value at t0, then interval averages weighted as the integrator weights its
    stages (report mean) or the value at each save time (report point)."""
    n_half = 2 * grid.n_steps + 1
    starts, ends = np.zeros((grid.n_saves + 1, n_half)), np.zeros((grid.n_saves + 1, n_half))
    ends[0, 0] = 1.0
    if report == "point":
        for row in range(1, grid.n_saves + 1):
            ends[row, 2 * row * grid.steps_per_save] = 1.0
        return starts, ends
    dt = grid.dt
    for step in range(grid.n_steps):
        row = 1 + step // grid.steps_per_save
        h = 2 * step
        if METHODS[method] == 0:
            starts[row, h] += dt
        else:
            starts[row, h] += dt / 6.0
            starts[row, h + 1] += dt / 3.0 + dt / 3.0
            ends[row, h + 2] += dt / 6.0
    starts[1:] /= grid.steps_per_save * dt
    ends[1:] /= grid.steps_per_save * dt
    return starts, ends


def series_paths(model: Model, grid: TimeGrid, method: str, names: list[str], series_grid) -> np.ndarray:
    """What a run records of the series ``names`` (policy paths and data) before their multipliers:
    (n_saves + 1, elements), the same for every run, so computed here once; the kernel records each run's
    values, these times its multipliers. ``series_grid``: Inputs.series_grid(grid)."""
    if not names:
        return np.zeros((grid.n_saves + 1, 0))
    at_starts, at_ends = series_grid
    weights = {report: save_weights(grid, method, report) for report in ("mean", "point")}
    blocks = []
    for name in names:
        cols = [model.series_offset[name] + k for k in range(model.size(name))]
        w_starts, w_ends = weights[model.variables[name].report]
        blocks.append(w_starts @ at_starts[:, cols] + w_ends @ at_ends[:, cols])
    return np.ascontiguousarray(np.concatenate(blocks, axis=1))


def _nonfinite_error(model, inputs, grid, method, status, failed, labels) -> SimulationError:
    run = int(failed[0])
    step, column = int(status[run, 1]), int(status[run, 2])
    if column < 0:
        index = -1 - column
        stock = next(n for n in model.stocks if model.state_offset[n] <= index < model.state_offset[n] + model.size(n))
        what = model.element_label(stock, index - model.state_offset[stock])
    else:
        name, k = labels[column]
        what = model.element_label(name, k)
    when = grid.start + (step + 1) * grid.dt
    from .reference import first_nonfinite  # only once a run has failed: it replays the run, slowly, to find where

    origin = first_nonfinite(model, inputs, grid, method, run)
    detail = f"; it first appears in {origin[0]} at time {origin[1]:g}" if origin else ""
    var = model.variables[what.split("[")[0]]
    more = f" ({len(failed) - 1} other run(s) failed too)" if len(failed) > 1 else ""
    return SimulationError(
        f"run {run}: {what} is not finite by time {when:g}{detail} (declared in {var.file}:{var.line}){more}"
    )


def to_dataset(result: Result, runs: bool | None = None) -> xr.Dataset:
    """Wrap raw output as an xarray Dataset: dims (run,) time, then each variable's own dims."""
    model, grid = result.model, result.grid
    with_runs = result.values.shape[0] > 1 if runs is None else runs
    data_vars = {}
    column = 0
    names = list(dict.fromkeys(name for name, _ in result.labels))  # column order, each name once
    for name in names:
        var = model.variables[name]
        size = model.size(name)
        block = result.values[:, :, column : column + size]
        column += size
        block = block.reshape(block.shape[:2] + model.shape(name))
        dims = ("run", "time") + tuple(var.dims)
        if not with_runs:
            block, dims = block[0], dims[1:]
        data_vars[name] = xr.Variable(dims, block, attrs=variable_attrs(model, name))
    coords = {"time": ("time", year_coordinate(grid.times), {"units": "year", "long_name": "time (year end)"})}
    for name in result.record:
        for d in model.variables[name].dims:
            coords.setdefault(d, (d, list(model.spec.elements(d))))
    if with_runs:
        coords["run"] = ("run", np.arange(result.values.shape[0]))
    return xr.Dataset(
        data_vars,
        coords=coords,
        attrs={
            "integration_method": result.method,
            "dt_years": grid.dt,
            "start": grid.start,
            "end": grid.end,
            "time_convention": TIME_CONVENTION,
        },
    )


def year_coordinate(times: np.ndarray) -> np.ndarray:
    """Whole years as integers (2025, not 2025.0) when every output time is one."""
    rounded = np.round(times)
    return rounded.astype(np.int64) if np.allclose(times, rounded, rtol=0, atol=1e-9) else times


def variable_attrs(model: Model, name: str) -> dict:
    var = model.variables[name]
    return {
        "units": var.units,
        "long_name": name.replace("_", " "),
        "description": var.doc,
        "kind": var.kind,
        "sector": var.sector,
        "source": var.source,
        "cell_methods": "time: point" if var.kind == "stock" or var.report == "point" else "time: mean",
    }
