"""Peers side by side, in one process, on the same model and horizon (scenarios/baseline.yaml, 2020-2035):

- our numba kernel: one run through the Python API, and batches of runs on 1 and 2 threads;
- the numpy reference evaluator (the same declarations, no numba);
- scipy solve_ivp (RK45, rtol 1e-6) on the same right-hand side (the numpy evaluator's);
- PySD 3.14 on the exported model, flat and with Vensim subscripts.

    python -m benchmarks.peers [--quick]

Prints a table (time per run, per stock-step, per equation evaluation, ratio to ours) and writes it as
JSON, with the machine's description, to benchmarks/results/. Medians of repeated timings; these
machines are noisy, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_result(kind: str, record: dict, **machine_extra) -> Path:
    """Write a benchmark's record, dated and with the machine's description, to results/KIND-DATE.json."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{kind}-{stamp}.json"
    full = {"date": stamp, "machine": {**machine(), **machine_extra}, **record}
    out.write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")
    return out


def machine() -> dict:
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    import numba
    import pysd
    import scipy

    import simulator

    return {
        "cpu": cpu,
        "cores": __import__("os").cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "pysd": pysd.__version__,
        "simulator": simulator.__version__,
    }


def equations_per_evaluation(model, record=None, full: bool = True) -> int:
    """Element equations evaluated in one right-hand-side evaluation (rate pass plus net rates): with
    ``record``, without the reports the kernel skips for it; with ``full=False``, without what only the slow
    stocks need (the later stages of a partitioned step)."""
    wanted = dict(zip(model.reporting, model.reporting_wanted(record))) if record is not None else {}
    skipped = {n for n, want in wanted.items() if not want}
    if not full:
        skipped |= {n for what, n in model.slow_only if what == "var"}
    rates = sum(model.size(n) for n in model.stocks if full or not model.variables[n].slow)
    return sum(model.size(name) for what, name in model.rate_order if what == "var" and name not in skipped) + rates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about a minute)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7

    import simulator
    from simulator.engine import reference, simulate
    from simulator.engine.reference import _Context, _initialise, _rates
    from simulator.interop.crosscheck import pysd_model, pysd_stocks
    from simulator.interop.vensim import to_vensim
    from simulator.model import load_model

    model = load_model()
    scenario = simulator.load_scenario(ROOT / "scenarios" / "baseline.yaml")
    grid = scenario.time
    inputs = scenario.inputs(model)
    stock_steps = model.n_state * grid.n_steps
    per_eval = equations_per_evaluation(model)
    rows = []

    def row(engine, seconds, evaluations, note="", equations=None):
        equations = equations or (evaluations * per_eval if evaluations else None)
        rows.append(
            {
                "engine": engine,
                "seconds_per_run": seconds,
                "ns_per_stock_step": seconds / stock_steps * 1e9,
                "ns_per_equation": seconds / equations * 1e9 if equations else None,
                "rhs_evaluations": evaluations,
                "equations_per_run": equations,
                "note": note,
            }
        )

    print("timing our kernel ...", flush=True)
    simulate(model, inputs, grid, "euler")  # compile outside the timing
    simulate(model, inputs, grid, "rk4")
    row(
        "ours, one run via the API (euler, dt 1/4)",
        median_time(lambda: simulate(model, inputs, grid, "euler"), repeats * 3),
        grid.n_steps,
        "includes Python set-up and output arrays",
    )
    batch = 4000 if args.quick else 20000
    many = scenario.inputs(model, runs=batch)
    many.set_parameter("tfp_growth", np.random.default_rng(0).uniform(0.0, 0.03, size=(batch, 4)))
    full, partial = equations_per_evaluation(model, ["gdp"]), equations_per_evaluation(model, ["gdp"], full=False)
    for method, evals, equations in (
        ("euler", grid.n_steps, grid.n_steps * full),
        ("rk4", 4 * grid.n_steps, 4 * grid.n_steps * full),
        ("partitioned", 4 * grid.n_steps, 2 * grid.n_steps * (full + partial)),
    ):
        for threads in (1, 2):
            simulate(model, many, grid, method, record=["gdp"], n_threads=threads, dtype=np.float32)
            seconds = (
                median_time(
                    lambda m=method, n=threads: simulate(
                        model, many, grid, m, record=["gdp"], n_threads=n, dtype=np.float32
                    ),
                    repeats,
                )
                / batch
            )
            row(
                f"ours, batch of {batch} ({method}, dt 1/4, {threads} thread{'s' if threads > 1 else ''})",
                seconds,
                evals,
                "per run inside a batch; equations the kernel evaluates for recording gdp",
                equations,
            )

    print("timing the numpy reference evaluator ...", flush=True)
    row(
        "numpy reference evaluator (euler, dt 1/4)",
        median_time(lambda: reference.simulate(model, inputs, grid, "euler", record=["gdp"]), max(1, repeats // 3)),
        grid.n_steps,
        "the same declarations, no numba",
    )

    print("timing scipy solve_ivp ...", flush=True)
    context = _Context(model, inputs, 0)
    with np.errstate(all="ignore"):
        state0 = _initialise(context, grid.start)
    layout = [(name, model.size(name), model.shape(name)) for name in model.stocks]

    def to_dict(y):
        out, k = {}, 0
        for name, size, shape in layout:
            out[name] = y[k : k + size].reshape(shape)
            k += size
        return out

    def rhs(t, y):
        with np.errstate(all="ignore"):
            rates = _rates(context, t, to_dict(y), grid.dt)
        return np.concatenate([rates[name].ravel() for name, _, _ in layout])

    from scipy.integrate import solve_ivp

    y0 = np.concatenate([state0[name].ravel() for name, _, _ in layout])
    evaluations = []

    def solve():
        sol = solve_ivp(rhs, (grid.start, grid.end), y0, method="RK45", rtol=1e-6, t_eval=grid.times)
        evaluations.append(sol.nfev)

    row(
        "scipy solve_ivp RK45 rtol 1e-6 (numpy right-hand side)",
        median_time(solve, max(1, repeats // 3)),
        int(np.median(evaluations)),
        "adaptive steps",
    )

    print("timing PySD (translating the exported model first) ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for flat in (True, False):
            euler = simulator.load_scenario(ROOT / "scenarios" / "baseline.yaml")
            mdl = Path(tmp) / f"baseline{'_flat' if flat else ''}.mdl"
            mdl.write_text(to_vensim(model, euler, flat=flat), encoding="utf-8")
            peer = pysd_model(mdl)
            seconds = median_time(
                lambda p=peer, f=flat: pysd_stocks(p, ["capital"], list(model.spec.elements("city")), f),
                max(1, repeats // 3 if flat else 1),
            )
            row(
                f"PySD {__import__('pysd').__version__}, exported model {'flat' if flat else 'with subscripts'} "
                "(euler, dt 1/4)",
                seconds,
                grid.n_steps,
                "Python per step",
            )

    ours = next(
        r["seconds_per_run"]
        for r in rows
        if r["engine"].startswith("ours, batch") and "euler" in r["engine"] and "1 thread" in r["engine"]
    )
    for r in rows:
        r["ratio_to_ours"] = r["seconds_per_run"] / ours
    print()
    print(f"{'engine':<78} {'per run':>12} {'ns/stock-step':>14} {'ns/equation':>12} {'x ours':>10}")
    for r in rows:
        per_run = f"{r['seconds_per_run'] * 1e3:.3f} ms"
        eq = "" if r["ns_per_equation"] is None else f"{r['ns_per_equation']:.2f}"
        print(f"{r['engine']:<78} {per_run:>12} {r['ns_per_stock_step']:>14.1f} {eq:>12} {r['ratio_to_ours']:>10.1f}")
    print(
        f"\n(ratios against our Euler batch on 1 thread; {model.n_state} state elements x {grid.n_steps} steps = "
        f"{stock_steps} stock-steps per run; {per_eval} equations per right-hand-side evaluation, {full} when a "
        f"batch records gdp alone, {partial} at a partitioned step's later stages)"
    )
    write_result(
        "peers",
        {
            "quick": args.quick,
            "model": {
                "state_elements": model.n_state,
                "steps": grid.n_steps,
                "equations_per_evaluation": per_eval,
                "equations_per_evaluation_recording_gdp": full,
                "equations_per_partial_evaluation_recording_gdp": partial,
            },
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
