"""Generate docs/model.md, the model reference, from the declarations (every equation with units,
description and source). A test keeps the checked-in file current.

    python -m simulator.present.docs            # rewrite docs/model.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..engine import Model
from ..engine import expressions as ex
from ..model import load_model

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "model.md"
SECTORS = ("demography", "economy", "energy", "water", "constraints", "parameters")


def _values(var) -> str:
    if var.kind == "parameter":
        flat = np.asarray(var.value).ravel()
        if np.all(flat == flat[0]):
            return f"{flat[0]:g}"
        return ", ".join(f"{x:g}" for x in flat)
    if var.kind == "series":
        first = var.points[0]
        if all(np.array_equal(xs, first[0]) and np.array_equal(ys, first[1]) for xs, ys in var.points):
            return "; ".join(f"{x:g}: {y:g}" for x, y in zip(*first))
        return f"{len(var.points)} element paths (see the parameters file)"
    return ""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def model_reference(model: Model) -> str:
    spec = model.spec
    lines = [
        "# Model reference",
        "",
        "Generated from the declarations in `simulator/model/` by `python -m simulator.present.docs`; do not edit.",
        "A test fails when this file is out of date.",
        "",
        "Dimensions: "
        + "; ".join(f"`{d}` = {', '.join(e)}" for d, e in spec.dims.items())
        + "; "
        + "; ".join(f"`{a}` = a second index over `{b}`" for a, b in spec.aliases.items())
        + ".",
        "",
        f"{len(model.stocks)} stocks ({model.n_state} state elements), "
        f"{sum(1 for v in model.declared() if v.kind in ('aux', 'flow'))} auxiliaries and flows, "
        f"{len(model.parameters)} parameters, {len(model.series)} time paths. "
        "Stocks are integrated with Euler or RK4 at a fixed step, or by the partitioned method: RK4, "
        "with the stocks declared slow ("
        + ", ".join(f"`{n}`" for n in model.stocks if model.variables[n].slow)
        + ") taking the midpoint rule, so what only their rates need is evaluated at two of a step's four "
        "stages instead of four; auxiliaries are evaluated in "
        "dependency order (`simulate describe NAME` shows one variable; the order is in "
        "`Model.describe_order()`).",
        "",
    ]
    for sector in SECTORS:
        variables = [v for v in model.declared() if v.sector == sector]
        if not variables:
            continue
        lines += [f"## {sector.capitalize()}", "", _cell(spec.sector_docs.get(sector, "")), ""]
        if sector == "parameters":
            lines += [
                "| name | kind | dims | units | value | status | description | source |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for v in variables:
                lines.append(
                    f"| `{v.name}` | {v.kind} | {', '.join(v.dims) or '–'} | {v.units} | "
                    f"{_cell(_values(v))} | {v.status} | {_cell(v.doc)} | {_cell(v.source)} |"
                )
            lines.append("")
            continue
        lines += ["| name | kind | dims | units | equation | description |", "|---|---|---|---|---|---|"]
        for v in variables:
            if v.kind == "stock":
                rate = (
                    ex.to_text(v.rate)
                    if v.rate is not None
                    else " + ".join(v.inflows) + (" − (" + " + ".join(v.outflows) + ")" if v.outflows else "")
                )
                equation = f"d/dt = {rate}; initial {ex.to_text(v.initial)}"
            else:
                equation = ex.to_text(v.equation)
            source = f" Source: {_cell(v.source)}." if v.source else ""
            lines.append(
                f"| `{v.name}` | {v.kind} | {', '.join(v.dims) or '–'} | {v.units} | "
                f"`{_cell(equation)}` | {_cell(v.doc)}{source} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    DOC_PATH.parent.mkdir(exist_ok=True)
    DOC_PATH.write_text(model_reference(load_model()), encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
