"""Generate the numba kernel's source from a built model.

The generated module holds two model-specific functions, ``initialise`` (the initial pass) and
``rates`` (one evaluation of the right-hand side), followed by the model-independent integrator
driver from ``templates/driver.py``. Variables with dims become loops over their elements, not
unrolled lines, so numba's compile time stays small. Arrays the functions read:

``p``  one run's parameters (declared parameters, then one multiplier per series element)
``sg`` the series grid, values of every series at every half step (time ``t0 + h * dt/2``)
``lk`` lookup tables, for each element its x values then its y values
``s``  the state; ``v`` the scratch of auxiliaries and flows; ``ds`` the net rates.

Every access names what it reads: ``v[v_births + i_city]``, ``p[p_tfp_growth + e_ordos]``. The module
starts with a named constant for where each variable starts in its array (``s_``, ``v_``, ``p_``, ``m_``
for a series' multipliers in ``p``, ``sg_`` for its columns in ``sg``, ``lk_``) and for each element's
position along its dimension (``e_``: elements are unique across dimensions); numba compiles them as
literals. No other name in the kernel starts with these prefixes, so they cannot clash.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from . import expressions as ex
from .build import Model
from .numba_config import JIT_FLAGS, PARALLEL_FLAGS, flags_text

TEMPLATE = Path(__file__).with_name("templates") / "driver.py"
_MATH = {"exp": "math.exp", "log": "math.log", "sqrt": "math.sqrt", "abs": "abs"}


def _is_sum(node) -> bool:
    return isinstance(node, ex.Call) and node.func == "sum" and not node.lookup


class _Emitter:
    def __init__(self, model: Model):
        self.model = model
        self.sums = 0
        self.inner, self.loop_vars = "", []  # the assignment being written: its innermost indent, its loop variables

    # -- expressions -------------------------------------------------------------------------
    def index(self, name: str, env: dict, subs=()) -> str:
        """Flat element index of a reference, as source text."""
        model = self.model
        var = model.variables[name]
        dims = var.dims
        if not dims:
            return "0"
        positions = []
        for k, dim in enumerate(dims):
            sub = subs[k] if subs else dim
            if isinstance(sub, ex.Shift):
                positions.append(f"({sub.applied_to(env[sub.dim])})")
            elif sub in env:
                positions.append(env[sub])
            else:  # an element name
                positions.append(f"e_{sub}")
        shape = model.spec.shape(dims)
        strides = [int(np.prod(shape[k + 1 :], dtype=int)) for k in range(len(dims))]
        return " + ".join(pos if stride == 1 else f"{pos} * {stride}" for pos, stride in zip(positions, strides))

    def slot(self, array: str, start: str, index: str) -> str:
        """``array[start + index]``, ``start`` the constant that names where the variable starts in the array."""
        return f"{array}[{start}]" if index == "0" else f"{array}[{start} + {index}]"

    def ref(self, name: str, env: dict, subs=()) -> str:
        """A variable's value as source text; through a shifted index, zero outside the dimension."""
        value = self.slot_value(name, env, subs)
        for sub, dim in zip(subs, self.model.variables[name].dims):
            if isinstance(sub, ex.Shift):
                n = len(self.model.spec.elements(dim))
                value = f"({value} if 0 <= {sub.applied_to(env[sub.dim])} < {n} else 0.0)"
        return value

    def slot_value(self, name: str, env: dict, subs=()) -> str:
        model = self.model
        kind = model.variables[name].kind
        idx = self.index(name, env, subs)
        if kind == "stock":
            return self.slot("s", f"s_{name}", idx)
        if kind in ("aux", "flow"):
            return self.slot("v", f"v_{name}", idx)
        if kind == "parameter":
            return self.slot("p", f"p_{name}", idx)
        if kind == "series":
            grid = f"sg[h, sg_{name}]" if idx == "0" else f"sg[h, sg_{name} + {idx}]"
            return f"({grid} * {self.slot('p', f'm_{name}', idx)})"
        raise TypeError(kind)

    def expr(self, node, env: dict, prelude: list, indent: str) -> str:
        """An expression as source text, for the element ``env`` indexes; a sum's loop goes into ``prelude``."""

        def render(node, args):
            if isinstance(node, ex.Num):
                return repr(float(node.value))
            if isinstance(node, ex.Time):
                return "t"
            if isinstance(node, ex.Ref):
                return self.ref(node.name, env, node.subs)
            if isinstance(node, ex.Neg):
                return f"(-{args[0]})"
            if isinstance(node, ex.Not):
                return f"(not {args[0]})"
            if isinstance(node, (ex.Bin, ex.Cmp)):
                return f"({args[0]} {node.op} {args[1]})"
            if isinstance(node, ex.Logic):
                return "(" + f" {node.op} ".join(args) + ")"
            if _is_sum(node):
                return self.sum(node, env, prelude, indent)
            if isinstance(node, ex.Call):
                return self.call(node, env, args)
            raise TypeError(node)

        return ex.fold(node, render, into=lambda node: not _is_sum(node))  # a sum renders its term in its loop

    def sum(self, node: ex.Call, env, prelude, indent) -> str:
        """A sum's loop, added to ``prelude``; its value is the accumulator's name."""
        model = self.model
        self.sums += 1
        acc, loop = f"_sum{self.sums}", f"i_{node.dim}_{self.sums}"
        inner_env = {**env, node.dim: loop}
        inner_prelude: list = []
        body = self.expr(node.args[0], inner_env, inner_prelude, indent + "    ")
        lines = [
            f"{indent}{acc} = 0.0",
            f"{indent}for {loop} in range({len(model.spec.elements(node.dim))}):",
            *(line for _, line in inner_prelude),
            f"{indent}    {acc} += {body}",
        ]
        prelude.extend(self.hoisted(lines, indent))
        return acc

    def call(self, node: ex.Call, env, args: list[str]) -> str:
        """A function call or a lookup, given its arguments' source text."""
        model = self.model
        if node.lookup:
            n = model.lookup_points[node.func]
            idx = self.index(node.func, env)
            start = f"lk_{node.func}" if idx == "0" else f"lk_{node.func} + ({idx}) * {2 * n}"
            return f"_lookup(lk, {start}, {n}, {args[0]})"
        f = node.func
        if f in ("min", "max"):
            return f"{f}({', '.join(args)})"
        if f == "clip":
            return f"min(max({args[0]}, {args[1]}), {args[2]})"
        if f == "if_then_else":
            return f"({args[1]} if {args[0]} else {args[2]})"
        if f in _MATH:
            return f"{_MATH[f]}({args[0]})"
        if f == "step":
            return f"({args[0]} if t >= {args[1]} - TIME_EPS else 0.0)"
        if f == "ramp":
            return f"({args[0]} * (min(max(t, {args[1]}), {args[2]}) - {args[1]}))"
        if f == "pulse":
            return f"(1.0 if (t >= {args[0]} - TIME_EPS and t < {args[0]} + {args[1]} - TIME_EPS) else 0.0)"
        raise TypeError(f)

    # -- statements --------------------------------------------------------------------------
    def loops(self, dims, indent):
        """Loop headers over a variable's dims; returns (lines, env, inner indent)."""
        lines, env = [], {}
        for d in dims:
            lines.append(f"{indent}for i_{d} in range({len(self.model.spec.elements(d))}):")
            env[d] = f"i_{d}"
            indent += "    "
        return lines, env, indent

    def hoisted(self, lines: list[str], indent: str) -> list[tuple[int, str]]:
        """A sum's lines, tagged with the loop depth they belong at: a sum of the assignment itself (not
        nested in another) moves out of the element loops its terms do not read, so it runs once per
        element it depends on (the same additions in the same order: the same bits)."""
        depth = len(self.loop_vars)
        if indent == self.inner:
            text = "\n".join(lines)
            used = [k for k, name in enumerate(self.loop_vars) if re.search(rf"\b{name}\b", text)]
            depth = used[-1] + 1 if used else 0
        dedent = 4 * (len(self.loop_vars) - depth)
        return [(depth, line[dedent:]) for line in lines]

    def assign(self, name: str, tree, target_array: str, start: str, indent="    ", what: str = "{}") -> list[str]:
        """The loops that set each element of ``name`` in ``target_array`` from ``start`` (``what`` names the
        quantity: the variable, its rate)."""
        var = self.model.variables[name]
        head = f"{indent}# {name} [{var.units}]" + (f": {var.doc}" if var.doc else "")
        subscripts = f"[{', '.join(var.dims)}]" if var.dims else ""
        equation = f"{indent}#   {what.format(name + subscripts)} = {ex.to_text(tree)}"  # as declared
        loops, env, self.inner = self.loops(var.dims, indent)
        self.loop_vars = list(env.values())
        prelude: list = []
        value = self.expr(tree, env, prelude, self.inner)
        lines = [head, equation]
        for depth, loop in enumerate([*loops, None]):
            lines += [line for d, line in prelude if d == depth]
            if loop is not None:
                lines.append(loop)
        target = self.slot(target_array, start, self.index(name, env))
        return [*lines, f"{self.inner}{target} = {value}"]

    def limiter(self, stock: str, indent="    ") -> list[str]:
        model = self.model
        var = model.variables[stock]
        outs = model.limited_outflows[stock]
        lines = [f"{indent}# limit the outflows of {stock} so that it cannot fall below zero in one step"]
        loop, env, inner = self.loops(var.dims, indent)
        lines += loop
        slots = [self.slot("v", f"v_{f}", self.index(f, env)) for f in outs]
        level = self.slot("s", f"s_{stock}", self.index(stock, env))
        lines += [
            f"{inner}_out = {' + '.join(slots)}",  # compared as amounts over the step: no division unless it acts
            f"{inner}_level = max({level}, 0.0)",
            f"{inner}if _out * dt > _level:",
            f"{inner}    _scale = (_level / dt) / _out",
        ]
        lines += [f"{inner}    {s} *= _scale" for s in slots]
        return lines

    def net_rate(self, stock: str, indent="    ") -> list[str]:
        model = self.model
        var = model.variables[stock]
        if var.rate is not None:
            return self.assign(stock, var.rate, "ds", f"s_{stock}", indent, what="rate of {}")
        loop, env, inner = self.loops(var.dims, indent)
        ins = [self.slot("v", f"v_{f}", self.index(f, env)) for f in var.inflows]
        outs = [self.slot("v", f"v_{f}", self.index(f, env)) for f in var.outflows]
        if ins and outs:
            value = f"({' + '.join(ins)}) - ({' + '.join(outs)})"
        else:
            value = " + ".join(ins) if ins else f"-({' + '.join(outs)})"
        target = self.slot("ds", f"s_{stock}", self.index(stock, env))
        return [f"{indent}# {stock}: inflows - outflows", *loop, f"{inner}{target} = {value}"]


