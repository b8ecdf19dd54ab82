"""Build a model from its declarations: expand stateful functions, check, order, lay out.

Checks (all problems are collected, each naming the file, line and variable):
unknown names (with a did-you-mean), subscripts, dims that do not match the declaration,
units that do not balance, and algebraic loops (with the names in the loop).

The evaluation order is computed here once:
- the *initial pass* evaluates stocks' initial values and every auxiliary, in dependency order;
- the *rate pass* (once per integrator stage) evaluates the dynamic auxiliaries and flows in
  dependency order, limits the outflows of non-negative stocks, then the stocks' net rates.
Auxiliaries that depend only on parameters (and ``initial(...)`` values) are *static*: computed
in the initial pass and never again.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ModelError, Problem
from . import expressions as ex
from .declarations import ModelSpec, Variable, read_model
from .units import DIMENSIONLESS, Unit, UnitError, parse_unit

TIME_UNIT = "year"
ANY = "any"  # the units of a bare number: fits whatever it is added to or compared with


@dataclass
class Model:
    """A checked model: variables (declared and hidden), evaluation orders and the array layout."""

    spec: ModelSpec
    variables: dict[str, Variable]
    init_order: list[str]  # stocks (initial value) and auxiliaries, dependency order
    static: list[str]  # auxiliaries computed once, in the initial pass (in init order)
    rate_order: list[tuple[str, str]]  # ("var", name) or ("limit", stock_name)
    stocks: list[str]  # state layout order
    parameters: list[str]
    series: list[str]
    lookups: list[str]
    state_offset: dict[str, int] = field(default_factory=dict)
    var_offset: dict[str, int] = field(default_factory=dict)  # scratch array slots (aux and flows)
    param_offset: dict[str, int] = field(default_factory=dict)
    series_offset: dict[str, int] = field(default_factory=dict)  # series grid column; multiplier param too
    multiplier_offset: dict[str, int] = field(default_factory=dict)  # per-run multiplier of a series
    lookup_offset: dict[str, int] = field(default_factory=dict)
    lookup_points: dict[str, int] = field(default_factory=dict)  # points per table
    n_state: int = 0
    n_var: int = 0
    n_param: int = 0
    n_series: int = 0
    n_lookup: int = 0
    units: dict[str, Unit] = field(default_factory=dict)
    limited_outflows: dict[str, tuple[str, ...]] = field(default_factory=dict)  # stock -> outflows it limits
    # rate-pass auxiliaries no stock's rate depends on (reports: shares, slacks, shadow prices), each with
    # the others of them it reads; the kernel computes them only when a run records them
    reporting: dict[str, frozenset[str]] = field(default_factory=dict)
    reads_paths: frozenset[str] = frozenset()  # rate-pass auxiliaries that read a time path (series), at any remove
    reads_slow: frozenset[str] = frozenset()  # rate-pass variables that are slow_only or read one, at any remove
    # rate-pass nodes (("var", name) or ("limit", stock)) that only slow stocks' rates need, and the reports made
    # of them alone: under method "partitioned" they are evaluated at a step's first two stages and held over its
    # last two
    slow_only: frozenset[tuple[str, str]] = frozenset()
    _sizes: dict[str, int] = field(default_factory=dict, repr=False)

    def __getstate__(self):  # the compiled kernel is per process: a pickled model reloads it
        state = dict(self.__dict__)
        state.pop("_kernel", None)
        return state

    # -- convenience -------------------------------------------------------------------------
    def size(self, name: str) -> int:
        """Number of elements of a variable."""
        size = self._sizes.get(name)
        if size is None:
            size = self._sizes[name] = int(np.prod(self.spec.shape(self.variables[name].dims), dtype=int))
        return size

    def shape(self, name: str) -> tuple[int, ...]:
        return self.spec.shape(self.variables[name].dims)

    def coords(self, name: str) -> dict[str, tuple[str, ...]]:
        return {d: self.spec.elements(d) for d in self.variables[name].dims}

    def element_label(self, name: str, flat_index: int) -> str:
        """``population[ordos]`` for a flat element index."""
        var = self.variables[name]
        if not var.dims:
            return name
        idx = np.unravel_index(flat_index, self.shape(name))
        return f"{name}[{', '.join(self.spec.elements(d)[i] for d, i in zip(var.dims, idx))}]"

    def describe_order(self) -> str:
        """The evaluation order, as a readable listing."""
        lines = ["Initial pass (stocks' initial values, then auxiliaries in dependency order):"]
        lines += [f"  {i + 1:3d}. {n} ({self.variables[n].kind}{', static' if n in self.static else ''})"
                  for i, n in enumerate(self.init_order)]
        lines.append("Rate pass (each integrator stage):")
        for i, (what, name) in enumerate(self.rate_order):
            text = (f"{name} ({self.variables[name].kind})" if what == "var"
                    else f"limit outflows of {name} ({', '.join(self.limited_outflows[name])})")
            lines.append(f"  {i + 1:3d}. {text}")
        lines.append(f"  then net rates of {len(self.stocks)} stocks ({self.n_state} state elements)")
        return "\n".join(lines)

    def declared(self) -> list[Variable]:
        return [v for v in self.variables.values() if not v.hidden]

    def slow_state(self) -> np.ndarray:
        """State indices of the stocks declared slow."""
        return np.array([self.state_offset[n] + k for n in self.stocks if self.variables[n].slow
                         for k in range(self.size(n))], dtype=np.int64)

    def reporting_wanted(self, record) -> np.ndarray:
        """For each reporting-only auxiliary (``reporting``, in order), whether a run recording ``record``
        needs it: recorded itself, or read by one that is."""
        wanted, todo = set(), [n for n in record if n in self.reporting]
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo += self.reporting[name]
        return np.array([n in wanted for n in self.reporting], dtype=np.bool_)


def load(paths) -> Model:
    """Read and build a model from a file or folder of declarations."""
    return build(read_model(paths))


def build(spec: ModelSpec) -> Model:
    variables = dict(spec.variables)
    problems: list[Problem] = []
    _expand_stateful(variables, spec, problems)
    _check_names(variables, spec, problems)
    if problems:
        raise ModelError(problems)
    _check_dims(variables, spec, problems)
    units = _check_units(variables, spec, problems)
    if problems:
        raise ModelError(problems)
    model = _order(variables, spec, problems)
    if problems or model is None:
        raise ModelError(problems)
    model.units = units
    _layout(model)
    return model


# --------------------------------------------------------------------------------------------
# stateful functions -> hidden stocks


def _expand_stateful(variables, spec, problems):
    """Replace smooth/delay1/delay3/initial calls by references to hidden variables."""
    counter = {}

    def hidden_name(owner, what):
        counter[(owner, what)] = counter.get((owner, what), 0) + 1
        return f"{owner}__{what}{counter[(owner, what)]}"

    def expand(node, owner: Variable):
        if isinstance(node, ex.Call) and node.func in ex.STATEFUL and not node.lookup:
            args = tuple(expand(a, owner) for a in node.args)
            base = dict(dims=owner.dims, units="", doc="", source="", file=owner.file, line=owner.line,
                        sector=owner.sector, hidden=True, nonnegative=False)
            if node.func == "initial":
                name = hidden_name(owner.name, "initial")
                variables[name] = Variable(name=name, kind="aux", equation=args[0], hidden_kind="initial",
                                           **{**base, "doc": f"initial value of {ex.to_text(args[0])}"})
                return ex.Ref(name)
            x, tau = args
            if node.func == "smooth":
                name = hidden_name(owner.name, "smooth")
                rate = ex.Bin("/", ex.Bin("-", x, ex.Ref(name)), tau)
                variables[name] = Variable(name=name, kind="stock", rate=rate, initial=x, hidden_input=x,
                                           hidden_time=tau, hidden_kind="smooth",
                                           **{**base, "doc": f"smooth({ex.to_text(x)}, {ex.to_text(tau)})"})
                return ex.Ref(name)
            order = 1 if node.func == "delay1" else 3
            stage_time = tau if order == 1 else ex.Bin("/", tau, ex.Num(3.0))
            inflow = x
            names = []
            for k in range(order):
                name = hidden_name(owner.name, node.func)
                names.append(name)
                rate = ex.Bin("-", inflow, ex.Bin("/", ex.Ref(name), stage_time))
                variables[name] = Variable(name=name, kind="stock", rate=rate, initial=ex.Bin("*", x, stage_time),
                                           hidden_input=x, hidden_time=tau, hidden_kind="delay",
                                           **{**base, "doc": f"stage {k + 1} of {node.func}({ex.to_text(x)}, "
                                                             f"{ex.to_text(tau)})"})
                inflow = ex.Bin("/", ex.Ref(name), stage_time)
            out = hidden_name(owner.name, f"{node.func}_out")
            variables[out] = Variable(name=out, kind="aux", equation=inflow, hidden_input=x, hidden_kind="delay_output",
                                      **{**base, "doc": f"outflow of {node.func}({ex.to_text(x)}, {ex.to_text(tau)})"})
            return ex.Ref(out)
        if isinstance(node, (ex.Num, ex.Ref, ex.Time)):
            return node
        if isinstance(node, ex.Neg):
            return ex.Neg(expand(node.x, owner))
        if isinstance(node, ex.Not):
            return ex.Not(expand(node.x, owner))
        if isinstance(node, ex.Bin):
            return ex.Bin(node.op, expand(node.a, owner), expand(node.b, owner))
        if isinstance(node, ex.Cmp):
            return ex.Cmp(node.op, expand(node.a, owner), expand(node.b, owner))
        if isinstance(node, ex.Logic):
            return ex.Logic(node.op, tuple(expand(a, owner) for a in node.args))
        if isinstance(node, ex.Call):
            if node.func == "sum" and any(isinstance(n, ex.Call) and n.func in ex.STATEFUL and not n.lookup
                                          for n in ex.walk(node.args[0])):
                problems.append(_problem(owner, "smooth/delay/initial inside sum(): declare the smoothed "
                                                "quantity as an auxiliary first"))
                return node
            return replace(node, args=tuple(expand(a, owner) for a in node.args))
        raise TypeError(node)

    for var in list(variables.values()):
        if var.kind in ("aux", "flow") and var.equation is not None:
            var.equation = expand(var.equation, var)
        elif var.kind == "stock":
            for key in ("initial", "rate"):
                tree = getattr(var, key)
                if tree is not None and any(isinstance(n, ex.Call) and n.func in ex.STATEFUL and not n.lookup
                                            for n in ex.walk(tree)):
                    problems.append(_problem(var, f"smooth/delay/initial are not allowed in a stock's {key}; "
                                                  "declare an auxiliary"))


def _problem(var: Variable, message: str) -> Problem:
    return Problem(var.file, var.line, var.name, message)


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


# --------------------------------------------------------------------------------------------
# names


def _suggest(name, candidates):
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_names(variables, spec, problems):
    non_lookup = [n for n, v in variables.items() if v.kind != "lookup"]
    lookups = [n for n, v in variables.items() if v.kind == "lookup"]
    for var in variables.values():
        for role, tree in expressions_of(var):
            for node in ex.walk(tree):
                if isinstance(node, ex.Ref):
                    target = variables.get(node.name)
                    if target is None:
                        problems.append(_problem(var, f"{role}: unknown name {node.name!r}"
                                                      f"{_suggest(node.name, non_lookup)}"))
                    elif target.kind == "lookup":
                        problems.append(_problem(var, f"{role}: {node.name!r} is a lookup table; call it: "
                                                      f"{node.name}(x)"))
                    else:
                        _check_subs(var, role, node, target, spec, problems)
                elif isinstance(node, ex.Call) and node.lookup:
                    target = variables.get(node.func)
                    if target is None or target.kind != "lookup":
                        problems.append(_problem(var, f"{role}: unknown function or lookup table {node.func!r}"
                                                      f"{_suggest(node.func, lookups + list(ex.FUNCTIONS))}"))
                elif isinstance(node, ex.Call) and node.func == "sum":
                    if node.dim not in spec.dims and node.dim not in spec.aliases:
                        problems.append(_problem(var, f"{role}: sum over unknown dimension {node.dim!r}"
                                                      f"{_suggest(node.dim, list(spec.dims) + list(spec.aliases))}"))
        if var.kind == "stock":
            for key in ("inflows", "outflows"):
                for flow in getattr(var, key):
                    target = variables.get(flow)
                    if target is None:
                        problems.append(_problem(var, f"{key}: unknown flow {flow!r}"
                                                      f"{_suggest(flow, [n for n, v in variables.items() if v.kind == 'flow'])}"))
                    elif target.kind != "flow":
                        problems.append(_problem(var, f"{key}: {flow!r} is a {target.kind}; "
                                                      "stocks change only through variables of kind flow"))
                    elif not set(target.dims) <= set(var.dims):
                        problems.append(_problem(var, f"{key}: flow {flow!r} has dims {list(target.dims)} "
                                                      f"but the stock has {list(var.dims)}"))
                    elif key == "outflows" and var.nonnegative and tuple(target.dims) != tuple(var.dims):
                        problems.append(_problem(var, f"outflows: {flow!r} must have the stock's dims "
                                                      f"{list(var.dims)} so it can be limited element by element"))
            if len(set(var.inflows + var.outflows)) != len(var.inflows) + len(var.outflows):
                problems.append(_problem(var, "a flow is listed twice in inflows/outflows"))


def _check_subs(var, role, node: ex.Ref, target: Variable, spec, problems):
    if not node.subs:
        return
    if len(node.subs) != len(target.dims):
        problems.append(_problem(var, f"{role}: {node.name} has dims {list(target.dims)}; "
                                      f"{ex.to_text(node)} gives {len(node.subs)} subscript(s)"))
        return
    for sub, dim in zip(node.subs, target.dims):
        base = spec.base(dim)
        if isinstance(sub, ex.Shift) and not (sub.dim in spec.dims or sub.dim in spec.aliases):
            problems.append(_problem(var, f"{role}: in {ex.to_text(node)}, only a dimension can be shifted, "
                                          f"not {sub.dim!r}"))
            continue
        if isinstance(sub, ex.Shift) and abs(sub.by) >= len(spec.dims[base]):
            problems.append(_problem(var, f"{role}: in {ex.to_text(node)}, a shift of {abs(sub.by)} passes every "
                                          f"element of {base!r} ({len(spec.dims[base])}): it would always read zero"))
        sub = ex.sub_dim(sub)
        if sub in spec.dims or sub in spec.aliases:
            if spec.base(sub) != base:
                problems.append(_problem(var, f"{role}: in {ex.to_text(node)}, {sub!r} indexes {spec.base(sub)!r} "
                                              f"but that position of {node.name} is {dim!r}"))
        elif sub not in spec.dims[base]:
            problems.append(_problem(var, f"{role}: in {ex.to_text(node)}, {sub!r} is neither a dimension "
                                          f"nor an element of {base!r}{_suggest(sub, spec.dims[base])}"))


# --------------------------------------------------------------------------------------------
# dims


def index_dims(node, variables, spec) -> set[str]:
    """The dimension indices an expression varies along (after sums)."""
    if isinstance(node, ex.Ref):
        target = variables[node.name]
        if not node.subs:
            return set(target.dims)
        return {ex.sub_dim(s) for s in node.subs if ex.sub_dim(s) in spec.dims or ex.sub_dim(s) in spec.aliases}
    if isinstance(node, ex.Call):
        inner = set().union(*(index_dims(a, variables, spec) for a in node.args)) if node.args else set()
        if node.lookup:
            inner |= set(variables[node.func].dims)
        if node.func == "sum" and not node.lookup:
            inner.discard(node.dim)
        return inner
    out = set()
    for child in ex.children(node):
        out |= index_dims(child, variables, spec)
    return out


def _check_dims(variables, spec, problems):
    for var in variables.values():
        for role, tree in expressions_of(var):
            for node in ex.walk(tree):
                if isinstance(node, ex.Call) and node.func == "sum" and not node.lookup:
                    if node.dim not in index_dims(node.args[0], variables, spec):
                        problems.append(_problem(var, f"{role}: {ex.to_text(node)} sums over {node.dim!r} "
                                                      "but the expression does not vary along it"))
            got = index_dims(tree, variables, spec)
            extra = got - set(var.dims)
            if extra:
                problems.append(_problem(var, f"{role}: dims do not match: the expression varies along "
                                              f"{sorted(got)} but {var.name} is declared with dims {list(var.dims)}; "
                                              f"sum over or subscript {sorted(extra)}"))


# --------------------------------------------------------------------------------------------
# units


def _check_units(variables, spec, problems) -> dict[str, Unit]:
    defs = spec.unit_definitions
    year = parse_unit(TIME_UNIT)
    units: dict[str, Unit] = {}
    declared = {n: parse_unit(v.units, defs) for n, v in variables.items() if not v.hidden}
    x_units = {n: parse_unit(v.x_units, defs) for n, v in variables.items() if v.kind == "lookup"}
    busy = set()

    def unit_of_var(name):
        if name in declared:
            return declared[name]
        if name in units:
            return units[name]
        var = variables[name]
        if name in busy:  # a loop through hidden variables; reported by the loop check
            return ANY
        busy.add(name)
        try:
            if var.kind == "aux" and var.hidden_kind == "delay_output":  # same units as the delayed input
                unit = infer(var.hidden_input, var, "input")
            elif var.hidden_kind == "initial":
                unit = infer(var.equation, var, "equation")
            else:  # a smooth has its input's units; a delay stage holds input x time
                tau = infer(var.hidden_time, var, "time constant")
                if tau not in (ANY, year):
                    raise _UnitsMismatch(f"the time constant of {var.doc} must be in {year}, not {tau}")
                unit = infer(var.hidden_input, var, "input")
                unit = DIMENSIONLESS if unit is ANY else unit
                if var.hidden_kind == "delay":
                    unit = unit * year
        finally:
            busy.discard(name)
        unit = DIMENSIONLESS if unit is ANY else unit
        units[name] = unit
        return unit

    def same(a, b, var, role, what):
        if a is ANY:
            return b
        if b is ANY or a == b:
            return a
        raise _UnitsMismatch(f"{role}: units do not balance in {what}: {a} vs {b}")

    def infer(node, var, role):
        if isinstance(node, ex.Num):
            return ANY
        if isinstance(node, ex.Time):
            return year
        if isinstance(node, ex.Ref):
            return unit_of_var(node.name)
        if isinstance(node, ex.Neg):
            return infer(node.x, var, role)
        if isinstance(node, (ex.Not, ex.Logic)):
            for child in ex.children(node):
                infer(child, var, role)
            return DIMENSIONLESS
        if isinstance(node, ex.Cmp):
            same(infer(node.a, var, role), infer(node.b, var, role), var, role, ex.to_text(node))
            return DIMENSIONLESS
        if isinstance(node, ex.Bin):
            a, b = infer(node.a, var, role), infer(node.b, var, role)
            if node.op in "+-":
                return same(a, b, var, role, ex.to_text(node))
            if node.op == "**":
                if isinstance(node.b, ex.Num):
                    return DIMENSIONLESS if a is ANY else a ** node.b.value
                if b not in (ANY, DIMENSIONLESS) or a not in (ANY, DIMENSIONLESS):
                    raise _UnitsMismatch(f"{role}: in {ex.to_text(node)} a variable exponent needs a "
                                         f"dimensionless base and exponent (got {a} ** {b})")
                return DIMENSIONLESS
            a = DIMENSIONLESS if a is ANY else a
            b = DIMENSIONLESS if b is ANY else b
            return a * b if node.op == "*" else a / b
        if isinstance(node, ex.Call):
            if node.lookup:
                arg = infer(node.args[0], var, role)
                if arg is not ANY and arg != x_units[node.func]:
                    raise _UnitsMismatch(f"{role}: lookup {node.func} takes x in {x_units[node.func]}, got {arg}")
                return declared[node.func]
            f = node.func
            args = [infer(a, var, role) for a in node.args]
            if f in ("min", "max", "clip"):
                out = ANY
                for a in args:
                    out = same(out, a, var, role, ex.to_text(node))
                return out
            if f == "if_then_else":
                return same(args[1], args[2], var, role, ex.to_text(node))
            if f in ("exp", "log"):
                if args[0] not in (ANY, DIMENSIONLESS):
                    raise _UnitsMismatch(f"{role}: {f}() needs a dimensionless argument, got {args[0]}")
                return DIMENSIONLESS
            if f == "sqrt":
                return ANY if args[0] is ANY else args[0] ** 0.5
            if f in ("abs", "sum"):
                return args[0]
            if f == "step":
                same(args[1], year, var, role, f"the start of {ex.to_text(node)}")
                return args[0]
            if f == "ramp":
                same(args[1], year, var, role, f"the start of {ex.to_text(node)}")
                same(args[2], year, var, role, f"the end of {ex.to_text(node)}")
                return DIMENSIONLESS * year if args[0] is ANY else args[0] * year
            if f == "pulse":
                same(args[0], year, var, role, f"the start of {ex.to_text(node)}")
                same(args[1], year, var, role, f"the width of {ex.to_text(node)}")
                return DIMENSIONLESS
        raise TypeError(node)

    for name, var in variables.items():
        try:
            if var.kind in ("aux", "flow") and not var.hidden:
                got = infer(var.equation, var, "equation")
                if got is not ANY and got != declared[name]:
                    raise _UnitsMismatch(f"equation: units do not balance: the equation gives {got} but "
                                         f"{name} is declared in {declared[name]}")
            elif var.kind == "stock":
                mine = unit_of_var(name)
                got = infer(var.initial, var, "initial")
                if not var.hidden and got is not ANY and got != mine:
                    raise _UnitsMismatch(f"initial: units do not balance: the initial value is in {got} "
                                         f"but {name} is in {mine}")
                want = mine / year
                if var.rate is not None and not var.hidden:  # hidden stocks are right by construction
                    got = infer(var.rate, var, "rate")
                    if got is not ANY and got != want:
                        raise _UnitsMismatch(f"rate: the net rate is in {got} but {name} needs {want}")
                for flow in var.inflows + var.outflows:
                    if declared[flow] != want:
                        raise _UnitsMismatch(f"flow {flow!r} is in {declared[flow]} but {name} "
                                             f"(in {mine}) needs flows in {want}")
            units[name] = unit_of_var(name)
        except _UnitsMismatch as exc:
            problems.append(_problem(var, str(exc)))
        except UnitError as exc:
            problems.append(_problem(var, str(exc)))
    return units


class _UnitsMismatch(Exception):
    pass


# --------------------------------------------------------------------------------------------
# order


def _order(variables, spec, problems) -> Model | None:
    computed = [n for n, v in variables.items() if v.kind in ("aux", "flow", "stock")]
    names = list(variables)
    position = {n: i for i, n in enumerate(names)}

    def refs(name, role_filter=None):
        var = variables[name]
        out = set()
        for role, tree in expressions_of(var):
            if role_filter is None or role in role_filter:
                out |= ex.references(tree)
        return out

    def uses_time(name):  # time itself, or step/ramp/pulse, which read it
        return any(isinstance(n, ex.Time) or (isinstance(n, ex.Call) and n.func in ex.TIME_FUNCTIONS and not n.lookup)
                   for _, tree in expressions_of(variables[name]) for n in ex.walk(tree))

    # initial pass: a stock is its initial value; everything else its equation
    init_deps = {}
    for n in computed:
        role = ("initial",) if variables[n].kind == "stock" else ("equation",)
        init_deps[n] = {r for r in refs(n, role) if variables[r].kind in ("aux", "flow", "stock")}
    init_order = _toposort(computed, init_deps, position, variables, problems, "initial values")
    if problems:  # a loop among the auxiliaries shows in both passes; report it once
        return None

    # static: depends on parameters, lookups, other statics and initial(...) values only
    static, initial_only = [], {n for n, v in variables.items() if v.hidden_kind == "initial"}
    for n in init_order:
        var = variables[n]
        if n in initial_only:  # its value at the start time, whatever it reads (time included)
            static.append(n)
        elif var.kind != "stock" and not uses_time(n) and all(
                variables[d].kind in ("parameter", "lookup") or d in static for d in refs(n)):
            static.append(n)
    static_set = set(static)

    # rate pass: dynamic auxiliaries and flows; readers of a limited outflow wait for its limiter
    limited = {s: variables[s].outflows for s in computed
               if variables[s].kind == "stock" and variables[s].nonnegative and variables[s].outflows}
    limiter_of = {}
    for stock, outs in limited.items():
        for f in outs:
            limiter_of.setdefault(f, []).append(stock)
    dynamic = [n for n in computed if variables[n].kind in ("aux", "flow") and n not in static_set]
    nodes = [("var", n) for n in dynamic] + [("limit", s) for s in limited]
    deps = {}
    for n in dynamic:
        d = set()
        for r in refs(n):
            if r in static_set or variables[r].kind not in ("aux", "flow"):
                continue
            d |= {("limit", s) for s in limiter_of.get(r, [])} or {("var", r)}
        deps[("var", n)] = d
    for s, outs in limited.items():
        deps[("limit", s)] = {("var", f) for f in outs if f not in static_set}
    node_position = {node: (position[node[1]], node[0] == "limit") for node in nodes}
    rate_order = _toposort(nodes, deps, node_position, variables, problems, "the rate pass")

    stocks = [n for n in computed if variables[n].kind == "stock"]
    reporting = _reporting(rate_order, deps, stocks, variables)
    slow_only = _with_slow_reports(_slow_only(deps, stocks, variables, problems), rate_order, deps, reporting,
                                   lambda n: uses_time(n) or any(variables[r].kind == "series" for r in refs(n)))
    if problems:
        return None
    return Model(spec=spec, variables=variables, init_order=init_order, static=static, rate_order=rate_order,
                 stocks=stocks, parameters=[n for n, v in variables.items() if v.kind == "parameter"],
                 series=[n for n, v in variables.items() if v.kind == "series"],
                 lookups=[n for n, v in variables.items() if v.kind == "lookup"],
                 limited_outflows={s: tuple(o) for s, o in limited.items()},
                 reporting=reporting,
                 slow_only=slow_only,
                 reads_paths=_reads(rate_order, refs, {n for n, v in variables.items() if v.kind == "series"}),
                 reads_slow=_reads(rate_order, refs, {n for what, n in slow_only if what == "var"}))


def _reads(rate_order, refs, sources) -> frozenset[str]:
    """The rate-pass variables among ``sources`` or reading one, directly or through others (one pass in
    evaluation order: whatever a variable reads comes before it)."""
    out: set[str] = set()
    for what, n in rate_order:
        if what == "var" and (n in sources or any(r in sources or r in out for r in refs(n))):
            out.add(n)
    return frozenset(out)


def _needed(stocks, deps, variables) -> set:
    """The rate-pass nodes (auxiliaries, flows, limiters) the rates of ``stocks`` need, at any remove."""
    needed, todo = set(), []
    for stock in stocks:
        var = variables[stock]
        todo += [("var", f) for f in (*var.inflows, *var.outflows)]
        todo += [("var", r) for r in (ex.references(var.rate) if var.rate is not None else ())]
        todo += [("limit", stock)]
    while todo:
        node = todo.pop()
        if node in deps and node not in needed:
            needed.add(node)
            todo += deps[node]
    return needed


def _reporting(rate_order, deps, stocks, variables) -> dict[str, frozenset[str]]:
    """The rate-pass auxiliaries that no stock's rate needs, directly or through others, each with the
    others of them it reads."""
    needed = _needed(stocks, deps, variables)
    reporting = [node for node in rate_order if node[0] == "var" and node not in needed]
    return {n: frozenset(d[1] for d in deps[(w, n)] if d in reporting) for w, n in reporting}


def _slow_only(deps, stocks, variables, problems) -> frozenset[tuple[str, str]]:
    """The rate-pass nodes only slow stocks' rates need (method "partitioned" evaluates them at the first two
    of a step's four stages). A slow stock's flow that a fast stock's rate reads is an error: the two would
    then see the flow over different stages, and the recorded flow would not add up to the stock's change."""
    slow = [n for n in stocks if variables[n].slow]
    if not slow:
        return frozenset()
    fast = [n for n in stocks if not variables[n].slow]
    out = frozenset(_needed(slow, deps, variables) - _needed(fast, deps, variables))
    for stock in slow:
        var = variables[stock]
        for flow in (*var.inflows, *var.outflows):
            if ("var", flow) not in out and ("var", flow) in deps:
                problems.append(_problem(var, f"slow: its flow {flow!r} is also needed by the rate of a stock "
                                              "that is not slow; declare that stock slow too, or this one not"))
    return out


