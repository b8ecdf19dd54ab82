"""The check pass: names, subscripts, dims and units, each problem naming the file, line and variable.

- names: every name an expression reads is declared (else a did-you-mean), lookup tables are called,
  stocks change only through flows of matching dims;
- subscripts: one per dim of the referenced variable, each a dim of the same base, an element of it,
  or a dim shifted by fewer places than it has elements;
- dims: an expression varies along no dim its variable is not declared with (after sums);
- units: both sides of ``+ - < ==`` and ``min``/``max``/``if_then_else`` agree, each equation gives
  its variable's declared units, and a stock's flows are in its units per year.
"""

from __future__ import annotations

from ..errors import did_you_mean
from . import expressions as ex
from .declarations import Variable, expressions_of
from .units import DIMENSIONLESS, Unit, UnitError, parse_unit

TIME_UNIT = "year"
ANY = "any"  # the units of a bare number: fits whatever it is added to or compared with


# --------------------------------------------------------------------------------------------
# names


def check_names(variables, spec, problems):
    """Every name an expression reads is declared, with subscripts that fit it; lookup tables are called;
    every sum is over a known dimension; a stock's flows are flows with dims it can hold."""
    for var in variables.values():
        for role, tree in expressions_of(var):
            for node in ex.walk(tree):
                _check_name(var, role, node, variables, spec, problems)
        if var.kind == "stock":
            _check_flows(var, variables, problems)


def _check_name(var, role, node, variables, spec, problems):
    if isinstance(node, ex.Ref):
        target = variables.get(node.name)
        if target is None:
            names = [n for n, v in variables.items() if v.kind != "lookup"]
            problems.append(var.problem(f"{role}: unknown name {node.name!r}{did_you_mean(node.name, names)}"))
        elif target.kind == "lookup":
            problems.append(var.problem(f"{role}: {node.name!r} is a lookup table; call it: {node.name}(x)"))
        else:
            _check_subs(var, role, node, target, spec, problems)
    elif isinstance(node, ex.Call) and node.lookup:
        target = variables.get(node.func)
        if target is None or target.kind != "lookup":
            names = [n for n, v in variables.items() if v.kind == "lookup"] + list(ex.FUNCTIONS)
            problems.append(
                var.problem(f"{role}: unknown function or lookup table {node.func!r}{did_you_mean(node.func, names)}")
            )
    elif (
        isinstance(node, ex.Call) and node.func == "sum" and node.dim not in spec.dims and node.dim not in spec.aliases
    ):
        problems.append(
            var.problem(
                f"{role}: sum over unknown dimension {node.dim!r}"
                f"{did_you_mean(node.dim, list(spec.dims) + list(spec.aliases))}"
            )
        )


def _check_flows(stock, variables, problems):
    for key in ("inflows", "outflows"):
        for flow in getattr(stock, key):
            target = variables.get(flow)
            if target is None:
                flows = [n for n, v in variables.items() if v.kind == "flow"]
                problems.append(stock.problem(f"{key}: unknown flow {flow!r}{did_you_mean(flow, flows)}"))
            elif target.kind != "flow":
                problems.append(
                    stock.problem(
                        f"{key}: {flow!r} is a {target.kind}; stocks change only through variables of kind flow"
                    )
                )
            elif not set(target.dims) <= set(stock.dims):
                problems.append(
                    stock.problem(
                        f"{key}: flow {flow!r} has dims {list(target.dims)} but the stock has {list(stock.dims)}"
                    )
                )
            elif key == "outflows" and stock.nonnegative and tuple(target.dims) != tuple(stock.dims):
                problems.append(
                    stock.problem(
                        f"outflows: {flow!r} must have the stock's dims "
                        f"{list(stock.dims)} so it can be limited element by element"
                    )
                )
    if len(set(stock.inflows + stock.outflows)) != len(stock.inflows) + len(stock.outflows):
        problems.append(stock.problem("a flow is listed twice in inflows/outflows"))


def _check_subs(var, role, node: ex.Ref, target: Variable, spec, problems):
    """One subscript per dim of the target: a dim of the same base, an element of it, or a shifted dim."""
    if not node.subs:
        return
    if len(node.subs) != len(target.dims):
        problems.append(
            var.problem(
                f"{role}: {node.name} has dims {list(target.dims)}; "
                f"{ex.to_text(node)} gives {len(node.subs)} subscript(s)"
            )
        )
        return
    for sub, dim in zip(node.subs, target.dims):
        base = spec.base(dim)
        if isinstance(sub, ex.Shift) and not (sub.dim in spec.dims or sub.dim in spec.aliases):
            problems.append(
                var.problem(f"{role}: in {ex.to_text(node)}, only a dimension can be shifted, not {sub.dim!r}")
            )
            continue
        if isinstance(sub, ex.Shift) and abs(sub.by) >= len(spec.dims[base]):
            problems.append(
                var.problem(
                    f"{role}: in {ex.to_text(node)}, a shift of {abs(sub.by)} passes every "
                    f"element of {base!r} ({len(spec.dims[base])}): it would always read zero"
                )
            )
        sub = ex.sub_dim(sub)
        if sub in spec.dims or sub in spec.aliases:
            if spec.base(sub) != base:
                problems.append(
                    var.problem(
                        f"{role}: in {ex.to_text(node)}, {sub!r} indexes {spec.base(sub)!r} "
                        f"but that position of {node.name} is {dim!r}"
                    )
                )
        elif sub not in spec.dims[base]:
            problems.append(
                var.problem(
                    f"{role}: in {ex.to_text(node)}, {sub!r} is neither a dimension "
                    f"nor an element of {base!r}{did_you_mean(sub, spec.dims[base])}"
                )
            )


