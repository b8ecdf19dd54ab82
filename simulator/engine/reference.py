"""A slow, plainly correct evaluator of the same declarations: numpy arrays, no numba, no codegen.

The tests hold the compiled kernel to it (STUMPY's naive-reference habit). It evaluates the
expression trees (through ``expressions.fold``) on arrays labelled by their dims, so it shares nothing
with the code generator but the built model (its order, layout and integrator conventions, which are
the model's meaning).
It is also used to find which variable first went non-finite when a run fails.
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import expressions as ex
from .build import Model
from .inputs import METHODS, InputRef, Inputs, TimeGrid, calendar_year


class _Context:
    def __init__(self, model: Model, inputs: Inputs, run: int):
        self.model = model
        self.values: dict[str, np.ndarray] = {}
        self.params = {n: inputs.parameter(n)[run] for n in model.parameters}
        self.multipliers = {n: inputs.parameter(InputRef(n, multiplier=True))[run] for n in model.series}
        self.series = inputs.series
        self.side = "end"  # which calendar year time paths are read for at a year boundary
        self.lookups = inputs.lookups
        self.t = 0.0

    # -- values ------------------------------------------------------------------------------
    def value_of(self, name: str) -> np.ndarray:
        var = self.model.variables[name]
        if var.kind == "parameter":
            return self.params[name]
        if var.kind == "series":
            points = self.series[name]
            year = calendar_year(self.t, self.side)
            flat = np.array([np.interp(year, xs, ys) for xs, ys in points])
            return flat.reshape(self.model.shape(name)) * self.multipliers[name]
        return self.values[name]

    def evaluate(self, tree, dims) -> np.ndarray:
        """Evaluate an expression for a variable with ``dims``: an array of that shape."""
        arr, got = self.node(tree)
        return _align(arr, got, tuple(dims), self.model.spec.shape(dims))

    def node(self, node):
        """An expression's value, and the dims its axes are labelled by."""
        return ex.fold(node, self._value)

    def _value(self, node, args):
        """A node's value from its sub-expressions' (``args``: (value, dims) pairs). The most frequent kinds of
        node are tested first."""
        if isinstance(node, ex.Ref):
            return self.reference(node)
        if isinstance(node, (ex.Bin, ex.Cmp)):
            (a, b), dims = _common(*args)
            return _OPS[node.op](a, b), dims
        if isinstance(node, ex.Num):
            return np.float64(node.value), ()
        if isinstance(node, ex.Time):
            return np.float64(self.t), ()
        if isinstance(node, ex.Neg):
            a, d = args[0]
            return -a, d
        if isinstance(node, ex.Not):
            a, d = args[0]
            return np.logical_not(a), d
        if isinstance(node, ex.Logic):
            values, dims = _common(*args)
            combine = np.logical_and if node.op == "and" else np.logical_or
            out = values[0]
            for b in values[1:]:
                out = combine(out, b)
            return out, dims
        if isinstance(node, ex.Call):
            return self.call(node, args)
        raise TypeError(node)

    def reference(self, node: ex.Ref):
        """A variable's value, through its subscripts: a dim keeps an axis, an element takes one."""
        spec = self.model.spec
        var = self.model.variables[node.name]
        arr = self.value_of(node.name)
        if not node.subs:
            return arr, tuple(var.dims)
        index, dims = [], []
        for axis, (sub, dim) in enumerate(zip(node.subs, var.dims)):
            if isinstance(sub, ex.Shift):
                arr = _shifted(arr, axis, sub.by)
                sub = sub.dim
            if sub in spec.dims or sub in spec.aliases:
                index.append(slice(None))
                dims.append(sub)
            else:
                index.append(spec.elements(dim).index(sub))
        return arr[tuple(index)], tuple(dims)

    def call(self, node: ex.Call, args):
        spec = self.model.spec
        if node.lookup:
            x, dx = args[0]
            table_dims = tuple(self.model.variables[node.func].dims)
            dims = tuple(dx) + tuple(d for d in table_dims if d not in dx)
            shape = spec.shape(dims)
            x = _align(x, dx, dims, shape)
            tables = self.lookups[node.func]
            out = np.empty(shape)
            for pos in np.ndindex(shape):
                element = (
                    np.ravel_multi_index(tuple(pos[dims.index(d)] for d in table_dims), spec.shape(table_dims))
                    if table_dims
                    else 0
                )
                out[pos] = _interpolate(*tables[element], float(x[pos]))
            return out, dims
        if node.func == "sum":
            arr, dims = args[0]
            axis = dims.index(node.dim)
            total = np.zeros(np.delete(np.shape(arr), axis))
            for k in range(np.shape(arr)[axis]):  # summed in order, as the kernel sums
                total = total + np.take(arr, k, axis=axis)
            return total, tuple(d for d in dims if d != node.dim)
        f = node.func
        args, dims = _common(*args)
        t = self.t
        if f in ("min", "max"):
            out = args[0]
            for b in args[1:]:
                out = _pairwise(f, out, b)
            return out, dims
        if f == "clip":
            x, low, high = args
            return _pairwise("min", _pairwise("max", x, low), high), dims
        if f == "if_then_else":
            return np.where(*args), dims
        if f in ("exp", "log", "sqrt", "abs"):
            return {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}[f](args[0]), dims
        if f == "step":
            height, start = args
            return np.where(t >= start - ex.TIME_EPS, height, 0.0), dims
        if f == "ramp":
            slope, start, end = args
            return slope * (_pairwise("min", _pairwise("max", t, start), end) - start), dims
        if f == "pulse":
            start, width = args
            return np.where((t >= start - ex.TIME_EPS) & (t < start + width - ex.TIME_EPS), 1.0, 0.0), dims
        raise TypeError(f)