def generate(model: Model) -> str:
    """The kernel module's source text."""
    em = _Emitter(model)
    jit = flags_text(JIT_FLAGS)
    out = [*_header(model, jit), *_LOOKUP.format(jit=jit).split("\n"), *_initialise(em, jit), *_rates(em, jit)]
    return "\n".join(out) + TEMPLATE.read_text(encoding="utf-8")


def _header(model: Model, jit: str) -> list[str]:
    """Imports, the array sizes, and the constants the driver reads."""
    return [
        '"""Generated by simulator.engine.codegen from the model declarations. Do not edit."""',
        "import math",
        "",
        "import numpy as np",
        "from numba import njit, prange",
        "",
        f"N_STATE = {model.n_state}",
        f"N_VAR = {model.n_var}",
        f"TIME_EPS = {ex.TIME_EPS!r}",
        f"SLOW_STATE = np.array({model.slow_state().tolist()}, dtype=np.int64)  # stocks declared slow",
        "SLOW_VAR = np.zeros(N_VAR, dtype=np.bool_)  # the slots of what only the slow stocks' rates need",
        f"JIT = dict({jit})",
        f"PARALLEL = dict({flags_text(PARALLEL_FLAGS)})",
        "",
        *_named_constants(model),
        "",
        *(
            f"SLOW_VAR[v_{n}:v_{n} + {model.size(n)}] = True"
            for w, n in model.rate_order
            if (w, n) in model.slow_only and w == "var"
        ),
        "",
        "",
    ]


