"""The expand pass: stateful functions become hidden variables.

``smooth(x, tau)`` becomes a hidden stock, ``delay1`` one stock and ``delay3`` three in a chain, each
delay with a hidden auxiliary for its outflow, and ``initial(x)`` a hidden auxiliary the order pass
makes static. The calls are replaced by references to them, so the later passes see only plain
stocks, flows and auxiliaries.
"""

from __future__ import annotations

from ..errors import Problem
from . import expressions as ex
from .declarations import Variable


def expand_stateful(variables: dict[str, Variable], problems: list[Problem]):
    """Replace the stateful calls in auxiliaries and flows by references to hidden variables, added to
    ``variables``; a problem where they are not allowed (in a stock's initial value or rate, inside a sum)."""
    expander = _Expander(variables, problems)
    for var in list(variables.values()):
        if var.kind in ("aux", "flow") and var.equation is not None:
            var.equation = expander.expand(var.equation, var)
        elif var.kind == "stock":
            for key in ("initial", "rate"):
                tree = getattr(var, key)
                if tree is not None and _has_stateful(tree):
                    problems.append(
                        var.problem(f"smooth/delay/initial are not allowed in a stock's {key}; declare an auxiliary")
                    )


def _is_stateful(node) -> bool:
    return isinstance(node, ex.Call) and node.func in ex.STATEFUL and not node.lookup


def _has_stateful(tree) -> bool:
    return any(_is_stateful(node) for node in ex.walk(tree))


def _is_sum_of_stateful(node) -> bool:
    return isinstance(node, ex.Call) and node.func == "sum" and _has_stateful(node.args[0])


class _Expander:
    """Makes the hidden variables, named after their owner: ``gdp__smooth1``, ``gdp__delay32``."""

    def __init__(self, variables: dict[str, Variable], problems: list[Problem]):
        self.variables, self.problems = variables, problems
        self.counts: dict[tuple[str, str], int] = {}

    def expand(self, tree, owner: Variable):
        """The tree with its stateful calls (and those in their arguments) replaced by references."""

        def rewrite(node, args):
            if _is_stateful(node):
                return self.hide(node.func, tuple(self.expand(a, owner) for a in node.args), owner)
            if _is_sum_of_stateful(node):
                self.problems.append(
                    owner.problem(
                        "smooth/delay/initial inside sum(): declare the smoothed quantity as an auxiliary first"
                    )
                )
                return node
            return ex.rebuild(node, args)

        return ex.fold(tree, rewrite, into=lambda node: not _is_stateful(node) and not _is_sum_of_stateful(node))

    def hide(self, func: str, args: tuple, owner: Variable) -> ex.Ref:
        """The hidden variables of one stateful call, and the reference that replaces it."""
        if func == "initial":
            name = self.name(owner, "initial")
            return self.add(
                owner, name, "aux", f"initial value of {ex.to_text(args[0])}", equation=args[0], hidden_kind="initial"
            )
        x, tau = args
        if func == "smooth":
            name = self.name(owner, "smooth")
            rate = ex.Bin("/", ex.Bin("-", x, ex.Ref(name)), tau)
            return self.add(
                owner,
                name,
                "stock",
                f"smooth({ex.to_text(x)}, {ex.to_text(tau)})",
                rate=rate,
                initial=x,
                hidden_input=x,
                hidden_time=tau,
                hidden_kind="smooth",
            )
        return self.delay(func, x, tau, owner)

    def delay(self, func: str, x, tau, owner: Variable) -> ex.Ref:
        """A material delay: a chain of one (delay1) or three (delay3) stocks, each emptying over its share of
        ``tau``, and an auxiliary for the last one's outflow."""
        stages = 1 if func == "delay1" else 3
        stage_time = tau if stages == 1 else ex.Bin("/", tau, ex.Num(3.0))
        what = f"{func}({ex.to_text(x)}, {ex.to_text(tau)})"
        inflow = x
        for k in range(stages):
            name = self.name(owner, func)
            rate = ex.Bin("-", inflow, ex.Bin("/", ex.Ref(name), stage_time))
            self.add(
                owner,
                name,
                "stock",
                f"stage {k + 1} of {what}",
                rate=rate,
                initial=ex.Bin("*", x, stage_time),
                hidden_input=x,
                hidden_time=tau,
                hidden_kind="delay",
            )
            inflow = ex.Bin("/", ex.Ref(name), stage_time)
        return self.add(
            owner,
            self.name(owner, f"{func}_out"),
            "aux",
            f"outflow of {what}",
            equation=inflow,
            hidden_input=x,
            hidden_kind="delay_output",
        )

    def name(self, owner: Variable, what: str) -> str:
        key = (owner.name, what)
        self.counts[key] = self.counts.get(key, 0) + 1
        return f"{owner.name}__{what}{self.counts[key]}"

    def add(self, owner: Variable, name: str, kind: str, doc: str, **fields) -> ex.Ref:
        """Add a hidden variable with its owner's dims and declaration place; a reference to it."""
        self.variables[name] = Variable(
            name=name,
            kind=kind,
            dims=owner.dims,
            units="",
            doc=doc,
            source="",
            file=owner.file,
            line=owner.line,
            sector=owner.sector,
            hidden=True,
            nonnegative=False,
            **fields,
        )
        return ex.Ref(name)