_OPS = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "**": np.power,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _pairwise(f, a, b):
    # Python's min/max semantics, as numba compiles them: min(a, b) is b if b < a else a
    return np.where(b < a, b, a) if f == "min" else np.where(b > a, b, a)


def _shifted(arr, axis, by):
    """``out[..., i, ...] = arr[..., i + by, ...]``, zero where ``i + by`` falls outside the axis."""
    out = np.zeros_like(arr)
    n = arr.shape[axis]
    target = [slice(None)] * arr.ndim
    source = [slice(None)] * arr.ndim
    target[axis] = slice(max(0, -by), min(n, n - by))
    source[axis] = slice(max(0, by), min(n, n + by))
    out[tuple(target)] = arr[tuple(source)]
    return out


def _align(arr, dims, target, shape):
    """Transpose and broadcast an array labelled by ``dims`` to the labelled ``target`` dims."""
    arr = _lift(np.asarray(arr, dtype=float), tuple(dims), tuple(target))
    return np.broadcast_to(arr, shape).copy()


def _lift(x, dims, target):
    """Reorder the axes of x (labelled dims) to follow target, with size-1 axes for missing dims."""
    x = np.asarray(x)
    if not dims:
        return x
    present = [d for d in target if d in dims]
    x = np.transpose(x, [dims.index(d) for d in present])
    return x.reshape(tuple(x.shape[present.index(d)] if d in dims else 1 for d in target))


def _common(*labelled):
    """Put labelled arrays on one set of dims (in order of first appearance) for broadcasting."""
    dims = []
    for _, d in labelled:
        dims += [k for k in d if k not in dims]
    dims = tuple(dims)
    return [_lift(a, tuple(d), dims) for a, d in labelled], dims


def _interpolate(xs, ys, x):
    """The kernel's _lookup, written again."""
    n = len(xs)
    if x <= xs[0]:
        return ys[0]
    if x >= xs[n - 1]:
        return ys[n - 1]
    k = 1
    while xs[k] < x:
        k += 1
    return ys[k - 1] + (ys[k] - ys[k - 1]) * (x - xs[k - 1]) / (xs[k] - xs[k - 1])


def _initialise(ctx: _Context, t: float, check=None) -> dict[str, np.ndarray]:
    model = ctx.model
    ctx.t, ctx.side = t, "end"
    state = {}
    for name in model.init_order:
        var = model.variables[name]
        tree = var.initial if var.kind == "stock" else var.equation
        value = ctx.evaluate(tree, var.dims)
        if var.kind == "stock":
            state[name] = value
        ctx.values[name] = value
        if check is not None:
            check(name, value, t)
    return state