# --------------------------------------------------------------------------------------------
# dims


def index_dims(node, variables, spec) -> set[str]:
    """The dimension indices an expression varies along (after sums)."""

    def dims(node, inner):
        if isinstance(node, ex.Ref):
            if not node.subs:
                return set(variables[node.name].dims)
            return {ex.sub_dim(s) for s in node.subs if ex.sub_dim(s) in spec.dims or ex.sub_dim(s) in spec.aliases}
        out = set().union(*inner)
        if isinstance(node, ex.Call) and node.lookup:
            out |= set(variables[node.func].dims)
        elif isinstance(node, ex.Call) and node.func == "sum":
            out.discard(node.dim)
        return out

    return ex.fold(node, dims)


def check_dims(variables, spec, problems):
    """Each sum is over a dim its term varies along; each expression varies along no dim its variable lacks."""
    for var in variables.values():
        for role, tree in expressions_of(var):
            for node in ex.walk(tree):
                if (
                    isinstance(node, ex.Call)
                    and node.func == "sum"
                    and not node.lookup
                    and node.dim not in index_dims(node.args[0], variables, spec)
                ):
                    problems.append(
                        var.problem(
                            f"{role}: {ex.to_text(node)} sums over {node.dim!r} "
                            "but the expression does not vary along it"
                        )
                    )
            got = index_dims(tree, variables, spec)
            extra = got - set(var.dims)
            if extra:
                problems.append(
                    var.problem(
                        f"{role}: dims do not match: the expression varies along "
                        f"{sorted(got)} but {var.name} is declared with dims {list(var.dims)}; "
                        f"sum over or subscript {sorted(extra)}"
                    )
                )


# --------------------------------------------------------------------------------------------
# units


def check_units(variables, spec, problems) -> dict[str, Unit]:
    """The units of every variable (a hidden one's inferred from what it smooths or delays); a problem for each
    variable whose equations do not balance or do not give its units."""
    units = _Units(variables, spec)
    for name, var in variables.items():
        try:
            if var.kind in ("aux", "flow") and not var.hidden:
                _check_equation(units, var)
            elif var.kind == "stock":
                _check_stock(units, var)
            units.known[name] = units.of_variable(name)
        except (_UnitsMismatch, UnitError) as exc:
            problems.append(var.problem(str(exc)))
    return units.known


class _UnitsMismatch(Exception):
    pass


def _check_equation(units: _Units, var: Variable):
    got = units.of(var.equation, "equation")
    if got is not ANY and got != units.declared[var.name]:
        raise _UnitsMismatch(
            f"equation: units do not balance: the equation gives {got} but "
            f"{var.name} is declared in {units.declared[var.name]}"
        )


def _check_stock(units: _Units, var: Variable):
    """A stock's initial value is in its units; its net rate and flows in its units per year."""
    mine = units.of_variable(var.name)
    got = units.of(var.initial, "initial")
    if not var.hidden and got is not ANY and got != mine:
        raise _UnitsMismatch(
            f"initial: units do not balance: the initial value is in {got} but {var.name} is in {mine}"
        )
    want = mine / units.year
    if var.rate is not None and not var.hidden:  # hidden stocks are right by construction
        got = units.of(var.rate, "rate")
        if got is not ANY and got != want:
            raise _UnitsMismatch(f"rate: the net rate is in {got} but {var.name} needs {want}")
    for flow in var.inflows + var.outflows:
        if units.declared[flow] != want:
            raise _UnitsMismatch(
                f"flow {flow!r} is in {units.declared[flow]} but {var.name} (in {mine}) needs flows in {want}"
            )


