"""The settings input files give, declared once: each key's kind, range, default and meaning.

A settings record is a frozen dataclass whose fields are declared with ``setting(...)``; it is at once the
schema (what ``read`` checks), the defaults and the typed value the rest of the program uses. Scenarios
(``time``, ``monte_carlo``, ``goals``, ``outputs``, ``search``) and calibration configurations are read
through the one validator ``read``, which reports every problem with the key's path, e.g.::

    scenarios/plan.yaml:12: monte_carlo.runs: must be a whole number from 1 to 1,000,000,000 (got 0)

What a record cannot know -- model names, goal ids, files -- its reader checks after ``read``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.inputs import METHODS
from ..errors import did_you_mean
from ..yamlio import number

SAMPLINGS = ("random", "lhs", "sobol")
FORMATS = ("netcdf", "csv", "report", "plots")
KINDS = ("whole", "number", "step", "choice", "flag", "text", "name", "path", "list", "mapping", "section", "any")


@dataclass(frozen=True)
class Key:
    """What one key may hold. ``kind``: whole (an integer in [low, high]), number (finite, in [low, high]),
    step (a number or a fraction such as 1/12), choice (one of ``choices``), flag (true or false), text, name
    (letters, digits, '-', '_', '.'), path (a non-empty string), list, mapping (its entries checked by its
    reader), section (a nested settings record, ``record``), any (checked by its reader). A list or mapping
    whose entries are settings records names theirs in ``record`` (its reader reads them)."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    choices: tuple = ()
    record: type | None = None
    doc: str = ""

    def convert(self, raw):
        """(value, None) or (None, what is wrong)."""
        if self.kind == "whole":  # compared and kept as the integer it is: a seed may need all 63 bits
            ok = isinstance(raw, int) and not isinstance(raw, bool) and self.low <= raw <= self.high
            return (raw, None) if ok else (None, f"must be {self.describe()} (got {raw!r})")
        if self.kind in ("number", "step"):
            value = fraction(raw) if self.kind == "step" else number(raw)
            if value is None or not self.low <= value <= self.high:
                return None, f"must be {self.describe()} (got {raw!r})"
            return value, None
        if self.kind == "choice":
            if isinstance(raw, str) and raw in self.choices:
                return raw, None
            return None, f"must be one of {', '.join(self.choices)} (got {raw!r}){did_you_mean(raw, self.choices)}"
        if self.kind == "flag":
            return (raw, None) if isinstance(raw, bool) else (None, f"must be true or false (got {raw!r})")
        if self.kind == "text":
            return (raw.strip(), None) if isinstance(raw, str) else (None, "must be a text")
        if self.kind == "name":
            if not isinstance(raw, str) or not raw.strip():
                return None, "must be a non-empty name"
            if not all(c.isalnum() or c in "-_." for c in raw):
                return None, "use letters, digits, '-', '_' or '.' (it names the output folder)"
            return raw, None
        if self.kind == "path":
            return (raw, None) if isinstance(raw, str) and raw.strip() else (None, "must be a file or folder path")
        if self.kind == "list":
            return (raw, None) if isinstance(raw, list) else (None, f"must be a list, not {type(raw).__name__}")
        if self.kind in ("mapping", "section"):
            ok = isinstance(raw, dict)
            return (raw, None) if ok else (None, f"must be a mapping (key: value), not {type(raw).__name__}")
        if self.kind == "any":  # checked by the reader
            return raw, None
        raise ValueError(f"unknown key kind {self.kind!r}; kinds: {', '.join(KINDS)}")

    def describe(self) -> str:
        """The expected value in words, with its range: "a whole number from 1 to 1,000"."""
        what = {"whole": "a whole number", "number": "a number", "step": "a number such as 0.25 or 1/12"}[self.kind]
        spec = "," if self.kind == "whole" else "g"
        if math.isfinite(self.low) and math.isfinite(self.high):
            return f"{what} from {self.low:{spec}} to {self.high:{spec}}"
        if math.isfinite(self.low):
            return f"{what} >= {self.low:{spec}}"
        return what


def setting(
    kind: str, default=None, *, low=-math.inf, high=math.inf, choices=(), record=None, optional=False, doc: str = ""
):
    """A settings record's field: its default and the ``Key`` ``read`` checks it against. A section's default is
    its record's defaults, or None if it is ``optional`` (absent unless the file gives it)."""
    key = Key(kind, low, high, tuple(choices), record, doc)
    if kind == "section" and not optional:
        return field(default_factory=record, metadata={"key": key})
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"key": key})
    return field(default=default, metadata={"key": key})


def keys(record: type) -> dict[str, Key]:
    """A settings record's keys, in declaration order."""
    return {f.name: f.metadata["key"] for f in dataclasses.fields(record) if "key" in f.metadata}


