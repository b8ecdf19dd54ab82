"""The equation language: a small, safe subset of Python expressions, parsed with ``ast``.

Allowed: numbers, names, ``time``; ``+ - * / **``, unary minus; comparisons; ``and``, ``or``,
``not``; subscripts ``x[other]``, ``x[ordos]``, ``x[city, other]``, and a shifted index ``x[age - 1]``
(the previous element along ``age``; zero where it falls outside the dimension, as an ageing chain
needs); and the functions in ``FUNCTIONS``. Lookup tables are called like functions: ``demand_curve(price)``.
Nothing is ever evaluated: the text becomes a tree of the node classes below, and the compiler,
the reference evaluator, the unit and dims checks and the Vensim export each walk that tree: with
``walk`` (every node, parents first), ``fold`` (bottom up: each node from its sub-expressions'
values) or ``rebuild`` (a node with new sub-expressions).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

# name -> (min args, max args, description)
FUNCTIONS = {
    "min": (2, 8, "smallest of the arguments"),
    "max": (2, 8, "largest of the arguments"),
    "exp": (1, 1, "e to the power x (x dimensionless)"),
    "log": (1, 1, "natural logarithm (x dimensionless)"),
    "sqrt": (1, 1, "square root"),
    "abs": (1, 1, "absolute value"),
    "clip": (3, 3, "clip(x, low, high): x limited to [low, high]"),
    "if_then_else": (3, 3, "if_then_else(condition, a, b)"),
    "step": (2, 2, "step(height, start): 0 before the start year, height from it on"),
    "ramp": (3, 3, "ramp(slope, start, end): slope*(time-start) between start and end, flat outside"),
    "pulse": (2, 2, "pulse(start, width): 1 for start <= time < start+width, else 0"),
    "sum": (2, 2, "sum(x, dim): sum of x over a dimension"),
    "smooth": (2, 2, "smooth(x, tau): first-order exponential smooth (a hidden stock)"),
    "delay1": (2, 2, "delay1(x, tau): first-order material delay (a hidden stock)"),
    "delay3": (2, 2, "delay3(x, tau): third-order material delay (three hidden stocks)"),
    "initial": (1, 1, "initial(x): the value of x at the start time, held constant"),
}
STATEFUL = {"smooth", "delay1", "delay3", "initial"}
TIME_FUNCTIONS = {"step", "ramp", "pulse"}  # they read the time
TIME = "time"
TIME_EPS = 1e-9  # years; step/pulse switch on at ``start`` despite rounding in t0 + h*dt/2


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Shift:
    """A shifted index ``dim - 1`` or ``dim + 2`` in a subscript: the element ``by`` places along
    ``dim`` from the one in scope; a reference through it reads zero outside the dimension."""

    dim: str
    by: int

    def applied_to(self, index: str) -> str:
        """The shifted position as text: ``applied_to("i_age")`` is ``"i_age - 1"``."""
        return f"{index} {'-' if self.by < 0 else '+'} {abs(self.by)}"

    def __str__(self):
        return self.applied_to(self.dim)


@dataclass(frozen=True)
class Ref:
    """A reference to a variable. ``subs`` is empty (implicit: indexed by its own dims) or one
    entry per dim of the referenced variable: a dim name (an index in scope), an element name, or a
    ``Shift`` of a dim in scope."""

    name: str
    subs: tuple = ()


@dataclass(frozen=True)
class Time:
    pass


@dataclass(frozen=True)
class Neg:
    x: object


@dataclass(frozen=True)
class Bin:
    op: str  # + - * / **
    a: object
    b: object


@dataclass(frozen=True)
class Cmp:
    op: str  # < <= > >= == !=
    a: object
    b: object


@dataclass(frozen=True)
class Logic:
    op: str  # and, or
    args: tuple


@dataclass(frozen=True)
class Not:
    x: object


@dataclass(frozen=True)
class Call:
    """A built-in function (FUNCTIONS) or a lookup table (``func`` is then the table's name and
    ``lookup`` is True). For ``sum`` the second argument is the dim name, kept in ``dim``."""

    func: str
    args: tuple
    lookup: bool = False
    dim: str | None = None


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


def parse(text) -> object:
    """Parse an equation into a node tree. Raises ExpressionError saying what is not allowed."""
    if isinstance(text, bool):
        raise ExpressionError("an equation cannot be true/false")
    if isinstance(text, (int, float)):
        return Num(float(text))
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the equation is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text.strip()!r}: {exc.msg}") from None
    return _convert(tree.body, text.strip())


def _convert(node, text):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}")
        return Num(float(node.value))
    if isinstance(node, ast.Name):
        return Time() if node.id == TIME else Ref(node.id)
    if isinstance(node, ast.Subscript):
        if not isinstance(node.value, ast.Name):
            raise ExpressionError("only a variable name can be subscripted, as in population[other]")
        index = node.slice
        items = index.elts if isinstance(index, ast.Tuple) else [index]
        return Ref(node.value.id, tuple(_subscript(item, node) for item in items))
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub):
            operand = _convert(node.operand, text)
            return Num(-operand.value) if isinstance(operand, Num) else Neg(operand)
        if isinstance(node.op, ast.UAdd):
            return _convert(node.operand, text)
        if isinstance(node.op, ast.Not):
            return Not(_convert(node.operand, text))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return Bin(_BINOPS[type(node.op)], _convert(node.left, text), _convert(node.right, text))
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ExpressionError("chained comparisons (a < b < c) are not allowed; use 'and'")
        if type(node.ops[0]) not in _CMPOPS:
            raise ExpressionError(f"comparison {ast.unparse(node)!r} is not allowed")
        return Cmp(_CMPOPS[type(node.ops[0])], _convert(node.left, text), _convert(node.comparators[0], text))
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return Logic(op, tuple(_convert(v, text) for v in node.values))
    if isinstance(node, ast.IfExp):
        raise ExpressionError("write conditionals as if_then_else(condition, a, b)")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise ExpressionError(f"only plain calls such as min(a, b) are allowed: {ast.unparse(node)}")
        name = node.func.id
        if name == "sum":
            if len(node.args) != 2 or not isinstance(node.args[1], ast.Name):
                raise ExpressionError("write sums as sum(expression, dim), e.g. sum(flow[other, city], other)")
            return Call("sum", (_convert(node.args[0], text),), dim=node.args[1].id)
        args = tuple(_convert(a, text) for a in node.args)
        if name in FUNCTIONS:
            low, high, doc = FUNCTIONS[name]
            if not low <= len(args) <= high:
                raise ExpressionError(
                    f"{name}() takes {low if low == high else f'{low} to {high}'} arguments ({doc}), got {len(args)}"
                )
            return Call(name, args)
        if len(args) != 1:
            raise ExpressionError(f"unknown function {name}(); a lookup table takes one argument")
        return Call(name, args, lookup=True)
    raise ExpressionError(f"{ast.unparse(node)!r} is not allowed in an equation")


def _subscript(item, node):
    """One subscript: a dimension or element name, or a dimension shifted by a whole number."""
    if isinstance(item, ast.Name):
        return item.id
    if (
        isinstance(item, ast.BinOp)
        and type(item.op) in (ast.Add, ast.Sub)
        and isinstance(item.left, ast.Name)
        and isinstance(item.right, ast.Constant)
        and type(item.right.value) is int
        and item.right.value > 0
    ):
        return Shift(item.left.id, item.right.value if isinstance(item.op, ast.Add) else -item.right.value)
    raise ExpressionError(
        f"subscripts are dimension or element names, or a dimension shifted by a whole "
        f"number, as in x[other], x[ordos] or x[age - 1]: {ast.unparse(node)}"
    )


def sub_dim(sub) -> str:
    """The name a subscript gives: a dim, an element name, or the dim a Shift moves along."""
    return sub.dim if isinstance(sub, Shift) else sub


def children(node) -> tuple:
    """The sub-expressions of a node, left to right (a sum's dim is not one: it is a name)."""
    if isinstance(node, (Bin, Cmp)):
        return (node.a, node.b)
    if isinstance(node, (Logic, Call)):
        return node.args
    if isinstance(node, (Neg, Not)):
        return (node.x,)
    return ()


def rebuild(node, new_children):
    """The node with its sub-expressions replaced by ``new_children`` (in the order of ``children``)."""
    if isinstance(node, (Neg, Not)):
        return type(node)(*new_children)
    if isinstance(node, (Bin, Cmp)):
        return type(node)(node.op, *new_children)
    if isinstance(node, (Logic, Call)):
        return replace(node, args=tuple(new_children))
    return node


def walk(node):
    """Every node of the tree, each before its sub-expressions, left to right."""
    yield node
    for child in children(node):
        yield from walk(child)


def fold(node, visit, into=None):
    """Evaluate a tree bottom up: ``visit(node, values)`` gets a node with the values of its sub-expressions
    (in the order of ``children``) and returns the node's value.

    Where ``into(node)`` is false the sub-expressions are not visited and ``values`` is empty: ``visit``
    evaluates them itself, in a context of its own (a sum's term inside its loop, a stateful call's arguments).
    """
    below = children(node)
    if below and (into is None or into(node)):
        return visit(node, [fold(child, visit, into) for child in below])
    return visit(node, [])


def references(node) -> set[str]:
    """Names this expression reads (variables and lookup tables)."""
    names = set()
    for n in walk(node):
        if isinstance(n, Ref):
            names.add(n.name)
        elif isinstance(n, Call) and n.lookup:
            names.add(n.func)
    return names


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "**": 8}


