"""asv benchmarks: cd benchmarks && asv run --python=same --quick   (see the README, "Performance").

Each benchmark compiles in setup, so warm calls are timed apart from the first (compiling) call,
which the Compile benchmarks time on their own in fresh processes.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
PLAN_UNCERTAIN = ROOT / "scenarios" / "plan_uncertain.yaml"


def _setup(runs=1):
    import simulator
    from simulator.model import load_model

    model = load_model()
    scenario = simulator.load_scenario(BASELINE)
    inputs = scenario.inputs(model, runs=runs)
    if runs > 1:
        inputs.set_parameter("tfp_growth", np.random.default_rng(0).uniform(0, 0.03, size=(runs, 4)))
    return model, scenario, inputs


class SingleRun:
    """One baseline run through the API, all outputs recorded."""

    params = (["euler", "rk4", "partitioned"], [0.25, 1 / 12])
    param_names = ["method", "dt"]  # noqa: RUF012 (asv reads these class attributes)

    def setup(self, method, dt):
        from simulator.engine import TimeGrid, simulate

        self.simulate = simulate
        self.model, scenario, self.inputs = _setup()
        self.grid = TimeGrid(scenario.time.start, scenario.time.end, dt)
        simulate(self.model, self.inputs, self.grid, method)  # compile outside the timing

    def time_single_run(self, method, dt):
        self.simulate(self.model, self.inputs, self.grid, method)


class Ensemble:
    """10^4 runs through the parallel kernel at dt 1/4, float32 outputs: RK4, and the partitioned method the
    Monte Carlo scenarios use (the population by the midpoint rule)."""

    params = ([1, 2], ["rk4", "partitioned"])
    param_names = ["threads", "method"]  # noqa: RUF012 (asv reads these class attributes)
    timeout = 300

    def setup(self, threads, method):
        from simulator.engine import simulate

        self.simulate = simulate
        self.model, self.scenario, self.inputs = _setup(runs=10_000)
        self._run(threads, method)  # compile outside the timing

    def _run(self, threads, method):
        self.simulate(
            self.model,
            self.inputs,
            self.scenario.time,
            method,
            record=["gdp", "population", "co2"],
            n_threads=threads,
            dtype=np.float32,
        )

    def time_ensemble_10k(self, threads, method):
        self._run(threads, method)

    def track_runs_per_second(self, threads, method):
        start = time.perf_counter()
        self._run(threads, method)
        return 10_000 / (time.perf_counter() - start)

    track_runs_per_second.unit = "runs/s"


class SearchGeneration:
    """Scoring a generation of `simulate search scenarios/plan_search.yaml` at the issue's size per policy: 20
    random policies x 1,000 futures through the search's Evaluator (kernel, goals, plausibility), at the
    generations' dt 1 and at the scenario's dt 1/2 (what the reported policies are re-scored at)."""

    params = ([1.0, 0.5],)
    param_names = ["dt"]  # noqa: RUF012 (asv reads these class attributes)
    timeout = 300

    def setup(self, dt):
        import simulator
        from simulator.analysis.search import Evaluator, lever_values, sample_futures
        from simulator.model import load_model

        model = load_model()
        scenario = simulator.load_scenario(ROOT / "scenarios" / "plan_search.yaml")
        spec = scenario.search
        self.futures = sample_futures(scenario, 1000, spec.seed)
        self.evaluate = Evaluator(model, scenario, self.futures, dt=dt)
        self.policies = lever_values(spec, np.random.default_rng(0).random((20, len(spec.levers))))
        self.evaluate(self.policies[:1])  # compile outside the timing

    def track_runs_per_second(self, dt):
        start = time.perf_counter()
        self.evaluate(self.policies)
        return len(self.policies) * len(self.futures) / (time.perf_counter() - start)

    track_runs_per_second.unit = "runs/s"


def _first_run_seconds(cache_dir):
    code = (
        f"import time; t = time.perf_counter(); import simulator; simulator.run({str(BASELINE)!r}); "
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "SIMULATOR_CACHE_DIR": str(cache_dir)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


class Compile:
    """A first baseline run in a fresh process: with an empty kernel cache, and with a warm one."""

    timeout = 600
    number = 1
    repeat = 1

    def track_first_run_cold_cache(self):
        with tempfile.TemporaryDirectory() as cache:
            return _first_run_seconds(cache)

    track_first_run_cold_cache.unit = "seconds"

    def track_first_run_cached(self):
        with tempfile.TemporaryDirectory() as cache:
            _first_run_seconds(cache)  # fills the cache
            return _first_run_seconds(cache)

    track_first_run_cached.unit = "seconds"


class ScenarioLoad:
    """Reading and validating scenarios (the plan, with extends, policies and 120 uncertain inputs)."""

    def setup(self):
        from simulator.model import load_model

        load_model()

    def time_load_plan(self):
        import simulator

        simulator.load_scenario(ROOT / "scenarios" / "plan.yaml")

    def time_load_plan_uncertain(self):
        import simulator

        simulator.load_scenario(PLAN_UNCERTAIN)


class _PlanUncertain:
    """Shared set-up: the model and the plan_uncertain scenario; timed once, in fresh state."""

    timeout = 900
    number = 1
    repeat = 1

    def setup(self):
        import simulator
        from simulator.model import load_model

        self.model = load_model()
        self.scenario = simulator.load_scenario(PLAN_UNCERTAIN)


class StreamedEnsemble(_PlanUncertain):
    """A 10^5-run ensemble of the plan streamed to disk (sampling, runs, zarr store, summaries)."""

    def peakmem_streamed_100k(self):
        from simulator.analysis.runner import make_plan, run_plan
        from simulator.analysis.summary import summarise

        with tempfile.TemporaryDirectory() as tmp:
            plan = make_plan(self.model, self.scenario, runs=100_000)
            run_plan(self.model, plan, Path(tmp) / "work", progress=False, say=lambda *a: None)
            summarise(self.model, plan, Path(tmp) / "work")


class StreamingCost(_PlanUncertain):
    """Throughput of a streamed ensemble (runs stored chunk by chunk to zarr) relative to the same runs kept
    in memory; the target is at least 0.9. The up-front sampling is common to both and left out."""

    def track_streamed_over_in_memory(self):
        from simulator.analysis.runner import make_plan, run_chunk, run_plan
        from simulator.analysis.sampling import Samples, apply

        runs = 50_000
        plan = make_plan(self.model, self.scenario, runs=runs)
        base = self.scenario.inputs(self.model)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            samples = Samples.write(Path(tmp) / "s.bin", self.scenario.uncertain, runs, plan.seed, plan.sampling)
            sampling = time.perf_counter() - start
            start = time.perf_counter()
            for k in range(plan.n_chunks):
                inputs = base.with_runs(min(plan.chunk, runs - k * plan.chunk))
                apply(
                    inputs, self.scenario.uncertain, samples.rows(k * plan.chunk, k * plan.chunk + len(inputs.params))
                )
                run_chunk(self.model, inputs, self.scenario.time, self.scenario.method, plan.variables)
            in_memory = time.perf_counter() - start
            start = time.perf_counter()
            run_plan(self.model, plan, Path(tmp) / "work", progress=False, say=lambda *a: None)
            streamed = time.perf_counter() - start - sampling
        return in_memory / streamed

    track_streamed_over_in_memory.unit = "ratio"
