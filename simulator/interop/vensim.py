"""Export the model, with a scenario's parameters and policies, as a Vensim .mdl text model.

It opens in Vensim and runs in PySD (which the tests use as an independent engine). Dimensions become
subscript ranges (``other <-> city``), stocks INTEG, parameters constants, time paths WITH LOOKUP of Time
(the scenario's multipliers folded in), ``sum(x, dim)`` SUM(x[dim!]) and ``initial(x)`` INITIAL(x);
smooth and delay appear as the stocks they expand to. ``--flat`` writes one variable per element
instead of subscripts (``gdp_hohhot``), as PySD runs far faster without subscripts.

Two engine features have no Vensim counterpart and are not exported: the limit on the outflows of a
non-negative stock within one step, and the clamp of such a stock at zero. In the shipped scenarios they
never act, which the PySD cross-check confirms.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..engine import InputRef, Inputs, Model
from ..engine import expressions as ex
from ..engine.declarations import expressions_of
from ..inputs.scenario import Scenario

_CMP = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FUNCS = {"exp": "EXP", "log": "LN", "sqrt": "SQRT", "abs": "ABS", "step": "STEP", "ramp": "RAMP", "pulse": "PULSE"}


def _number(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() or abs(x) >= 1e15 else str(int(x))


class _Writer:
    """Writes the model's declarations as Vensim text, subscripted or (``flat``) one variable per element."""

    def __init__(self, model: Model, flat: bool):
        self.model, self.flat, self.spec = model, flat, model.spec

    def name(self, var_name: str, index: dict) -> str:
        """A variable's name at an index (dim -> element in flat mode, dim -> subscript text otherwise)."""
        base = (
            var_name[: -len("_start")]
            if var_name.endswith("_start") and var_name not in self.model.variables
            else var_name
        )
        dims = self.model.variables[base].dims
        if not dims:
            return var_name
        if self.flat:
            return var_name + "_" + "_".join(index[d] for d in dims)
        return f"{var_name}[{', '.join(index[d] for d in dims)}]"

    def ref(self, node: ex.Ref, env: dict) -> str:
        target = self.model.variables[node.name]
        index = {}
        for k, dim in enumerate(target.dims):
            sub = node.subs[k] if node.subs else dim
            if isinstance(sub, ex.Shift):  # the equation is written element by element along this dim
                elements = self.spec.elements(dim)
                position = elements.index(env[sub.dim]) + sub.by
                if not 0 <= position < len(elements):
                    return "0"
                index[dim] = elements[position]
            else:
                index[dim] = env.get(sub, sub)  # a dim in scope, or an element name
        return self.name(node.name, index)

    def expr(self, node, env: dict) -> str:
        """Vensim text of an expression tree, with dims bound as in ``env`` (a sum's term in its own)."""

        def visit(node, args):
            if isinstance(node, ex.Num):
                return _number(node.value)
            if isinstance(node, ex.Time):
                return "Time"
            if isinstance(node, ex.Ref):
                return self.ref(node, env)
            if isinstance(node, ex.Neg):
                return f"-({args[0]})"
            if isinstance(node, ex.Not):
                return f":NOT: ({args[0]})"
            if isinstance(node, ex.Bin):
                return f"({args[0]}) {'^' if node.op == '**' else node.op} ({args[1]})"
            if isinstance(node, ex.Cmp):
                return f"({args[0]}) {_CMP[node.op]} ({args[1]})"
            if isinstance(node, ex.Logic):
                joiner = " :AND: " if node.op == "and" else " :OR: "
                return "(" + joiner.join(f"({a})" for a in args) + ")"
            if isinstance(node, ex.Call):
                return self.call(node, args, env)
            raise TypeError(node)

        return ex.fold(node, visit, into=lambda n: not (isinstance(n, ex.Call) and n.func == "sum"))

    def call(self, node: ex.Call, args: list[str], env: dict) -> str:
        if node.lookup:
            table = self.model.variables[node.func]
            index = {d: env.get(d, d) for d in table.dims}
            return f"{self.name(node.func, index)}({args[0]})"
        if node.func == "sum":
            if self.flat or node.dim in _shifted_dims_of(node.args[0]):  # Vensim cannot shift inside SUM(x[d!])
                terms = [self.expr(node.args[0], {**env, node.dim: e}) for e in self.spec.elements(node.dim)]
                return "(" + " + ".join(terms) + ")"
            return f"SUM({self.expr(node.args[0], {**env, node.dim: node.dim + '!'})})"
        f = node.func
        if f in ("min", "max"):
            out = args[0]
            for a in args[1:]:
                out = f"{f.upper()}({out}, {a})"
            return out
        if f == "clip":
            return f"MIN(MAX({args[0]}, {args[1]}), {args[2]})"
        if f == "if_then_else":
            return f"IF THEN ELSE({args[0]}, {args[1]}, {args[2]})"
        if f in _FUNCS:
            return f"{_FUNCS[f]}({', '.join(args)})"
        raise TypeError(f"{f} has no Vensim export")

    # -- whole equations -----------------------------------------------------------------------
    def elements(self, dims):
        """Every element of ``dims``, as tuples of element names in C order (the order of the arrays)."""
        return itertools.product(*(self.spec.elements(d) for d in dims))

    def indexes(self, dims, by_element=()):
        """(left-hand-side index, expression environment) for each equation a variable needs: one per
        element in flat mode, else one per element of the dims in ``by_element`` (those read through a
        shifted index, which Vensim writes element by element) with the other dims as subscripts."""
        unrolled = dims if self.flat else [d for d in dims if d in by_element]
        for combo in self.elements(unrolled):
            index = {d: d for d in dims} | dict(zip(unrolled, combo))
            yield index, dict(index)

    def block(self, lhs: str, rhs: str, units: str, doc: str) -> str:
        units = "Dmnl" if units == "1" else units
        doc = " ".join(doc.split()).replace("~", "-").replace("|", "/")
        return f"{lhs}=\n\t{rhs}\n\t~\t{units}\n\t~\t{doc}\n\t|\n"

    @staticmethod
    def table_block(lhs: str, xs, ys, units: str, doc: str) -> str:
        """A lookup table defined on its own (called like a function)."""
        return f"{lhs}(\n\t{_table(xs, ys)})\n\t~\t{units}\n\t~\t{' '.join(doc.split())}\n\t|\n"

    def position(self, dims, index: dict) -> tuple[int, ...]:
        """The array position of an index whose every dim is at an element."""
        return tuple(self.spec.elements(d).index(index[d]) for d in dims)

    def start_value(self, values: np.ndarray, dims, index: dict) -> str:
        """A start value as Vensim text: one number (flat, or scalar) or a subscripted table (of the dims still
        subscripted at ``index``; those written element by element are taken at their element)."""
        if self.flat or not dims:
            return _number(values[self.position(dims, index)] if dims else values)
        values = values[tuple(slice(None) if index[d] == d else self.spec.elements(d).index(index[d]) for d in dims)]
        if values.ndim == 0:
            return _number(values)
        return ";".join(",".join(_number(x) for x in row) for row in _rows(values))

    # -- one declaration -----------------------------------------------------------------------
    def subscript_ranges(self) -> list[str]:
        """Each dimension as a subscript range, and each alias as an equivalent range."""
        return [
            f"{dim}:\n\t{', '.join(elements)}\n\t~\t\n\t~\tdimension {dim}\n\t|\n"
            for dim, elements in self.spec.dims.items()
        ] + [
            f"{alias} <-> {base}\n\t~\t\n\t~\ta second index over {base}\n\t|\n"
            for alias, base in self.spec.aliases.items()
        ]

    def variable(self, var, inputs: Inputs, start: dict[str, np.ndarray]) -> list[str]:
        """The equations of one declared variable, with the scenario's inputs and the start state."""
        doc = var.doc + (f" Source: {var.source}" if var.source else "")
        if var.kind == "parameter":
            return self.parameter(var, np.asarray(inputs.parameter(var.name)[0], dtype=float), doc)
        if var.kind == "series":
            multipliers = np.asarray(inputs.parameter(InputRef(var.name, multiplier=True))[0], dtype=float).ravel()
            return self.series(var, [(xs, ys * m) for (xs, ys), m in zip(inputs.series[var.name], multipliers)], doc)
        if var.kind == "lookup":
            return [
                self.table_block(self.name(var.name, dict(zip(var.dims, combo))), xs, ys, var.units, doc)
                for combo, (xs, ys) in zip(self.elements(var.dims), inputs.lookups[var.name])
            ]
        if var.kind == "stock":
            return self.stock(var, start[var.name], doc)
        return self.equation(var, start, doc)  # aux, flow

    def parameter(self, var, values: np.ndarray, doc: str) -> list[str]:
        """A constant per element (flat or scalar), or one subscripted table of numbers."""
        if self.flat or not var.dims:
            return [
                self.block(self.name(var.name, index), _number(values[self.position(var.dims, index)]), var.units, doc)
                for index, _ in self.indexes(var.dims)
            ]
        text = ";\n\t".join(", ".join(_number(x) for x in row) for row in _rows(values))
        text += ";" if values.ndim > 1 else ""
        return [self.block(self.name(var.name, {d: d for d in var.dims}), text, var.units, doc)]

    def series(self, var, tables: list, doc: str) -> list[str]:
        """A time path read by calendar year from its points (``tables``, per element, multipliers applied)."""
        if self.flat or not var.dims:
            return [
                self.block(self.name(var.name, index), _lookup(*tables[k]), var.units, doc)
                for k, (index, _) in enumerate(self.indexes(var.dims))
            ]
        # a subscripted lookup table of Time, one table per element, then one equation reading it
        # (PySD 3.14 mistranslates a WITH LOOKUP shared by a range, and per-element WITH LOOKUPs
        # give object arrays that break its integration)
        parts = []
        for combo, (xs, ys) in zip(self.elements(var.dims), tables):
            if len(xs) == 1:
                xs, ys = np.array([xs[0], xs[0] + 1.0]), np.array([ys[0], ys[0]])
            parts.append(
                self.table_block(f"{var.name}_path[{', '.join(combo)}]", xs, ys, var.units, f"time path of {var.name}")
            )
        dims = ", ".join(var.dims)
        parts.append(self.block(f"{var.name}[{dims}]", f"{var.name}_path[{dims}]({CALENDAR_YEAR})", var.units, doc))
        return parts

    def stock(self, var, start: np.ndarray, doc: str) -> list[str]:
        """INTEG of the stock's rate from its start-year value (subscripted: a constant of its own)."""
        parts = []
        for index, env in self.indexes(var.dims, _shifted_dims(var)):
            if var.rate is not None:
                rate = self.expr(var.rate, env)
            else:
                ins = " + ".join(self.ref(ex.Ref(f), env) for f in var.inflows) or "0"
                outs = " + ".join(self.ref(ex.Ref(f), env) for f in var.outflows)
                rate = f"{ins} - ({outs})" if outs else ins
            initial = self.start_value(start, var.dims, index)
            if not self.flat and var.dims:  # a subscripted constant of its own: INTEG takes no list
                parts.append(
                    self.block(
                        self.name(f"{var.name}_start", index),
                        initial,
                        var.units,
                        f"start-year value of {var.name}: {self.expr(var.initial, env)}",
                    )
                )
                initial = self.name(f"{var.name}_start", index)
            parts.append(
                self.block(
                    self.name(var.name, index),
                    f"INTEG({rate}, {initial})",
                    var.units,
                    f"{doc} Initial value: {self.expr(var.initial, env)}, at the start year.",
                )
            )
        return parts

    def equation(self, var, start: dict[str, np.ndarray], doc: str) -> list[str]:
        """An auxiliary or flow; an initial() value is written as the number the engine computes."""
        parts = []
        units = var.units or str(self.model.units.get(var.name, "Dmnl"))
        for index, env in self.indexes(var.dims, _shifted_dims(var)):
            rhs = self.expr(var.equation, env)
            if var.hidden_kind == "initial":
                doc = f"the start-year value of {rhs}"
                rhs = self.start_value(start[var.name], var.dims, index)
            parts.append(self.block(self.name(var.name, index), rhs, units, doc or var.name))
        return parts

    def control(self, grid) -> list[str]:
        """The simulation control: start, end, saving interval and step."""
        return [
            ".Control\n********************************************************\n\t~\n\t\tSimulation Control "
            "Parameters\n\t|\n",
            self.block("FINAL TIME  ", _number(grid.end), "year", "The final time for the simulation."),
            self.block("INITIAL TIME  ", _number(grid.start), "year", "The initial time for the simulation."),
            self.block("SAVEPER  ", _number(grid.save), "year [0,?]", "The frequency with which output is stored."),
            self.block("TIME STEP  ", _number(grid.dt), "year [0,?]", "The time step for the simulation."),
        ]


