"""Build a model from its declarations: a pipeline of passes, each in its own module.

    expand (expand.py)  stateful functions -> hidden stocks and auxiliaries
    check  (check.py)   names (with a did-you-mean), subscripts, dims, units
    order  (order.py)   initial and rate passes, static auxiliaries, reports, the slow part, loops
    layout (layout.py)  array offsets, and which columns a run records

Every problem a pass finds is collected, each naming the file, line and variable; the build stops
after the pass that found them. The kernel's source is written from the built ``Model`` by
``codegen.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError, Problem
from .check import check_dims, check_names, check_units
from .declarations import ModelSpec, Variable, expressions_of, read_model
from .expand import expand_stateful
from .layout import lay_out
from .order import order_equations
from .units import Unit

__all__ = ["Model", "build", "expressions_of", "load"]


@dataclass
class Model:
    """A checked model: variables (declared and hidden), evaluation orders and the array layout."""

    spec: ModelSpec
    variables: dict[str, Variable]
    units: dict[str, Unit] = field(default_factory=dict)
    # set by the order pass (order.py)
    init_order: list[str] = field(default_factory=list)  # stocks (initial value) and auxiliaries, dependency order
    static: list[str] = field(default_factory=list)  # auxiliaries computed once, in the initial pass (in init order)
    rate_order: list[tuple[str, str]] = field(default_factory=list)  # ("var", name) or ("limit", stock_name)
    stocks: list[str] = field(default_factory=list)  # state layout order
    limited_outflows: dict[str, tuple[str, ...]] = field(default_factory=dict)  # stock -> outflows it limits
    # rate-pass auxiliaries no stock's rate depends on (reports: shares, slacks, shadow prices), each with
    # the others of them it reads; the kernel computes them only when a run records them
    reporting: dict[str, frozenset[str]] = field(default_factory=dict)
    reads_paths: frozenset[str] = frozenset()  # rate-pass auxiliaries that read a time path (series), at any remove
    reads_slow: frozenset[str] = frozenset()  # rate-pass variables that are slow_only or read one, at any remove
    # rate-pass nodes (("var", name) or ("limit", stock)) that only slow stocks' rates need, and the reports made
    # of them alone: under method "partitioned" they are evaluated at a step's first two stages and held over its
    # last two
    slow_only: frozenset[tuple[str, str]] = frozenset()
    # set by the layout pass (layout.py)
    parameters: list[str] = field(default_factory=list)
    series: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    state_offset: dict[str, int] = field(default_factory=dict)
    var_offset: dict[str, int] = field(default_factory=dict)  # scratch array slots (aux and flows)
    param_offset: dict[str, int] = field(default_factory=dict)
    series_offset: dict[str, int] = field(default_factory=dict)  # series grid column; multiplier param too
    multiplier_offset: dict[str, int] = field(default_factory=dict)  # per-run multiplier of a series
    lookup_offset: dict[str, int] = field(default_factory=dict)
    lookup_points: dict[str, int] = field(default_factory=dict)  # points per table
    n_state: int = 0
    n_var: int = 0
    n_param: int = 0
    n_series: int = 0
    n_lookup: int = 0
    _sizes: dict[str, int] = field(default_factory=dict, repr=False)

    def __getstate__(self):  # the compiled kernel is per process: a pickled model reloads it
        state = dict(self.__dict__)
        state.pop("_kernel", None)
        return state

    # -- convenience -------------------------------------------------------------------------
    def size(self, name: str) -> int:
        """Number of elements of a variable."""
        size = self._sizes.get(name)
        if size is None:
            size = self._sizes[name] = int(np.prod(self.spec.shape(self.variables[name].dims), dtype=int))
        return size

    def shape(self, name: str) -> tuple[int, ...]:
        return self.spec.shape(self.variables[name].dims)

    def coords(self, name: str) -> dict[str, tuple[str, ...]]:
        return {d: self.spec.elements(d) for d in self.variables[name].dims}

    def element_label(self, name: str, flat_index: int) -> str:
        """``population[ordos]`` for a flat element index."""
        var = self.variables[name]
        if not var.dims:
            return name
        idx = np.unravel_index(flat_index, self.shape(name))
        return f"{name}[{', '.join(self.spec.elements(d)[i] for d, i in zip(var.dims, idx))}]"

    def describe_order(self) -> str:
        """The evaluation order, as a readable listing."""
        lines = ["Initial pass (stocks' initial values, then auxiliaries in dependency order):"]
        lines += [
            f"  {i + 1:3d}. {n} ({self.variables[n].kind}{', static' if n in self.static else ''})"
            for i, n in enumerate(self.init_order)
        ]
        lines.append("Rate pass (each integrator stage):")
        for i, (what, name) in enumerate(self.rate_order):
            text = (
                f"{name} ({self.variables[name].kind})"
                if what == "var"
                else f"limit outflows of {name} ({', '.join(self.limited_outflows[name])})"
            )
            lines.append(f"  {i + 1:3d}. {text}")
        lines.append(f"  then net rates of {len(self.stocks)} stocks ({self.n_state} state elements)")
        return "\n".join(lines)

    def declared(self) -> list[Variable]:
        return [v for v in self.variables.values() if not v.hidden]

    def slow_state(self) -> np.ndarray:
        """State indices of the stocks declared slow."""
        return np.array(
            [self.state_offset[n] + k for n in self.stocks if self.variables[n].slow for k in range(self.size(n))],
            dtype=np.int64,
        )

    def reporting_wanted(self, record) -> np.ndarray:
        """For each reporting-only auxiliary (``reporting``, in order), whether a run recording ``record``
        needs it: recorded itself, or read by one that is."""
        wanted, todo = set(), [n for n in record if n in self.reporting]
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo += self.reporting[name]
        return np.array([n in wanted for n in self.reporting], dtype=np.bool_)


def load(paths) -> Model:
    """Read and build a model from a file or folder of declarations."""
    return build(read_model(paths))


def build(spec: ModelSpec) -> Model:
    """Run the passes over the declarations; raise ModelError listing the problems of the first pass that
    finds any (names before dims and units, those before the order)."""
    variables = dict(spec.variables)
    problems: list[Problem] = []
    expand_stateful(variables, problems)
    check_names(variables, spec, problems)
    _stop_if(problems)
    check_dims(variables, spec, problems)
    units = check_units(variables, spec, problems)
    _stop_if(problems)
    model = Model(spec=spec, variables=variables, units=units)
    order_equations(model, problems)
    _stop_if(problems)
    lay_out(model)
    return model


def _stop_if(problems: list[Problem]):
    if problems:
        raise ModelError(problems)
