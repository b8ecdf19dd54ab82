"""Scenario files: YAML -> a validated Scenario, every name checked against the model.

A scenario says what differs from the model's defaults. Its keys, with their values, defaults and meanings,
are declared once in schema.py (listed in docs/settings.md). A file ``extends`` others (its own entries
replace theirs by name), and ``parameters_from`` applies a fitted-parameter file before ``parameters``. What
the schema cannot check, this module does: the names and forms of

parameters          NAME: value | {element: value, ...} | {value: v, units: u}
policies            NAME (a time path of the model): {year: value, ...} | {element: {year: value}} |
                    {start: year, value: v} (a switch) | {multiply: factor or {year: factor}}
uncertain           NAME or policies.NAME: a distribution (used by Monte Carlo); assumed_parameters: uniform
goals, outputs      goal ids and variables
search              levers, objectives and constraints (``simulate search``)

Every problem is collected and reported as ``FILE:LINE: key.path: message``; nothing is evaluated.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import yamlio
from ..engine import Inputs, Model, TimeGrid, default_inputs
from ..engine.inputs import InputRef, time_problems
from ..engine.run import default_record
from ..engine.units import UnitError, parse_unit
from ..errors import InputError, Problem, ScenarioError, did_you_mean
from ..yamlio import number as yaml_number
from . import schema
from .schema import FORMATS, GoalChoice, MonteCarlo, OutputChoice, ScenarioFile, SearchSettings, TimeSettings

DISTRIBUTIONS = {  # what a scenario may write; "posterior" rows come from a calibration's draws
    "uniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "truncnormal": ("mean", "sd", "low", "high"),
    "lognormal": ("median", "sigma"),
    "triangular": ("low", "mode", "high"),
    "choice": ("values",),
}
SWITCH_EPS = 1e-6  # years: a switch is a step between start - eps and start


@dataclass
class Distribution:
    """One uncertain input: a parameter (all elements or one) or a policy multiplier."""

    target: str  # parameter name, or "NAME.multiplier" for a policy path
    dist: str
    args: dict
    element: int | None = None  # flat element index, or None for one draw shared by all elements
    label: str = ""

    @property
    def ref(self) -> InputRef:
        return InputRef.parse(self.target, self.element)


@dataclass(frozen=True)
class SearchLever:
    """One lever of a policy search: a parameter (all elements or one) or a policy multiplier, searched over
    [low, high] or over a list of choices."""

    label: str  # as the scenario writes it: required_return[ordos], policies.coal_cap
    target: str  # parameter name, or "NAME.multiplier" for a policy path
    element: int | None
    low: float
    high: float
    choices: tuple[float, ...] = ()

    @property
    def ref(self) -> InputRef:
        return InputRef.parse(self.target, self.element)

    def values(self, u: np.ndarray) -> np.ndarray:
        """The lever's values for positions ``u`` in [0, 1] (the optimiser's coordinates)."""
        if self.choices:
            index = np.minimum((np.asarray(u) * len(self.choices)).astype(int), len(self.choices) - 1)
            return np.asarray(self.choices)[index]
        return self.low + np.asarray(u) * (self.high - self.low)


@dataclass(frozen=True)
class SearchObjective:
    """Maximise or minimise either the probability a goal is met, or the mean over the futures of a model
    output's total (over cities, and sectors where it has them) in one year."""

    label: str
    sense: str  # "max" or "min"
    goal: str = ""
    variable: str = ""
    year: float = 0.0


@dataclass(frozen=True)
class SearchSpec:
    levers: tuple[SearchLever, ...]
    objectives: tuple[SearchObjective, ...]
    constraints: tuple[tuple[str, float], ...]  # (goal id, least probability it must be met)
    futures: int
    generations: int
    population: int
    seed: int
    dt: float | None = None  # years: the generations' integration step; None, the scenario's own


@dataclass
class Scenario:
    name: str
    description: str
    path: Path | None
    data: dict  # the merged scenario as plain data (written out as scenario.resolved.yaml)
    time: TimeGrid
    method: str
    parameters: dict[str, np.ndarray] = field(default_factory=dict)  # full arrays, dims of the parameter
    fitted: dict[str, np.ndarray] = field(default_factory=dict)  # the calibrated values (parameters_from)
    policies: dict[str, list] = field(default_factory=dict)  # name -> per element (years, values)
    uncertain: list[Distribution] = field(default_factory=list)
    monte_carlo: MonteCarlo = field(default_factory=MonteCarlo)
    goals: GoalChoice = field(default_factory=GoalChoice)
    outputs: OutputChoice = field(default_factory=OutputChoice)
    search: SearchSpec | None = None

    def require_uncertain(self, consequence: str) -> None:
        """The input error of a command that needs uncertain inputs, if this scenario has none."""
        if not self.uncertain:
            raise InputError(Problem(str(self.path), None, "uncertain", f"no uncertain inputs: {consequence}"))

    def inputs(self, model: Model, runs: int = 1) -> Inputs:
        """Kernel inputs: the model's defaults with this scenario's parameters and policies."""
        inputs = default_inputs(model, runs)
        for name, value in self.parameters.items():
            inputs.set_parameter(name, value)
        for name, points in self.policies.items():
            inputs.series[name] = [(np.asarray(x, float), np.asarray(y, float)) for x, y in points]
        return inputs