def _rates(
    ctx: _Context, t: float, state: dict, dt: float, check=None, side: str = "start", held: dict | None = None
) -> dict[str, np.ndarray]:
    """Net rates at ``state``; with ``held`` (the rates of a partitioned step's second stage, at its third
    and fourth), what only the slow stocks need keeps its second-stage values and the slow stocks those rates."""
    model = ctx.model
    ctx.t, ctx.side = t, side
    ctx.values.update(state)
    for what, name in model.rate_order:
        if held is not None and (what, name) in model.slow_only:
            continue
        if what == "var":
            ctx.values[name] = ctx.evaluate(model.variables[name].equation, model.variables[name].dims)
            if check is not None:
                check(name, ctx.values[name], t)
        else:
            outs = model.limited_outflows[name]
            total = ctx.values[outs[0]].copy()
            for f in outs[1:]:
                total = total + ctx.values[f]
            level = np.maximum(state[name], 0.0)
            over = total * dt > level
            scale = np.where(over, (level / dt) / np.where(over, total, 1.0), 1.0)
            for f in outs:
                ctx.values[f] = np.where(over, ctx.values[f] * scale, ctx.values[f])
    out = {}
    for name in model.stocks:
        var = model.variables[name]
        if held is not None and var.slow:
            out[name] = held[name]
            continue
        if var.rate is not None:
            out[name] = ctx.evaluate(var.rate, var.dims)
            continue
        out[name] = _total(ctx, var.inflows, var) - _total(ctx, var.outflows, var)
        if check is not None:
            check(name, out[name], t)
    return out


def _total(ctx: _Context, flows, stock) -> np.ndarray:
    """Sum of a stock's inflows (or outflows), in order, on the stock's dims."""
    shape = ctx.model.shape(stock.name)
    acc = None
    for f in flows:
        x = _align(ctx.values[f], tuple(ctx.model.variables[f].dims), tuple(stock.dims), shape)
        acc = x if acc is None else acc + x
    return np.zeros(shape) if acc is None else acc


def simulate(
    model: Model, inputs: Inputs, grid: TimeGrid, method: str = "rk4", record=None, run: int = 0, check=None
) -> np.ndarray:
    """One run, integrated the way the kernel integrates it. Returns (n_saves + 1, columns)."""
    record = record or [n for n in model.variables if model.variables[n].kind in ("stock", "aux", "flow")]
    half = 0.5 * grid.dt
    ctx = _Context(model, inputs, run)
    recorder = _Recorder(model, record, grid.n_saves + 1, partitioned=METHODS[method] == 2)
    with np.errstate(all="ignore"):
        state = _initialise(ctx, grid.start, check)
        _rates(ctx, grid.start, state, grid.dt, check, side="end")
        recorder.accumulate(ctx, 1.0)
        recorder.record_row(0, state, 1.0)
        recorder.record_points(0, ctx)
        save = 0
        for step in range(grid.n_steps):
            state = _step(ctx, recorder, state, grid, step, METHODS[method], check)
            if (step + 1) % grid.steps_per_save == 0:
                save += 1
                recorder.record_row(save, state, 1.0 / (grid.steps_per_save * grid.dt))
                if recorder.points:
                    _rates(ctx, grid.start + (2 * step + 2) * half, state, grid.dt, check, side="end")
                    recorder.record_points(save, ctx)
    return recorder.out


