"""Calibration configurations (``calibration/*.yaml``): what is fitted, to which observed series, over which
window -- read through the settings validator (``schema.CalibrationFile``) and checked against the model and its
data, every problem reported together as FILE:LINE: key.path: message."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import yamlio
from ..engine import Model, TimeGrid
from ..errors import InputError, Problem, did_you_mean
from . import schema
from .scenario import display_path
from .schema import CalibrationFile, FreeSettings, Posterior, TargetSettings


@dataclass
class Free:
    """One fitted number: a parameter, all its elements tied, or one element."""

    name: str
    elements: list[int]  # flat element indices set to this value
    label: str
    low: float
    high: float
    default: float
    prior: tuple[float, float] | None = None  # (mean, sd)
    needs: tuple[str, ...] = ()  # target series that inform it; a window without them holds it (backtests)


@dataclass
class Target:
    series: str
    variable: str
    transform: str
    error: float
    weight: float
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # city, year, value


@dataclass
class Config:
    path: Path
    name: str
    description: str
    grid: TimeGrid
    method: str
    data_path: Path
    fitted_path: Path
    free: list[Free]
    targets: list[Target]
    starts: int
    seed: int
    ensemble_samples: int
    scenario_path: Path | None
    text: str
    carry_over: dict = field(default_factory=dict)  # parameter -> (numerator, denominator) at the window end
    posterior: Posterior = field(default_factory=Posterior)

    def with_window_end(self, end: int) -> Config:
        """The same configuration with the window (and the targets) ending at ``end``: a backtest origin."""
        from dataclasses import replace

        grid = TimeGrid(self.grid.start, float(end), self.grid.dt, 1.0)
        targets = [replace(t, rows=t.rows[t.rows.year <= end].reset_index(drop=True)) for t in self.targets]
        return replace(self, grid=grid, targets=[t for t in targets if len(t.rows)])


def load_config(path, model: Model) -> Config:
    """A calibration configuration, checked against the model and its data; every problem is reported
    together (InputError) as FILE:LINE: key.path: message."""
    path = Path(path)
    doc, problems = yamlio.load(display_path(path))
    if doc is None:
        raise InputError(problems or [Problem(str(path), None, "", "cannot read the file")])

    def bad(key: tuple, message: str):
        problems.append(doc.problem(key, message))

    file = schema.read(doc.data, CalibrationFile, (), bad)
    grid = None
    if file.window.start < file.window.end:
        try:
            grid = TimeGrid(float(file.window.start), float(file.window.end), file.dt, 1.0)
        except ValueError as exc:
            bad(("dt",), str(exc))
    else:
        bad(("window",), f"start {file.window.start} must be before end {file.window.end}")
    data_path = path.parent / file.data
    if not data_path.exists():
        bad(("data",), f"file not found: {data_path}")
    scenario_path = (path.parent / file.scenario) if file.scenario else None
    if scenario_path is not None and not scenario_path.exists():
        bad(("scenario",), f"file not found: {file.scenario}")
    free = _free(file.free, model, bad)
    targets = _targets(file.targets, model, grid, data_path, bad)
    carry_over = _carry_over_ratios(file.carry_over, model, bad)
    if file.posterior.burn >= file.posterior.steps:
        bad(
            ("posterior", "burn"),
            f"burn-in {file.posterior.burn} must be shorter than the chain ({file.posterior.steps})",
        )
    if problems:
        raise InputError(problems)
    return Config(
        path=path,
        name=file.name or path.stem,
        description=file.description,
        grid=grid,
        method=file.method,
        data_path=data_path,
        fitted_path=path.parent / (file.fitted_file or f"fitted/{path.stem}.yaml"),
        free=free,
        targets=targets,
        starts=file.starts,
        seed=file.seed,
        ensemble_samples=file.ensemble.samples,
        scenario_path=scenario_path,
        text=path.read_text(encoding="utf-8"),
        carry_over=carry_over,
        posterior=file.posterior,
    )


def _free(section: dict, model: Model, bad) -> list[Free]:
    """``free:``: the fitted numbers, one per element unless ``per_element: false`` ties them."""
    if not section:
        bad(("free",), "name the parameters to fit, e.g. tfp_growth: {bounds: [0, 0.05]}")
    free = []
    for name, spec in section.items():
        key = ("free", name)
        var = model.variables.get(name)
        if var is None or var.kind != "parameter":
            bad(key, f"unknown parameter {name!r}{did_you_mean(name, model.parameters)}")
            continue
        entry = schema.read(spec, FreeSettings, key, bad)
        bounds = entry.bounds
        if not (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(yamlio.number(b) is not None for b in bounds)
            and bounds[0] < bounds[1]
        ):
            bad(key + ("bounds",), "give [low, high] with low < high")
            continue
        prior = entry.prior
        if prior is not None and not (
            set(prior) == {"mean", "sd"}
            and yamlio.number(prior["mean"]) is not None
            and (yamlio.number(prior["sd"]) or 0) > 0
        ):
            bad(key + ("prior",), "give {mean: m, sd: s} with s > 0")
            prior = None
        if not all(isinstance(n, str) for n in entry.needs):
            bad(key + ("needs",), "a list of target series names, e.g. [population_census]")
        size = model.size(name)
        per_element = entry.per_element and size > 1
        for group in [[k] for k in range(size)] if per_element else [list(range(size))]:
            default = float(np.ravel(var.value)[group[0]])
            label = model.element_label(name, group[0]) if per_element else name
            free.append(
                Free(
                    name,
                    group,
                    label,
                    float(bounds[0]),
                    float(bounds[1]),
                    float(np.clip(default, bounds[0], bounds[1])),
                    (float(prior["mean"]), float(prior["sd"])) if prior else None,
                    tuple(n for n in entry.needs if isinstance(n, str)),
                )
            )
    return free


def _targets(entries: list, model: Model, grid: TimeGrid | None, data_path: Path, bad) -> list[Target]:
    """``targets:``: the observed series fitted, each row within the window."""
    observed = pd.read_csv(data_path) if data_path.exists() else pd.DataFrame()
    targets = []
    for i, spec in enumerate(entries):
        key = ("targets", yamlio.Index(i))
        target = schema.read(spec, TargetSettings, key, bad)
        if target.variable not in model.variables:
            bad(
                key + ("variable",),
                f"unknown model variable {target.variable!r}{did_you_mean(target.variable, model.variables)}",
            )
            continue
        if not target.error:
            bad(key + ("error",), "the observation error (relative for levels, absolute for growth rates) > 0")
            continue
        if target.years is not None and not all(isinstance(y, int) and not isinstance(y, bool) for y in target.years):
            bad(key + ("years",), "a list of years, e.g. [2010, 2015, 2020]")
            continue
        rows = observed[observed.series == target.series] if len(observed) else observed
        if not len(rows):
            bad(key + ("series",), f"no rows of series {target.series!r} in {data_path.name}")
            continue
        if grid is not None:
            low = grid.start + (1 if target.transform == "growth_rate" else 0)
            rows = rows[(rows.year >= low) & (rows.year <= grid.end)]
        if target.years:
            rows = rows[rows.year.isin(target.years)]
        regional = not model.variables[target.variable].dims
        places = ["all"] if regional else list(model.spec.elements("city"))
        strangers = sorted(set(rows.city) - set(places))
        if strangers:
            has = "one value for the four cities (rows of city all)" if regional else "a value per city"
            bad(
                key + ("series",),
                f"rows of {target.series!r} for {', '.join(map(str, strangers))} in {data_path.name}: "
                f"{target.variable!r} has {has}",
            )
            continue
        if target.skip_start and grid is not None and target.transform == "level":
            rows = rows[rows.year > grid.start]  # the start year is matched by construction
        targets.append(
            Target(
                target.series,
                target.variable,
                target.transform,
                target.error,
                target.weight,
                rows[["city", "year", "value"]].reset_index(drop=True),
            )
        )
    if not targets:
        bad(("targets",), "give at least one target series")
    return targets


def _carry_over_ratios(section: dict, model: Model, bad) -> dict[str, tuple[str, str]]:
    """``carry_over:``: parameters a backtest sets from a ratio of the window run's last values."""
    carry_over = {}
    for name, spec in section.items():
        key = ("carry_over", name)
        pair = spec.get("ratio") if isinstance(spec, dict) else None
        if name not in model.parameters:
            bad(key, f"unknown parameter {name!r}")
        elif not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) and v in model.variables for v in pair)
        ):
            bad(key, "give {ratio: [numerator variable, denominator variable]}")
        else:
            carry_over[name] = tuple(pair)
    return carry_over
