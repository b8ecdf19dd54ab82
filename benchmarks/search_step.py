"""The policy search's time step: how far a coarser integration step moves what a search scores, and how much
faster it is, on scenarios/plan_search.yaml.

The plan as written and 20 random policies (lever values drawn uniformly in their ranges) are scored over the
same 1,000 futures (the search's own sampling and seed) by the search's Evaluator — kernel, goals and
plausibility flags — with RK4 at dt 1/4 (the reference), and with plan_search's partitioned method at dt 1/2
(plan_uncertain's step) and at dt 1 (the generations' step). For each, it reports the largest change of any
goal's probability against the reference (also in units of that probability's Monte Carlo standard error over
the futures), the largest relative change of any other objective, and the runs per second on all threads.

    python -m benchmarks.search_step [--futures N] [--policies N]

Prints a table and writes it as JSON, with the machine's description, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from benchmarks.peers import ROOT, write_result

STEPS = (("rk4", 0.25), ("partitioned", 0.5), ("partitioned", 1.0))  # the first is the reference


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--futures", type=int, default=1000, help="futures each policy is scored over")
    parser.add_argument("--policies", type=int, default=20, help="random policies besides the plan as written")
    args = parser.parse_args(argv)

    import simulator
    from simulator.analysis.search import Evaluator, lever_values, sample_futures
    from simulator.model import load_model

    model = load_model()
    scenario = simulator.load_scenario(ROOT / "scenarios" / "plan_search.yaml")
    spec = scenario.search
    futures = sample_futures(scenario, args.futures, spec.seed)
    policies = lever_values(spec, np.random.default_rng(0).random((args.policies, len(spec.levers))))
    scored, rows = {}, []
    for method, dt in STEPS:
        evaluate = Evaluator(model, dataclasses.replace(scenario, method=method), futures, dt=dt)
        evaluate(policies[:1])  # compile outside the timing
        print(f"scoring with {method} at dt {dt:g} ...", flush=True)
        start = time.perf_counter()
        written, chosen = evaluate(None), evaluate(policies)
        seconds = time.perf_counter() - start
        probabilities = np.vstack([written.probabilities, chosen.probabilities])
        objectives = np.vstack([written.objectives, chosen.objectives])
        scored[method, dt] = probabilities, objectives
        reference_p, reference_o = scored[STEPS[0]]
        # per policy and goal; a probability of 0 or 1 counts as half a future away from it
        near = np.clip(reference_p, 0.5 / args.futures, 1 - 0.5 / args.futures)
        error = np.sqrt(near * (1 - near) / args.futures)
        moved = np.abs(probabilities - reference_p)
        measured = [k for k, o in enumerate(spec.objectives) if not o.goal]
        rows.append(
            {
                "method": method,
                "dt": dt,
                "runs_per_second": (1 + len(policies)) * args.futures / seconds,
                "largest_probability_change": float(np.nanmax(moved)),
                "largest_change_in_standard_errors": float(np.nanmax(moved / error)),
                "largest_relative_objective_change": float(
                    np.nanmax(np.abs(objectives[:, measured] / reference_o[:, measured] - 1))
                )
                if measured
                else 0.0,
            }
        )
    print(f"\n{'integration':<22} {'runs/s':>8} {'max |dP|':>9} {'in SE':>6} {'max objective change':>21}")
    for r in rows:
        print(
            f"{r['method'] + ' dt ' + format(r['dt'], 'g'):<22} {r['runs_per_second']:>8.0f} "
            f"{r['largest_probability_change']:>9.4f} {r['largest_change_in_standard_errors']:>6.2f} "
            f"{r['largest_relative_objective_change']:>20.4%}"
        )
    print(
        f"\n(the plan as written and {len(policies)} random policies over {args.futures} futures; changes against "
        f"RK4 at dt 1/4; SE: a probability's Monte Carlo standard error over the futures; runs/s include goals)"
    )
    write_result("search-step", {"futures": args.futures, "policies": len(policies), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