def read(section, record: type, path: tuple, bad: Callable[[tuple, str], None]):
    """The settings ``record`` from a YAML mapping: every key checked, nested sections read the same way.
    A missing key takes its default, as does an empty one (``key:``) whose default is nothing or an empty
    collection; an unknown key or a wrong value (an empty number among them) is reported with ``bad(key path,
    message)`` and the default is used, so that every problem of a file is found in one pass."""
    schema = keys(record)
    if section is None:
        section = {}
    if not isinstance(section, dict):
        bad(path, f"must be a mapping (key: value), not {type(section).__name__}")
        section = {}
    for key in section:
        if key not in schema:
            bad(path + (key,), f"unknown key{did_you_mean(key, schema)}; allowed: {', '.join(schema)}")
    values = {}
    defaults = {f.name: f.default for f in dataclasses.fields(record)}
    for name, key in schema.items():
        if name not in section:
            continue
        if section[name] is None and (defaults[name] is None or key.kind in ("mapping", "list", "section")):
            continue  # `key:` left empty: nothing given
        if key.kind == "section":
            values[name] = read(section[name], key.record, path + (name,), bad)
            continue
        value, message = key.convert(section[name])
        if message:
            bad(path + (name,), message)
        else:
            values[name] = value
    return record(**values)


def fraction(value) -> float | None:
    """A number, or a fraction written as text: ``1/12``."""
    result = number(value)
    if result is None and isinstance(value, str) and "/" in value:
        parts = value.split("/")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts) and int(parts[1]):
            result = int(parts[0]) / int(parts[1])
    return result


# ------------------------------------------------------------------------------------------------
# scenario settings


@dataclass(frozen=True)
class TimeSettings:
    """``time:``, in years."""

    start: float = setting("number", 2020, doc="first year (the statistics the model starts from)")
    end: float = setting("number", 2035, doc="last year")
    dt: float = setting("step", 0.25, doc="integration step, dividing a year: 1, 0.5, 0.25, 1/12 ...")
    method: str = setting("choice", "rk4", choices=METHODS, doc="integration method")
    save: float = setting("step", 1, doc="output interval, e.g. 1 or 1/2")


@dataclass(frozen=True)
class MonteCarlo:
    """``monte_carlo:``: how an ensemble samples its uncertain inputs."""

    runs: int = setting("whole", 1000, low=1, high=10**9, doc="runs drawn")
    seed: int = setting("whole", 0, low=0, high=2**63 - 1, doc="random seed (the same seed, the same numbers)")
    sampling: str = setting("choice", "lhs", choices=SAMPLINGS, doc="random, Latin hypercube or Sobol points")
    chunk: int = setting("whole", 10000, low=1, high=10**7, doc="runs per chunk written to the work folder")


@dataclass(frozen=True)
class GoalChoice:
    """``goals:``: which of the plan's goals to evaluate, and targets changed for this scenario."""

    select: list | None = setting("list", None, doc="goal ids (default: every goal)")
    override: dict = setting("mapping", {}, doc="{goal id: {target, tolerance, description}}")


@dataclass(frozen=True)
class OutputChoice:
    """``outputs:``: what a run writes, and where."""

    variables: list | None = setting("list", None, doc="variables written (default: every one)")
    formats: list = setting("list", list(FORMATS), doc=f"a list from {', '.join(FORMATS)}")
    folder: str | None = setting("path", None, doc="output folder (default outputs/NAME)")


@dataclass(frozen=True)
class SearchSettings:
    """``search:`` (``simulate search``): the levers, objectives and constraints (checked by the scenario
    reader) and the sizes of the search."""

    levers: dict = setting("mapping", {}, doc="NAME, NAME[city] or policies.NAME[city]: {low, high} or {values}")
    objectives: list | None = setting("list", None, doc="[{maximise|minimise: goal id or variable, year}]")
    constraints: list = setting("list", [], doc="[{goal, at_least}]")
    futures: int = setting("whole", 200, low=1, high=10**6, doc="uncertain futures each policy is scored over")
    generations: int = setting("whole", 20, low=1, high=10**4, doc="generations of the optimiser")
    population: int = setting("whole", 40, low=4, high=10**5, doc="policies per generation")
    seed: int = setting("whole", 0, low=0, high=2**63 - 1, doc="random seed of the futures and the optimiser")
    dt: float | None = setting(
        "step", None, doc="integration step of the generations (the policies reported: the scenario's own dt)"
    )


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario file's top level."""

    name: str | None = setting("name", None, doc="names the output folder (required)")
    description: str = setting("text", "", doc="what the scenario is")
    extends: object = setting("any", None, doc="a file, or a list of files, it starts from")
    parameters_from: str | None = setting("path", None, doc="a fitted-parameter file (simulate calibrate)")
    time: TimeSettings = setting("section", record=TimeSettings)
    parameters: dict = setting("mapping", {}, doc="NAME: value | {element: value} | {value, units}")
    policies: dict = setting("mapping", {}, doc="time paths: {year: value}, switches, multipliers")
    uncertain: dict = setting("mapping", {}, doc="distributions of inputs (Monte Carlo)")
    monte_carlo: MonteCarlo = setting("section", record=MonteCarlo)
    goals: GoalChoice = setting("section", record=GoalChoice)
    outputs: OutputChoice = setting("section", record=OutputChoice)
    search: SearchSettings | None = setting(
        "section", record=SearchSettings, optional=True, doc="a policy search (simulate search)"
    )