# ------------------------------------------------------------------------------------------------
# loading and merging


class _Sources:
    """Which document each (section, name) entry of the merged scenario came from."""

    def __init__(self):
        self.origin: dict[tuple, yamlio.Document] = {}

    def problem(self, path: tuple, message: str, default: yamlio.Document) -> Problem:
        for k in range(len(path), 0, -1):
            doc = self.origin.get(tuple(path[:k]))
            if doc is not None:
                return doc.problem(path, message)
        return default.problem(path, message)


def _read(path: Path, stack: tuple, problems: list, sources: _Sources) -> dict | None:
    """Read a scenario file and the files it extends, merged; None if it cannot be read."""
    doc, found = yamlio.load(display_path(path))
    problems.extend(found)
    if doc is None:
        return None
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "a scenario is a mapping of keys such as name, time, parameters"))
        return None
    data = doc.data
    merged: dict = {}
    extends = data.get("extends")
    if extends is not None:
        bases = extends if isinstance(extends, list) else [extends]
        for i, base in enumerate(bases):
            key = ("extends",) if not isinstance(extends, list) else ("extends", yamlio.Index(i))
            if not isinstance(base, str):
                problems.append(doc.problem(key, "give the path of a scenario file (relative to this one)"))
                continue
            base_path = (path.parent / base).resolve()
            if base_path in stack:
                chain = " -> ".join(p.name for p in stack + (base_path,))
                problems.append(doc.problem(key, f"extends cycle: {chain}"))
                continue
            if not base_path.exists():
                problems.append(doc.problem(key, f"file not found: {base} (looked in {path.parent})"))
                continue
            base_data = _read(base_path, stack + (base_path,), problems, sources)
            if base_data is not None:
                _merge(merged, base_data)
    own = {k: v for k, v in data.items() if k != "extends"}
    if isinstance(own.get("parameters_from"), str):  # relative to the file that names it
        own["parameters_from"] = str((path.parent / own["parameters_from"]).resolve())
    posterior = own.get("uncertain", {}).get("posterior") if isinstance(own.get("uncertain"), dict) else None
    if isinstance(posterior, dict) and isinstance(posterior.get("draws"), str):
        own["uncertain"] = {
            **own["uncertain"],
            "posterior": {**posterior, "draws": str((path.parent / posterior["draws"]).resolve())},
        }
    _merge(merged, own)
    for key, value in own.items():
        sources.origin[(key,)] = doc
        for sub in value if isinstance(value, dict) else ():
            sources.origin[(key, sub)] = doc
    return merged


