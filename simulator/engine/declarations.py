"""Read model files: every variable declared once, with kind, dims, units, equation, doc, source.

A model is one YAML file or a folder of them (one per sector). A file may hold:

``dimensions``  name -> list of elements, or ``{alias_of: city}`` for a second index over the
                same elements (``other`` for city x city flows);
``units``       extra unit definitions, e.g. ``kWh: kW*hour``;
``variables``   name -> declaration (see ``KEYS`` for what each kind takes).

This module only reads and shapes the declarations; the passes ``build.build`` runs (expand, check, order,
layout) check them against each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import yamlio
from ..errors import ModelError, Problem
from . import expressions as ex
from .units import UnitError, parse_unit

KINDS = ("stock", "flow", "aux", "parameter", "series", "lookup")
INPUT_KINDS = ("parameter", "series", "lookup")
STATUSES = ("sourced", "derived", "assumed", "policy")

COMMON = {"kind", "dims", "units", "doc", "source"}
KEYS = {
    "stock": COMMON | {"initial", "inflows", "outflows", "rate", "nonnegative", "slow", "plausible"},
    "flow": COMMON | {"equation", "report", "plausible"},
    "aux": COMMON | {"equation", "report", "plausible"},
    "parameter": COMMON | {"value", "bounds", "status", "range", "vintage"},
    "series": COMMON | {"points", "bounds", "status", "range", "report", "vintage"},
    "lookup": COMMON | {"points", "x_units"},
}
REQUIRED = {
    "stock": {"units", "doc", "initial"},
    "flow": {"units", "doc", "equation"},
    "aux": {"units", "doc", "equation"},
    "parameter": {"units", "doc", "value", "source"},
    "series": {"units", "doc", "points", "source"},
    "lookup": {"units", "doc", "points", "x_units", "source"},
}


@dataclass
class Variable:
    """One declared (or hidden, compiler-made) variable. Fields not used by a kind stay empty."""

    name: str
    kind: str
    dims: tuple[str, ...]
    units: str
    doc: str
    source: str = ""
    file: str = ""
    line: int | None = None
    sector: str = ""
    equation: object = None  # aux, flow: node tree
    initial: object = None  # stock: node tree
    rate: object = None  # stock with a net-rate expression instead of in/outflows
    inflows: tuple[str, ...] = ()
    outflows: tuple[str, ...] = ()
    nonnegative: bool = True
    slow: bool = False  # stock: its rate changes over years, not within a step (method "partitioned")
    value: np.ndarray | None = None  # parameter default, shape of dims
    points: list | None = None  # series: per element (years, values); lookup: per element (x, y)
    x_units: str = ""
    bounds: tuple[float, float] | None = None  # valid values (a scenario outside them is an error)
    status: str = ""  # sourced / derived / assumed
    range: np.ndarray | None = None  # plausible [low, high] per element, shape dims + (2,); for a series,
    #                                  the range of its multiplier. An assumed value's range is a Monte Carlo input.
    plausible: tuple[float, float] | None = None  # outputs: a run leaving [low, high] is reported (and excluded
    #                                              from ensemble statistics); the model's own sanity bounds
    report: str = "point"  # outputs: "point" = the value at the save time; "mean" = average over the interval
    vintage: dict | None = None  # {info_year: latest year of information it carries, forecast: rule after an
    #                              origin (series: hold_last | trend | a number)}; read by the backtest
    hidden: bool = False  # made by the compiler (smooth/delay stocks, initial values)
    hidden_input: object = None  # smooth/delay stock: the smoothed or delayed expression
    hidden_time: object = None  # smooth/delay stock: its time constant (years)
    hidden_kind: str = ""  # "smooth", "delay" (stocks), "delay_output" or "initial" (auxiliaries)

    def problem(self, message: str) -> Problem:
        """A problem with this variable, reported at its declaration."""
        return Problem(self.file, self.line, self.name, message)

    @property
    def is_input(self) -> bool:
        return self.kind in INPUT_KINDS


def expressions_of(var: Variable):
    """(role, tree) pairs of a variable's expressions."""
    if var.kind in ("aux", "flow"):
        return [("equation", var.equation)]
    if var.kind == "stock":
        out = [("initial", var.initial)]
        if var.rate is not None:
            out.append(("rate", var.rate))
        return out
    return []