def _precedence(node) -> int:
    if isinstance(node, Logic):
        return _PRECEDENCE[node.op]
    if isinstance(node, Not):
        return _PRECEDENCE["not"]
    if isinstance(node, Cmp):
        return _PRECEDENCE["cmp"]
    if isinstance(node, Bin):
        return _PRECEDENCE[node.op]
    if isinstance(node, Neg) or (isinstance(node, Num) and node.value < 0):
        return _PRECEDENCE["neg"]
    return 10


def to_text(node) -> str:
    """Readable text of a node tree, with only the parentheses the precedence needs."""
    return fold(node, _text)


def _text(node, texts) -> str:
    if isinstance(node, Num):
        v = node.value
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(node, Time):
        return TIME
    if isinstance(node, Ref):
        return f"{node.name}[{', '.join(map(str, node.subs))}]" if node.subs else node.name
    if isinstance(node, Call):
        return f"{node.func}({', '.join(texts + ([node.dim] if node.dim else []))})"
    mine = _precedence(node)
    right_operand = isinstance(node, (Bin, Cmp))  # a Logic's operands all sit on the left of their operator
    parts = [
        _wrapped(child, text, mine, right=right_operand and k == 1)
        for k, (child, text) in enumerate(zip(children(node), texts))
    ]
    if isinstance(node, Neg):
        return f"-{parts[0]}"
    if isinstance(node, Not):
        return f"not {parts[0]}"
    if isinstance(node, (Bin, Cmp)):
        return f"{parts[0]} {node.op} {parts[1]}"
    if isinstance(node, Logic):
        return f" {node.op} ".join(parts)
    raise TypeError(node)


def _wrapped(child, text: str, mine: int, right: bool) -> str:
    """A sub-expression's text, in parentheses where the precedence of its parent (``mine``) needs them."""
    theirs = _precedence(child)
    # a - (b - c), a / (b * c) and a ** (b ** c) keep their parentheses; so does (a ** b) ** c
    if theirs < mine or (theirs == mine and (right != (mine == 8)) and mine in (5, 6, 8)):
        return f"({text})"
    return text