def _named_constants(model: Model) -> list[str]:
    """Where each variable starts in its array (the layout pass's offsets), and each element's position."""
    starts = [(f"s_{n}", model.state_offset[n], n) for n in model.stocks]
    starts += [(f"v_{n}", offset, n) for n, offset in model.var_offset.items()]
    starts += [(f"p_{n}", model.param_offset[n], n) for n in model.parameters]
    starts += [
        (f"{prefix}_{n}", offsets[n], n)
        for n in model.series
        for prefix, offsets in (("sg", model.series_offset), ("m", model.multiplier_offset))
    ]
    starts += [(f"lk_{n}", model.lookup_offset[n], n) for n in model.lookups]
    lines = [
        "# where each variable starts: s_ in the state s (and its rates ds), v_ in the auxiliaries and flows v,",
        "# p_ in the parameters p, m_ its multipliers in p and sg_ its columns in sg for a series, lk_ in lk",
    ]
    for constant, offset, name in starts:
        dims = model.variables[name].dims
        lines.append(f"{constant} = {offset}" + (f"  # [{', '.join(dims)}]" if dims else ""))
    lines.append("# each element's position along its dimension")
    lines += [
        f"e_{element} = {k}  # {dim}" for dim, elements in model.spec.dims.items() for k, element in enumerate(elements)
    ]
    return lines


