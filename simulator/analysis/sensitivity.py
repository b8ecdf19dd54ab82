"""Sobol sensitivity: first- and total-order indices of the goal indicators over a scenario's uncertain
inputs (Saltelli sampling, SALib), and the table and report of them."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from ..engine import Model, simulate, to_dataset
from ..goals import indicator_variables
from ..inputs.scenario import Scenario
from .sampling import apply, unit_columns, values_at

BLOCK_RUNS = 20_000  # runs per kernel call (memory stays bounded whatever N)


def sobol_indices(evaluate, names: list[str], n: int, seed: int = 0) -> dict:
    """First- and total-order Sobol indices (Saltelli sampling, SALib) of every output of ``evaluate``.

    ``evaluate`` takes an (N x inputs) array of uniform numbers in [0, 1] and returns (N x outputs).
    Returns {output index: {"S1", "S1_conf", "ST", "ST_conf"} arrays over the inputs}.
    """
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    x = sample.sample(problem, n, calc_second_order=False, seed=seed)
    y = np.atleast_2d(np.asarray(evaluate(x), dtype=float).T).T
    out = {}
    for j in range(y.shape[1]):
        column = y[:, j]
        if not np.isfinite(column).all():  # failed runs: the median keeps the estimator defined; reported
            column = np.where(np.isfinite(column), column, np.nanmedian(column))
        result = analyze.analyze(problem, column, calc_second_order=False, seed=seed, print_to_console=False)
        out[j] = {k: np.asarray(result[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    return out


class GoalIndicators:
    """The function whose Sobol indices are taken: the goal indicators of a scenario's runs at points of the
    unit hypercube of its uncertain inputs, run through the kernel ``BLOCK_RUNS`` at a time. ``names`` labels
    the hypercube's axes (the columns of one posterior table share an axis); ``failed`` counts failed runs."""

    def __init__(self, model: Model, scenario: Scenario, goals: list[dict], progress: bool = True):
        self.model, self.scenario, self.goals, self.progress = model, scenario, goals, progress
        self.columns, self.names = unit_columns(scenario.uncertain)
        self.variables = sorted(indicator_variables(goals))
        self.failed = 0

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """(points x goals) indicators at the (points x axes) unit numbers ``u``."""
        from tqdm import tqdm

        from ..goals import indicator

        model, scenario = self.model, self.scenario
        values = np.column_stack([values_at(d, u[:, self.columns[j]]) for j, d in enumerate(scenario.uncertain)])
        out = []
        for start in tqdm(
            range(0, len(u), BLOCK_RUNS), unit="block of 20k runs", disable=not self.progress, desc="runs"
        ):
            inputs = scenario.inputs(model, runs=min(BLOCK_RUNS, len(u) - start))
            apply(inputs, scenario.uncertain, values[start : start + BLOCK_RUNS])
            result = simulate(model, inputs, scenario.time, scenario.method, record=self.variables, on_error="nan")
            self.failed += len(result.failed)
            ds = to_dataset(result, runs=True)
            out.append(np.column_stack([indicator(ds, g["indicator"])[0].values for g in self.goals]))
        return np.vstack(out)


def index_rows(indices: dict, goals: list[dict], names: list[str]) -> list[dict]:
    """One record per goal and input: its first- and total-order indices with their confidence intervals."""
    rows = []
    for j, goal in enumerate(goals):
        r = indices[j]
        for k, name in enumerate(names):
            rows.append(
                {
                    "goal": goal["id"],
                    "input": name,
                    "S1": float(r["S1"][k]),
                    "S1_conf": float(r["S1_conf"][k]),
                    "ST": float(r["ST"][k]),
                    "ST_conf": float(r["ST_conf"][k]),
                }
            )
    return rows


def precision_warning(table, runs: int) -> str | None:
    """Why the indices may be unstable (too few base samples, or wide intervals), or None."""
    widest = float(table.ST_conf.max())
    if widest > 0.05 or runs < 1024:
        return (
            f"N = {runs} may be too small for stable indices: the widest 95 % confidence interval of a "
            f"total-order index is ±{widest:.3f} (see SALib issue #599); try --runs {max(1024, 4 * runs)}"
        )
    return None


def most_influential(table, goal: str, n: int):
    """The ``n`` inputs with the largest total-order index on a goal's indicator."""
    return table[table.goal == goal].sort_values("ST", ascending=False).head(n)


def report(
    scenario: Scenario,
    goals: list[dict],
    table,
    runs: int,
    n_runs: int,
    failed: int,
    seconds: float,
    warning: str | None,
) -> str:
    """report.md: per goal, the most influential inputs with their indices."""
    lines = [
        f"# Sobol sensitivity: `{scenario.name}`",
        "",
        f"N = {runs} ({n_runs} runs, {failed} failed, {seconds:.1f} s), Saltelli sampling, "
        "first-order (S1) and total-order (ST) indices with 95 % confidence intervals.",
        "",
    ]
    if warning:
        lines += [f"**Warning:** {warning}.", ""]
    for goal in goals:
        lines += [f"## {goal['id']}: {goal['description']}", "", "| input | S1 | ST |", "|---|---|---|"]
        lines += [
            f"| {r.input} | {r.S1:.3f} ± {r.S1_conf:.3f} | {r.ST:.3f} ± {r.ST_conf:.3f} |"
            for r in most_influential(table, goal["id"], 8).itertuples()
        ]
        lines.append("")
    return "\n".join(lines)


def sensitivity_outputs(
    model: Model,
    scenario: Scenario,
    folder: Path,
    runs: int = 512,
    seed: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> int:
    """Sobol indices of every goal indicator over the scenario's uncertain inputs, written into ``folder``."""
    import pandas as pd

    from ..files import check_target, sayer, staging, write_json
    from ..goals import load_goals
    from ..present import plots

    check_target(folder, overwrite)
    scenario.require_uncertain("add an uncertain: block (e.g. assumed_parameters: uniform)")
    say = sayer(quiet)
    goals = load_goals(scenario.goals)
    evaluate = GoalIndicators(model, scenario, goals, progress=not quiet)
    names = evaluate.names
    n_runs = runs * (len(names) + 2)
    say(
        f"{scenario.name}: Sobol indices of {len(goals)} goal indicators over {len(names)} inputs, "
        f"N = {runs} ({n_runs} runs) ..."
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        indices = sobol_indices(evaluate, names, runs, seed)
    elapsed = time.perf_counter() - started
    rows = index_rows(indices, goals, names)
    table = pd.DataFrame(rows)
    warning = precision_warning(table, runs)
    if warning:
        say(f"warning: {warning}")
    with staging(folder, overwrite) as tmp:
        table.to_csv(tmp / "sobol.csv", index=False)
        write_json(
            {
                "scenario": scenario.name,
                "N": runs,
                "runs": n_runs,
                "failed_runs": evaluate.failed,
                "seconds": elapsed,
                "warning": warning,
                "indices": rows,
            },
            tmp / "sobol.json",
        )
        plots.sobol_bars(table, path=tmp / "sobol.png", title=f"Sobol indices: {scenario.name} (N = {runs})")
        (tmp / "report.md").write_text(
            report(scenario, goals, table, runs, n_runs, evaluate.failed, elapsed, warning), encoding="utf-8"
        )
    say(f"done in {elapsed:.1f} s; outputs in {folder}/")
    for goal in goals:
        top = most_influential(table, goal["id"], 3)
        say(f"  {goal['id']:<30} " + ", ".join(f"{r.input} (ST {r.ST:.2f})" for r in top.itertuples()))
    return 0
