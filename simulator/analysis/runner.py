"""Running an ensemble: the plan (what is run), and its chunks through the kernel on local threads or a Dask
cluster, each chunk stored as soon as it is computed, so that an interrupted ensemble resumes.

Determinism: every run is computed independently from its row of the sample drawn up front (sampling.py).
The results are therefore bitwise identical whatever the number of threads or workers, locally or on Dask,
and whether or not the ensemble was interrupted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..api import recorded_variables, resolved_yaml
from ..engine import Inputs, Model, simulate
from ..errors import InputError, Problem
from ..inputs.scenario import Scenario
from ..model.limits import LIMITS
from . import store
from .sampling import apply

# what an ensemble records by default: key trajectories and the GDP each hard limit costs (make_plan adds what
# the goals, the limits' binding shares and the plausibility guards read)
KEY_TRAJECTORIES = (
    "population",
    "urban_population",
    "gdp",
    "capital",
    "energy_use",
    "co2",
    "coal_output",
    "water_demand",
    "water_use",
    "water_supply_cap",
    "groundwater_storage",
    "water_cap_pressure",
    "coal_cap_pressure",
    "non_fossil_energy",
    "renewable_capacity",
    "coal_power_capacity",
)
ENSEMBLE_VARIABLES = KEY_TRAJECTORIES + tuple(limit.gdp_lost for limit in LIMITS)


@dataclass
class Plan:
    """What an ensemble runs; its manifest identifies the work folder's contents for resuming."""

    scenario: Scenario
    runs: int
    seed: int
    sampling: str
    chunk: int
    variables: list[str]

    def manifest(self) -> dict:
        """What identifies the plan's work folder: a resumed ensemble must have been set up for the same."""
        return {
            "scenario": self.scenario.name,
            "scenario_resolved": resolved_yaml(self.scenario),
            "runs": self.runs,
            "seed": self.seed,
            "sampling": self.sampling,
            "chunk": self.chunk,
            "variables": self.variables,
            "inputs": [(d.target, d.element, d.dist, d.args) for d in self.scenario.uncertain],
        }

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.runs / self.chunk)

    def chunk_runs(self, k: int) -> tuple[int, int]:
        """The runs of chunk ``k``: (first, one past the last)."""
        return k * self.chunk, min(self.runs, (k + 1) * self.chunk)

    def runs_in(self, chunks) -> int:
        """How many runs the given chunks hold."""
        return sum(stop - start for start, stop in map(self.chunk_runs, chunks))


def make_plan(model: Model, scenario: Scenario, runs=None, seed=None, chunk=None, variables=None) -> Plan:
    """The scenario's ensemble (its monte_carlo block, with ``runs``, ``seed`` and ``chunk`` overriding it),
    recording ``variables`` (default: the scenario's outputs, or ``ENSEMBLE_VARIABLES``) and what the goals,
    the limits' binding shares and the plausibility guards read."""
    mc = scenario.monte_carlo
    runs = int(runs if runs is not None else mc.runs)
    if runs < 1:
        raise InputError(Problem(str(scenario.path), None, "monte_carlo.runs", "must be at least 1"))
    chosen = variables or scenario.outputs.variables or [v for v in ENSEMBLE_VARIABLES if v in model.variables]
    variables = recorded_variables(model, scenario, chosen, every_limit_variable=False)
    return Plan(
        scenario, runs, int(seed if seed is not None else mc.seed), mc.sampling, int(chunk or mc.chunk), variables
    )


def estimate_bytes(model: Model, plan: Plan) -> int:
    """About how much disk the plan's work folder takes."""
    columns = sum(model.size(v) for v in plan.variables)
    return plan.runs * ((plan.scenario.time.n_saves + 1) * columns * 4 + 8 * (len(plan.scenario.uncertain) + 32))


def run_chunk(model: Model, inputs: Inputs, grid, method, variables, n_threads=None):
    """One chunk through the kernel: float32 outputs, failed runs as NaN."""
    return simulate(
        model, inputs, grid, method, record=variables, n_threads=n_threads, dtype=np.float32, on_error="nan"
    )


def run_plan(model: Model, plan: Plan, work: Path, workers=None, scheduler=None, progress=True, say=print):
    """Run (or resume) every chunk of a plan into ``work``. Returns the number of chunks computed now."""
    from tqdm import tqdm

    fresh = store.prepare(work, model, plan, say)
    samples = store.samples(work, plan)
    runs_store = store.Store(work / "runs.zarr", model, plan)
    todo = store.chunks_to_do(work, plan)
    if not fresh and len(todo) < plan.n_chunks:
        say(f"  resuming: {plan.n_chunks - len(todo)} of {plan.n_chunks} chunks already done")
    base = plan.scenario.inputs(model)

    def chunk_inputs(k):
        start, stop = plan.chunk_runs(k)
        inputs = base.with_runs(stop - start)
        apply(inputs, plan.scenario.uncertain, samples.rows(start, stop))
        return start, inputs

    def store_chunk(k, start, values, labels, failed):
        runs_store.write(start, values, labels, failed)
        store.mark_done(work, k, len(values))

    bar = tqdm(
        total=plan.runs,
        initial=plan.runs - plan.runs_in(todo),
        unit="run",
        unit_scale=True,
        disable=not progress,
        desc="runs",
        smoothing=0.1,
    )
    try:
        if scheduler:
            _run_dask(model, plan, todo, chunk_inputs, store_chunk, workers, scheduler, bar)
        else:
            _run_local(model, plan, todo, chunk_inputs, store_chunk, workers, bar)
    finally:
        bar.close()
    return len(todo)


def _run_local(model, plan, todo, chunk_inputs, store_chunk, workers, bar):
    """The chunks one after another on local threads (``workers`` of them inside the kernel). The kernel
    releases the GIL, so storing one chunk overlaps computing the next."""
    from concurrent.futures import ThreadPoolExecutor

    grid, method = plan.scenario.time, plan.scenario.method
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        for k in todo:
            start, inputs = chunk_inputs(k)
            result = run_chunk(model, inputs, grid, method, plan.variables, n_threads=workers)
            if pending is not None:
                pending.result()
            pending = writer.submit(store_chunk, k, start, result.values, result.labels, result.failed)
            bar.update(len(result.values))
        if pending is not None:
            pending.result()


def _run_dask(model, plan, todo, chunk_inputs, store_chunk, workers, scheduler, bar):
    """The chunks as tasks of a Dask cluster (``scheduler`` 'local': one started here with ``workers``
    processes), stored as they finish."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError(
            Problem(
                "--scheduler",
                None,
                "",
                "Dask is not installed: pip install 'hubaoewu-simulator[dask]' (or run without --scheduler)",
            )
        ) from None

    grid, method = plan.scenario.time, plan.scenario.method
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        model_future = client.scatter(model, broadcast=True)
        futures = {}
        for k in todo:
            start, inputs = chunk_inputs(k)
            inputs.model = None  # sent once, as model_future
            futures[client.submit(_dask_chunk, model_future, inputs, grid, method, plan.variables, pure=False)] = (
                k,
                start,
            )
        for future in as_completed(futures):
            k, start = futures[future]
            values, failed, labels = future.result()
            store_chunk(k, start, values, labels, failed)
            bar.update(len(values))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_chunk(model, inputs, grid, method, variables):
    """Runs on a Dask worker, one thread per task (the cluster supplies the parallelism)."""
    inputs.model = model
    result = run_chunk(model, inputs, grid, method, variables, n_threads=1)
    return result.values, result.failed, result.labels
