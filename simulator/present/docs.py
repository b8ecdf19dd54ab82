"""Generate the references from what they describe: docs/model.md from the model's declarations (every
equation with units, description and source) and docs/settings.md from the settings records (every key of a
scenario file and a calibration configuration). A test keeps both checked-in files current.

    python -m simulator.present.docs            # rewrite docs/model.md and docs/settings.md
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from ..engine import Model
from ..engine import expressions as ex
from ..inputs import schema
from ..model import load_model

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "model.md"
SETTINGS_PATH = DOC_PATH.with_name("settings.md")
SETTINGS_FILES = (
    ("Scenario files", "scenarios/*.yaml", schema.ScenarioFile),
    ("Calibration configurations", "calibration/*.yaml", schema.CalibrationFile),
)
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


def settings_reference() -> str:
    lines = [
        "# Settings reference",
        "",
        "Generated from the settings records in `simulator/inputs/schema.py` by `python -m simulator.present.docs`;",
        "do not edit. A test fails when this file is out of date.",
        "",
        "Every key of a scenario file and of a calibration configuration: the value it takes, its default and "
        "what it means. A wrong value or an unknown key is reported as `FILE:LINE: key.path: message` (exit 2, "
        "nothing written); what a key names (a model variable, a goal id, a file) is checked after these checks. "
        "`parameters:`, `policies:` and `uncertain:` are described in the README (the scenario format) and "
        "`docs/model.md` (the names they take).",
        "",
    ]
    for title, where, record in SETTINGS_FILES:
        lines += [f"## {title} (`{where}`)", ""]
        lines += _settings_tables(record, "")
    return "\n".join(lines)


def _settings_tables(record: type, path: str) -> list[str]:
    """A record's table, then one for each key whose value is (or holds) a settings record."""
    keys = schema.keys(record)
    defaults = {f.name: f for f in dataclasses.fields(record)}
    lines = ["| key | value | default | meaning |", "|---|---|---|---|"]
    for name, key in keys.items():
        default = "–" if key.kind == "section" else _default(defaults[name])
        meaning = key.doc or " ".join((key.record.__doc__ or "").split())
        lines.append(f"| `{name}` | {_cell(_takes(key))} | {_cell(default)} | {_cell(meaning)} |")
    lines.append("")
    for name, key in keys.items():
        if key.record is None:
            continue
        where = f"{path}{name}"
        heading = {"section": f"`{where}:`", "mapping": f"each entry of `{where}:`", "list": f"each item of `{where}:`"}
        lines += [f"### {heading[key.kind]}", "", " ".join((key.record.__doc__ or "").split()), ""]
        lines += _settings_tables(key.record, f"{where}." if key.kind == "section" else f"{where}[...].")
    return lines


def _takes(key: schema.Key) -> str:
    """The value a key takes, in words."""
    if key.kind in ("whole", "number", "step"):
        return key.describe()
    if key.kind == "choice":
        return "one of " + ", ".join(f"`{c}`" for c in key.choices)
    words = {"flag": "true or false", "text": "text", "name": "a name (letters, digits, - _ .)", "path": "a path"}
    if key.kind in words:
        return words[key.kind]
    if key.kind == "mapping":
        return "a mapping of settings (below)" if key.record else "a mapping"
    if key.kind == "list":
        return "a list of settings (below)" if key.record else "a list"
    return "settings (below)" if key.kind == "section" else "see meaning"


def _default(field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "required"
    if value is None or value in ({}, [], ""):
        return "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def main() -> int:
    DOC_PATH.parent.mkdir(exist_ok=True)
    DOC_PATH.write_text(model_reference(load_model()), encoding="utf-8")
    SETTINGS_PATH.write_text(settings_reference(), encoding="utf-8")
    print(f"wrote {DOC_PATH} and {SETTINGS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