@dataclass
class ModelSpec:
    """Declarations as read, before the passes cross-check them."""

    dims: dict[str, tuple[str, ...]] = field(default_factory=dict)  # base dims -> elements
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> base dim
    unit_definitions: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    sector_docs: dict[str, str] = field(default_factory=dict)
    horizon: tuple | None = None  # ((first, last start year), latest end year) the model's data support

    def base(self, dim: str) -> str:
        return self.aliases.get(dim, dim)

    def elements(self, dim: str) -> tuple[str, ...]:
        return self.dims[self.base(dim)]

    def shape(self, dims) -> tuple[int, ...]:
        return tuple(len(self.elements(d)) for d in dims)


def model_files(path: str | Path) -> list[Path]:
    """The YAML files of a model: the file itself, or a folder's *.yaml sorted (dimensions first)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.yaml"))
        return sorted(files, key=lambda f: (f.stem != "dimensions", f.name))
    return [path]


def read_model(paths) -> ModelSpec:
    """Read declarations from files; raise ModelError listing every problem found."""
    if isinstance(paths, (str, Path)):
        paths = model_files(paths)
    spec = ModelSpec()
    problems: list[Problem] = []
    docs = []
    for path in paths:
        doc, found = yamlio.load(path)
        problems += found
        if doc is None:
            continue
        if not isinstance(doc.data, dict):
            problems.append(doc.problem((), "a model file is a mapping with 'dimensions', 'units' and 'variables'"))
            continue
        spec.files.append(str(path))
        docs.append(doc)
        for key in doc.data:
            if key not in ("sector", "doc", "dimensions", "units", "variables", "horizon"):
                problems.append(
                    doc.problem(
                        (key,), f"unknown section {key!r} (expected sector, doc, dimensions, units, variables, horizon)"
                    )
                )
        if "horizon" in doc.data:
            _read_horizon(doc, spec, problems)
        _read_dimensions(doc, spec, problems)
        for name, text in (doc.data.get("units") or {}).items():
            spec.unit_definitions[str(name)] = str(text)
        sector = str(doc.data.get("sector") or Path(path).stem)
        if doc.data.get("doc"):
            spec.sector_docs[sector] = str(doc.data["doc"]).strip()
    for alias, base in list(spec.aliases.items()):
        if base not in spec.dims:
            problems.append(
                Problem(
                    spec.files[0] if spec.files else "",
                    None,
                    f"dimensions.{alias}",
                    f"alias_of {base!r}: no such dimension",
                )
            )
            del spec.aliases[alias]
    for doc in docs:
        sector = str(doc.data.get("sector") or Path(doc.file).stem)
        variables = doc.data.get("variables") or {}
        if not isinstance(variables, dict):
            problems.append(doc.problem(("variables",), "must be a mapping of name -> declaration"))
            continue
        for name, decl in variables.items():
            var = _read_variable(str(name), decl, doc, sector, spec, problems)
            if var is None:
                continue
            if var.name in spec.variables:
                first = spec.variables[var.name]
                problems.append(
                    doc.problem(("variables", name), f"declared twice (first in {first.file}:{first.line})")
                )
                continue
            spec.variables[var.name] = var
    if problems:
        raise ModelError(problems)
    return spec


def _read_horizon(doc, spec, problems):
    horizon = doc.data["horizon"]
    first = _pair(horizon.get("start")) if isinstance(horizon, dict) else None
    last = _number(horizon.get("end")) if isinstance(horizon, dict) else None
    if first is None or last is None:
        problems.append(doc.problem(("horizon",), "give {start: [first, last start year], end: latest end year}"))
    else:
        spec.horizon = (first, last)


def _read_dimensions(doc, spec, problems):
    dims = doc.data.get("dimensions") or {}
    if not isinstance(dims, dict):
        problems.append(doc.problem(("dimensions",), "must map a dimension name to its elements"))
        return
    for name, elements in dims.items():
        path = ("dimensions", name)
        if isinstance(elements, dict) and set(elements) == {"alias_of"}:
            spec.aliases[str(name)] = str(elements["alias_of"])
        elif isinstance(elements, list) and elements and all(isinstance(e, str) for e in elements):
            if len(set(elements)) != len(elements):
                problems.append(doc.problem(path, "elements must be unique"))
            spec.dims[str(name)] = tuple(elements)
        else:
            problems.append(doc.problem(path, "give a list of element names, or {alias_of: DIM}"))
    seen = {}
    for dim, elements in spec.dims.items():
        for e in elements:
            if e in seen and seen[e] != dim:
                problems.append(doc.problem(("dimensions", dim), f"element {e!r} is also in {seen[e]!r}"))
            seen[e] = dim


def _read_variable(name, decl, doc, sector, spec, problems) -> Variable | None:
    """One declaration, checked on its own; None (its problems added) if it has any."""
    path = ("variables", name)
    start = len(problems)

    def problem(key, message):
        problems.append(doc.problem(path + ((key,) if key else ()), message))

    kind = _read_kind(name, decl, problem)
    if kind is None or len(problems) > start:
        return None
    dims = _read_dims(decl, spec, problem)
    if dims is None:
        return None
    units = decl["units"]
    try:
        unit = parse_unit(str(units), spec.unit_definitions)
    except UnitError as exc:
        problem("units", str(exc))
        unit = None
    var = Variable(
        name=name,
        kind=kind,
        dims=dims,
        units=str(units),
        doc=str(decl["doc"]).strip(),
        source=str(decl.get("source") or "").strip(),
        file=doc.file,
        line=doc.line(path),
        sector=sector,
    )
    var.report = decl.get("report") or default_report(kind, unit)
    if var.report not in ("mean", "point"):
        problem("report", "mean (average over each output interval) or point (the value at the output time)")
    if kind in ("aux", "flow"):
        var.equation = _parse(decl, "equation", problem)
    elif kind == "stock":
        _read_stock(var, decl, problem)
    elif kind == "parameter":
        value = _fill(decl["value"], var.dims, spec, _number, problem, "value")
        var.value = None if value is None else value.astype(float)
    elif kind in ("series", "lookup"):
        _read_points(var, decl, spec, problem)
    if "plausible" in decl:
        var.plausible = _pair(decl["plausible"])
        if var.plausible is None:
            problem("plausible", "give [low, high] with low <= high, in the variable's units")
    if kind in ("parameter", "series"):
        _read_input(var, decl, spec, problem)
    return var if len(problems) == start else None


def _read_kind(name, decl, problem) -> str | None:
    """The declaration's kind, once its name and keys are checked; None if it cannot be read further."""
    if not name.isidentifier() or not name.isascii() or name == ex.TIME or name in ex.FUNCTIONS:
        problem(None, "names are ASCII snake_case and not a built-in (time, min, sum, ...)")
        return None
    if not isinstance(decl, dict):
        problem(None, "a declaration is a mapping with kind, units, doc, ...")
        return None
    kind = decl.get("kind")
    if kind not in KINDS:
        problem("kind", f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
        return None
    for key in decl:
        if key not in KEYS[kind]:
            problem(key, f"unknown key for a {kind} (allowed: {', '.join(sorted(KEYS[kind]))})")
    for key in sorted(REQUIRED[kind] - set(decl)):
        problem(None, f"a {kind} needs '{key}'")
    return kind


def _read_dims(decl, spec, problem) -> tuple[str, ...] | None:
    dims = decl.get("dims") or []
    if isinstance(dims, str):
        dims = [dims]
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        problem("dims", "dims is a list of dimension names, e.g. [city]")
        return None
    for d in dims:
        if d not in spec.dims and d not in spec.aliases:
            problem("dims", f"unknown dimension {d!r} (known: {', '.join(list(spec.dims) + list(spec.aliases))})")
            return None
    if len(set(dims)) != len(dims):
        problem("dims", "a dimension appears twice; use an alias such as 'other'")
        return None
    return tuple(dims)


def _parse(decl, key, problem):
    """The expression under ``key``, parsed; None after a problem if it is not a valid equation."""
    try:
        return ex.parse(decl[key])
    except ex.ExpressionError as exc:
        problem(key, str(exc))
        return None


def _read_stock(var: Variable, decl, problem):
    """Initial value, non-negativity, slowness, and either a net rate or inflows and outflows."""
    var.initial = _parse(decl, "initial", problem)
    var.nonnegative = decl.get("nonnegative", True)
    if not isinstance(var.nonnegative, bool):
        problem("nonnegative", "true or false")
    var.slow = decl.get("slow", False)
    if not isinstance(var.slow, bool):
        problem("slow", "true or false")
    if "rate" in decl and ("inflows" in decl or "outflows" in decl):
        problem("rate", "give either 'rate' (a net-rate expression) or 'inflows'/'outflows', not both")
        return
    if "rate" in decl:
        var.rate = _parse(decl, "rate", problem)
        return
    for key in ("inflows", "outflows"):
        flows = decl.get(key) or []
        if isinstance(flows, str):
            flows = [flows]
        if not isinstance(flows, list) or not all(isinstance(f, str) for f in flows):
            problem(key, "a list of flow names")
            flows = []
        setattr(var, key, tuple(flows))
    if not var.inflows and not var.outflows:
        problem(None, "a stock needs 'inflows'/'outflows' or a 'rate'")


def _read_points(var: Variable, decl, spec, problem):
    """A series' or lookup table's points, per element; a lookup's x units."""
    var.points = _fill_points(decl["points"], var.dims, spec, problem, var.kind)
    if var.kind == "lookup":
        var.x_units = str(decl["x_units"])
        try:
            parse_unit(var.x_units, spec.unit_definitions)
        except UnitError as exc:
            problem("x_units", str(exc))


def _read_input(var: Variable, decl, spec, problem):
    """What a parameter or series declares about its value: status, bounds, vintage,
    plausible range (needed if assumed); and that a parameter's value lies within its bounds and range."""
    var.status = decl.get("status", "sourced")
    if var.status not in STATUSES:
        problem("status", f"one of {', '.join(STATUSES)} (policy: a lever, off unless a scenario sets it)")
    if "bounds" in decl:
        pair = _pair(decl["bounds"])
        if pair is None:
            problem("bounds", "give [low, high] with low <= high")
        var.bounds = pair
    if "vintage" in decl:
        var.vintage = _vintage(decl["vintage"], var.kind, problem)
    if "range" in decl:
        ranges = _fill(decl["range"], var.dims, spec, _pair, problem, "range")
        if ranges is not None:
            var.range = np.array([list(r) for r in ranges.ravel()]).reshape(spec.shape(var.dims) + (2,))
    if var.status == "assumed" and var.range is None:
        problem("range", "an assumed value needs a plausible range [low, high] (it becomes a Monte Carlo input)")
    if var.kind == "parameter" and var.value is not None:
        if var.bounds and not np.all((var.value >= var.bounds[0]) & (var.value <= var.bounds[1])):
            problem("value", f"the value lies outside its bounds {list(var.bounds)}")
        in_range = var.range is None or np.all((var.value >= var.range[..., 0]) & (var.value <= var.range[..., 1]))
        if not in_range:
            problem("value", "the value lies outside its range")


FORECAST_RULES = ("hold_last", "trend")


def _vintage(value, kind, problem):
    """{info_year: YEAR[, forecast: hold_last | trend | NUMBER]} for series; {info_year: YEAR[, before:
    NUMBER or {element: NUMBER}]} for parameters (before: the value known before that year, if any)."""
    allowed = {"info_year", "forecast"} if kind == "series" else {"info_year", "before"}
    if not (
        isinstance(value, dict)
        and "info_year" in value
        and set(value) <= allowed
        and isinstance(value["info_year"], int)
        and not isinstance(value["info_year"], bool)
    ):
        forecast = ", forecast: hold_last | trend | a number" if kind == "series" else ""
        problem("vintage", f"give {{info_year: YEAR{forecast}}}")
        return None
    rule = value.get("forecast", "hold_last")
    if rule not in FORECAST_RULES and _number(rule) is None:
        problem("vintage", f"forecast: one of {', '.join(FORECAST_RULES)} or a number (a stated path)")
        return None
    before = value.get("before")
    if (
        before is not None
        and _number(before) is None
        and not (isinstance(before, dict) and before and all(_number(v) is not None for v in before.values()))
    ):
        problem("vintage", "before: a number, or one per element {element: number}")
        return None
    return {"info_year": value["info_year"], "forecast": rule, "before": before}


def _pair(value):
    """[low, high] -> (low, high), or None if not a valid pair."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and _number(value[0]) is not None
        and _number(value[1]) is not None
        and value[0] <= value[1]
    ):
        return (float(value[0]), float(value[1]))
    return None


def default_report(kind: str, unit) -> str:
    """Stocks and levels are reported at the output time; flows and other rates (units per year) as
    the average over the interval that ends there."""
    if kind == "flow":
        return "mean"
    if kind in ("aux", "series") and unit is not None and unit.powers.get("year", 0) < 0:
        return "mean"
    return "point"


def _fill(value, dims, spec, leaf, problem, key):
    """A nested mapping (element -> ... -> leaf) or one leaf for all elements -> object ndarray.

    ``leaf`` turns a leaf into its value or None if invalid. Returns None after reporting problems.
    """
    out = np.empty(spec.shape(dims), dtype=object)
    ok = True

    def fill(val, depth, index):
        nonlocal ok
        if depth == len(dims) or not isinstance(val, dict) or _is_leaf_mapping(val):
            got = leaf(val)
            if got is None:
                where = ".".join(index)
                problem(key, f"{where + ': ' if where else ''}not a valid value: {val!r}")
                ok = False
                return
            region = tuple(spec.elements(d).index(e) for d, e in zip(dims, index))
            for pos in np.ndindex(spec.shape(dims[depth:])):
                out[region + pos] = got
            return
        elements = spec.elements(dims[depth])
        unknown = [k for k in val if k not in elements]
        missing = [e for e in elements if e not in val]
        if unknown or missing:
            where = ".".join(index)
            problem(
                key,
                f"{where + ': ' if where else ''}give one value for all, or one per element of "
                f"{dims[depth]!r} ({', '.join(elements)})"
                + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else ""),
            )
            ok = False
            return
        for element in elements:
            fill(val[element], depth + 1, index + (element,))

    fill(value, 0, ())
    return out if ok else None


def _is_leaf_mapping(val):
    """A {year: value} mapping (series points) rather than an element mapping."""
    return bool(val) and all(isinstance(k, (int, float)) and not isinstance(k, bool) for k in val)


def _fill_points(value, dims, spec, problem, kind):
    def leaf(val):
        if kind == "series" and isinstance(val, dict) and _is_leaf_mapping(val):
            pairs = sorted((float(k), v) for k, v in val.items())
        elif kind == "series" and _number(val) is not None:
            pairs = [(0.0, val)]
        elif (
            kind == "lookup"
            and isinstance(val, list)
            and len(val) >= 2
            and all(isinstance(p, list) and len(p) == 2 for p in val)
        ):
            pairs = [(p[0], p[1]) for p in val]
        else:
            return None
        if any(_number(x) is None or _number(y) is None for x, y in pairs):
            return None
        xs = np.array([float(x) for x, _ in pairs])
        if np.any(np.diff(xs) <= 0):
            return None
        return (xs, np.array([float(y) for _, y in pairs]))

    what = "{year: value, ...}" if kind == "series" else "[[x, y], ...] with increasing x"
    filled = _fill(value, dims, spec, leaf, lambda k, m: problem(k, f"{m} (points are {what})"), "points")
    return None if filled is None else [filled[idx] for idx in np.ndindex(filled.shape)]


def _number(value) -> float | None:
    """A number of a model file: any YAML number, .inf included (bounds), never ``true``."""
    return yamlio.number(value, finite=False)
