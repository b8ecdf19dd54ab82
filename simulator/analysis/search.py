"""Policy search: which mix of levers gives the plan its best chance across uncertain futures.

Robust decision making (Lempert et al. 2006; many-objective robust optimisation, Kasprzyk et al. 2013): a
scenario's ``search:`` block names the levers, the objectives and the constraints; pymoo's NSGA-II proposes
candidate policies, and each candidate is scored over the same futures (common random numbers), drawn once
from the scenario's ``uncertain:`` block. A whole generation x futures goes through the batch kernel at once,
at the search's own time step if it names one (``search: dt``); the policies reported, and the scenario as
written, are scored at the scenario's.
The search checkpoints after every generation, so the same command resumes it; for a seed it is
deterministic.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..engine import InputRef, Model, simulate, to_dataset
from ..errors import OutputError
from ..files import json_number
from ..inputs.scenario import Distribution, Scenario, SearchSpec
from .sampling import Samples, apply

WORK_ENTRIES = {"manifest.json", "futures.bin", "futures.tmp", "state.pkl", "state.tmp"}
BLOCK_RUNS = 20_000  # runs per kernel call (memory stays bounded whatever the generation size)
MISSING = 1e300  # a minimised objective that could not be computed (no future kept): the worst there is


@dataclass
class Scores:
    """A batch of candidate policies scored over the futures."""

    objectives: np.ndarray  # (candidates, objectives), in the objectives' own sense and units
    probabilities: np.ndarray  # (candidates, goals): P(goal met) over the kept futures
    kept: np.ndarray  # (candidates,): futures neither failed nor implausible


class Evaluator:
    """Scores candidate policies (rows of lever values) over a fixed set of futures."""

    def __init__(self, model: Model, scenario: Scenario, futures: np.ndarray, n_threads: int | None = None, dt=None):
        """``dt``: the integration step, years (None: the scenario's)."""
        from ..api import recorded_variables
        from ..goals import load_goals
        from .plausibility import guarded

        self.model, self.scenario, self.spec = model, scenario, scenario.search
        self.futures = futures  # (futures, uncertain inputs), drawn once
        self.goals = load_goals(scenario.goals)
        self.goal_ids = [g["id"] for g in self.goals]
        chosen = [o.variable for o in self.spec.objectives if o.variable]
        self.record = recorded_variables(model, scenario, chosen, every_limit_variable=False)
        self.guarded = guarded(model, self.record)
        self.levers = [
            Distribution(lever.target, "lever", {}, lever.element, lever.label) for lever in self.spec.levers
        ]
        self.base = scenario.inputs(model)
        self.time = scenario.time if dt is None else replace(scenario.time, dt=dt)
        self.n_threads = n_threads

    def __call__(self, values: np.ndarray | None) -> Scores:
        """``values``: (candidates, levers) lever values; None scores the scenario as written (no lever set)."""
        candidates = 1 if values is None else len(values)
        n = len(self.futures)
        per_block = max(1, BLOCK_RUNS // n)
        parts = [
            self._block(None if values is None else values[i : i + per_block]) for i in range(0, candidates, per_block)
        ]
        return Scores(*(np.concatenate(p) for p in zip(*parts)))

    def _block(self, values):
        from ..goals import per_run
        from .plausibility import flags

        model, n = self.model, len(self.futures)
        candidates = 1 if values is None else len(values)
        inputs = self.base.with_runs(candidates * n)
        apply(inputs, self.scenario.uncertain, np.tile(self.futures, (candidates, 1)))
        if values is not None:  # a parameter lever sets the value; a policy lever multiplies the path (and its draw)
            values = np.repeat(values, n, axis=0)
            for scale in (False, True):
                chosen = [j for j, lever in enumerate(self.levers) if lever.ref.multiplier == scale]
                apply(inputs, [self.levers[j] for j in chosen], values[:, chosen], scale=scale)
        result = simulate(
            model,
            inputs,
            self.time,
            self.scenario.method,
            record=self.record,
            dtype=np.float32,
            on_error="nan",
            n_threads=self.n_threads,
        )
        keep = ~np.isin(np.arange(candidates * n), result.failed)  # futures that neither failed nor left a
        keep &= flags(model, self.guarded, result.values, result.labels) == 0  # plausible range
        keep = keep.reshape(candidates, n)
        kept = keep.sum(axis=1)
        ds = to_dataset(result, runs=True)
        met = per_run(ds, self.goals)
        probabilities = np.full((candidates, len(self.goals)), np.nan)
        for g, gid in enumerate(self.goal_ids):
            indicator, ok = met[gid]
            if indicator is not None:
                ok = np.asarray(ok, bool).reshape(candidates, n)
                probabilities[:, g] = np.where(kept > 0, (ok & keep).sum(axis=1) / np.maximum(kept, 1), np.nan)
        objectives = np.empty((candidates, len(self.spec.objectives)))
        for k, objective in enumerate(self.spec.objectives):
            if objective.goal:
                objectives[:, k] = probabilities[:, self.goal_ids.index(objective.goal)]
            else:
                data = ds[objective.variable].sel(time=objective.year)
                total = (data.sum([d for d in data.dims if d != "run"]) if data.ndim > 1 else data).values
                total = np.where(keep, total.reshape(candidates, n), np.nan)
                with warnings.catch_warnings():  # a candidate with no kept future has no mean: NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    objectives[:, k] = np.nanmean(total, axis=1)
        return objectives, probabilities, kept


# ------------------------------------------------------------------------------------------------
# the search


def minimised(spec: SearchSpec, objectives: np.ndarray) -> np.ndarray:
    """Objectives as pymoo minimises them (maximised ones negated; a missing value is the worst)."""
    signs = np.array([-1.0 if o.sense == "max" else 1.0 for o in spec.objectives])
    out = objectives * signs
    return np.where(np.isfinite(out), out, MISSING)


def violations(spec: SearchSpec, goal_ids: list[str], probabilities: np.ndarray) -> np.ndarray:
    """Constraint values as pymoo reads them (<= 0 satisfied): least probability minus the probability."""
    if not spec.constraints:
        return np.zeros((len(probabilities), 0))
    return np.column_stack(
        [least - np.nan_to_num(probabilities[:, goal_ids.index(goal)], nan=0.0) for goal, least in spec.constraints]
    )


def hypervolume(front: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Hypervolume of a front of minimised objectives, normalised to [low, high] per objective (reference
    point 1.1 in every normalised objective)."""
    from pymoo.indicators.hv import HV

    if not len(front):
        return 0.0
    scaled = (front - low) / np.where(high > low, high - low, 1.0)  # gains beyond the frame count in full
    return float(HV(ref_point=np.full(front.shape[1], 1.1))(np.minimum(scaled, 1.1)))


@dataclass
class SearchOptions:
    futures: int | None = None
    generations: int | None = None
    seed: int | None = None
    workers: int | None = None
    overwrite: bool = False
    quiet: bool = False


def manifest(scenario: Scenario, spec: SearchSpec) -> dict:
    from ..api import resolved_yaml

    return {
        "scenario": resolved_yaml(scenario),
        "futures": spec.futures,
        "generations": spec.generations,
        "population": spec.population,
        "seed": spec.seed,
        "sampling": sampling(scenario),
    }


def sampling(scenario: Scenario) -> str:
    """How the futures are drawn: as the scenario's ensembles draw them, so that `simulate POLICY.yaml
    --runs FUTURES --seed SEED` runs the same futures."""
    return scenario.monte_carlo.sampling


def with_options(spec: SearchSpec, options: SearchOptions) -> SearchSpec:
    changes = {k: getattr(options, k) for k in ("futures", "generations", "seed") if getattr(options, k) is not None}
    return replace(spec, **changes)


def run_search(
    model: Model, scenario: Scenario, work: Path, spec: SearchSpec, workers=None, progress=True, say=print
) -> dict:
    """Run (or resume) the search in ``work``; returns the record that search.json holds."""
    from pymoo.core.problem import Problem
    from tqdm import tqdm

    futures = draw_futures(work, scenario, spec, say)
    evaluate = Evaluator(model, scenario, futures, n_threads=workers)  # what is reported: the scenario's own dt
    own_step = spec.dt not in (None, scenario.time.dt)  # the generations integrate at a step of their own
    screen = Evaluator(model, scenario, futures, n_threads=workers, dt=spec.dt) if own_step else evaluate
    problem = Problem(
        n_var=len(spec.levers), n_obj=len(spec.objectives), n_ieq_constr=len(spec.constraints), xl=0.0, xu=1.0
    )
    state_path = work / "state.pkl"
    if state_path.exists():
        with open(state_path, "rb") as fh:
            state = pickle.load(fh)
        say(f"  resuming: {len(state['history'])} of {spec.generations} generations already done")
    else:
        state = new_state(problem, spec, evaluate)
    bar = tqdm(
        total=spec.generations,
        initial=len(state["history"]),
        unit="generation",
        disable=not progress,
        desc="generations",
    )
    try:
        while state["algorithm"].has_next():
            started = time.perf_counter()
            evaluations = run_generation(state, problem, spec, screen)
            state["runs"] += evaluations * spec.futures
            state["seconds"] += time.perf_counter() - started
            tmp = work / "state.tmp"
            with open(tmp, "wb") as fh:
                pickle.dump(state, fh)
            os.replace(tmp, state_path)  # a generation is done only once its checkpoint is on disk
            bar.update(1)
    finally:
        bar.close()
    return pareto_record(spec, evaluate, state)


def draw_futures(work: Path, scenario: Scenario, spec: SearchSpec, say=print) -> np.ndarray:
    """The futures every candidate is scored over, (futures x uncertain inputs): drawn once into ``work``
    (kept when ``work`` was set up for the same search, which then resumes)."""
    from ..files import resume_or_start

    wanted = manifest(scenario, spec)
    if resume_or_start(work, wanted, WORK_ENTRIES, "a search", say):
        Samples.write(work / "futures.bin", scenario.uncertain, spec.futures, spec.seed, sampling(scenario))
        (work / "manifest.json").write_text(json.dumps(wanted))  # last: its presence means the setup is complete
    return Samples(work / "futures.bin", spec.futures, len(scenario.uncertain)).rows(0, spec.futures)


def sample_futures(scenario: Scenario, count: int, seed: int) -> np.ndarray:
    """``count`` futures drawn as a search draws them, without a work folder (for checks and benchmarks)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "futures.bin"
        Samples.write(path, scenario.uncertain, count, seed, sampling(scenario))
        return Samples(path, count, len(scenario.uncertain)).rows(0, count)


def new_state(problem, spec: SearchSpec, evaluate: Evaluator) -> dict:
    """A search not yet begun: NSGA-II set up for the seed, an empty history, and the scenario as written
    scored over the futures (the reference the policies are read against)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2

    algorithm = NSGA2(pop_size=spec.population)
    algorithm.setup(problem, termination=("n_gen", spec.generations), seed=spec.seed % 2**32, verbose=False)
    reference = evaluate(None)
    return {
        "algorithm": algorithm,
        "history": [],
        "scale": None,
        "runs": 0,
        "seconds": 0.0,
        "reference": {
            "objectives": reference.objectives[0].tolist(),
            "probabilities": reference.probabilities[0].tolist(),
            "kept": int(reference.kept[0]),
        },
    }


def run_generation(state: dict, problem, spec: SearchSpec, evaluate: Evaluator) -> int:
    """One generation: NSGA-II's candidates scored over the futures and told to it, and the hypervolume of
    its feasible front added to the history. Returns the number of candidates scored."""
    from pymoo.core.evaluator import Evaluator as PymooEvaluator
    from pymoo.problems.static import StaticProblem

    algorithm = state["algorithm"]
    population = algorithm.ask()
    u = population.get("X")
    scores = evaluate(lever_values(spec, u))
    F, G = minimised(spec, scores.objectives), violations(spec, evaluate.goal_ids, scores.probabilities)
    PymooEvaluator().eval(
        StaticProblem(problem, F=F, G=G) if len(spec.constraints) else StaticProblem(problem, F=F), population
    )
    algorithm.tell(infills=population)
    finite = F[np.all(F < MISSING, axis=1)]
    if state["scale"] is None and len(finite):  # the hypervolume's fixed frame: the first range seen
        state["scale"] = (finite.min(axis=0).tolist(), finite.max(axis=0).tolist())
    front = algorithm.opt.get("F")
    feasible = algorithm.opt.get("FEAS").ravel() if len(spec.constraints) else np.ones(len(front), bool)
    state["history"].append(
        {
            "generation": len(state["history"]) + 1,
            "evaluations": len(u),
            "hypervolume": hypervolume(front[feasible], *map(np.array, state["scale"])) if state["scale"] else 0.0,
            "feasible_in_front": int(feasible.sum()),
            "front_size": len(front),
        }
    )
    return len(u)


def lever_values(spec: SearchSpec, u: np.ndarray) -> np.ndarray:
    return np.column_stack([lever.values(u[:, j]) for j, lever in enumerate(spec.levers)])


def rescored_front(F: np.ndarray, violation: np.ndarray) -> tuple[np.ndarray, dict]:
    """The policies to report once re-scored (at the scenario's own dt, which may differ from the
    generations'), best first by the first objective, and how many were dropped and why. ``F``: the minimised
    objectives; ``violation``: each policy's total shortfall from its constraints (0 when it meets them).
    Those that meet the constraints and no other such policy dominates; if none meets them, those no other
    dominates on the objectives and the violation together (nearly feasible ones are kept)."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    met = violation <= 0
    pool = np.flatnonzero(met) if met.any() else np.arange(len(F))
    criteria = F[pool] if met.any() else np.column_stack([F, violation])
    front = np.sort(pool[NonDominatedSorting().do(criteria, only_non_dominated_front=True)])
    dropped = {"constraints": int(len(F) - len(pool)), "dominated": int(len(pool) - len(front))}
    return front[np.argsort(F[front, 0], kind="stable")], dropped


def pareto_record(spec: SearchSpec, evaluate: Evaluator, state: dict) -> dict:
    """The search's result: the non-dominated policies (re-scored on the same futures, so every goal's
    probability is reported), the scenario as written, and the convergence."""
    algorithm = state["algorithm"]
    opt = algorithm.opt
    u = opt.get("X")
    if len(spec.constraints):
        u = u[opt.get("FEAS").ravel()] if opt.get("FEAS").any() else u
    values = lever_values(spec, u)
    order = np.lexsort(values.T[::-1])
    values = values[order]
    _, unique = np.unique(values, axis=0, return_index=True)
    values = values[np.sort(unique)]
    scores = evaluate(values)
    violation = violations(spec, evaluate.goal_ids, scores.probabilities)
    met = (violation <= 0).all(axis=1)
    rank, dropped = rescored_front(minimised(spec, scores.objectives), np.maximum(violation, 0).sum(axis=1))
    policies = []
    for i in rank:
        policies.append(
            {
                "levers": {lever.label: float(values[i, j]) for j, lever in enumerate(spec.levers)},
                "objectives": {o.label: json_number(scores.objectives[i, k]) for k, o in enumerate(spec.objectives)},
                "probabilities": {
                    gid: json_number(scores.probabilities[i, g]) for g, gid in enumerate(evaluate.goal_ids)
                },
                "futures_kept": int(scores.kept[i]),
                "constraints_met": bool(met[i]),
            }
        )
    reference = state["reference"]
    return {
        "levers": [
            {
                "label": lever.label,
                "target": lever.target,
                "element": lever.element,
                "low": lever.low,
                "high": lever.high,
                "choices": list(lever.choices),
            }
            for lever in spec.levers
        ],
        "objectives": [
            {"label": o.label, "sense": o.sense, "goal": o.goal, "variable": o.variable, "year": o.year}
            for o in spec.objectives
        ],
        "constraints": [{"goal": goal, "at_least": least} for goal, least in spec.constraints],
        "futures": spec.futures,
        "generations": spec.generations,
        "population": spec.population,
        "seed": spec.seed,
        "time_step": {"generations": spec.dt or evaluate.time.dt, "scores": evaluate.time.dt},  # years
        "dropped_when_rescored": dropped,
        "as_written": {
            "objectives": {o.label: json_number(v) for o, v in zip(spec.objectives, reference["objectives"])},
            "probabilities": {gid: json_number(p) for gid, p in zip(evaluate.goal_ids, reference["probabilities"])},
            "futures_kept": reference["kept"],
        },
        "pareto": policies,
        "history": state["history"],
        "runs": state["runs"],
        "seconds": state["seconds"],
    }


# ------------------------------------------------------------------------------------------------
# outputs


def search_outputs(model: Model, scenario: Scenario, folder: Path, options: SearchOptions) -> int:
    """``simulate search``: run (or resume) the search and write its outputs into ``folder``."""
    from ..errors import InputError, Problem
    from ..files import check_target, lock, sayer, staged, work_folder

    if scenario.search is None:
        raise InputError(
            Problem(
                str(scenario.path),
                None,
                "search",
                'the scenario has no search: block (levers, objectives; README, "Policy search")',
            )
        )
    spec = with_options(scenario.search, options)
    say = sayer(options.quiet)
    check_target(folder, options.overwrite)
    work = work_folder(folder, "search")
    with lock(folder):
        say(
            f"{scenario.name}: search of {len(spec.levers)} levers, {spec.population} policies a generation x "
            f"{spec.futures} futures x {spec.generations} generations (NSGA-II, seed {spec.seed})"
        )
        try:
            record = run_search(
                model, scenario, work, spec, workers=options.workers, progress=not options.quiet, say=say
            )
            with staged(folder, options.overwrite) as out:
                write_search(record, scenario, model, out)
            shutil.rmtree(work)
        except OSError as exc:  # the finished generations stay in the work folder: the same command resumes
            raise OutputError(
                f"cannot write the search in {work}: {exc.strerror or exc}; free room or fix it and "
                "run the same command again to resume"
            ) from None
    say(
        f"{scenario.name}: {record['runs']:,} runs in {record['seconds']:.1f} s "
        f"({record['runs'] / max(record['seconds'], 1e-9):,.0f} runs/s); {len(record['pareto'])} policies on the "
        f"Pareto front; outputs in {folder}/"
    )
    for line in summary_lines(record)[:4]:
        say("  " + line)
    return 0


def summary_lines(record: dict) -> list[str]:
    """The scenario as written, then the best policies by the first objective, one line each."""
    labels = [o["label"] for o in record["objectives"]]

    def show(objectives):
        return ", ".join(f"{label} {_fmt(objectives[label], label)}" for label in labels)

    lines = [f"as written:  {show(record['as_written']['objectives'])}"]
    for i, policy in enumerate(record["pareto"][:3], 1):
        lines.append(f"policy {i:>2}:   {show(policy['objectives'])}")
    return lines


def _fmt(value, label: str) -> str:
    from ..present.search_plots import number

    return number(value, label, digits=4)


def policy_yaml(record: dict, index: int, scenario: Scenario, model: Model, folder: Path) -> str:
    """A ready-to-run scenario: ``extends:`` the searched scenario, with one Pareto policy's levers written
    out in full — every element of a parameter, and every element's path of a policy as the searched scenario
    has it from its start year, times the lever where one applies."""
    import yaml

    policy = record["pareto"][index]
    parameters: dict[str, np.ndarray] = {}
    paths: dict[str, list] = {}
    for lever, value in zip(record["levers"], policy["levers"].values()):
        ref = InputRef.parse(lever["target"], lever["element"])
        name, element = ref.name, ref.element
        if ref.multiplier:
            points = paths.setdefault(
                name,
                [
                    (np.asarray(xs, float), np.asarray(ys, float))
                    for xs, ys in (scenario.policies.get(name) or model.variables[name].points)
                ],
            )
            for k in range(len(points)) if element is None else [element]:
                points[k] = (points[k][0], points[k][1] * value)
        else:
            default = scenario.parameters.get(name, model.variables[name].value)
            values = parameters.setdefault(name, np.array(default, float).reshape(-1).copy())
            values[slice(None) if element is None else element] = value
    start = scenario.time.start
    body = {}
    if parameters:
        body["parameters"] = {
            name: by_element(model, name, [float(v) for v in values]) for name, values in parameters.items()
        }
    if paths:
        body["policies"] = {
            name: by_element(model, name, [from_start(xs, ys, start) for xs, ys in points])
            for name, points in paths.items()
        }
    base = os.path.relpath(Path(scenario.path).resolve(), (folder / "policies").resolve())
    probabilities = ", ".join(f"{k} {v:.0%}" for k, v in policy["probabilities"].items() if v is not None)
    head = [
        f"# Policy {index + 1} of the Pareto set found by `simulate search` (seed {record['seed']}, "
        f"{record['futures']} futures; `simulate THIS_FILE --runs {record['futures']} --seed {record['seed']}` "
        "runs the same futures).",
        f"# Over those futures: {probabilities}.",
        f"name: {scenario.name}_policy_{index + 1:02d}",
        f"extends: {base}",
    ]
    return "\n".join(head) + "\n" + yaml.safe_dump(body, sort_keys=False)


def by_element(model: Model, name: str, values: list):
    """Per-element values of an input as the scenario YAML nests them ({hohhot: ..., baotou: ...})."""
    var = model.variables[name]
    if not var.dims:
        return values[0]
    out: dict = {}
    for k, value in enumerate(values):
        keys = [model.spec.elements(d)[i] for d, i in zip(var.dims, np.unravel_index(k, model.shape(name)))]
        entry = out
        for key in keys[:-1]:
            entry = entry.setdefault(key, {})
        entry[keys[-1]] = value
    return out


def from_start(xs: np.ndarray, ys: np.ndarray, start: float) -> dict:
    """A path as {year: value} from the start year on (its value at the start year, then its later points)."""
    later = xs > start
    return {_year(start): float(np.interp(start, xs, ys)), **{_year(x): float(y) for x, y in zip(xs[later], ys[later])}}


def _year(x: float):
    return int(x) if float(x).is_integer() else float(x)


def write_search(record: dict, scenario: Scenario, model: Model, out: Path):
    """search.json, pareto.csv, policies/*.yaml, the plots and report.md."""
    import csv

    from ..files import write_json
    from ..present import search_plots

    write_json(record, out / "search.json")
    goal_ids = list(record["as_written"]["probabilities"])
    with open(out / "pareto.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        levers = [lever["label"] for lever in record["levers"]]
        objectives = [o["label"] for o in record["objectives"] if not o["goal"]]  # goals: in their P(...) column
        writer.writerow(["policy", *levers, *objectives, *(f"P({g})" for g in goal_ids), "futures_kept"])
        rows = [("as_written", dict.fromkeys(levers), record["as_written"])]
        rows += [(f"policy_{i + 1:02d}", p["levers"], p) for i, p in enumerate(record["pareto"])]
        for name, lever_values, scores in rows:
            writer.writerow(
                [
                    name,
                    *(lever_values[label] for label in levers),
                    *(scores["objectives"][label] for label in objectives),
                    *(scores["probabilities"][g] for g in goal_ids),
                    scores["futures_kept"],
                ]
            )
    (out / "policies").mkdir()
    for i in range(len(record["pareto"])):
        (out / "policies" / f"policy_{i + 1:02d}.yaml").write_text(
            policy_yaml(record, i, scenario, model, out), encoding="utf-8"
        )
    search_plots.parallel_coordinates(record, out / "pareto.png", title=f"Pareto policies: {scenario.name}")
    search_plots.convergence(record, out / "convergence.png", title=f"Search convergence: {scenario.name}")
    (out / "report.md").write_text(report(record, scenario), encoding="utf-8")


def time_steps(steps: dict) -> str:
    """The report's words for the generations' and the scores' integration steps."""

    def years(dt):
        share = round(1 / dt) if dt < 1 else 0
        return f"1/{share} year" if share and abs(share * dt - 1) < 1e-9 else f"{dt:g} year{'s' * (dt > 1)}"

    if steps["generations"] == steps["scores"]:
        return f", integrated with a step of {years(steps['scores'])}"
    return (
        f"; the generations integrated with a step of {years(steps['generations'])}, and every number below (the "
        f"scenario as written and each Pareto policy, re-scored on the same futures) with the scenario's step of "
        f"{years(steps['scores'])}"
    )


def report(record: dict, scenario: Scenario) -> str:
    objectives = [o["label"] for o in record["objectives"] if not o["goal"]]  # goals: in their P(...) column
    goal_ids = list(record["as_written"]["probabilities"])
    constraints = "; ".join(f"P({c['goal']}) >= {c['at_least']:.0%}" for c in record["constraints"]) or "none"
    lines = [
        f"# Policy search: {scenario.name}",
        "",
        f"NSGA-II (pymoo), {record['population']} policies a generation, {record['generations']} generations, "
        f"each scored over the same {record['futures']} futures drawn from the scenario's uncertain inputs "
        f"(seed {record['seed']}); {record['runs']:,} model runs in the generations, {record['seconds']:.0f} s"
        + time_steps(record["time_step"])
        + ". Objectives: "
        + "; ".join(f"{'maximise' if o['sense'] == 'max' else 'minimise'} {o['label']}" for o in record["objectives"])
        + f". Constraints: {constraints}. A policy lever multiplies the scenario's path (1 = as written).",
        "",
        "## The best three by the first objective, against the scenario as written",
        "",
    ]
    written = record["as_written"]["objectives"]
    for i, policy in enumerate(record["pareto"][:3]):
        changes = ", ".join(
            f"{label.replace('policies.', '')} x{value:.2g}" for label, value in policy["levers"].items()
        )
        versus = "; ".join(
            f"{label} {_fmt(policy['objectives'][label], label)} (as written {_fmt(written[label], label)})"
            for label in policy["objectives"]
        )
        lines.append(f"{i + 1}. [policy {i + 1}](policies/policy_{i + 1:02d}.yaml): {changes}. {versus}.")
    if record["constraints"] and not any(p["constraints_met"] for p in record["pareto"]):
        lines += ["", "**No policy found meets the constraints**; these are the ones that come closest."]
    lines += [
        "",
        "## Every Pareto policy",
        "",
        "| policy | " + " | ".join(objectives + [f"P({g})" for g in goal_ids]) + " | futures kept |",
        "|---" * (2 + len(objectives) + len(goal_ids)) + "|",
    ]

    def row(name, scores):
        return (
            f"| {name} | "
            + " | ".join(
                [_fmt(scores["objectives"][o], o) for o in objectives]
                + [_fmt(scores["probabilities"][g], "P(") for g in goal_ids]
            )
            + f" | {scores['futures_kept']} |"
        )

    lines.append(row("as written", record["as_written"]))
    for i, policy in enumerate(record["pareto"]):
        lines.append(row(f"[{i + 1}](policies/policy_{i + 1:02d}.yaml)", policy))
    lines += [
        "",
        "Futures kept: those that neither failed nor left a plausible range; probabilities are over them. "
        "Lever values: `pareto.csv`. Each policy is a scenario in `policies/` (run it with the command in "
        "its first line to see the same futures). Plots: `pareto.png` (parallel coordinates), "
        "`convergence.png` (hypervolume by generation, from the generations' own scores).",
        "",
    ]
    dropped = record["dropped_when_rescored"]
    if any(dropped.values()):
        lines[-1:-1] = [
            "",
            f"Re-scored at the scenario's step, of the generations' final policies {dropped['constraints']} no "
            f"longer met the constraints and {dropped['dominated']} were dominated by another: they are left out.",
        ]
    return "\n".join(lines)
