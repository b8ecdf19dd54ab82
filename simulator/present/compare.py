"""``simulate compare A B``: run two scenarios and write the differences of B from A -- a table per variable,
city and year, the goals of each side by side, their key indicators, and a plot."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

COMPARED = (
    "population",
    "urban_population",
    "gdp",
    "energy_use",
    "co2",
    "coal_output",
    "water_demand",
    "water_use",
    "groundwater_storage",
)


def compare_outputs(a, b, folder: Path, overwrite: bool, say=print) -> None:
    """Run scenarios ``a`` (the reference) and ``b`` and write their comparison into ``folder``."""
    from ..api import run
    from ..errors import flag_error
    from ..files import staging, write_json
    from ..goals import evaluate, load_goals
    from . import plots
    from .run_outputs import format_goal_value

    if (a.time.start, a.time.save) != (b.time.start, b.time.save):
        raise flag_error(
            str(b.path),
            f"starts in {b.time.start:g} saving every {b.time.save:g} years, but {a.path} "
            f"starts in {a.time.start:g} saving every {a.time.save:g} years; compare "
            "scenarios that start in the same year on the same output interval",
        )
    with staging(folder, overwrite) as tmp:  # checks the folder before any work
        say(f"running {a.name} and {b.name} ...")
        da, db = run(a), run(b)
        ga, gb = evaluate(da, load_goals(a.goals)), evaluate(db, load_goals(b.goals))
        (tmp / "differences.csv").write_text("\n".join(differences(da, db)) + "\n", encoding="utf-8")
        write_json({"A": a.name, "B": b.name, "goals_A": ga, "goals_B": gb}, tmp / "goals.json")
        (tmp / "report.md").write_text(comparison_report(a.name, b.name, da, db, ga, gb), encoding="utf-8")
        plots.compare(da, db, path=tmp / "compare.png")
    say(f"comparison written to {folder}/")
    for x, y in zip(ga, gb):
        if x.get("value") is not None and y.get("value") is not None:
            say(
                f"  {x['id']:<30} A {format_goal_value(x):>10} ({'met' if x['met'] else 'not met'})   "
                f"B {format_goal_value(y):>10} ({'met' if y['met'] else 'not met'})"
            )


def differences(da: xr.Dataset, db: xr.Dataset) -> list[str]:
    """CSV rows: each compared variable, city and common year, A, B, B - A and (B - A) / A."""
    rows = ["variable,units,city,year,A,B,difference,relative_difference"]
    years = [t for t in da["time"].values if t in db["time"].values]
    for name in (v for v in COMPARED if v in da and v in db):
        for city in da["city"].values:
            for year in years:
                x, y = float(da[name].sel(city=city, time=year)), float(db[name].sel(city=city, time=year))
                rel = (y - x) / x if x else float("nan")
                rows.append(f"{name},{da[name].attrs['units']},{city},{year:g},{x:.6g},{y:.6g},{y - x:.6g},{rel:.6g}")
    return rows


def comparison_report(name_a: str, name_b: str, da: xr.Dataset, db: xr.Dataset, ga: list, gb: list) -> str:
    """report.md: the goals side by side, then each scenario's key indicators."""
    from .report import indicators_table
    from .run_outputs import format_goal_value

    def show(goal):
        return ("–", "–") if goal.get("value") is None else (format_goal_value(goal), "yes" if goal["met"] else "no")

    lines = [
        f"# `{name_b}` compared with `{name_a}`",
        "",
        "## Goals",
        "",
        "| goal | A value | A met | B value | B met |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {x['id']} | {' | '.join(show(x))} | {' | '.join(show(y))} |" for x, y in zip(ga, gb)]
    lines += [
        "",
        f"## Key indicators: {name_a}",
        "",
        *indicators_table(da),
        "",
        f"## Key indicators: {name_b}",
        "",
        *indicators_table(db),
        "",
        "Differences per variable, city and year: differences.csv.",
        "",
    ]
    return "\n".join(lines)
