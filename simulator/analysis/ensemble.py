"""The Monte Carlo command: ``simulate SCENARIO`` on a scenario with uncertain inputs (an ensemble, run or
resumed in a work folder, then summarised into its output folder), and ``run_ensemble`` for notebooks. Each ties
sampling, running, storing and summarising (sampling.py, runner.py, store.py, summary.py) to the outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import Model
from ..errors import InputError, OutputError, Problem, flag_error
from ..inputs.scenario import Scenario
from . import store
from .runner import Plan, estimate_bytes, make_plan, run_plan
from .summary import summarise


@dataclass(frozen=True)
class EnsembleOptions:
    """How to run an ensemble (the command line's flags, typed); None keeps the scenario's value."""

    runs: int | None = None
    seed: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    method: str | None = None
    dt: float | None = None
    overwrite: bool = False
    quiet: bool = False


def with_integration(scenario: Scenario, method: str | None, dt: float | None) -> Scenario:
    """The scenario with its integration method or step replaced."""
    from dataclasses import replace

    from ..engine import TimeGrid

    grid = scenario.time if dt is None else TimeGrid(scenario.time.start, scenario.time.end, dt, scenario.time.save)
    return replace(scenario, time=grid, method=method or scenario.method)


def run_ensemble_outputs(model: Model, scenario: Scenario, folder: Path, options: EnsembleOptions) -> int:
    """Run (or resume) a scenario's ensemble and write its outputs into ``folder``."""
    from ..files import check_target, free_bytes, lock, publish, sayer, work_folder
    from ..present.report import runs_sentence

    say = sayer(options.quiet)
    scenario = with_integration(scenario, options.method, options.dt)
    plan = make_plan(model, scenario, runs=options.runs, seed=options.seed)
    check_target(folder, options.overwrite)
    if options.scheduler not in (None, "local"):
        check_scheduler(options.scheduler)
    need = estimate_bytes(model, plan)
    free = free_bytes(folder)
    if need > 0.9 * free:
        raise InputError(
            Problem(
                "--runs" if options.runs else str(scenario.path),
                None,
                "" if options.runs else "monte_carlo.runs",
                f"{plan.runs} runs need about {need / 1e9:.2f} GB but only {free / 1e9:.2f} GB are "
                f"free under {folder.parent}; use fewer runs or another --out",
            )
        )
    work = work_folder(folder, "ensemble")
    started = time.perf_counter()
    with lock(folder):
        say(
            f"{scenario.name}: {plan.runs} runs of {len(scenario.uncertain)} uncertain inputs "
            f"({plan.sampling}, seed {plan.seed}, chunks of {plan.chunk}; about {need / 1e6:.0f} MB on disk)"
        )
        try:
            computed = run_plan(
                model,
                plan,
                work,
                workers=options.workers,
                scheduler=options.scheduler,
                progress=not options.quiet,
                say=say,
            )
            elapsed = time.perf_counter() - started
            summary, goals = write_summaries(model, plan, work)
            store.drop_resume_files(work)
            publish(work, folder, options.overwrite)
        except OSError as exc:  # the finished chunks stay in the work folder: the same command resumes
            raise OutputError(
                f"cannot write the ensemble in {work}: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else "")
                + "; free room or fix it and run "
                "the same command again to resume"
            ) from None
    done_now = plan.runs_in(range(plan.n_chunks - computed, plan.n_chunks))
    resumed = f" ({plan.runs - done_now} were done before)" if done_now < plan.runs else ""
    say(
        f"{scenario.name}: {done_now} runs computed in {elapsed:.1f} s ({done_now / max(elapsed, 1e-9):,.0f} runs/s)"
        f"{resumed}; outputs in {folder}/"
    )
    say("  " + runs_sentence(summary.attrs))
    for g in goals:
        if g.get("probability") is not None:
            say(f"  {g['id']:<30} P(met) = {g['probability']:6.1%} ± {g['stderr'] or 0:.1%}")
    return 0


def check_scheduler(address: str, timeout: float = 5.0):
    """Refuse, before anything is written, a Dask scheduler address that does not answer."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise flag_error(
            "--scheduler", f"give 'local' or a scheduler address such as tcp://HOST:8786 (got {address!r})"
        )
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise flag_error(
            "--scheduler",
            f"no Dask scheduler answers at {address} ({exc.strerror or exc}); start one or use --scheduler local",
        ) from None


def write_summaries(model: Model, plan: Plan, work: Path):
    """summary.nc, goals.json, the report and plots of a finished ensemble, written into ``work``."""
    from ..api import resolved_yaml, run
    from ..files import write_json
    from ..present import plots
    from ..present.report import runs_sentence, write_report

    scenario = plan.scenario
    summary, goals, per_run = summarise(model, plan, work)
    summary.to_netcdf(work / "summary.nc", engine="netcdf4")
    write_json(goals, work / "goals.json")
    (work / "scenario.resolved.yaml").write_text(resolved_yaml(scenario), encoding="utf-8")
    np.savez(
        work / "goal_indicators.npz",
        **{f"{k}_value": v for k, (v, _) in per_run.items()},
        **{f"{k}_met": m for k, (_, m) in per_run.items()},
    )
    median = summary.sel(percentile=50).drop_vars("percentile")
    median.attrs["scenario"] = scenario.name
    extra = [
        "## Monte Carlo",
        "",
        f"{plan.runs} runs, {plan.sampling} sampling, seed {plan.seed}; {len(scenario.uncertain)} uncertain "
        f"inputs; {runs_sentence(summary.attrs)}. The goal table gives the probability that each goal is met with "
        "its Monte Carlo standard error; key indicators are medians over the kept runs. Per-run outputs: "
        "runs.zarr (`simulator.analysis.store.open_runs(folder)`, with a `failed` flag per run); "
        "percentiles: summary.nc.",
        "",
    ]
    write_report(work / "report.md", median, scenario, goals, None, extra=extra)
    central = run(scenario, variables=plan.variables)
    plots.fan_chart(
        summary, path=work / "fan_chart.png", title=f"{scenario.name}: {plan.runs} runs", deterministic=central
    )
    plots.goal_dashboard(goals, path=work / "goals.png", title=f"Plan goals: {scenario.name} ({plan.runs} runs)")
    return summary, goals


# ------------------------------------------------------------------------------------------------
# the Python API


def run_ensemble(scenario, runs=None, seed=None, folder=None, workers=None, scheduler=None, progress=False):
    """Run a scenario's Monte Carlo ensemble. Returns (summary percentiles, goal records, per-run Dataset).

    With ``folder`` the per-run outputs stay on disk there (runs.zarr, opened lazily); without it they are
    loaded into memory from a temporary folder, so keep ``runs`` moderate.
    """
    import tempfile

    from ..api import as_scenario
    from ..files import silent
    from ..model import load_model

    model = load_model()
    scenario = as_scenario(scenario)
    plan = make_plan(model, scenario, runs=runs, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(folder) if folder else Path(tmp) / "work"
        run_plan(model, plan, work, workers=workers, scheduler=scheduler, progress=progress, say=silent)
        summary, goals, _ = summarise(model, plan, work)
        per_run = store.open_runs(work)
        if folder is None:
            per_run = per_run.load()
    return summary, goals, per_run
