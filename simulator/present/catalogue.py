"""What the model holds, in words: ``simulate list`` (scenarios, parameters, time paths, variables, goals) and
``simulate describe NAME`` (one variable's equation, units, source and users)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LISTS = ("all", "scenarios", "parameters", "policies", "variables", "goals")


def listing(model, what: str = "all", scenarios: Path = Path("scenarios")) -> str:
    """The lines of ``simulate list WHAT``."""
    sections = {
        "scenarios": _scenarios,
        "parameters": _parameters,
        "policies": _policies,
        "variables": _variables,
        "goals": _goals,
    }
    out = []
    for name, lines in sections.items():
        if what in ("all", name):
            out += lines(model, scenarios) + ([""] if name != "goals" else [])
    return "\n".join(out)


def _scenarios(model, folder: Path) -> list[str]:
    import yaml

    out = [f"Scenarios ({folder}/):"]
    for path in sorted(folder.glob("*.yaml")) if folder.exists() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            desc = " ".join(str(data.get("description", "")).split())
        except yaml.YAMLError:
            desc = "(not valid YAML)"
        out.append(f"  {path}  {desc}")
    return out


def _parameters(model, folder) -> list[str]:
    out = ["Parameters (set under `parameters:`): name [units] default  status  source"]
    for name in model.parameters:
        v = model.variables[name]
        out.append(f"  {name} [{v.units}] {compact(v.value)}  {v.status}  {' '.join(v.source.split())[:90]}")
    return out


def _policies(model, folder) -> list[str]:
    out = [
        "Policies and time paths (set under `policies:`, by calendar year): name [units] default path  status  source"
    ]
    for name in model.series:
        v = model.variables[name]
        xs, ys = v.points[0]
        path = ", ".join(f"{x:g}: {y:g}" for x, y in list(zip(xs, ys))[:4]) + (", ..." if len(xs) > 4 else "")
        more = " (first element)" if len(v.points) > 1 else ""
        out.append(f"  {name} [{v.units}] {{{path}}}{more}  {v.status}  {' '.join(v.source.split())[:90]}")
    return out


def _variables(model, folder) -> list[str]:
    out = ["Variables (outputs): name [units] kind dims  description"]
    for v in model.declared():
        if v.kind in ("stock", "flow", "aux"):
            dims = f"({', '.join(v.dims)})" if v.dims else "()"
            out.append(f"  {v.name} [{v.units}] {v.kind} {dims}  {v.doc}")
    return out


def _goals(model, folder) -> list[str]:
    from ..goals import load_goals

    return ["Goals:", *(f"  {g['id']}: {g['description']} ({g['comparison']} {g['target']})" for g in load_goals())]


def compact(value) -> str:
    """An array in a few characters: one number if all elements are equal, else the first six."""
    flat = np.asarray(value).ravel()
    if len(flat) and np.all(flat == flat[0]):
        return f"{flat[0]:g}"
    return "[" + ", ".join(f"{x:g}" for x in flat[:6]) + (", ..." if len(flat) > 6 else "") + "]"


def description(model, name: str, baseline: Path | None = None) -> str:
    """The lines of ``simulate describe NAME``; ``baseline``: a scenario whose calibrated value is shown."""
    from ..engine import expressions as ex
    from ..engine.build import expressions_of
    from ..errors import InputError, Problem, did_you_mean

    var = model.variables.get(name)
    if var is None or var.hidden:
        raise InputError(
            Problem(
                "describe",
                None,
                name,
                "no variable or parameter of that name" + did_you_mean(name, [v.name for v in model.declared()]),
            )
        )
    lines = [
        f"{var.name}  ({var.kind}, sector {var.sector}, declared in {var.file}:{var.line})",
        f"  units:       {var.units}",
        f"  dims:        {', '.join(var.dims) or '(scalar)'}",
        f"  description: {var.doc}",
    ]
    if var.source:
        lines.append(f"  source:      {' '.join(var.source.split())}")
    if var.status:
        lines.append(f"  status:      {var.status}")
    lines += [f"  {role + ':':<12} {ex.to_text(tree)}" for role, tree in expressions_of(var)]
    lines += _values(model, var, baseline)
    users = sorted(
        n
        for n, v in model.variables.items()
        if (not v.hidden and any(var.name in ex.references(t) for _, t in expressions_of(v)))
        or var.name in v.inflows + v.outflows
    )
    if users:
        lines.append(f"  used by:     {', '.join(users)}")
    return "\n".join(lines)


def _values(model, var, baseline: Path | None) -> list[str]:
    """A declaration's flows, values, points, bounds and range, as far as its kind has them."""
    lines = []
    if var.kind == "stock":
        if var.inflows:
            lines.append(f"  inflows:     {', '.join(var.inflows)}")
        if var.outflows:
            lines.append(f"  outflows:    {', '.join(var.outflows)}")
        lines.append(f"  non-negative: {var.nonnegative}")
    if var.kind == "parameter":
        lines.append(f"  declared:    {compact(var.value)}")
        fitted = _calibrated(model, baseline).get(var.name) if baseline else None
        if fitted is not None:
            lines.append(f"  calibrated:  {compact(fitted)}  (the baseline's value: calibration/fitted/baseline.yaml)")
    if var.kind in ("series", "lookup"):
        for k, (xs, ys) in enumerate(var.points):
            label = model.element_label(var.name, k)
            lines.append(f"  points {label}: " + ", ".join(f"{x:g}: {y:g}" for x, y in zip(xs, ys)))
    if var.bounds:
        lines.append(f"  bounds:      {list(var.bounds)}")
    if var.range is not None:
        ranges = var.range.reshape(-1, 2)
        lines.append(f"  range:       {compact(ranges[:, 0])} to {compact(ranges[:, 1])}")
    return lines


def _calibrated(model, baseline: Path) -> dict:
    """The calibrated parameter values of the scenario ``baseline``, if it is at hand and reads."""
    from ..errors import InputError
    from ..inputs.scenario import load_scenario

    try:
        return load_scenario(baseline, model).fitted if baseline.exists() else {}
    except InputError:
        return {}