def _with_slow_reports(slow_only, rate_order, deps, reporting, reads_clock) -> frozenset[tuple[str, str]]:
    """``slow_only`` and the reports computed from it alone (no time path, no clock): the partitioned method
    holds them with what they read, so a report summing slow flows (deaths, the urban residents' natural
    increase) is recorded at the same stage weights as its parts and adds up to the stocks' change."""
    out = set(slow_only)
    for node in rate_order:
        if node[0] == "var" and node[1] in reporting and deps[node] and deps[node] <= out and not reads_clock(node[1]):
            out.add(node)
    return frozenset(out)


def _toposort(nodes, deps, position, variables, problems, what):
    """Kahn's algorithm, ties broken by declaration order so the order reads like the files.
    Cycles are reported with the names in the loop."""
    import heapq

    remaining = {n: set(deps[n]) & set(nodes) for n in nodes}
    users = {n: [] for n in nodes}
    for n, ds in remaining.items():
        for d in ds:
            users[d].append(n)
    ready = [(position[n], n) for n in nodes if not remaining[n]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for u in users[n]:
            remaining[u].discard(n)
            if not remaining[u]:
                heapq.heappush(ready, (position[u], u))
    if len(order) < len(nodes):
        stuck = {n for n in nodes if remaining[n]}
        for cycle in _cycles(stuck, remaining):
            names = [c[1] if isinstance(c, tuple) else c for c in cycle]
            shown = [c if not isinstance(c, tuple) or c[0] == "var" else f"(outflow limit of {c[1]})"
                     for c in cycle]
            shown = [c[1] if isinstance(c, tuple) else c for c in shown]
            first = variables[names[0]]
            problems.append(Problem(first.file, first.line, names[0],
                                    f"algebraic loop in {what}: {' -> '.join(shown + [shown[0]])} "
                                    "(break it with a stock, smooth() or delay1())"))
    return order


def _cycles(stuck, remaining):
    """One cycle per strongly connected group of the stuck nodes."""
    seen, out = set(), []
    for start in sorted(stuck, key=str):
        if start in seen:
            continue
        path, index, node = [], {}, start
        while node not in index:
            index[node] = len(path)
            path.append(node)
            node = sorted(remaining[node] & stuck, key=str)[0]
        cycle = path[index[node]:][::-1]
        if not seen & set(cycle):
            out.append(cycle)
        seen |= set(path)
    return out


# --------------------------------------------------------------------------------------------
# layout


def _layout(model: Model):
    offset = 0
    for n in model.stocks:
        model.state_offset[n] = offset
        offset += model.size(n)
    model.n_state = offset
    offset = 0
    dynamic = [n for what, n in model.rate_order if what == "var"]
    for n in [x for x in model.init_order if x in model.static] + dynamic:
        model.var_offset[n] = offset
        offset += model.size(n)
    for n in model.init_order:  # auxiliaries used only in the initial pass (none today) still get a slot
        if n not in model.var_offset and model.variables[n].kind != "stock":
            model.var_offset[n] = offset
            offset += model.size(n)
    model.n_var = offset
    offset = 0
    for n in model.parameters:
        model.param_offset[n] = offset
        offset += model.size(n)
    column = 0
    for n in model.series:
        model.series_offset[n] = column
        model.multiplier_offset[n] = offset
        column += model.size(n)
        offset += model.size(n)
    model.n_series = column
    model.n_param = offset
    offset = 0
    for n in model.lookups:
        k = len(model.variables[n].points[0][0])
        if any(len(xs) != k for xs, _ in model.variables[n].points):
            raise ModelError(_problem(model.variables[n], "every element's table needs the same number of points"))
        model.lookup_points[n] = k
        model.lookup_offset[n] = offset
        offset += 2 * k * model.size(n)
    model.n_lookup = offset
