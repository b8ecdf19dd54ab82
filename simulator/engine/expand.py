"""The expand pass: stateful functions become hidden variables.

``smooth(x, tau)`` becomes a hidden stock, ``delay1`` one stock and ``delay3`` three in a chain, each
delay with a hidden auxiliary for its outflow, and ``initial(x)`` a hidden auxiliary the order pass
makes static. The calls are replaced by references to them, so the later passes see only plain
stocks, flows and auxiliaries.
"""

from __future__ import annotations

from dataclasses import replace

from . import expressions as ex
from .declarations import Variable


def expand_stateful(variables, problems):
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
                problems.append(owner.problem("smooth/delay/initial inside sum(): declare the smoothed "
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
                    problems.append(var.problem(f"smooth/delay/initial are not allowed in a stock's {key}; "
                                                  "declare an auxiliary"))