def _rows(values: np.ndarray) -> np.ndarray:
    """An array of numbers as the rows of a Vensim table: its last dim across, the others down."""
    return values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None, :]


def _shifted_dims_of(tree) -> set[str]:
    """The dims an expression reads through a shifted index (x[age - 1])."""
    return {
        sub.dim for node in ex.walk(tree) if isinstance(node, ex.Ref) for sub in node.subs if isinstance(sub, ex.Shift)
    }


def _shifted_dims(var) -> set[str]:
    """The dims a variable's equations read through a shifted index (its equations are written element by
    element along them)."""
    return set().union(*(_shifted_dims_of(tree) for _, tree in expressions_of(var)))


def _table(xs, ys) -> str:
    """A Vensim lookup table: [(xmin,ymin)-(xmax,ymax)],(x1,y1),(x2,y2),..."""
    points = ",".join(f"({_number(x)},{_number(y)})" for x, y in zip(xs, ys))
    return f"[({_number(min(xs))},{_number(min(ys))})-({_number(max(xs))},{_number(max(ys))})],{points}"


# Time paths are read by calendar year (simulator.engine.inputs.calendar_year): during a step starting
# at Time, the year INTEGER(Time) + 1, which is what Vensim's Euler step evaluates.
CALENDAR_YEAR = "INTEGER(Time) + 1"
# what Vensim expects after the equations: an empty sketch
SKETCH = (
    "\\\\\\---/// Sketch information - do not modify anything except names\nV300  Do not put anything below "
    "this section - it will be ignored\n*View 1\n$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|"
    "-1--1--1|-1--1--1|96,96,100,0\n///---\\\\\\\n:L<%^E!@\n"
)


