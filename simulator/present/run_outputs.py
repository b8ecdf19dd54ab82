"""What one deterministic run writes -- results (NetCDF, CSV), goals, the report with shadow prices, plots --
and the summary the terminal prints."""

from __future__ import annotations

from pathlib import Path


def write_run(folder: Path, model, scenario, method=None, dt=None, say=print):
    """Run one scenario and write all its outputs into ``folder``. Returns (dataset, goals)."""
    from ..analysis.plausibility import messages
    from ..analysis.shadow import dynamic_shadow_prices
    from ..api import resolved_yaml, run
    from ..files import write_csv, write_json, write_netcdf
    from ..goals import evaluate, load_goals
    from . import plots
    from .report import write_report

    say(f"running {scenario.name} ({scenario.time.start:g}-{scenario.time.end:g}) ...")
    ds = run(scenario, method=method, dt=dt)
    goals = evaluate(ds, load_goals(scenario.goals))
    warnings = messages(model, ds)
    for line in warnings:
        say(f"warning: {line}")
    chosen = scenario.outputs.variables
    written = ds[[v for v in ds.data_vars if v in chosen]] if chosen else ds
    formats = scenario.outputs.formats
    (folder / "scenario.resolved.yaml").write_text(resolved_yaml(scenario), encoding="utf-8")
    write_json(goals, folder / "goals.json")
    if "netcdf" in formats:
        write_netcdf(written, folder / "results.nc")
    if "csv" in formats:
        write_csv(written, folder / "csv")
    if "report" in formats:
        prices = dynamic_shadow_prices(model, scenario, ds)
        if prices:
            write_json(prices, folder / "shadow_prices.json")
        extra = (
            [
                "## Plausibility",
                "",
                "This run leaves the plausible range the model declares for:",
                "",
                *(f"- {line}" for line in warnings),
                "",
            ]
            if warnings
            else None
        )
        write_report(folder / "report.md", ds, scenario, goals, prices, extra=extra)
    if "plots" in formats:
        plots.trajectories(ds, path=folder / "trajectories.png")
        plots.binding_timeline(ds, path=folder / "binding.png")
        plots.goal_dashboard(goals, path=folder / "goals.png", title=f"Plan goals: {scenario.name}")
        if "residents" in written:
            plots.pyramids(written, path=folder / "pyramids.png")
        if {"residents", "urban_residents"} <= set(written):
            plots.town_and_country(written, path=folder / "town_and_country.png")
    return ds, goals


def summary(ds, goals, scenario, folder, elapsed) -> str:
    """The terminal's lines after a run: each goal met or not, and where each limit binds."""
    from ..model.limits import LIMITS

    lines = [f"{scenario.name}: done in {elapsed:.1f} s; outputs in {folder}/"]
    for g in goals:
        if g.get("value") is None:
            lines.append(f"  {g['id']:<30} not evaluated")
            continue
        lines.append(
            f"  {g['id']:<30} {format_goal_value(g)}  target {g['comparison']} "
            f"{format_goal_value(g, g['target'])}  {'met' if g['met'] else 'NOT met'}"
        )
    binding = []
    for limit in LIMITS:
        for city in ds["city"].values:
            years = ds["time"].values[ds[limit.binding].sel(city=city).values > 0.5]
            years = years[years > ds["time"].values[0]]
            if len(years):
                binding.append(f"{limit.label} in {city} ({years[0]:g}-{years[-1]:g})")
    lines.append("  binding limits: " + (", ".join(binding) if binding else "none"))
    return "\n".join(lines)


def format_goal_value(goal: dict, value=None) -> str:
    """A goal's value (or target) as the terminal prints it: as the report does (percent, ratio or year)."""
    from .report import goal_number

    return goal_number(goal, goal["value"] if value is None else value)
