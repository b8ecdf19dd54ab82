"""The EMA Workbench and our batch kernel side by side, in one process, on the plan (scenarios/plan.yaml, 2020-2035):

- EMA Workbench 2.5 (SequentialEvaluator, LHS over two uncertainties x one lever): each experiment sets
  tfp_growth and required_return (all cities) and the renewable_build multiplier, runs the plan once
  and returns the four-city GDP growth 2020-2025 (a year) and total CO2 in 2035; the model function runs
  either through the Python API (simulator.run on a copy of the plan Scenario) or straight through the
  kernel (engine.simulate on a one-run Inputs);
- the same two functions called in a plain loop, without EMA (what the workbench itself adds);
- our kernel on a batch of 2,000 runs of the same inputs (float32, NaN on failure) on 1 and 2 threads.

    python -m benchmarks.ema [--quick]

Prints a table (time per run, runs per second, ratio to our batch on 2 threads, projected wall time of 10^7
runs = 200 candidate policies x 1,000 futures x 50 generations) and writes it as JSON, with the machine's
description, to benchmarks/results/. Medians of repeated timings; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings

import numpy as np

from benchmarks.peers import ROOT, median_time, write_result

PROJECTED_RUNS = 200 * 1000 * 50
LEVER = "renewable_build.multiplier"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about 20 seconds)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    with warnings.catch_warnings():  # "ipyparallel not installed"
        warnings.simplefilter("ignore")
        import ema_workbench as ema

    import simulator
    from simulator.engine import simulate
    from simulator.model import load_model

    model = load_model()
    plan = simulator.load_scenario(ROOT / "scenarios" / "plan.yaml")
    grid, method = plan.time, plan.method
    base = plan.inputs(model)
    year = {round(t): i for i, t in enumerate(grid.times)}

    def outcomes(gdp, co2):  # (saves, 4) arrays -> the two outcomes
        growth = (gdp[year[2025]].sum() / gdp[year[2020]].sum()) ** (1 / 5) - 1
        return {"gdp_growth": float(growth), "co2_2035": float(co2[year[2035]].sum())}

    def via_api(tfp_growth, required_return, renewable_scale):
        scenario = dataclasses.replace(
            plan,
            parameters={
                **plan.parameters,
                "tfp_growth": np.full(4, tfp_growth),
                "required_return": np.full(4, required_return),
                LEVER: np.full(4, renewable_scale),
            },
        )
        ds = simulator.run(scenario, variables=["gdp", "co2"])
        return outcomes(ds["gdp"].values, ds["co2"].values)

    def via_kernel(tfp_growth, required_return, renewable_scale):
        inputs = base.with_runs(1)
        for name, value in (
            ("tfp_growth", tfp_growth),
            ("required_return", required_return),
            (LEVER, renewable_scale),
        ):
            inputs.set_parameter(name, value)
        r = simulate(model, inputs, grid, method, record=["gdp", "co2"])
        return outcomes(*(r.values[0][:, [r.column(n, k) for k in range(4)]] for n in ("gdp", "co2")))

    n_scenarios, n_policies = (10, 3) if args.quick else (10, 4)
    rows, found = [], {}

    def row(engine, seconds, note=""):
        rows.append({"engine": engine, "seconds_per_run": seconds, "runs_per_second": 1 / seconds, "note": note})

    via_kernel(0.01, 1.0, 1.0)  # compile outside the timing
    for label, function in (("simulator.run (API)", via_api), ("engine.simulate, one run", via_kernel)):
        emodel = ema.Model(function.__name__.replace("_", ""), function=function)
        emodel.uncertainties = [
            ema.RealParameter("tfp_growth", 0.0, 0.03),
            ema.RealParameter("required_return", 0.02, 0.06),
        ]
        emodel.levers = [ema.RealParameter("renewable_scale", 0.5, 2.0)]
        emodel.outcomes = [ema.ScalarOutcome("gdp_growth"), ema.ScalarOutcome("co2_2035")]

        def experiments(m=emodel, label=label):
            np.random.seed(0)  # EMA's LHS draws from numpy's global generator: the same designs every time
            # log_progress=True sends progress to EMA's (silent) logger; False, the default, draws a tqdm bar
            found[label] = ema.perform_experiments(
                m, scenarios=n_scenarios, policies=n_policies, evaluator=ema.SequentialEvaluator(m), log_progress=True
            )

        print(f"timing EMA Workbench with {label} ...", flush=True)
        runs = n_scenarios * n_policies
        row(
            f"EMA {ema.__version__} SequentialEvaluator, {runs} runs, {label}",
            median_time(experiments, repeats) / runs,
            "perform_experiments per run",
        )
        points = found[label][0][["tfp_growth", "required_return", "renewable_scale"]].to_numpy()
        row(
            f"the same function in a loop, no EMA, {label}",
            median_time(lambda f=function, p=points: [f(*x) for x in p], repeats) / runs,
            "plain Python loop",
        )

    (designs, api_out), kernel_out = found["simulator.run (API)"], found["engine.simulate, one run"][1]
    for name in api_out:
        assert np.allclose(api_out[name], kernel_out[name], rtol=1e-9), f"API and kernel disagree on {name}"

    batch = 2000
    many = base.with_runs(batch)
    draw = np.random.default_rng(0).uniform(size=(batch, 3)) * [0.03, 0.04, 1.5] + [0.0, 0.02, 0.5]
    draw[: len(designs)] = designs[["tfp_growth", "required_return", "renewable_scale"]].to_numpy()
    for j, name in enumerate(("tfp_growth", "required_return", LEVER)):
        many.parameter(name)[:] = draw[:, j : j + 1]
    print(f"timing our kernel on {batch} runs ...", flush=True)
    for threads in (1, 2):

        def go(n=threads):
            return simulate(
                model, many, grid, method, record=["gdp", "co2"], dtype=np.float32, on_error="nan", n_threads=n
            )

        result = go()
        row(
            f"ours, batch of {batch} ({method}, dt {grid.dt:g}, float32, {threads} thread{'s' * (threads > 1)})",
            median_time(go, repeats) / batch,
            f"{len(result.failed)} failed runs; per run inside a batch",
        )
    gdp = result.values[: len(designs)][:, :, [result.column("gdp", k) for k in range(4)]].astype(float)
    growth = (gdp[:, year[2025]].sum(1) / gdp[:, year[2020]].sum(1)) ** (1 / 5) - 1
    assert np.allclose(growth, api_out["gdp_growth"], atol=1e-5), "batch disagrees with EMA's runs"

    ours = rows[-1]["seconds_per_run"]
    for r in rows:
        r["ratio_to_ours_2_threads"] = r["seconds_per_run"] / ours
        r["projected_seconds_1e7_runs"] = r["seconds_per_run"] * PROJECTED_RUNS
    print(f"\n{'engine':<80} {'per run':>10} {'runs/s':>9} {'x ours':>8} {'10^7 runs':>11}")
    for r in rows:
        hours = r["projected_seconds_1e7_runs"] / 3600
        wall = f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
        print(
            f"{r['engine']:<80} {r['seconds_per_run'] * 1e3:>7.3f} ms {r['runs_per_second']:>9.0f} "
            f"{r['ratio_to_ours_2_threads']:>8.1f} {wall:>11}"
        )
    print(
        f"\n(ratios against our batch on 2 threads; 10^7 runs = 200 policies x 1,000 futures x 50 generations; "
        f"{grid.n_steps} {method} steps a run; EMA and the plain loops run one experiment at a time)"
    )
    write_result(
        "ema",
        {
            "quick": args.quick,
            "scenario": "plan",
            "method": method,
            "steps": grid.n_steps,
            "projected_runs": PROJECTED_RUNS,
            "rows": rows,
        },
        ema_workbench=ema.__version__,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
