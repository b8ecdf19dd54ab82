"""Scenario discovery: in which futures does a plan goal fail? (Bryant & Lempert 2010.)

The scenario's ensemble is run (or resumed) as ``simulate`` runs it. The uncertain inputs are ranked by how
differently they are distributed in the futures where the goal fails and where it is met (the
Kolmogorov-Smirnov distance); PRIM (the ``prim`` package, a port of the EMA Workbench's) then looks, over the
``CANDIDATES`` highest-ranked inputs, for a box where the goal fails much more often than overall. Its
peeling trajectory trades coverage (the share of all failing futures inside the box) against density (the
share of the futures in the box that fail). Of the boxes that restrict something and fail more often than
all futures do, the one reported has the largest coverage among those of density at least ``--density``
(or halfway from the failure rate to 1, when the failure rate is already that high), or, when none reaches it,
is the densest that still holds half the failures; each restriction comes with its quasi-p value (a binomial
test of whether it matters).
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import Model
from ..errors import OutputError
from ..inputs.scenario import Scenario

CANDIDATES = 4  # inputs PRIM may restrict: an economist reads a box of a few conditions
SIGNIFICANCE = 0.05  # a limit whose quasi-p value (Bryant & Lempert 2010) is above this is flagged in the sentence


@dataclass
class DiscoverOptions:
    goal: str
    runs: int | None = None
    seed: int | None = None
    density: float = 0.5
    workers: int | None = None
    overwrite: bool = False
    quiet: bool = False


def failing_futures(
    model: Model,
    scenario: Scenario,
    goal: dict,
    work: Path,
    runs=None,
    seed=None,
    workers=None,
    progress=True,
    say=print,
):
    """Run (or resume) the ensemble in ``work``: (inputs per kept run as a DataFrame, goal failed per kept
    run, number of runs excluded as failed or implausible)."""
    import pandas as pd

    from ..goals import per_run
    from . import store
    from .runner import make_plan, run_plan

    plan = make_plan(model, scenario, runs=runs, seed=seed)
    run_plan(model, plan, work, workers=workers, progress=progress, say=say)
    ds = store.open_runs(work)
    keep = (ds["failed"].values == 0) & (ds["implausible"].values == 0)
    values, met = per_run(ds[[n for n in ds.data_vars if n not in ("failed", "implausible")]], [goal])[goal["id"]]
    if values is None:
        raise OutputError(f"the goal {goal['id']} cannot be evaluated on this scenario: {met}")
    samples = store.samples(work, plan).rows(0, plan.runs)
    labels = [d.label or d.target for d in scenario.uncertain]
    inputs = pd.DataFrame(samples, columns=labels).loc[:, lambda df: ~df.columns.duplicated(keep="last")]
    inputs = inputs.loc[:, inputs.std() > 0]  # an input that does not vary cannot bound a box
    inputs.attrs["units"] = {
        d.label or d.target: "x its path" if d.ref.multiplier else model.variables[d.target].units
        for d in scenario.uncertain
    }
    return inputs[keep].reset_index(drop=True), ~np.asarray(met, bool)[keep], int((~keep).sum())


def ranking(inputs, failed: np.ndarray) -> list[tuple[str, float]]:
    """Inputs by the Kolmogorov-Smirnov distance between their values in failing and in other futures."""
    from scipy.stats import ks_2samp

    distance = {
        c: float(ks_2samp(inputs[c].values[failed], inputs[c].values[~failed]).statistic) for c in inputs.columns
    }
    return sorted(distance.items(), key=lambda kv: -kv[1])


def find_box(inputs, failed: np.ndarray, density: float) -> dict:
    """PRIM on the failing futures over the highest-ranked inputs: the peeling trajectory and the chosen
    box's limits."""
    import prim

    ranked = ranking(inputs, failed)
    chosen_inputs = [name for name, _ in ranked[:CANDIDATES]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the prim package's pandas idioms are deprecated, not wrong
        engine = prim.Prim(inputs[chosen_inputs], failed.astype(int), threshold=0.5, threshold_type=">")
        box = engine.find_box()
        trajectory = [
            {
                "coverage": float(r["coverage"]),
                "density": float(r["density"]),
                "mass": float(r["mass"]),
                "restricted": int(r["res dim"]),
            }
            for _, r in box.peeling_trajectory.iterrows()
        ]
        base = trajectory[0]["density"]  # box 0 is every future: its density is the failure rate
        boxes = [i for i, t in enumerate(trajectory) if t["restricted"] > 0 and t["density"] > base]
        wanted = max(density, (1 + base) / 2) if base >= density else density  # above the failure rate
        dense = [i for i in boxes if trajectory[i]["density"] >= wanted]
        half = [i for i in boxes if trajectory[i]["coverage"] >= 0.5] or boxes or [0]
        chosen = (
            max(dense, key=lambda i: (trajectory[i]["coverage"], -i))
            if dense
            else max(half, key=lambda i: (trajectory[i]["density"], -i))
        )
        box.select(chosen)
        limits = box.limits
    low, high = inputs.min(), inputs.max()
    units = inputs.attrs.get("units", {})
    restrictions = [
        {
            "input": name,
            "min": float(row["min"]),
            "max": float(row["max"]),
            "units": units.get(name, ""),
            "qp": float(row["qp values"]),
            "sampled": [float(low[name]), float(high[name])],
        }
        for name, row in limits.iterrows()
    ]
    return {
        "trajectory": trajectory,
        "chosen": chosen,
        "restrictions": restrictions,
        "ranking": [{"input": name, "ks": d} for name, d in ranked[:10]],
        **trajectory[chosen],
    }


def condition(r: dict) -> str:
    """One restriction in words: below, above or between."""
    lo, hi = r["sampled"]
    span = hi - lo or 1
    units = f" {r['units']}" if r.get("units") not in (None, "", "1") else ""
    if r["min"] <= lo + 1e-9 * span:
        return f"{r['input']} is below {r['max']:.3g}{units}"
    if r["max"] >= hi - 1e-9 * span:
        return f"{r['input']} is above {r['min']:.3g}{units}"
    return f"{r['input']} is between {r['min']:.3g} and {r['max']:.3g}{units}"


def _listing(items: list[str]) -> str:
    """a; a and b; a, b and c."""
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def sentence(goal: dict, box: dict, base_rate: float) -> str:
    conditions = [condition(r) for r in box["restrictions"]]
    where = _listing(conditions) if conditions else "(no restriction found)"
    loose = [  # not significant, or no p value at all
        f"{r['input']} (quasi-p {r['qp']:.2g})" for r in box["restrictions"] if not r["qp"] <= SIGNIFICANCE
    ]
    caveat = (
        f" The limit{'s' * (len(loose) > 1)} on {_listing(loose)} {'are' if len(loose) > 1 else 'is'} not "
        f"significant at {SIGNIFICANCE:.0%}: read {'them' if len(loose) > 1 else 'it'} as a hint, not a finding."
        if loose
        else ""
    )
    return (
        f'The goal "{goal["description"]}" fails in {box["density"]:.0%} of the futures where {where} '
        f"(these futures are {box['mass']:.0%} of all and hold {box['coverage']:.0%} of the failures; "
        f"it fails in {base_rate:.0%} of all futures).{caveat}"
    )


def discover_outputs(model: Model, scenario: Scenario, folder: Path, options: DiscoverOptions) -> int:
    """``simulate discover``: the ensemble, PRIM, and discover.json, box.csv, peeling.png, report.md."""
    from ..errors import flag_error
    from ..files import check_target, lock, sayer, work_folder
    from ..goals import load_goals

    goals = {g["id"]: g for g in load_goals(scenario.goals)}
    if options.goal not in goals:
        raise flag_error("--goal", f"unknown goal {options.goal!r}; this scenario's goals: {', '.join(goals)}")
    scenario.require_uncertain(
        "every future is the same and there is nothing to discover (use a scenario with an uncertain: block)"
    )
    goal = goals[options.goal]
    say = sayer(options.quiet)
    check_target(folder, options.overwrite)
    work = work_folder(folder, "discover")
    with lock(folder):
        try:
            inputs, failed, excluded = failing_futures(
                model,
                scenario,
                goal,
                work,
                options.runs,
                options.seed,
                options.workers,
                progress=not options.quiet,
                say=say,
            )
            record = discovery(scenario, goal, inputs, failed, excluded, options.density)
            _write(record, folder, options.overwrite)
            shutil.rmtree(work)
        except OSError as exc:
            raise OutputError(f"cannot write the discovery in {folder}: {exc.strerror or exc}") from None
    say(record["sentence"])
    say(f"outputs in {folder}/")
    return 0


def discovery(scenario: Scenario, goal: dict, inputs, failed, excluded: int, density: float) -> dict:
    """discover.json: how often the goal fails, and the PRIM box where it fails most (when there is one)."""
    base_rate = float(failed.mean()) if len(failed) else None
    record = {
        "scenario": scenario.name,
        "goal": goal["id"],
        "description": goal["description"],
        "runs_kept": len(failed),
        "runs_excluded": excluded,
        "failure_rate": base_rate,
        "density_wanted": density,
    }
    if failed.sum() < 2 or failed.all():
        record["sentence"] = (
            f'The goal "{goal["description"]}" fails in {failed.sum()} of {len(failed)} futures: there is no box '
            "to find."
        )
    else:
        box = find_box(inputs, failed, density)
        record.update(box=box, sentence=sentence(goal, box, base_rate))
    return record


def _write(record: dict, folder: Path, overwrite: bool):
    """discover.json, report.md and, where PRIM found a box, box.csv and peeling.png, published at once."""
    from ..files import staged, write_json
    from ..present import search_plots

    with staged(folder, overwrite) as out:
        write_json(record, out / "discover.json")
        if "box" in record:
            search_plots.peeling(
                record["box"]["trajectory"],
                record["box"]["chosen"],
                out / "peeling.png",
                title=f"Where {record['goal']} fails ({record['runs_kept']} futures): PRIM peeling",
            )
            _box_csv(record["box"], out / "box.csv")
        (out / "report.md").write_text(_report(record), encoding="utf-8")


def _box_csv(box: dict, path: Path):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["input", "box_min", "box_max", "sampled_min", "sampled_max", "quasi_p"])
        for r in box["restrictions"]:
            writer.writerow([r["input"], r["min"], r["max"], *r["sampled"], r["qp"]])


