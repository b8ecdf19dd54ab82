"""Units as symbols with rational exponents, checked like Vensim's Units Check.

A unit is written as a product of symbols with ``*``, ``/``, ``^`` (or ``**``) and parentheses:
``yuan/(person*year)``, ``m3/yuan``, ``1/year``, ``kW*hour/year``. ``1`` or ``dimensionless``
means no unit. There is no scale: ``10k person`` is not a unit; the model stores persons, yuan, m3.
Symbols are compared by name only, except for the few definitions in ``DEFINITIONS`` (and any a
model adds) that say one symbol is a product of others.
"""

from __future__ import annotations

import re
from fractions import Fraction

DEFINITIONS = {"kWh": "kW*hour"}

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[*/^()]))")


class UnitError(ValueError):
    pass


class Unit:
    """An immutable product of symbols with rational exponents."""

    __slots__ = ("powers",)

    def __init__(self, powers: dict[str, Fraction] | None = None):
        self.powers = {k: Fraction(v) for k, v in (powers or {}).items() if v != 0}

    def __mul__(self, other: Unit) -> Unit:
        out = dict(self.powers)
        for k, v in other.powers.items():
            out[k] = out.get(k, 0) + v
        return Unit(out)

    def __truediv__(self, other: Unit) -> Unit:
        return self * other**-1

    def __pow__(self, exponent) -> Unit:
        exponent = Fraction(exponent).limit_denominator(1000)
        return Unit({k: v * exponent for k, v in self.powers.items()})

    def __eq__(self, other) -> bool:
        return isinstance(other, Unit) and self.powers == other.powers

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.powers.items())))

    @property
    def dimensionless(self) -> bool:
        return not self.powers

    def __str__(self) -> str:
        if not self.powers:
            return "1"

        def fmt(name, power):
            return name if power == 1 else f"{name}^{power}"

        num = [fmt(k, v) for k, v in sorted(self.powers.items()) if v > 0]
        den = [fmt(k, -v) for k, v in sorted(self.powers.items()) if v < 0]
        top = "*".join(num) or "1"
        if not den:
            return top
        return f"{top}/{den[0]}" if len(den) == 1 else f"{top}/({'*'.join(den)})"

    __repr__ = __str__


DIMENSIONLESS = Unit()


def parse_unit(text: str, definitions: dict[str, str] | None = None) -> Unit:
    """Parse a unit string; raise UnitError with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise UnitError("units must be a non-empty string (use 1 for dimensionless)")
    if text.strip() in ("1", "dimensionless"):
        return DIMENSIONLESS
    defs = dict(DEFINITIONS)
    defs.update(definitions or {})
    tokens = _tokenise(text)
    parser = _Parser(tokens, text, defs)
    unit = parser.expression()
    if parser.pos != len(tokens):
        raise UnitError(f"cannot read units {text!r}: unexpected {tokens[parser.pos][1]!r}")
    return unit


def _tokenise(text):
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise UnitError(f"cannot read units {text!r} at {text[pos:]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    # unit := factor (('*' | '/') factor)* ; factor := atom (('^' | '**') number)? ; atom := name | 1 | '(' unit ')'
    def __init__(self, tokens, text, defs, depth=0):
        self.tokens, self.text, self.defs, self.pos, self.depth = tokens, text, defs, 0, depth

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def expression(self) -> Unit:
        unit = self.factor()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            rhs = self.factor()
            unit = unit * rhs if op == "*" else unit / rhs
        return unit

    def factor(self) -> Unit:
        unit = self.atom()
        if self.peek()[1] in ("^", "**"):
            self.take()
            sign = 1
            if self.peek()[1] == "(":
                raise UnitError(f"cannot read units {self.text!r}: exponents are plain numbers")
            kind, value = self.take()
            if kind != "num":
                raise UnitError(f"cannot read units {self.text!r}: exponent must be a number")
            unit = unit ** (sign * Fraction(value))
        return unit

    def atom(self) -> Unit:
        kind, value = self.take()
        if kind == "name":
            if value == "dimensionless":
                return DIMENSIONLESS
            if value in self.defs:
                if self.depth > 10:
                    raise UnitError(f"unit definition of {value!r} is circular")
                return parse_unit_defs(self.defs[value], self.defs, self.depth + 1)
            return Unit({value: 1})
        if kind == "num":
            if value != "1":
                raise UnitError(
                    f"cannot read units {self.text!r}: units have no numeric scale "
                    f"({value!r}); store values in base units (persons, yuan, m3)"
                )
            return DIMENSIONLESS
        if value == "(":
            unit = self.expression()
            if self.take()[1] != ")":
                raise UnitError(f"cannot read units {self.text!r}: missing ')'")
            return unit
        raise UnitError(f"cannot read units {self.text!r}")


def parse_unit_defs(text, defs, depth):
    tokens = _tokenise(text)
    parser = _Parser(tokens, text, defs, depth)
    unit = parser.expression()
    if parser.pos != len(tokens):
        raise UnitError(f"cannot read unit definition {text!r}")
    return unit
