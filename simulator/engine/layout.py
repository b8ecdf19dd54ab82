"""The layout pass: where each variable lives in the kernel's arrays.

``s`` the state (stocks), ``v`` the scratch (static auxiliaries in initial-pass order, then the
rate pass's auxiliaries and flows in evaluation order), ``p`` one run's parameters (declared
parameters, then one multiplier per series element), ``sg`` the series grid (one column per series
element) and ``lk`` the lookup tables (per element, its x values then its y values); and which of them
a run records, in which output column (``columns``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from .build import Model


def lay_out(model: Model):
    """Set the model's array offsets and sizes (and its lists of parameters, series and lookups, in the order
    they are laid out: as declared)."""
    model.parameters = [n for n, v in model.variables.items() if v.kind == "parameter"]
    model.series = [n for n, v in model.variables.items() if v.kind == "series"]
    model.lookups = [n for n, v in model.variables.items() if v.kind == "lookup"]
    offset = 0
    for n in model.stocks:
        model.state_offset[n] = offset
        offset += model.size(n)
    model.n_state = offset
    offset = 0
    dynamic = [n for what, n in model.rate_order if what == "var"]
    for n in [x for x in model.init_order if x in model.static] + dynamic:
        model.var_offset[n] = offset
        offset += model.size(n)
    for n in model.init_order:  # auxiliaries used only in the initial pass (none today) still get a slot
        if n not in model.var_offset and model.variables[n].kind != "stock":
            model.var_offset[n] = offset
            offset += model.size(n)
    model.n_var = offset
    offset = 0
    for n in model.parameters:
        model.param_offset[n] = offset
        offset += model.size(n)
    column = 0
    for n in model.series:
        model.series_offset[n] = column
        model.multiplier_offset[n] = offset
        column += model.size(n)
        offset += model.size(n)
    model.n_series = column
    model.n_param = offset
    offset = 0
    for n in model.lookups:
        k = len(model.variables[n].points[0][0])
        if any(len(xs) != k for xs, _ in model.variables[n].points):
            raise ModelError(model.variables[n].problem("every element's table needs the same number of points"))
        model.lookup_points[n] = k
        model.lookup_offset[n] = offset
        offset += 2 * k * model.size(n)
    model.n_lookup = offset


class Columns(NamedTuple):
    """What the kernel records, in the order of the output columns: the stocks, the auxiliaries and flows averaged
    over each interval (report: mean), those taken at the save time (report: point), then the series."""

    state: np.ndarray  # state indices of the recorded stocks' elements
    mean: np.ndarray  # scratch slots of the averaged auxiliaries and flows
    point: np.ndarray  # scratch slots of the levels
    series: list[str]  # the recorded series
    multipliers: np.ndarray  # parameter indices of their elements' multipliers
    labels: list[tuple[str, int]]  # (name, element) of every column


def columns(model: Model, record: list[str]) -> Columns:
    """Where the kernel finds each recorded element."""
    kinds = {n: model.variables[n].kind for n in record}
    stocks = [n for n in record if kinds[n] == "stock"]
    means = [n for n in record if kinds[n] in ("aux", "flow") and model.variables[n].report == "mean"]
    points = [n for n in record if kinds[n] in ("aux", "flow") and model.variables[n].report == "point"]
    series = [n for n in record if kinds[n] == "series"]

    def indices(names, offsets):
        return np.array([offsets[n] + k for n in names for k in range(model.size(n))], dtype=np.int64)

    labels = [(n, k) for n in stocks + means + points + series for k in range(model.size(n))]
    return Columns(
        indices(stocks, model.state_offset),
        indices(means, model.var_offset),
        indices(points, model.var_offset),
        series,
        indices(series, model.multiplier_offset),
        labels,
    )