def _lookup(xs, ys) -> str:
    if len(xs) == 1:  # a constant path
        return _number(ys[0])
    return f"WITH LOOKUP({CALENDAR_YEAR}, ({_table(xs, ys)}))"


def start_state(model: Model, scenario: Scenario, inputs: Inputs) -> dict[str, np.ndarray]:
    """The stocks' initial values and the initial() values, as the engine computes them at the start time
    (time paths read for the start year). Vensim reads time paths at INITIAL TIME as it does in the first
    step (the first projected year), so the export writes these numbers, with the formula in the comment."""
    from ..engine import TimeGrid, simulate

    names = [n for n, v in model.variables.items() if v.kind == "stock" or v.hidden_kind == "initial"]
    grid = TimeGrid(scenario.time.start, scenario.time.start + scenario.time.dt, scenario.time.dt, scenario.time.dt)
    result = simulate(model, inputs.with_runs(1), grid, "euler", record=names)
    out = {}
    for name in names:
        columns = [result.labels.index((name, k)) for k in range(model.size(name))]
        out[name] = result.values[0, 0, columns].reshape(model.shape(name))
    return out


def to_vensim(model: Model, scenario: Scenario, inputs: Inputs | None = None, flat: bool = False) -> str:
    """The model with the scenario's inputs as Vensim .mdl text."""
    inputs = inputs or scenario.inputs(model)
    start = start_state(model, scenario, inputs)
    w = _Writer(model, flat)
    parts = ["{UTF-8}\n"] + ([] if flat else w.subscript_ranges())
    for var in model.variables.values():
        parts += w.variable(var, inputs, start)
    return "\n".join(parts + w.control(scenario.time) + [SKETCH])


def write_vensim(model: Model, scenario: Scenario, out: Path, flat: bool = False, overwrite: bool = False) -> str:
    """Write the .mdl file atomically. An existing file is replaced only with ``overwrite`` (simulate cannot
    tell whether it wrote it). Returns the text written."""
    from ..errors import OutputError

    out = Path(out)
    if out.is_dir() or (out.exists() and not overwrite):
        raise OutputError(
            f"--out {out}: {'is a folder' if out.is_dir() else 'the file exists'}; choose a new "
            "file name" + ("" if out.is_dir() else ", or add --overwrite to replace it")
        )
    text = to_vensim(model, scenario, flat=flat)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"--out {out}: cannot write it ({exc.strerror or exc})") from None
    return text