def _report(record: dict) -> str:
    rate = "" if record["failure_rate"] is None else f"; the goal fails in {record['failure_rate']:.1%} of them"
    lines = [
        f"# Where the goal fails: {record['goal']} ({record['scenario']})",
        "",
        record["sentence"],
        "",
        f"{record['runs_kept']} futures kept ({record['runs_excluded']} excluded as failed or implausible){rate}.",
        "",
    ]
    if "box" in record:
        box = record["box"]
        lines += [
            f"PRIM box {box['chosen'] + 1} of {len(box['trajectory'])} on the peeling trajectory "
            f"(coverage {box['coverage']:.0%}, density {box['density']:.0%}, mass {box['mass']:.0%}; "
            f"wanted: density at least {record['density_wanted']:.0%}, PRIM over the {CANDIDATES} inputs ranked "
            "first below).",
            "",
            "| input | box | sampled range | quasi-p |",
            "|---|---|---|---|",
        ]
        for r in box["restrictions"]:
            lines.append(
                f"| `{r['input']}` | {r['min']:.4g} to {r['max']:.4g} | {r['sampled'][0]:.4g} to "
                f"{r['sampled'][1]:.4g} | {r['qp']:.2g} |"
            )
        lines += [
            "",
            "A quasi-p value below 0.05 says the restriction matters (a binomial test of the box with "
            "and without it). Policy multipliers are factors on the scenario's path. Plot: `peeling.png`.",
            "",
            "Inputs that differ most between failing and other futures (Kolmogorov-Smirnov distance, 0 = "
            "the same distribution, 1 = no overlap):",
            "",
            "| input | distance |",
            "|---|---|",
        ]
        lines += [f"| `{r['input']}` | {r['ks']:.2f} |" for r in box["ranking"]]
        lines.append("")
    return "\n".join(lines)