_LOOKUP = """@njit({jit})
def _lookup(lk, start, n, x):
    # linear interpolation in a table, held flat beyond its ends
    if x <= lk[start]:
        return lk[start + n]
    if x >= lk[start + n - 1]:
        return lk[start + 2 * n - 1]
    k = 1
    while lk[start + k] < x:
        k += 1
    x0 = lk[start + k - 1]
    y0 = lk[start + n + k - 1]
    return y0 + (lk[start + n + k] - y0) * (x - x0) / (lk[start + k] - x0)

"""


def _initialise(em: _Emitter, jit: str) -> list[str]:
    """The initial pass: each stock's initial value and each auxiliary, in initial-pass order."""
    model = em.model
    out = [
        f"@njit({jit})",
        "def initialise(t, p, sg, lk, v, s):",
        '    """Initial pass: stocks\' initial values and all auxiliaries, in dependency order."""',
        "    h = 0",
    ]
    for name in model.init_order:
        var = model.variables[name]
        if var.kind == "stock":
            out += em.assign(name, var.initial, "s", f"s_{name}")
        else:
            out += em.assign(name, var.equation, "v", f"v_{name}")
    return [*out, "    return", "", ""]


def _rates(em: _Emitter, jit: str) -> list[str]:
    """The rate pass: auxiliaries and flows, outflow limits and net rates in rate-pass order; a report under
    ``if want[k]:``, and each run of what only the slow stocks' rates need under ``if full:``."""
    model = em.model
    out = [
        f"@njit({jit})",
        "def rates(t, h, p, sg, lk, v, s, ds, dt, want, full):",
        '    """Rate pass: dynamic auxiliaries and flows, outflow limits, then net rates into ds. Auxiliaries',
        "    no rate needs (reports) only where want[k] says the run records them; what only the slow stocks'",
        "    rates need, and their rates, only where full is true (it is false at the last two stages of a",
        '    partitioned step, which hold the values of its second)."""',
    ]
    reporting = list(model.reporting)
    parts = []  # (only slow stocks need it, its lines), in evaluation order
    for what, name in model.rate_order:
        if what == "limit":
            lines = em.limiter(name)
        elif name in model.reporting:  # no rate reads it (held with the slow part if made of it alone)
            lines = [
                f"    if want[{reporting.index(name)}]:  # {name} is a report: no rate reads it",
                *em.assign(name, model.variables[name].equation, "v", f"v_{name}", indent="        "),
            ]
        else:
            lines = em.assign(name, model.variables[name].equation, "v", f"v_{name}")
        parts.append(((what, name) in model.slow_only, lines))
    parts += [(model.variables[name].slow, em.net_rate(name)) for name in model.stocks]
    before = False
    for slow, lines in parts:  # a run of what only the slow stocks need goes under one "if full:"
        if slow and not before:
            out.append("    if full:  # what only the slow stocks' rates need, and those rates")
        out += ["    " + line for line in lines] if slow else lines
        before = slow
    return [*out, "    return", "", ""]
