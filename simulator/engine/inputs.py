"""The arrays a run reads: parameters (runs x parameters), series and lookup points, the time grid."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .build import Model

METHODS = {"euler": 0, "rk4": 1, "partitioned": 2}  # partitioned: RK4, slow stocks by the midpoint rule


@dataclass(frozen=True)
class TimeGrid:
    """Start and end year, integration step and saving interval, all in years."""

    start: float
    end: float
    dt: float
    save: float = 1.0

    def __post_init__(self):
        problems = time_problems(self.start, self.end, self.dt, self.save)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def n_steps(self) -> int:
        return round((self.end - self.start) / self.dt)

    @property
    def steps_per_save(self) -> int:
        return round(self.save / self.dt)

    @property
    def n_saves(self) -> int:
        return self.n_steps // self.steps_per_save

    @property
    def times(self) -> np.ndarray:
        """Saved times: start, start + save, ..., end."""
        return self.start + self.save * np.arange(self.n_saves + 1)

    def half_step_times(self) -> np.ndarray:
        """t0 + h*dt/2 for every half step h, computed as the kernel computes them."""
        half = 0.5 * self.dt
        return np.array([self.start + h * half for h in range(2 * self.n_steps + 1)])


def time_problems(start: float, end: float, dt: float, save: float) -> list[str]:
    """What is wrong with a time grid, in words (empty if nothing)."""
    out = []
    if not all(math.isfinite(x) for x in (start, end, dt, save)):
        return ["start, end, dt and save must be finite numbers"]
    if end <= start:
        out.append(f"end {end:g} must be after start {start:g}")
    if dt <= 0:
        out.append(f"dt must be positive (got {dt:g})")
        return out
    if not _whole(1.0 / dt) and not _whole(dt):
        out.append(f"dt {dt:g} must divide a year (1, 0.5, 0.25, 1/12, ...)")
    if save <= 0 or not _whole(save / dt):
        out.append(f"save {save:g} must be a positive multiple of dt {dt:g}")
    elif end > start and not _whole((end - start) / save):
        out.append(f"the run {start:g}-{end:g} is not a whole number of save intervals ({save:g})")
    return out


def calendar_year(t: float, side: str = "start") -> int:
    """The calendar year a time path is read for at model time ``t``.

    Time paths are declared by calendar year ({2025: v} is the value over the year 2025) and read year by
    year: linear between the years given, flat beyond them, constant within a year. Levels are year-end
    values, so calendar year Y is the model-time interval (Y - 1, Y]. At a year boundary, ``side`` says
    which year: "start" (a step that starts there) the year that begins, "end" (a step that ends there,
    a value reported for the year) the year that ends.
    """
    return int(calendar_years(np.array([t], dtype=float), side)[0])


def calendar_years(times: np.ndarray, side: str = "start") -> np.ndarray:
    """calendar_year for an array of model times (as floats)."""
    whole = np.round(times)
    boundary = np.abs(times - whole) < 1e-9
    return np.where(boundary, whole + (side == "start"), np.floor(times) + 1)


def _whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-9 and round(x) >= 1


MULTIPLIER = ".multiplier"  # scenarios name a time path's per-run multiplier NAME.multiplier


@dataclass(frozen=True)
class InputRef:
    """A number runs may vary: a parameter, or the multiplier of a time path (``NAME.multiplier`` in scenarios),
    every element of it or one (``element``, a flat index). Only ``Inputs`` turns it into array columns."""

    name: str  # a parameter, or the time path the multiplier scales
    multiplier: bool = False
    element: int | None = None

    @classmethod
    def parse(cls, target: str, element: int | None = None) -> InputRef:
        """From a scenario's text: ``NAME`` or ``NAME.multiplier``."""
        if target.endswith(MULTIPLIER):
            return cls(target[: -len(MULTIPLIER)], True, element)
        return cls(target, False, element)

    def __str__(self) -> str:
        return self.name + (MULTIPLIER if self.multiplier else "")