# ------------------------------------------------------------------------------------------------
# calibration settings


@dataclass(frozen=True)
class BacktestSettings:
    """``simulate backtest``'s defaults: the origins and the posterior runs projected from each."""

    origins: tuple = setting("list", (2014, 2016, 2018), doc="origin years, each fitted on data up to it")
    runs: int = setting("whole", 400, low=10, high=10**6, doc="posterior runs projected per origin")


@dataclass(frozen=True)
class Window:
    """``window:``: the years a calibration fits."""

    start: int = setting("whole", 2010, low=1900, high=2100, doc="first year (the start state)")
    end: int = setting("whole", 2020, low=1900, high=2100, doc="last year fitted")


@dataclass(frozen=True)
class FreeSettings:
    """One entry of ``free:``: a parameter fitted within its bounds."""

    bounds: list | None = setting("list", None, doc="[low, high], low < high (required)")
    prior: dict | None = setting("mapping", None, doc="{mean, sd}: a Gaussian prior, sd > 0")
    per_element: bool = setting("flag", True, doc="one number per element (false: one for all)")
    needs: list = setting("list", [], doc="target series that inform it; a backtest window without them holds it")


@dataclass(frozen=True)
class TargetSettings:
    """One entry of ``targets:``: an observed series the fit matches."""

    series: str | None = setting("text", None, doc="the series' name in the data file (required)")
    variable: str | None = setting("text", None, doc="the model output it is compared with (required)")
    transform: str = setting("choice", "level", choices=("level", "growth_rate"), doc="compare levels or growth")
    error: float | None = setting("number", None, low=0, doc="relative (levels) or absolute (growth) error > 0")
    weight: float = setting("number", 1.0, low=0, doc="weight of its residuals")
    years: list | None = setting("list", None, doc="only these years (default: every year in the window)")
    skip_start: bool = setting("flag", True, doc="leave out the start year, matched by construction")


@dataclass(frozen=True)
class Posterior:
    """``posterior:``: the MCMC sampler (emcee)."""

    walkers: int = setting("whole", 48, low=1, high=10**5, doc="walkers (at least twice the fitted numbers)")
    steps: int = setting("whole", 1500, low=1, high=10**7, doc="steps per walker")
    burn: int = setting("whole", 500, low=0, high=10**7, doc="steps discarded at the start")
    thin: int = setting("whole", 10, low=1, high=10**5, doc="keep every thin-th step")


@dataclass(frozen=True)
class Ensemble:
    """``ensemble:``: the filtered ensemble of a calibration's report."""

    samples: int = setting("whole", 2000, low=1, high=10**7, doc="draws from the fitted normal approximation")


@dataclass(frozen=True)
class CalibrationFile:
    """A calibration configuration's top level (``calibration/*.yaml``)."""

    name: str | None = setting("name", None, doc="names the report folder (default: the file's name)")
    description: str = setting("text", "", doc="what is fitted, to what")
    scenario: str | None = setting("path", None, doc="the scenario whose inputs the fit starts from")
    window: Window = setting("section", record=Window)
    method: str = setting("choice", TimeSettings.method, choices=METHODS, doc="integration method")
    dt: float = setting("step", TimeSettings.dt, doc="integration step")
    data: str = setting("path", "data/history.csv", doc="observations: series, city, year, value")
    fitted_file: str | None = setting("path", None, doc="where the fit is written (default fitted/NAME.yaml)")
    free: dict = setting("mapping", {}, record=FreeSettings, doc="parameters fitted, each NAME: {bounds, prior, ...}")
    targets: list = setting("list", [], record=TargetSettings, doc="observed series matched: [{series, variable, ...}]")
    carry_over: dict = setting("mapping", {}, doc="{parameter: {ratio: [numerator, denominator]}}")
    starts: int = setting("whole", 4, low=1, high=1000, doc="optimiser starts (Latin hypercube)")
    seed: int = setting("whole", 0, low=0, high=2**63 - 1, doc="random seed")
    ensemble: Ensemble = setting("section", record=Ensemble)
    posterior: Posterior = setting("section", record=Posterior)