class _Units:
    """Units of variables (as declared; a hidden one's inferred from what it smooths or delays) and of
    expressions (inferred bottom up: a bare number is ``ANY``, it takes the units of what it meets)."""

    def __init__(self, variables, spec):
        defs = spec.unit_definitions
        self.variables = variables
        self.year = parse_unit(TIME_UNIT)
        self.declared = {n: parse_unit(v.units, defs) for n, v in variables.items() if not v.hidden}
        self.x_units = {n: parse_unit(v.x_units, defs) for n, v in variables.items() if v.kind == "lookup"}
        self.known: dict[str, Unit] = {}  # every variable's units found so far
        self.busy: set[str] = set()  # hidden variables being inferred

    def of_variable(self, name: str) -> Unit:
        if name in self.declared:
            return self.declared[name]
        if name in self.known:
            return self.known[name]
        if name in self.busy:  # a loop through hidden variables; reported by the order pass
            return ANY
        self.busy.add(name)
        try:
            unit = self._of_hidden(self.variables[name])
        finally:
            self.busy.discard(name)
        unit = DIMENSIONLESS if unit is ANY else unit
        self.known[name] = unit
        return unit

    def _of_hidden(self, var: Variable):
        """A delay's output has its input's units, an initial value its expression's, a smooth its input's, and a
        delay's stage holds input x time."""
        if var.kind == "aux" and var.hidden_kind == "delay_output":
            return self.of(var.hidden_input, "input")
        if var.hidden_kind == "initial":
            return self.of(var.equation, "equation")
        tau = self.of(var.hidden_time, "time constant")
        if tau not in (ANY, self.year):
            raise _UnitsMismatch(f"the time constant of {var.doc} must be in {self.year}, not {tau}")
        unit = self.of(var.hidden_input, "input")
        unit = DIMENSIONLESS if unit is ANY else unit
        return unit * self.year if var.hidden_kind == "delay" else unit

    def of(self, tree, role: str):
        """The units of an expression (``ANY`` for a bare number); raise _UnitsMismatch naming ``role`` (equation,
        initial, rate, ...) where they do not balance."""
        return ex.fold(tree, lambda node, args: self._of_node(node, args, role))

    def _of_node(self, node, args, role):
        if isinstance(node, ex.Num):
            return ANY
        if isinstance(node, ex.Time):
            return self.year
        if isinstance(node, ex.Ref):
            return self.of_variable(node.name)
        if isinstance(node, ex.Neg):
            return args[0]
        if isinstance(node, (ex.Not, ex.Logic)):
            return DIMENSIONLESS
        if isinstance(node, ex.Cmp):
            _same(args[0], args[1], role, ex.to_text(node))
            return DIMENSIONLESS
        if isinstance(node, ex.Bin):
            return self._of_arithmetic(node, *args, role)
        if isinstance(node, ex.Call) and node.lookup:
            x_units = self.x_units[node.func]
            if args[0] is not ANY and args[0] != x_units:
                raise _UnitsMismatch(f"{role}: lookup {node.func} takes x in {x_units}, got {args[0]}")
            return self.declared[node.func]
        if isinstance(node, ex.Call):
            return self._of_function(node, args, role)
        raise TypeError(node)

    def _of_arithmetic(self, node: ex.Bin, a, b, role):
        if node.op in "+-":
            return _same(a, b, role, ex.to_text(node))
        if node.op == "**":
            if isinstance(node.b, ex.Num):
                return DIMENSIONLESS if a is ANY else a**node.b.value
            if b not in (ANY, DIMENSIONLESS) or a not in (ANY, DIMENSIONLESS):
                raise _UnitsMismatch(
                    f"{role}: in {ex.to_text(node)} a variable exponent needs a "
                    f"dimensionless base and exponent (got {a} ** {b})"
                )
            return DIMENSIONLESS
        a = DIMENSIONLESS if a is ANY else a
        b = DIMENSIONLESS if b is ANY else b
        return a * b if node.op == "*" else a / b

    def _of_function(self, node: ex.Call, args, role):
        f, year = node.func, self.year
        if f in ("min", "max", "clip"):
            out = ANY
            for a in args:
                out = _same(out, a, role, ex.to_text(node))
            return out
        if f == "if_then_else":
            return _same(args[1], args[2], role, ex.to_text(node))
        if f in ("exp", "log"):
            if args[0] not in (ANY, DIMENSIONLESS):
                raise _UnitsMismatch(f"{role}: {f}() needs a dimensionless argument, got {args[0]}")
            return DIMENSIONLESS
        if f == "sqrt":
            return ANY if args[0] is ANY else args[0] ** 0.5
        if f in ("abs", "sum"):
            return args[0]
        if f == "step":
            _same(args[1], year, role, f"the start of {ex.to_text(node)}")
            return args[0]
        if f == "ramp":
            _same(args[1], year, role, f"the start of {ex.to_text(node)}")
            _same(args[2], year, role, f"the end of {ex.to_text(node)}")
            return DIMENSIONLESS * year if args[0] is ANY else args[0] * year
        if f == "pulse":
            _same(args[0], year, role, f"the start of {ex.to_text(node)}")
            _same(args[1], year, role, f"the width of {ex.to_text(node)}")
            return DIMENSIONLESS
        raise TypeError(node)


def _same(a, b, role, what):
    """The units two operands share (a bare number takes the other's); raise _UnitsMismatch if they differ."""
    if a is ANY:
        return b
    if b is ANY or a == b:
        return a
    raise _UnitsMismatch(f"{role}: units do not balance in {what}: {a} vs {b}")
