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

from ..engine import Inputs, Model
from ..engine import expressions as ex
from ..engine.declarations import expressions_of
from ..inputs.scenario import Scenario

_CMP = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FUNCS = {"exp": "EXP", "log": "LN", "sqrt": "SQRT", "abs": "ABS", "step": "STEP", "ramp": "RAMP", "pulse": "PULSE"}


def _number(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() or abs(x) >= 1e15 else str(int(x))


class _Writer:
    def __init__(self, model: Model, flat: bool):
        self.model, self.flat, self.spec = model, flat, model.spec

    def name(self, var_name: str, index: dict) -> str:
        """A variable's name at an index (dim -> element in flat mode, dim -> subscript text otherwise)."""
        base = var_name[: -len("_start")] if var_name.endswith("_start") and var_name not in self.model.variables \
            else var_name
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
                index[dim] = env[sub] if sub in env else sub  # a dim in scope, or an element name
        return self.name(node.name, index)

    def expr(self, node, env: dict) -> str:
        if isinstance(node, ex.Num):
            return _number(node.value)
        if isinstance(node, ex.Time):
            return "Time"
        if isinstance(node, ex.Ref):
            return self.ref(node, env)
        if isinstance(node, ex.Neg):
            return f"-({self.expr(node.x, env)})"
        if isinstance(node, ex.Not):
            return f":NOT: ({self.expr(node.x, env)})"
        if isinstance(node, ex.Bin):
            op = "^" if node.op == "**" else node.op
            return f"({self.expr(node.a, env)}) {op} ({self.expr(node.b, env)})"
        if isinstance(node, ex.Cmp):
            return f"({self.expr(node.a, env)}) {_CMP[node.op]} ({self.expr(node.b, env)})"
        if isinstance(node, ex.Logic):
            joiner = " :AND: " if node.op == "and" else " :OR: "
            return "(" + joiner.join(f"({self.expr(a, env)})" for a in node.args) + ")"
        if isinstance(node, ex.Call):
            return self.call(node, env)
        raise TypeError(node)

    def call(self, node: ex.Call, env: dict) -> str:
        if node.lookup:
            table = self.model.variables[node.func]
            index = {d: env.get(d, d) for d in table.dims}
            return f"{self.name(node.func, index)}({self.expr(node.args[0], env)})"
        if node.func == "sum":
            if self.flat or node.dim in _shifted_dims_of(node.args[0]):  # Vensim cannot shift inside SUM(x[d!])
                terms = [self.expr(node.args[0], {**env, node.dim: e}) for e in self.spec.elements(node.dim)]
                return "(" + " + ".join(terms) + ")"
            return f"SUM({self.expr(node.args[0], {**env, node.dim: node.dim + '!'})})"
        args = [self.expr(a, env) for a in node.args]
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
    def indexes(self, dims, by_element=()):
        """(left-hand-side index, expression environment) for each equation a variable needs: one per
        element in flat mode, else one per element of the dims in ``by_element`` (those read through a
        shifted index, which Vensim writes element by element) with the other dims as subscripts."""
        unrolled = dims if self.flat else [d for d in dims if d in by_element]
        for combo in itertools.product(*(self.spec.elements(d) for d in unrolled)):
            index = {d: d for d in dims} | dict(zip(unrolled, combo))
            yield index, dict(index)

    def block(self, lhs: str, rhs: str, units: str, doc: str) -> str:
        units = "Dmnl" if units == "1" else units
        doc = " ".join(doc.split()).replace("~", "-").replace("|", "/")
        return f"{lhs}=\n\t{rhs}\n\t~\t{units}\n\t~\t{doc}\n\t|\n"


def _shifted_dims_of(tree) -> set[str]:
    """The dims an expression reads through a shifted index (x[age - 1])."""
    return {sub.dim for node in ex.walk(tree) if isinstance(node, ex.Ref) for sub in node.subs
            if isinstance(sub, ex.Shift)}


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


def _lookup(xs, ys) -> str:
    if len(xs) == 1:  # a constant path
        return _number(ys[0])
    return f"WITH LOOKUP({CALENDAR_YEAR}, ({_table(xs, ys)}))"


def _at(values: np.ndarray, dims, index: dict, spec, flat: bool) -> str:
    """A start value as Vensim text: one number (flat, or scalar) or a subscripted table (of the dims still
    subscripted at ``index``; those written element by element are taken at their element)."""
    if flat or not dims:
        return _number(values[tuple(spec.elements(d).index(index[d]) for d in dims)] if dims else values)
    values = values[tuple(slice(None) if index[d] == d else spec.elements(d).index(index[d]) for d in dims)]
    if values.ndim == 0:
        return _number(values)
    rows = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None, :]
    return ";".join(",".join(_number(x) for x in row) for row in rows)


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
    spec = model.spec
    parts = ["{UTF-8}\n"]
    if not flat:
        for dim, elements in spec.dims.items():
            parts.append(f"{dim}:\n\t{', '.join(elements)}\n\t~\t\n\t~\tdimension {dim}\n\t|\n")
        for alias, base in spec.aliases.items():
            parts.append(f"{alias} <-> {base}\n\t~\t\n\t~\ta second index over {base}\n\t|\n")
    for name, var in model.variables.items():
        doc = var.doc + (f" Source: {var.source}" if var.source else "")
        if var.kind == "parameter":
            values = np.asarray(inputs.parameter(name)[0], dtype=float)
            if flat or not var.dims:
                for index, _ in w.indexes(var.dims):
                    pos = tuple(spec.elements(d).index(index[d]) for d in var.dims)
                    parts.append(w.block(w.name(name, index), _number(values[pos]), var.units, doc))
            else:
                rows = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None, :]
                text = ";\n\t".join(", ".join(_number(x) for x in row) for row in rows) + (";" if values.ndim > 1 else "")
                parts.append(w.block(w.name(name, {d: d for d in var.dims}), text, var.units, doc))
        elif var.kind == "series":
            points = inputs.series[name]
            multipliers = np.asarray(inputs.parameter(name + ".multiplier")[0], dtype=float).ravel()
            tables = [(xs, ys * m) for (xs, ys), m in zip(points, multipliers)]
            if flat or not var.dims:
                for k, (index, _) in enumerate(w.indexes(var.dims)):
                    parts.append(w.block(w.name(name, index), _lookup(*tables[k]), var.units, doc))
            else:
                # a subscripted lookup table of Time, one table per element, then one equation reading it
                # (PySD 3.14 mistranslates a WITH LOOKUP shared by a range, and per-element WITH LOOKUPs
                # give object arrays that break its integration)
                for k, combo in enumerate(itertools.product(*(spec.elements(d) for d in var.dims))):
                    xs, ys = tables[k]
                    if len(xs) == 1:
                        xs, ys = np.array([xs[0], xs[0] + 1.0]), np.array([ys[0], ys[0]])
                    parts.append(f"{name}_path[{', '.join(combo)}](\n\t{_table(xs, ys)})\n\t~\t{var.units}\n"
                                 f"\t~\ttime path of {name}\n\t|\n")
                dims = ", ".join(var.dims)
                parts.append(w.block(f"{name}[{dims}]", f"{name}_path[{dims}]({CALENDAR_YEAR})", var.units, doc))
        elif var.kind == "lookup":
            for k, combo in enumerate(itertools.product(*(spec.elements(d) for d in var.dims))):
                xs, ys = inputs.lookups[name][k]
                parts.append(f"{w.name(name, dict(zip(var.dims, combo)))}(\n\t{_table(xs, ys)})\n\t~\t{var.units}\n"
                             f"\t~\t{' '.join(doc.split())}\n\t|\n")
        elif var.kind == "stock":
            for index, env in w.indexes(var.dims, _shifted_dims(var)):
                if var.rate is not None:
                    rate = w.expr(var.rate, env)
                else:
                    ins = " + ".join(w.ref(ex.Ref(f), env) for f in var.inflows) or "0"
                    outs = " + ".join(w.ref(ex.Ref(f), env) for f in var.outflows)
                    rate = f"{ins} - ({outs})" if outs else ins
                initial = _at(start[name], var.dims, index, spec, flat)
                if not flat and var.dims:  # a subscripted constant of its own: INTEG takes no list
                    parts.append(w.block(w.name(f"{name}_start", index), initial, var.units,
                                         f"start-year value of {name}: {w.expr(var.initial, env)}"))
                    initial = w.name(f"{name}_start", index)
                parts.append(w.block(w.name(name, index), f"INTEG({rate}, {initial})", var.units,
                                     f"{doc} Initial value: {w.expr(var.initial, env)}, at the start year."))
        else:  # aux, flow
            for index, env in w.indexes(var.dims, _shifted_dims(var)):
                rhs = w.expr(var.equation, env)
                if var.hidden_kind == "initial":
                    doc = f"the start-year value of {rhs}"
                    rhs = _at(start[name], var.dims, index, spec, flat)
                units = var.units or str(model.units.get(name, "Dmnl"))
                parts.append(w.block(w.name(name, index), rhs, units, doc or var.name))
    g = scenario.time
    parts.append(".Control\n********************************************************\n\t~\n\t\tSimulation Control "
                 "Parameters\n\t|\n")
    parts.append(w.block("FINAL TIME  ", _number(g.end), "year", "The final time for the simulation."))
    parts.append(w.block("INITIAL TIME  ", _number(g.start), "year", "The initial time for the simulation."))
    parts.append(w.block("SAVEPER  ", _number(g.save), "year [0,?]", "The frequency with which output is stored."))
    parts.append(w.block("TIME STEP  ", _number(g.dt), "year [0,?]", "The time step for the simulation."))
    parts.append("\\\\\\---/// Sketch information - do not modify anything except names\nV300  Do not put anything below "
                 "this section - it will be ignored\n*View 1\n$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|"
                 "-1--1--1|-1--1--1|96,96,100,0\n///---\\\\\\\n:L<%^E!@\n")
    return "\n".join(parts)


def write_vensim(model: Model, scenario: Scenario, out: Path, flat: bool = False, overwrite: bool = False) -> str:
    """Write the .mdl file atomically. An existing file is replaced only with ``overwrite`` (simulate cannot
    tell whether it wrote it). Returns the text written."""
    from ..errors import OutputError

    out = Path(out)
    if out.is_dir() or (out.exists() and not overwrite):
        raise OutputError(f"--out {out}: {'is a folder' if out.is_dir() else 'the file exists'}; choose a new "
                          "file name" + ("" if out.is_dir() else ", or add --overwrite to replace it"))
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