def _step(
    ctx: _Context, recorder: _Recorder, state: dict, grid: TimeGrid, step: int, method_code: int, check=None
) -> dict[str, np.ndarray]:
    """The state after one step: Euler, RK4, or (partitioned) RK4 with the slow stocks by the midpoint rule.
    The recorder accumulates each stage's flows with the stage's weight."""
    model = ctx.model
    dt, half = grid.dt, 0.5 * grid.dt
    h = 2 * step
    k1 = _rates(ctx, grid.start + h * half, state, dt, check)
    if method_code == 0:
        recorder.accumulate(ctx, dt)
        state = {n: state[n] + dt * k1[n] for n in model.stocks}
    else:
        recorder.accumulate(ctx, dt / 6.0, 0.0)
        k2 = _rates(ctx, grid.start + (h + 1) * half, {n: state[n] + half * k1[n] for n in model.stocks}, dt, check)
        recorder.accumulate(ctx, dt / 3.0, 0.5 * dt)
        partitioned = method_code == 2
        if partitioned:  # the slow stocks take the midpoint rule
            for n in model.stocks:
                if model.variables[n].slow:
                    k1[n] = k2[n]
        held = k2 if partitioned else None
        k3 = _rates(
            ctx, grid.start + (h + 1) * half, {n: state[n] + half * k2[n] for n in model.stocks}, dt, check, held=held
        )
        recorder.accumulate(ctx, dt / 3.0, dt / 3.0)
        k4 = _rates(
            ctx,
            grid.start + (h + 2) * half,
            {n: state[n] + dt * k3[n] for n in model.stocks},
            dt,
            check,
            side="end",
            held=held,
        )
        recorder.accumulate(ctx, dt / 6.0, dt / 6.0)
        state = {n: state[n] + dt / 6.0 * (k1[n] + 2.0 * k2[n] + 2.0 * k3[n] + k4[n]) for n in model.stocks}
    state = {n: (np.maximum(state[n], 0.0) if model.variables[n].nonnegative else state[n]) for n in model.stocks}
    if check is not None:
        for n in model.stocks:
            check(n, state[n], grid.start + (h + 2) * half)
    return state


class _Recorder:
    """One run's output rows, as the driver records them: stocks at each save time, flows and rates (report:
    mean) averaged over each interval with the integrator's stage weights, levels (report: point) at each save
    time. Under the partitioned method, what only the slow stocks need is weighted as they are (held_weight)."""

    def __init__(self, model: Model, record: list[str], rows: int, partitioned: bool):
        self.model = model
        self.stocks = [n for n in record if model.variables[n].kind == "stock"]
        others = [n for n in record if model.variables[n].kind in ("aux", "flow")]
        self.means = [n for n in others if model.variables[n].report == "mean"]
        self.points = [n for n in others if model.variables[n].report == "point"]
        self.held = {n for n in self.means if ("var", n) in model.slow_only} if partitioned else set()
        self.acc = {n: np.zeros(model.shape(n)) for n in self.means}
        self.n_before_points = sum(model.size(n) for n in self.stocks + self.means)
        self.out = np.zeros((rows, self.n_before_points + sum(model.size(n) for n in self.points)))

    def accumulate(self, ctx: _Context, weight: float, held_weight: float | None = None):
        for n in self.means:
            w = held_weight if n in self.held and held_weight is not None else weight
            self.acc[n] = self.acc[n] + w * ctx.values[n]

    def record_row(self, row: int, state: dict, scale: float):
        """The stocks, and the means accumulated since the last row times ``scale`` (which then start again)."""
        values = [state[n].ravel() for n in self.stocks] + [(self.acc[n] * scale).ravel() for n in self.means]
        if values:
            self.out[row, : self.n_before_points] = np.concatenate(values)
        for n in self.means:
            self.acc[n] = np.zeros(self.model.shape(n))

    def record_points(self, row: int, ctx: _Context):
        if self.points:
            self.out[row, self.n_before_points :] = np.concatenate(
                [np.asarray(ctx.values[n], float).ravel() for n in self.points]
            )


def first_nonfinite(model: Model, inputs: Inputs, grid: TimeGrid, method: str, run: int):
    """Integrate one run with the reference and return (element label, time) of the first
    non-finite value in evaluation order, or None."""
    found = []

    class _Stop(Exception):
        pass

    def check(name, value, t):
        bad = ~np.isfinite(np.asarray(value, dtype=float))
        if bad.any():
            found.append((model.element_label(name, int(np.flatnonzero(bad.ravel())[0])), t))
            raise _Stop

    with contextlib.suppress(_Stop):
        simulate(model, inputs, grid, method, run=run, check=check)
    return found[0] if found else None