def display_path(path: Path) -> str:
    """A path as messages show it: relative to the working folder when that is shorter."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if len(rel) < len(str(path)) else str(path)


def _merge(into: dict, data: dict):
    """Later entries replace earlier ones by name, one level down inside each section."""
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value


def load_scenario(path, model: Model | None = None) -> Scenario:
    """Read and validate a scenario file against the model (the regional model by default).

    Raises ScenarioError listing every problem found.
    """
    from ..model import load_model

    model = model or load_model()
    path = Path(path)
    problems: list[Problem] = []
    sources = _Sources()
    top = yamlio.Document(None, str(path))
    data = _read(path.resolve(), (path.resolve(),), problems, sources) if path.exists() else None
    if not path.exists():
        problems.append(Problem(str(path), None, "", "scenario file not found"))
    if data is None:
        raise ScenarioError(problems)
    top = next((d for d in sources.origin.values() if Path(d.file).resolve() == path.resolve()), top)
    check = _Checker(model, sources, top, problems)
    scenario = check.scenario(data, path)
    if problems:
        raise ScenarioError(problems)
    return scenario


# ------------------------------------------------------------------------------------------------
# validation


def _one_of(value, choices) -> bool:
    """Whether a YAML value is one of the named choices (a list or a mapping never is)."""
    return isinstance(value, str) and value in choices


class _Checker:
    def __init__(self, model: Model, sources: _Sources, top: yamlio.Document, problems: list):
        self.model = model
        self.sources = sources
        self.top = top
        self.problems = problems
        self.fitted_doc: yamlio.Document | None = None

    def bad(self, path, message):
        self.problems.append(self.sources.problem(tuple(path), message, self.top))

    # -- top level ---------------------------------------------------------------------------
    def scenario(self, data: dict, path: Path) -> Scenario:
        file = schema.read(data, ScenarioFile, (), self.bad)
        if file.name is None and not ("name" in data and data["name"] is not None):
            self.bad(("name",), "give the scenario a name (a non-empty string)")
        grid = self.time(file.time)
        scenario = Scenario(
            name=file.name or path.stem,
            description=file.description,
            path=path,
            data=data,
            time=grid,
            method=file.time.method,
            monte_carlo=file.monte_carlo,
            goals=self.goals(file.goals),
            outputs=self.outputs(file.outputs),
        )
        fitted = self.parameters_from(file.parameters_from)
        scenario.fitted = self.parameters(fitted, {}, source=self.fitted_doc)
        scenario.parameters = {**scenario.fitted, **self.parameters(file.parameters, scenario.fitted)}
        scenario.policies = self.policies(file.policies, grid)
        scenario.uncertain = self.uncertain(file.uncertain, calibrated=set(scenario.fitted))
        if file.search is not None:
            scenario.search = self.search(file.search, scenario)
        return scenario

    def mapping(self, value, path) -> dict:
        if not isinstance(value, dict):
            self.bad(path, f"must be a mapping (key: value), not {type(value).__name__}")
            return {}
        return value

    # -- time --------------------------------------------------------------------------------
    def time(self, time: TimeSettings) -> TimeGrid:
        """The time grid, once the settings make one the model can run (else the default grid, after
        reporting why)."""
        messages = time_problems(time.start, time.end, time.dt, time.save)
        for message in messages:
            key = message.split()[0] if message.split()[0] in ("end", "dt", "save") else "save"
            self.bad(("time", key), message)
        if messages or not self.horizon(time.start, time.end):
            time = TimeSettings()
        return TimeGrid(start=time.start, end=time.end, dt=time.dt, save=time.save)

    def horizon(self, start: float, end: float) -> bool:
        """Whether the run starts and ends where the model has a basis (its declared ``horizon``)."""
        if self.model.spec.horizon is None:
            return True
        (first, last), latest = self.model.spec.horizon
        ok = True
        if not first <= start <= last or start % 1:
            self.bad(
                ("time", "start"), f"the model starts from the statistics of a year {first:g}-{last:g} (got {start:g})"
            )
            ok = False
        if end > latest:
            self.bad(
                ("time", "end"),
                f"runs end by {latest:g} at the latest (got {end:g}): the model's exogenous "
                "paths and the plan's goals reach 2035, and beyond that it has no basis",
            )
            ok = False
        return ok

    # -- parameters --------------------------------------------------------------------------
    def parameters_from(self, value) -> dict:
        if value is None:
            return {}
        if not isinstance(value, str):
            self.bad(("parameters_from",), "give the path of a fitted-parameter file")
            return {}
        doc, found = yamlio.load(value)
        if doc is None:
            self.bad(("parameters_from",), f"cannot read {value}: {found[0].message if found else ''}")
            return {}
        self.problems.extend(found)
        params = doc.data.get("parameters") if isinstance(doc.data, dict) else None
        if not isinstance(params, dict):
            self.bad(("parameters_from",), f"{value} has no 'parameters' mapping (is it a fitted-parameter file?)")
            return {}
        self.fitted_doc = doc
        return params

    def parameters(self, section: dict, base: dict, source: yamlio.Document | None = None) -> dict:
        """Parameter arrays from ``section``; an element it does not name keeps its value in ``base`` (the
        fitted value) or the declared default. ``source``: the file problems are reported in (default:
        the scenario file that set the entry)."""
        model = self.model
        out = {}
        bad = (
            self.bad if source is None else (lambda path, message: self.problems.append(source.problem(path, message)))
        )
        for name, spec in section.items():
            path = ("parameters", name)
            var = model.variables.get(name) if isinstance(name, str) else None
            if var is None or var.hidden:
                bad(path, f"unknown parameter{did_you_mean(name, model.parameters)}")
                continue
            if var.kind == "series":
                bad(path, f"{name} is a time path; set it under policies")
                continue
            if var.kind != "parameter":
                bad(path, f"{name} is a {var.kind} computed by the model, not a parameter")
                continue
            if isinstance(spec, dict) and "value" in spec:
                units = spec.get("units")
                extra = set(spec) - {"value", "units"}
                if extra:
                    bad(path + (sorted(extra)[0],), "a parameter entry takes only 'value' and 'units'")
                if units is not None:
                    self.check_units(path + ("units",), units, var.units)
                spec = spec["value"]
            value = np.array(base.get(name, var.value), dtype=float)
            if self.fill(value, spec, var, path, bad=bad):
                out[name] = value
        return out

    def check_units(self, path, given, declared):
        try:
            same = parse_unit(str(given), self.model.spec.unit_definitions) == parse_unit(
                declared, self.model.spec.unit_definitions
            )
        except UnitError as exc:
            self.bad(path, str(exc))
            return
        if not same:
            self.bad(
                path,
                f"units {given!r} do not match the parameter's units {declared!r} "
                "(the model stores base units: persons, yuan, m3, t)",
            )

    def fill(self, value: np.ndarray, spec, var, path, depth=0, index=(), bad=None) -> bool:
        """Write a number, or a mapping of elements to numbers, into value (the parameter's array)."""
        bad = bad or self.bad
        if depth == len(var.dims) or not isinstance(spec, dict):
            number = yaml_number(spec)
            if number is None:
                bad(
                    path,
                    f"must be a number{' or a mapping of elements' if depth < len(var.dims) else ''} (got {spec!r})",
                )
                return False
            if var.bounds and not var.bounds[0] <= number <= var.bounds[1]:
                bad(path, f"{number:g} is outside {var.name}'s valid range {list(var.bounds)} ({var.units})")
                return False
            value[index] = number
            return True
        ok, entries = self.elements(spec, var.dims[depth], path, bad)
        for position, sub, sub_path in entries:
            ok &= self.fill(value, sub, var, sub_path, depth + 1, index + (position,), bad)
        return ok

    def elements(self, spec: dict, dim: str, path: tuple, bad=None):
        """(all names known, [(position, value, key path)]) for a mapping of element names of ``dim``."""
        elements = self.model.spec.elements(dim)
        ok, entries = True, []
        for element, sub in spec.items():
            if element not in elements:
                (bad or self.bad)(
                    path + (element,),
                    f"unknown element of {dim!r}{did_you_mean(element, elements)}; elements: {', '.join(elements)}",
                )
                ok = False
            else:
                entries.append((elements.index(element), sub, path + (element,)))
        return ok, entries

    # -- policies ----------------------------------------------------------------------------
    def policies(self, section: dict, grid: TimeGrid) -> dict:
        model = self.model
        section = self.mapping(section, ("policies",))
        out = {}
        for name, spec in section.items():
            path = ("policies", name)
            var = model.variables.get(name) if isinstance(name, str) else None
            if var is None or var.kind != "series":
                hint = (
                    " (it is a parameter: set it under parameters)"
                    if var is not None and var.kind == "parameter"
                    else did_you_mean(name, model.series)
                )
                self.bad(path, f"unknown policy or time path{hint}; time paths: see `simulate list`")
                continue
            points = [(xs.copy(), ys.copy()) for xs, ys in var.points]
            if self.path_spec(points, spec, var, path, grid, ()):
                out[name] = points
        return out

    def path_spec(self, points, spec, var, path, grid, index) -> bool:
        """Apply one policy entry to the elements selected by ``index`` (a prefix of the dims)."""
        spec_dims = var.dims[len(index) :]
        shape = self.model.spec.shape(var.dims)
        if (
            isinstance(spec, dict)
            and spec
            and all(isinstance(k, str) for k in spec)
            and spec_dims
            and not set(spec) & {"start", "value", "multiply"}
        ):
            ok, entries = self.elements(spec, spec_dims[0], path)
            for position, sub, sub_path in entries:
                ok &= self.path_spec(points, sub, var, sub_path, grid, index + (position,))
            return ok
        targets = [
            int(np.ravel_multi_index(index + rest, shape)) if shape else 0
            for rest in np.ndindex(self.model.spec.shape(spec_dims))
        ]
        for k in targets:
            new = self.one_path(points[k], spec, var, path, grid)
            if new is None:
                return False
            points[k] = new
        return True

    def one_path(self, old, spec, var, path, grid):
        """A new (years, values) for one element, or None after reporting problems."""
        xs, ys = old
        if yaml_number(spec) is not None:
            return self.checked(np.array([grid.start]), np.array([float(spec)]), var, path)
        if not isinstance(spec, dict) or not spec:
            self.bad(path, "give {year: value, ...}, {start: year, value: v}, {multiply: ...} or one number")
            return None
        keys = set(spec)
        if keys <= {"start", "value"} and "start" in keys:
            start = self.year(spec["start"], path + ("start",), grid)
            value = yaml_number(spec.get("value", 1))
            if value is None:
                self.bad(path + ("value",), f"must be a number (got {spec.get('value')!r})")
            if start is None or value is None:
                return None
            before = float(np.interp(start, xs, ys))
            keep = xs < start - SWITCH_EPS
            new_x = np.concatenate([xs[keep], [start - SWITCH_EPS, start]])
            new_y = np.concatenate([ys[keep], [before, value]])
            return self.checked(new_x, new_y, var, path)
        if keys == {"multiply"}:
            factor = spec["multiply"]
            if yaml_number(factor) is not None:
                with np.errstate(over="ignore"):  # an overflow is refused by checked()
                    return self.checked(xs, ys * float(factor), var, path)
            if isinstance(factor, dict) and "start" in factor and set(factor) <= {"start", "value"}:
                start = self.year(factor["start"], path + ("multiply", "start"), grid)
                value = yaml_number(factor.get("value", 1))
                if value is None:
                    self.bad(path + ("multiply", "value"), f"must be a number (got {factor.get('value')!r})")
                if start is None or value is None:
                    return None
                fx, fy = np.array([start - SWITCH_EPS, start]), np.array([1.0, value])
            else:
                years = self.years(factor, path + ("multiply",), grid)
                if years is None:
                    return None
                fx, fy = years
            grid_x = np.union1d(xs, fx)
            with np.errstate(over="ignore"):
                return self.checked(grid_x, np.interp(grid_x, xs, ys) * np.interp(grid_x, fx, fy), var, path)
        if keys & {"start", "value", "multiply"}:
            self.bad(path, "a switch is {start: year, value: v}; a multiplier is {multiply: factor or {year: factor}}")
            return None
        years = self.years(spec, path, grid)
        if years is None:
            return None
        return self.checked(*years, var, path)

    def year(self, raw, path, grid):
        year = yaml_number(raw)
        if year is None:
            self.bad(path, f"a year must be a number (got {raw!r})")
            return None
        if year < grid.start:
            self.bad(path, f"year {year:g} is before the start year {grid.start:g}")
            return None
        if year > grid.end:
            self.bad(path, f"year {year:g} is after the end year {grid.end:g}")
            return None
        return year

    def years(self, spec, path, grid):
        if not isinstance(spec, dict) or not spec:
            self.bad(path, "give a time path as {year: value, ...}")
            return None
        pairs = []
        ok = True
        for key, value in spec.items():
            year = self.year(key, path + (key,), grid)
            number = yaml_number(value)
            if number is None:
                self.bad(path + (key,), f"must be a number (got {value!r})")
            if year is None or number is None:
                ok = False
                continue
            pairs.append((year, number))
        if not ok:
            return None
        pairs.sort()
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    def checked(self, xs, ys, var, path):
        if not np.all(np.isfinite(ys)):
            self.bad(path, "the path's values must be finite numbers")
            return None
        if var.bounds and (np.any(ys < var.bounds[0]) or np.any(ys > var.bounds[1])):
            self.bad(path, f"values outside {var.name}'s valid range {list(var.bounds)} ({var.units})")
            return None
        return (np.asarray(xs, float), np.asarray(ys, float))

    # -- uncertainty, Monte Carlo, goals, outputs ---------------------------------------------
    def uncertain(self, section, calibrated: set) -> list[Distribution]:
        """The uncertain inputs, one per (input, element). Order of precedence, lowest first: the generic
        ``assumed_parameters`` (never a calibrated parameter),
        the calibration's ``posterior`` draws (used jointly, a row per run), then explicit entries; a later
        entry for the same element replaces an earlier one, so nothing is drawn twice."""
        model = self.model
        section = self.mapping(section, ("uncertain",))
        out = []
        posterior = self.posterior(section["posterior"]) if "posterior" in section else []
        calibrated = calibrated | {d.target for d in posterior}
        if "assumed_parameters" in section:
            if section["assumed_parameters"] != "uniform":
                self.bad(
                    ("uncertain", "assumed_parameters"),
                    "the only choice is 'uniform' (each assumed value uniform over its range)",
                )
            else:
                out += assumed_distributions(model, calibrated)
        for dist in posterior:
            out = [d for d in out if d.target != dist.target or d.element not in (dist.element, None)]
            out.append(dist)
        for name, spec in section.items():
            path = ("uncertain", name)
            if name in ("assumed_parameters", "posterior"):
                continue
            target, var, element = self.input_reference(name, path)
            if var is None:
                continue
            spec = self.mapping(spec, path)
            if not spec:
                continue
            per_element = spec.get("per_element", False)
            if not isinstance(per_element, bool):
                self.bad(path + ("per_element",), "true or false")
                per_element = False
            dist = spec.get("dist")
            if not _one_of(dist, DISTRIBUTIONS):
                self.bad(path + ("dist",), f"one of {', '.join(DISTRIBUTIONS)}{did_you_mean(dist, DISTRIBUTIONS)}")
                continue
            args = {k: v for k, v in spec.items() if k not in ("dist", "per_element")}
            if not self.distribution(dist, args, path) or not self.within_bounds(var, target, dist, args, path):
                continue
            size = model.size(var.name)
            elements = [element] if element is not None else range(size) if per_element else [None]
            for k in elements:
                label = (
                    str(name)
                    if k is None or element is not None
                    else model.element_label(var.name, k).replace(var.name, str(name), 1)
                )
                # replace what this entry covers: the same element, or every element of the input
                out = [d for d in out if d.target != target or (k is not None and d.element not in (k, None))]
                out.append(Distribution(target, dist, args, k, label))
        return out

    def posterior(self, spec) -> list[Distribution]:
        """``posterior: {draws: FILE.csv}``: a table of calibrated draws, a column per input (named like
        ``tfp_growth[ordos]``), a row per draw; each run takes one whole row, so correlations survive."""
        path = ("uncertain", "posterior")
        spec = self.mapping(spec, path)
        if set(spec) != {"draws"} or not isinstance(spec.get("draws"), str):
            self.bad(path, "give {draws: FILE.csv}, a table of posterior draws from `simulate calibrate`")
            return []
        try:
            table = read_draws(spec["draws"])
        except (OSError, ValueError) as exc:
            self.bad(path + ("draws",), f"cannot read the posterior draws {spec['draws']}: {exc}")
            return []
        out = []
        for j, column in enumerate(table["columns"]):
            target, var, element = self.input_reference(column, path + ("draws",))
            if var is None:
                continue
            values = table["values"][:, j]
            if var.bounds and (values.min() < var.bounds[0] or values.max() > var.bounds[1]):
                self.bad(
                    path + ("draws",),
                    f"column {column}: draws outside {var.name}'s valid range [{var.bounds[0]:g}, {var.bounds[1]:g}]",
                )
                continue
            out.append(Distribution(target, "posterior", {"draws": spec["draws"], "column": j}, element, column))
        return out

    def within_bounds(self, var, target: str, dist: str, args: dict, path) -> bool:
        """Refuse a distribution that can draw values outside the input's valid range (for a policy
        multiplier: that would take the path outside its valid range)."""
        if not var.bounds:
            return True
        low, high = support(dist, args)
        if InputRef.parse(target).multiplier:
            values = np.concatenate([ys for _, ys in var.points])
            drawn = np.concatenate([values * low, values * high]) if np.isfinite([low, high]).all() else [-np.inf]
            low, high = float(np.min(drawn)), float(np.max(drawn))
        if low < var.bounds[0] or high > var.bounds[1]:
            self.bad(
                path,
                f"a {dist} draw can reach {low:g} to {high:g}, outside {var.name}'s valid range "
                f"[{var.bounds[0]:g}, {var.bounds[1]:g}] ({var.units}); keep the distribution within it "
                "(e.g. truncnormal with low and high inside the range)",
            )
            return False
        return True

    def element_index(self, var, subs, path):
        if len(subs) != len(var.dims):
            self.bad(path, f"{var.name} has dims {list(var.dims)}: give one element for each")
            return None
        index = []
        for sub, dim in zip(subs, var.dims):
            elements = self.model.spec.elements(dim)
            if sub not in elements:
                self.bad(path, f"unknown element {sub!r} of {dim!r}{did_you_mean(sub, elements)}")
                return None
            index.append(elements.index(sub))
        return int(np.ravel_multi_index(index, self.model.spec.shape(var.dims))) if index else None

    def input_reference(self, name, path):
        """``NAME``, ``NAME[city]``, ``policies.NAME`` or ``policies.NAME[city]`` -> (target, declaration,
        element or None), or (None, None, None) after reporting the problem."""
        match = re.match(r"^(.+?)\[([^\]]+)\]$", str(name))
        target, var = self.uncertain_target(match.group(1) if match else name, path)
        if var is None or not match:
            return target, var, None
        element = self.element_index(var, [x.strip() for x in match.group(2).split(",")], path)
        return (target, var, element) if element is not None else (None, None, None)

    def uncertain_target(self, name, path):
        model = self.model
        if isinstance(name, str) and name.startswith("policies."):
            series = name[len("policies.") :]
            var = model.variables.get(series)
            if var is None or var.kind != "series":
                self.bad(path, f"unknown policy{did_you_mean(series, model.series)}")
                return None, None
            return str(InputRef(series, multiplier=True)), var
        var = model.variables.get(name) if isinstance(name, str) else None
        if var is None or var.kind != "parameter":
            hint = (
                " (for a time path write policies.NAME: a multiplier)"
                if var is not None and var.kind == "series"
                else did_you_mean(name, model.parameters)
            )
            self.bad(path, f"unknown parameter{hint}")
            return None, None
        return name, var

    def distribution(self, dist, args, path) -> bool:
        needed = DISTRIBUTIONS[dist]
        ok = True
        for key in args:
            if key not in needed and key != "weights":
                self.bad(path + (key,), f"{dist} takes {', '.join(needed)}")
                ok = False
        for key in needed:
            if key not in args:
                self.bad(path, f"{dist} needs '{key}'")
                ok = False
        if not ok:
            return False
        if dist == "choice":
            values = args["values"]
            if not isinstance(values, list) or not values or any(yaml_number(v) is None for v in values):
                self.bad(path + ("values",), "a non-empty list of numbers")
                return False
            weights = args.get("weights")
            if weights is not None and (
                not isinstance(weights, list)
                or len(weights) != len(values)
                or any(yaml_number(w) is None or w < 0 for w in weights)
                or sum(weights) <= 0
            ):
                self.bad(path + ("weights",), "non-negative numbers, one per value, not all zero")
                return False
            return True
        for key in needed:
            if yaml_number(args[key]) is None:
                self.bad(path + (key,), f"must be a number (got {args[key]!r})")
                ok = False
        if not ok:
            return False
        a = {k: float(args[k]) for k in needed}
        if ("sd" in a and a["sd"] <= 0) or ("sigma" in a and a["sigma"] <= 0):
            self.bad(path, "the spread (sd, sigma) must be positive")
            return False
        if "median" in a and a["median"] <= 0:
            self.bad(path + ("median",), "a lognormal median must be positive")
            return False
        if "low" in a and "high" in a and not a["low"] < a["high"]:
            self.bad(path, f"low {a['low']:g} must be below high {a['high']:g}")
            return False
        if dist == "triangular" and not a["low"] <= a["mode"] <= a["high"]:
            self.bad(path + ("mode",), "the mode must lie between low and high")
            return False
        return True

    def goals(self, choice: GoalChoice) -> GoalChoice:
        """The goals chosen, each id known and each override a number (or a description)."""
        from ..goals import load_goals

        known = {g["id"]: g for g in load_goals()}
        for i, gid in enumerate(choice.select or []):
            if not _one_of(gid, known):
                self.bad(
                    ("goals", "select", yamlio.Index(i)),
                    f"unknown goal{did_you_mean(gid, known)}; goals: {', '.join(known)}",
                )
        for gid, spec in choice.override.items():
            if not _one_of(gid, known):
                self.bad(("goals", "override", gid), f"unknown goal{did_you_mean(gid, known)}")
                continue
            spec = self.mapping(spec, ("goals", "override", gid))
            for key, value in spec.items():
                if not _one_of(key, ("target", "tolerance", "description")):
                    self.bad(("goals", "override", gid, key), "allowed: target, tolerance, description")
                elif key != "description" and yaml_number(value) is None:
                    self.bad(("goals", "override", gid, key), "must be a number")
        return choice

    def outputs(self, choice: OutputChoice) -> OutputChoice:
        """The outputs chosen, each variable and format known."""
        names = default_record(self.model)
        for key, allowed, what in (("variables", names, "variable"), ("formats", FORMATS, "format")):
            chosen = getattr(choice, key)
            if chosen is not None and not chosen:
                self.bad(("outputs", key), f"name at least one {what}")
            for i, item in enumerate(chosen or []):
                if not _one_of(item, allowed):
                    extra = f"; one of {', '.join(allowed)}" if key == "formats" else ""
                    self.bad(("outputs", key, yamlio.Index(i)), f"unknown {what}{did_you_mean(item, allowed)}{extra}")
        return choice

    # -- policy search ----------------------------------------------------------------------
    def search(self, settings: SearchSettings, scenario: Scenario) -> SearchSpec | None:
        """``search:``: the levers (like uncertain inputs: NAME, NAME[city], policies.NAME[city]) with
        {low, high} or {values: [...]}, the objectives ({maximise|minimise: goal id or variable, year}),
        constraints ({goal, at_least}) and the sizes of the search."""
        from ..goals import load_goals

        if not scenario.uncertain:
            self.bad(("search",), "a search scores each policy over uncertain futures: give an uncertain: block")
        goal_ids = [g["id"] for g in load_goals(scenario.goals)]
        levers = self.search_levers(settings.levers, scenario)
        objectives = self.search_objectives(settings.objectives, goal_ids, scenario.time)
        constraints = self.search_constraints(settings.constraints, goal_ids)
        grid = scenario.time
        if settings.dt is not None and (problems := time_problems(grid.start, grid.end, settings.dt, grid.save)):
            self.bad(("search", "dt"), problems[0])
        if not levers or not objectives:
            return None
        return SearchSpec(
            tuple(levers),
            tuple(objectives),
            tuple(constraints),
            settings.futures,
            settings.generations,
            settings.population,
            settings.seed,
            settings.dt,
        )

    def search_levers(self, section, scenario: Scenario) -> list[SearchLever]:
        section = self.mapping(section, ("search", "levers"))
        if not section:
            self.bad(
                ("search", "levers"),
                "name at least one lever, e.g. required_return[ordos]: {low: 0.02, high: 0.06}",
            )
        levers = []
        for name, spec in section.items():
            path = ("search", "levers", name)
            target, var, element = self.input_reference(name, path)
            spec = self.mapping(spec, path) if var is not None else {}
            if not spec:
                continue
            if any(_overlap(lever, target, element) for lever in levers):
                self.bad(path, "overlaps another lever on the same input; give each element one lever")
            elif not InputRef.parse(target).multiplier and any(
                _overlap(d, target, element) for d in scenario.uncertain
            ):
                self.bad(
                    path,
                    "is drawn as an uncertain input of this scenario (in uncertain:, its posterior or "
                    "assumed_parameters); a lever is a decision, not a future: choose a policy lever, "
                    "which multiplies its path, or an input the scenario does not draw",
                )
            elif set(spec) == {"values"}:
                values = spec["values"]
                if not isinstance(values, list) or len(values) < 2 or any(yaml_number(v) is None for v in values):
                    self.bad(path + ("values",), "a list of at least two numbers")
                elif self.within_bounds(var, target, "choice", {"values": values}, path):
                    choices = tuple(float(v) for v in values)
                    levers.append(SearchLever(str(name), target, element, min(choices), max(choices), choices))
            elif set(spec) == {"low", "high"}:
                low, high = yaml_number(spec["low"]), yaml_number(spec["high"])
                if low is None or high is None or not low < high:
                    self.bad(path, "low and high must be numbers with low < high")
                elif self.within_bounds(var, target, "uniform", {"low": low, "high": high}, path):
                    levers.append(SearchLever(str(name), target, element, low, high))
            else:
                self.bad(path, "give {low: number, high: number} or {values: [number, ...]}")
        return levers

    def search_objectives(self, entries, goal_ids: list[str], grid: TimeGrid) -> list[SearchObjective]:
        if not isinstance(entries, list) or not entries:
            self.bad(
                ("search", "objectives"),
                "a list such as [{maximise: gdp_growth_2021_2025}, {minimise: co2, year: 2030}]",
            )
            return []
        objectives = []
        for i, entry in enumerate(entries):
            path = ("search", "objectives", yamlio.Index(i))
            entry = self.mapping(entry, path)
            senses = [k for k in ("maximise", "minimise") if k in entry]
            if len(senses) != 1 or set(entry) - {"maximise", "minimise", "year"}:
                self.bad(path, "give one of maximise or minimise (a goal id or a variable), and a year for a variable")
                continue
            what, sense = entry[senses[0]], "max" if senses[0] == "maximise" else "min"
            if _one_of(what, goal_ids):
                if "year" in entry:
                    self.bad(path + ("year",), "a goal is judged over its own years: give no year")
                    continue
                objectives.append(SearchObjective(f"P({what})", sense, goal=what))
            elif what in default_record(self.model):
                year = yaml_number(entry.get("year"))
                if year is None or not np.any(np.isclose(grid.times, year)):
                    self.bad(path + ("year",), f"a saved year of the run, {grid.start:g}-{grid.end:g}")
                    continue
                objectives.append(
                    SearchObjective(
                        f"{what} {year:g} ({self.model.variables[what].units})", sense, variable=what, year=year
                    )
                )
            else:
                outputs = default_record(self.model)
                self.bad(
                    path + (senses[0],),
                    f"a goal id ({', '.join(goal_ids)}) or a model output (a stock, flow, "
                    f"auxiliary or time path, e.g. the transferred_investment a policy "
                    f"costs){did_you_mean(what, [*goal_ids, *outputs])}",
                )
        return objectives

    def search_constraints(self, entries, goal_ids: list[str]) -> list[tuple[str, float]]:
        if not isinstance(entries, list):
            self.bad(("search", "constraints"), "a list such as [{goal: water_within_caps, at_least: 0.9}]")
            return []
        constraints = []
        for i, entry in enumerate(entries):
            path = ("search", "constraints", yamlio.Index(i))
            entry = self.mapping(entry, path)
            least = yaml_number(entry.get("at_least"))
            if (
                set(entry) != {"goal", "at_least"}
                or not _one_of(entry.get("goal"), goal_ids)
                or least is None
                or not 0 <= least <= 1
            ):
                self.bad(path, f"give {{goal: ID, at_least: probability 0-1}}; goals: {', '.join(goal_ids)}")
                continue
            constraints.append((entry["goal"], least))
        return constraints


def _overlap(other, target: str, element: int | None) -> bool:
    """Whether ``other`` (a lever or a distribution) sets some element of ``target`` that ``element`` names."""
    return other.target == target and (None in (other.element, element) or other.element == element)


def support(dist: str, args: dict) -> tuple[float, float]:
    """The smallest and largest value a distribution can draw."""
    if dist in ("uniform", "truncnormal", "triangular"):
        return float(args["low"]), float(args["high"])
    if dist == "choice":
        return float(min(args["values"])), float(max(args["values"]))
    if dist == "lognormal":
        return 0.0, math.inf
    return -math.inf, math.inf


def read_draws(path) -> dict:
    """A table of posterior draws: {"columns": [names], "values": (draws, columns) float array}."""
    return _read_draws(str(path), os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_draws(path: str, mtime: int) -> dict:
    with open(path, encoding="utf-8") as fh:
        columns = [c.strip() for c in fh.readline().strip().split(",")]
        values = np.loadtxt(fh, delimiter=",", ndmin=2)
    if values.shape[1] != len(columns) or not len(values) or not np.isfinite(values).all():
        raise ValueError("expected a header of input names and at least one row of finite numbers per column")
    return {"columns": columns, "values": values}


def assumed_distributions(model: Model, calibrated=frozenset()) -> list[Distribution]:
    """Every assumed parameter and assumed series multiplier, uniform over its range, element by element;
    except calibrated parameters."""
    out = []
    for name, var in model.variables.items():
        if var.status != "assumed" or var.range is None or name in calibrated:
            continue
        target = str(InputRef(name, multiplier=var.kind == "series"))
        ranges = var.range.reshape(-1, 2)
        for k, (low, high) in enumerate(ranges):
            if high > low:
                out.append(
                    Distribution(
                        target,
                        "uniform",
                        {"low": float(low), "high": float(high)},
                        k if var.dims else None,
                        model.element_label(name, k),
                    )
                )
    return out
