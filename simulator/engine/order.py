"""The order pass: the evaluation order, computed once when the model is built.

- the *initial pass* evaluates stocks' initial values and every auxiliary, in dependency order;
- the *rate pass* (once per integrator stage) evaluates the dynamic auxiliaries and flows in
  dependency order, limits the outflows of non-negative stocks, then the stocks' net rates.

Auxiliaries that depend only on parameters (and ``initial(...)`` values) are *static*: computed
in the initial pass and never again. Rate-pass auxiliaries no stock's rate needs are *reports*,
computed only when a run records them; what only slow stocks' rates need is the *slow part*. An
algebraic loop is reported with the names in the loop.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from ..errors import Problem
from . import expressions as ex
from .declarations import Variable, expressions_of

if TYPE_CHECKING:
    from .build import Model


def order_equations(model: Model, problems: list[Problem]):
    """Set the model's evaluation orders, static auxiliaries, outflow limits, reports and slow part; add any
    algebraic loop to ``problems`` (and set nothing)."""
    variables = model.variables
    computed = [n for n, v in variables.items() if v.kind in ("aux", "flow", "stock")]
    position = {n: i for i, n in enumerate(variables)}
    init_order = _toposort(
        computed, _initial_deps(variables, computed), position, variables, problems, "initial values"
    )
    if problems:  # a loop among the auxiliaries shows in both passes; report it once
        return
    static = _static(variables, init_order)
    limited = {
        s: variables[s].outflows
        for s in computed
        if variables[s].kind == "stock" and variables[s].nonnegative and variables[s].outflows
    }
    deps = _rate_deps(variables, computed, set(static), limited)
    node_position = {node: (position[node[1]], node[0] == "limit") for node in deps}
    rate_order = _toposort(list(deps), deps, node_position, variables, problems, "the rate pass")
    stocks = [n for n in computed if variables[n].kind == "stock"]
    reporting = _reporting(rate_order, deps, stocks, variables)
    slow_only = _with_slow_reports(
        _slow_only(deps, stocks, variables, problems),
        rate_order,
        deps,
        reporting,
        lambda n: _uses_time(variables[n]) or _reads_series(variables, n),
    )
    if problems:
        return
    model.init_order, model.static, model.rate_order, model.stocks = init_order, static, rate_order, stocks
    model.limited_outflows = {s: tuple(o) for s, o in limited.items()}
    model.reporting = reporting
    model.slow_only = slow_only
    model.reads_paths = _reads(rate_order, variables, {n for n, v in variables.items() if v.kind == "series"})
    model.reads_slow = _reads(rate_order, variables, {n for what, n in slow_only if what == "var"})


def _refs(var: Variable, roles=None) -> set[str]:
    """The names a variable's expressions (those of ``roles``, or all) read."""
    out = set()
    for role, tree in expressions_of(var):
        if roles is None or role in roles:
            out |= ex.references(tree)
    return out


def _uses_time(var: Variable) -> bool:
    """Whether it reads the time itself, or through step/ramp/pulse."""
    return any(
        isinstance(n, ex.Time) or (isinstance(n, ex.Call) and n.func in ex.TIME_FUNCTIONS and not n.lookup)
        for _, tree in expressions_of(var)
        for n in ex.walk(tree)
    )


def _reads_series(variables, name) -> bool:
    return any(variables[r].kind == "series" for r in _refs(variables[name]))


def _initial_deps(variables, computed) -> dict[str, set[str]]:
    """What each stock's initial value, and each auxiliary's and flow's equation, reads among them."""
    deps = {}
    for n in computed:
        role = ("initial",) if variables[n].kind == "stock" else ("equation",)
        deps[n] = {r for r in _refs(variables[n], role) if variables[r].kind in ("aux", "flow", "stock")}
    return deps


def _static(variables, init_order) -> list[str]:
    """The auxiliaries that depend on parameters, lookups, other statics and initial(...) values only (in
    initial-pass order); an initial(...) value is static whatever it reads, time included."""
    static = []
    for n in init_order:
        var = variables[n]
        if var.hidden_kind == "initial" or (
            var.kind != "stock"
            and not _uses_time(var)
            and all(variables[d].kind in ("parameter", "lookup") or d in static for d in _refs(var))
        ):
            static.append(n)
    return static


def _rate_deps(variables, computed, static: set[str], limited) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """The rate pass's nodes, ``("var", name)`` for each dynamic auxiliary and flow and ``("limit", stock)`` for
    each stock whose outflows are limited, each with the nodes it waits for: what it reads, and for a reader of a
    limited outflow, its limiter."""
    limiter_of = {}
    for stock, outs in limited.items():
        for f in outs:
            limiter_of.setdefault(f, []).append(stock)
    deps = {}
    for n in computed:
        if variables[n].kind not in ("aux", "flow") or n in static:
            continue
        d = set()
        for r in _refs(variables[n]):
            if r in static or variables[r].kind not in ("aux", "flow"):
                continue
            d |= {("limit", s) for s in limiter_of.get(r, [])} or {("var", r)}
        deps[("var", n)] = d
    for s, outs in limited.items():
        deps[("limit", s)] = {("var", f) for f in outs if f not in static}
    return deps


def _reads(rate_order, variables, sources) -> frozenset[str]:
    """The rate-pass variables among ``sources`` or reading one, directly or through others (one pass in
    evaluation order: whatever a variable reads comes before it)."""
    out: set[str] = set()
    for what, n in rate_order:
        if what == "var" and (n in sources or any(r in sources or r in out for r in _refs(variables[n]))):
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
                problems.append(
                    var.problem(
                        f"slow: its flow {flow!r} is also needed by the rate of a stock "
                        "that is not slow; declare that stock slow too, or this one not"
                    )
                )
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
            shown = [c if not isinstance(c, tuple) or c[0] == "var" else f"(outflow limit of {c[1]})" for c in cycle]
            shown = [c[1] if isinstance(c, tuple) else c for c in shown]
            problems.append(
                variables[names[0]].problem(
                    f"algebraic loop in {what}: {' -> '.join(shown + [shown[0]])} "
                    "(break it with a stock, smooth() or delay1())"
                )
            )
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
            node = min(remaining[node] & stuck, key=str)
        cycle = path[index[node] :][::-1]
        if not seen & set(cycle):
            out.append(cycle)
        seen |= set(path)
    return out