@dataclass
class Inputs:
    """One scenario's inputs for a batch of runs. Parameters may differ run by run; series and
    lookup points are shared (a series can still vary by run through its multiplier parameter)."""

    model: Model
    params: np.ndarray  # (runs, n_param)
    series: dict[str, list] = field(default_factory=dict)  # name -> per element (years, values)
    lookups: dict[str, list] = field(default_factory=dict)  # name -> per element (x, y)

    @property
    def runs(self) -> int:
        return self.params.shape[0]

    def parameter(self, name: str | InputRef) -> np.ndarray:
        """(runs, *dims) view of a parameter (or of a time path's multiplier, 'NAME.multiplier'); (runs,) for one
        element."""
        ref = InputRef.parse(name) if isinstance(name, str) else name
        offset, size = self._block(ref)
        if ref.element is not None:
            return self.params[:, offset + ref.element]
        return self.params[:, offset : offset + size].reshape((self.runs,) + self.model.shape(ref.name))

    def set_parameter(self, name: str | InputRef, value, run=slice(None)):
        """Set a parameter for all runs (or some): value broadcast to the parameter's dims (or to the one
        element ``name`` names)."""
        ref = InputRef.parse(name) if isinstance(name, str) else name
        offset, size = self._block(ref)
        if ref.element is not None:
            self.params[run, offset + ref.element] = value
            return
        block = self.params[run, offset : offset + size]
        self.params[run, offset : offset + size] = np.broadcast_to(
            np.asarray(value, dtype=float), block.shape[:-1] + self.model.shape(ref.name)
        ).reshape(block.shape)

    def columns(self, ref: InputRef) -> np.ndarray:
        """The columns of ``params`` that hold ``ref``: one per element, or the one element it names."""
        offset, size = self._block(ref)
        return np.arange(offset, offset + size) if ref.element is None else np.array([offset + ref.element])

    def assign(self, ref: InputRef, values, scale: bool = False):
        """Each run's value of ``ref`` (``values``: one per run, or one for all), the same for every element it
        covers; with ``scale``, multiply what is there instead."""
        column = np.asarray(values, dtype=float).reshape(-1, 1)
        if scale:
            self.params[:, self.columns(ref)] *= column
        else:
            self.params[:, self.columns(ref)] = column

    def _block(self, ref: InputRef) -> tuple[int, int]:
        offsets = self.model.multiplier_offset if ref.multiplier else self.model.param_offset
        return offsets[ref.name], self.model.size(ref.name)

    def with_runs(self, runs: int) -> Inputs:
        """The same inputs repeated for ``runs`` runs (parameters copied from the first run)."""
        return Inputs(self.model, np.repeat(self.params[:1], runs, axis=0), dict(self.series), dict(self.lookups))

    def series_grid(self, grid: TimeGrid) -> tuple[np.ndarray, np.ndarray]:
        """Every series element at every half step, as the kernel reads them: (values where a step starts,
        values where a step ends), each (2 * n_steps + 1, n_series). They differ only at year boundaries,
        where a step starting there reads the new calendar year and a step ending there the old one."""
        times = grid.half_step_times()
        starts, ends = calendar_years(times, "start"), calendar_years(times, "end")
        years, index = np.unique(np.concatenate([starts, ends]), return_inverse=True)
        table = np.zeros((len(years), max(self.model.n_series, 1)))  # each series element, year by year
        for name in self.model.series:
            column = self.model.series_offset[name]
            for k, (xs, ys) in enumerate(self.series[name]):
                table[:, column + k] = np.interp(years, xs, ys)
        return table[index[: len(times)]], table[index[len(times) :]]

    def lookup_table(self) -> np.ndarray:
        """All lookup tables flattened: per table, per element, x values then y values."""
        out = np.zeros(max(self.model.n_lookup, 1))
        for name in self.model.lookups:
            n = self.model.lookup_points[name]
            start = self.model.lookup_offset[name]
            for k, (xs, ys) in enumerate(self.lookups[name]):
                out[start + 2 * n * k : start + 2 * n * k + n] = xs
                out[start + 2 * n * k + n : start + 2 * n * (k + 1)] = ys
        return out


def default_inputs(model: Model, runs: int = 1) -> Inputs:
    """Inputs with every parameter at its declared value and every multiplier at 1."""
    params = np.zeros((runs, max(model.n_param, 1)))
    for name in model.parameters:
        offset = model.param_offset[name]
        params[:, offset : offset + model.size(name)] = model.variables[name].value.ravel()
    for name in model.series:
        offset = model.multiplier_offset[name]
        params[:, offset : offset + model.size(name)] = 1.0
    series = {n: [(xs.copy(), ys.copy()) for xs, ys in model.variables[n].points] for n in model.series}
    lookups = {n: [(xs.copy(), ys.copy()) for xs, ys in model.variables[n].points] for n in model.lookups}
    return Inputs(model, params, series, lookups)
