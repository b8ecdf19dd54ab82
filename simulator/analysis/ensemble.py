"""Monte Carlo ensembles: sampling, chunked runs (local threads or a Dask cluster), streaming to disk,
resume, goal probabilities, percentiles, and Sobol sensitivity.

Determinism: the whole sample is drawn once, up front, and written to disk; every run is computed
independently from its row of the sample. The results are therefore bitwise identical whatever the
number of threads or workers, locally or on Dask, and whether or not the run was interrupted.

Layout of an ensemble's work folder (``.<name>.ensemble`` beside the output folder while it runs):

    manifest.json     what is being run (a re-run with a different manifest starts afresh)
    samples.bin       the sampled inputs, inputs x runs (float64), drawn once before any run
    runs.zarr         outputs per run: time x city per variable (float32), and goal indicators
    done/chunk_NNNNN  written after a chunk is safely stored; a chunk without it is recomputed

When every chunk is done, the summaries are written and the folder is moved to the output folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats
from scipy.stats import qmc

from ..engine import Inputs, Model, simulate, to_dataset
from ..engine.run import year_coordinate
from ..errors import InputError, OutputError, Problem, flag_error
from ..inputs.scenario import Distribution, Scenario

PERCENTILES = (5, 25, 50, 75, 95)
# what an ensemble's work folder may hold (anything else is not removed when a different setup starts afresh)
WORK_ENTRIES = {"manifest.json", "done", "samples.bin", "samples.tmp", "runs.zarr", "summary.nc", "goals.json",
                "scenario.resolved.yaml", "goal_indicators.npz", "report.md", "fan_chart.png", "goals.png"}
# what an ensemble records by default: key trajectories and what the goals need
ENSEMBLE_VARIABLES = ("population", "urban_population", "gdp", "capital", "energy_use", "co2", "coal_output",
                      "water_demand", "water_use", "water_supply_cap", "groundwater_storage", "water_cap_pressure",
                      "coal_cap_pressure", "non_fossil_energy", "renewable_capacity", "coal_power_capacity",
                      "gdp_lost_to_water", "gdp_lost_to_energy_limit", "gdp_lost_to_coal_cap",
                      "water_binding", "coal_binding", "energy_binding")


# ------------------------------------------------------------------------------------------------
# distributions and sampling


def ppf(dist: Distribution, u: np.ndarray) -> np.ndarray:
    """Inverse CDF: uniform numbers in (0, 1) -> values of the distribution."""
    a = dist.args
    if dist.dist == "uniform":
        return a["low"] + (a["high"] - a["low"]) * u
    if dist.dist == "normal":
        return stats.norm.ppf(u, loc=a["mean"], scale=a["sd"])
    if dist.dist == "truncnormal":
        lo, hi = (a["low"] - a["mean"]) / a["sd"], (a["high"] - a["mean"]) / a["sd"]
        return stats.truncnorm.ppf(u, lo, hi, loc=a["mean"], scale=a["sd"])
    if dist.dist == "lognormal":
        return a["median"] * np.exp(a["sigma"] * stats.norm.ppf(u))
    if dist.dist == "triangular":
        width = a["high"] - a["low"]
        return stats.triang.ppf(u, (a["mode"] - a["low"]) / width, loc=a["low"], scale=width)
    if dist.dist == "posterior":  # a row of the draws table (the same row for every column: see Samples)
        from ..inputs.scenario import read_draws

        column = read_draws(a["draws"])["values"][:, a["column"]]
        return column[np.minimum((u * len(column)).astype(np.int64), len(column) - 1)]
    if dist.dist == "choice":
        values = np.asarray(a["values"], dtype=float)
        weights = np.asarray(a.get("weights") or np.ones(len(values)), dtype=float)
        edges = np.cumsum(weights) / weights.sum()
        return values[np.minimum(np.searchsorted(edges, u, side="right"), len(values) - 1)]
    raise ValueError(dist.dist)


def _lhs_columns(runs: int, dims: int, seed: int):
    """Latin hypercube, one column at a time: a random permutation of the strata plus a uniform offset
    inside each stratum."""
    rng = np.random.default_rng(seed)
    for _ in range(dims):
        yield (rng.permutation(runs) + rng.random(runs)) / runs


def unit_sample(runs: int, dims: int, seed: int, sampling: str, chunk: int = 65536):
    """Yield blocks of rows of the (runs x dims) unit sample, in order. The blocks do not change the numbers."""
    if dims == 0:
        for start in range(0, runs, chunk):
            yield np.zeros((min(chunk, runs - start), 0))
        return
    if sampling == "random":
        rng = np.random.default_rng(seed)
        for start in range(0, runs, chunk):
            yield rng.random((min(chunk, runs - start), dims))
    elif sampling == "sobol":
        # blocks of any size continue one sequence; its balance is best when runs is a power of 2
        sampler = qmc.Sobol(d=dims, scramble=True, seed=seed)
        for start in range(0, runs, chunk):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                block = sampler.random(min(chunk, runs - start))
            yield block
    elif sampling == "lhs":
        columns = list(_lhs_columns(runs, dims, seed))
        for start in range(0, runs, chunk):
            stop = min(runs, start + chunk)
            yield np.column_stack([c[start:stop] for c in columns])
    else:
        raise ValueError(sampling)


def unit_columns(distributions: list[Distribution]) -> tuple[list[int], list[str]]:
    """Which column of the unit sample each uncertain input reads, and a label per column. The columns of
    one posterior table share a column, so a run takes one whole row of draws (correlations kept)."""
    columns, labels, groups = [], [], {}
    for dist in distributions:
        key = ("posterior", dist.args["draws"]) if dist.dist == "posterior" else None
        if key is None or key not in groups:
            labels.append(dist.label if key is None else f"calibrated parameters (a row of {Path(key[1]).name})")
            if key is not None:
                groups[key] = len(labels) - 1
        columns.append(len(labels) - 1 if key is None else groups[key])
    return columns, labels


class Samples:
    """The sampled inputs on disk, input by input (inputs x runs, float64), read a block of runs at a time
    with plain reads, so memory stays at one block however many runs there are."""

    def __init__(self, path: Path, runs: int, inputs: int):
        self.path, self.runs, self.inputs = path, runs, inputs

    @classmethod
    def write(cls, path: Path, distributions: list[Distribution], runs: int, seed: int, sampling: str) -> "Samples":
        """Draw the whole sample once, up front, and store it."""
        tmp = path.with_suffix(".tmp")
        dims = len(distributions)
        columns, labels = unit_columns(distributions)
        with open(tmp, "wb") as fh:
            fh.truncate(8 * runs * dims)

            def put(j, start, values):
                fh.seek(8 * (j * runs + start))
                fh.write(np.ascontiguousarray(values, dtype=np.float64).tobytes())

            def value(j, u):
                return ppf(distributions[j], np.clip(u, 1e-12, 1 - 1e-12))

            if sampling == "lhs":  # column by column: never more than one column in memory
                for c, column in enumerate(_lhs_columns(runs, len(labels), seed)):
                    for j in (j for j in range(dims) if columns[j] == c):
                        put(j, 0, value(j, column))
            else:
                start = 0
                for block in unit_sample(runs, len(labels), seed, sampling):
                    for j in range(dims):
                        put(j, start, value(j, block[:, columns[j]]))
                    start += len(block)
        os.replace(tmp, path)
        return cls(path, runs, dims)

    def rows(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.inputs))
        with open(self.path, "rb") as fh:
            for j in range(self.inputs):
                fh.seek(8 * (j * self.runs + start))
                out[:, j] = np.frombuffer(fh.read(8 * (stop - start)), dtype=np.float64)
        return out


def apply(inputs: Inputs, distributions: list[Distribution], values: np.ndarray, scale: bool = False):
    """Set each run's sampled inputs (later entries override earlier ones on the same element); with
    ``scale``, multiply what is there instead (a policy lever on a path whose multiplier is also drawn)."""
    for j, dist in enumerate(distributions):
        inputs.assign(dist.ref, values[:, j], scale=scale)


# ------------------------------------------------------------------------------------------------
# running


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
        return {"scenario": self.scenario.name, "scenario_resolved": _resolved(self.scenario), "runs": self.runs,
                "seed": self.seed, "sampling": self.sampling, "chunk": self.chunk, "variables": self.variables,
                "inputs": [(d.target, d.element, d.dist, d.args) for d in self.scenario.uncertain]}

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.runs / self.chunk)


def _resolved(scenario):
    from ..api import resolved_yaml

    return resolved_yaml(scenario)


def make_plan(model: Model, scenario: Scenario, runs=None, seed=None, chunk=None, variables=None) -> Plan:
    mc = scenario.monte_carlo
    runs = int(runs if runs is not None else mc.runs)
    if runs < 1:
        raise InputError(Problem(str(scenario.path), None, "monte_carlo.runs", "must be at least 1"))
    from ..api import recorded_variables

    chosen = variables or scenario.outputs.variables or [v for v in ENSEMBLE_VARIABLES if v in model.variables]
    variables = recorded_variables(model, scenario, chosen, every_limit_variable=False)
    return Plan(scenario, runs, int(seed if seed is not None else mc.seed), mc.sampling, int(chunk or mc.chunk),
                variables)


def run_chunk(model: Model, inputs: Inputs, grid, method, variables, n_threads=None):
    """One chunk through the kernel: float32 outputs, failed runs as NaN."""
    return simulate(model, inputs, grid, method, record=variables, n_threads=n_threads, dtype=np.float32,
                    on_error="nan")


def estimate_bytes(model: Model, plan: Plan) -> int:
    columns = sum(model.size(v) for v in plan.variables)
    return plan.runs * ((plan.scenario.time.n_saves + 1) * columns * 4 + 8 * (len(plan.scenario.uncertain) + 32))


class Store:
    """The zarr store of an ensemble's per-run outputs, laid out for xarray (dims run, time, city, ...)."""

    def __init__(self, path: Path, model: Model, plan: Plan, labels=None, create=False):
        import zarr

        self.path, self.model, self.plan = path, model, plan
        from .plausibility import guarded

        self.guarded = guarded(model, plan.variables)
        if create:
            root = zarr.open_group(str(path), mode="w", zarr_format=2)
            grid = plan.scenario.time
            self._coord(root, "run", np.arange(plan.runs))
            self._coord(root, "time", year_coordinate(grid.times))
            for dim in model.spec.dims:
                self._coord(root, dim, np.array(model.spec.dims[dim], dtype="<U16"))
            for alias, base in model.spec.aliases.items():
                self._coord(root, alias, np.array(model.spec.dims[base], dtype="<U16"))
            for name in plan.variables:
                var = model.variables[name]
                shape = (plan.runs, grid.n_saves + 1) + model.shape(name)
                array = root.create_array(name, shape=shape, chunks=(plan.chunk,) + shape[1:], dtype="f4",
                                          fill_value=np.nan, compressors=None)  # speed over disk; see _write_chunk
                from ..engine.run import variable_attrs

                array.attrs.update({"_ARRAY_DIMENSIONS": ["run", "time", *var.dims], **variable_attrs(model, name)})
            array = root.create_array("failed", shape=(plan.runs,), chunks=(plan.chunk,), dtype="i1", fill_value=None)
            array.attrs["_ARRAY_DIMENSIONS"] = ["run"]
            array.attrs["description"] = "1 where the run went non-finite (its outputs are NaN)"
            array = root.create_array("implausible", shape=(plan.runs,), chunks=(plan.chunk,), dtype="u4",
                                      fill_value=None)
            array.attrs["_ARRAY_DIMENSIONS"] = ["run"]
            array.attrs["description"] = ("bit j set where the run left the plausible range of guarded variable j: "
                                          + ", ".join(self.guarded))
        self.root = zarr.open_group(str(path), mode="r+", zarr_format=2)

    @staticmethod
    def _coord(root, name, values):
        array = root.create_array(name, shape=values.shape, dtype=values.dtype, fill_value=None)
        array[:] = values
        array.attrs["_ARRAY_DIMENSIONS"] = [name]

    def write(self, start: int, values: np.ndarray, labels, failed: np.ndarray):
        column = 0
        stop = start + values.shape[0]
        for name in dict.fromkeys(n for n, _ in labels):
            size = self.model.size(name)
            block = values[:, :, column:column + size]
            column += size
            self._write_chunk(name, start, block.reshape(block.shape[:2] + self.model.shape(name)))
        flags = np.zeros(stop - start, dtype="i1")
        flags[failed] = 1
        self.root["failed"][start:stop] = flags
        self.root["implausible"][start:stop] = self.implausible(values, labels, failed)

    def _write_chunk(self, name: str, start: int, block: np.ndarray):
        """One whole chunk of a per-run output, written as zarr stores an uncompressed chunk (format 2): its
        raw little-endian C-order bytes in the file named by its chunk index, the last chunk padded with the
        fill value. Through zarr's own writer the same bytes cost several times the CPU, taken from the
        kernel running beside it (10^6 runs: 5.6 GB)."""
        chunk = self.plan.chunk
        assert start % chunk == 0, "chunks are written whole"
        if len(block) < chunk:
            block = np.concatenate([block, np.full((chunk - len(block),) + block.shape[1:], np.nan, block.dtype)])
        path = chunk_file(self.path / name, start // chunk, block.ndim)
        tmp = path.with_name(path.name + ".tmp")
        np.ascontiguousarray(block, dtype="<f4").tofile(tmp)
        os.replace(tmp, path)

    def implausible(self, values: np.ndarray, labels, failed) -> np.ndarray:
        """Per run, a bit per guarded variable whose plausible range the run leaves (failed runs: 0)."""
        from .plausibility import flags

        bits = flags(self.model, self.guarded, values, labels)
        bits[failed] = 0
        return bits


def chunk_file(array: Path, k: int, ndim: int) -> Path:
    """The file of chunk k (along runs) of a stored array, as zarr format 2 names it."""
    return array / ".".join([str(k)] + ["0"] * (ndim - 1))


class StoredRuns:
    """A per-run output of the store read straight from its chunk files (what Store writes), for the
    summaries: several times faster than through zarr. Unwritten chunks read as the fill value, NaN."""

    def __init__(self, array: Path):
        meta = json.loads((array / ".zarray").read_text())
        assert meta["compressor"] is None and meta["dimension_separator"] == "."
        self.path, self.shape, self.chunks = array, tuple(meta["shape"]), tuple(meta["chunks"])
        self.dtype = np.dtype(meta["dtype"])

    def chunk(self, k: int) -> np.ndarray:
        file = chunk_file(self.path, k, len(self.shape))
        if not file.exists():
            return np.full(self.chunks, np.nan, self.dtype)
        return np.fromfile(file, dtype=self.dtype).reshape(self.chunks)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        n = self.chunks[0]
        parts = [self.chunk(k)[max(start - k * n, 0):stop - k * n] for k in range(start // n, -(-stop // n))]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.empty((0,) + self.shape[1:], self.dtype)

    def get_orthogonal_selection(self, selection) -> np.ndarray:
        rows = np.asarray(selection[0])
        return self[int(rows.min()):int(rows.max()) + 1][rows - rows.min()]


def run_plan(model: Model, plan: Plan, work: Path, workers=None, scheduler=None, progress=True, say=print):
    """Run (or resume) every chunk of a plan into ``work``. Returns the number of chunks computed now."""
    from ..present.outputs import resume_or_start

    manifest = plan.manifest()
    manifest_path = work / "manifest.json"
    fresh = resume_or_start(work, manifest, WORK_ENTRIES, "an ensemble", say)
    if fresh:
        (work / "done").mkdir()
        Samples.write(work / "samples.bin", plan.scenario.uncertain, plan.runs, plan.seed, plan.sampling)
        Store(work / "runs.zarr", model, plan, create=True)
        manifest_path.write_text(json.dumps(manifest))  # last: its presence means the setup is complete
    samples = Samples(work / "samples.bin", plan.runs, len(plan.scenario.uncertain))
    store = Store(work / "runs.zarr", model, plan)
    todo = [k for k in range(plan.n_chunks) if not (work / "done" / f"chunk_{k:05d}").exists()]
    if not fresh and len(todo) < plan.n_chunks:
        say(f"  resuming: {plan.n_chunks - len(todo)} of {plan.n_chunks} chunks already done")
    base = plan.scenario.inputs(model)
    grid, method = plan.scenario.time, plan.scenario.method

    def chunk_inputs(k):
        start, stop = k * plan.chunk, min(plan.runs, (k + 1) * plan.chunk)
        inputs = base.with_runs(stop - start)
        apply(inputs, plan.scenario.uncertain, samples.rows(start, stop))
        return start, inputs

    def store_chunk(k, start, values, labels, failed):
        store.write(start, values, labels, failed)
        (work / "done" / f"chunk_{k:05d}").write_text(str(len(values)))

    from tqdm import tqdm

    bar = tqdm(total=plan.runs, initial=plan.runs - sum(min(plan.chunk, plan.runs - k * plan.chunk) for k in todo),
               unit="run", unit_scale=True, disable=not progress, desc="runs", smoothing=0.1)
    try:
        if scheduler:
            _run_dask(model, plan, todo, chunk_inputs, store_chunk, grid, method, workers, scheduler, bar)
        else:
            # the kernel releases the GIL, so storing one chunk overlaps computing the next
            from concurrent.futures import ThreadPoolExecutor

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
    finally:
        bar.close()
    return len(todo)


def _run_dask(model, plan, todo, chunk_inputs, store_chunk, grid, method, workers, scheduler, bar):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError(Problem("--scheduler", None, "", "Dask is not installed: pip install "
                                 "'hubaoewu-simulator[dask]' (or run without --scheduler)")) from None

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        model_future = client.scatter(model, broadcast=True)
        futures = {}
        for k in todo:
            start, inputs = chunk_inputs(k)
            inputs.model = None  # sent once, as model_future
            futures[client.submit(_dask_chunk, model_future, inputs, grid, method, plan.variables, pure=False)] = \
                (k, start)
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


# ------------------------------------------------------------------------------------------------
# summaries


def open_runs(folder) -> xr.Dataset:
    """The per-run outputs of a finished (or running) ensemble folder, lazily, as an xarray Dataset."""
    return xr.open_zarr(Path(folder) / "runs.zarr", consolidated=False)


def kept_rows(data, keep: np.ndarray) -> np.ndarray:
    """A (runs x ...) array's kept runs as (elements x kept runs), float32, each element's runs contiguous;
    read and transposed one stored chunk at a time (a whole-array transpose is five times slower)."""
    columns = int(np.prod(data.shape[1:], dtype=int))
    rows = np.empty((columns, int(keep.sum())), dtype=np.float32)
    block, at = data.chunks[0], 0
    for start in range(0, data.shape[0], block):
        values = data[start:start + block].reshape(-1, columns)
        chosen = keep[start:start + block]
        values = values if chosen.all() else values[chosen]
        rows[:, at:at + len(values)] = values.T
        at += len(values)
    return rows


def _runs_of(array, start: int, stop: int, rows: np.ndarray) -> np.ndarray:
    """The given runs of a block [start, stop) of a stored array: a plain slice when they are all of it."""
    return array[start:stop] if len(rows) == stop - start else array.get_orthogonal_selection((rows,))


def order_statistics(rows: np.ndarray, percentiles) -> np.ndarray:
    """Percentiles of each sorted row, interpolated linearly between order statistics as numpy's default
    method does (Hyndman and Fan's type 7): (percentiles x rows), float64; NaN for empty rows."""
    n = rows.shape[1]
    if n == 0:
        return np.full((len(percentiles), rows.shape[0]), np.nan)
    out = np.empty((len(percentiles), rows.shape[0]))
    for k, q in enumerate(percentiles):
        h = (n - 1) * q / 100
        low = int(np.floor(h))
        high = min(low + 1, n - 1)
        a, b = rows[:, low].astype(float), rows[:, high].astype(float)
        out[k] = a + (h - low) * (b - a)
    return out


def summarise(model: Model, plan: Plan, work: Path, block: int = 100_000):
    """Percentiles per variable, city and year; goal indicators per run; goal probabilities.

    Memory stays bounded whatever the number of runs: percentiles are taken one variable at a time (two
    at once, one per thread: numpy's sort releases the GIL), goal indicators one block of runs at a time,
    while the percentiles are being taken."""
    from concurrent.futures import ThreadPoolExecutor

    import zarr

    from ..present.goals import aggregate, load_goals, per_run
    from .plausibility import guarded

    runs = open_runs(work)  # lazily, for names, dims and attributes
    store = zarr.open_group(str(work / "runs.zarr"), mode="r", zarr_format=2)  # plain reads for the numbers
    failed = store["failed"][:].astype(bool)
    reasons_excluded = {"went non-finite": int(failed.sum())} if failed.any() else {}
    bits = store["implausible"][:]
    for bit, name in enumerate(guarded(model, plan.variables)):  # a run counts under the first range it leaves
        first = (bits & (1 << bit)).astype(bool) & ((bits & ((1 << bit) - 1)) == 0)
        if first.any():
            low, high = model.variables[name].plausible
            reasons_excluded[f"left the plausible range of {name} [{low:g}, {high:g}] "
                             f"{model.variables[name].units}"] = int(first.sum())
    implausible = bits != 0
    keep = ~failed & ~implausible

    def percentiles(name):
        data = StoredRuns(work / "runs.zarr" / name)  # runs x time x dims, float32
        shape = data.shape[1:]
        rows = kept_rows(data, keep)
        rows.sort(axis=1)  # numpy's vectorised sort: faster than partitioning for five percentiles
        values = order_statistics(rows, PERCENTILES).reshape((len(PERCENTILES),) + shape)
        if not name.endswith("_binding"):
            return values, None
        return values, (rows > 0.5).mean(axis=1).reshape(shape) if rows.shape[1] else np.full(shape, np.nan)

    def goal_results():
        goals = load_goals(plan.scenario.goals)
        needed = sorted({g["indicator"].get(k) for g in goals for k in ("variable", "numerator", "denominator")}
                        - {None})
        needed = [n for n in needed if n in runs]
        parts: dict[str, list] = {g["id"]: [] for g in goals}
        reasons = {}
        for start in range(0, plan.runs, block):
            stop = min(plan.runs, start + block)
            rows = np.flatnonzero(keep[start:stop]) + start
            if not len(rows):
                continue
            chunk = xr.Dataset({n: (runs[n].dims, _runs_of(StoredRuns(work / "runs.zarr" / n), start, stop, rows),
                                    runs[n].attrs) for n in needed},
                               coords={d: runs[d].values for n in needed for d in runs[n].dims[1:]})
            for gid, (value, met) in per_run(chunk, goals).items():
                if value is None:
                    reasons[gid] = met
                else:
                    parts[gid].append((value, met))
        results = {}
        for gid, pieces in parts.items():
            if gid in reasons or not pieces:
                results[gid] = (None, reasons.get(gid, "no finished runs"))
            else:
                results[gid] = (np.concatenate([v for v, _ in pieces]), np.concatenate([m for _, m in pieces]))
        return goals, results

    percentile_vars = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(percentiles, plan.variables)  # submitted now; the goal indicators meanwhile
        goals, results = goal_results()
        for name, (values, share) in zip(plan.variables, done):
            percentile_vars[name] = xr.Variable(("percentile",) + runs[name].dims[1:], values,
                                                attrs=dict(runs[name].attrs))
            if share is not None:
                percentile_vars[f"share_{name}"] = xr.Variable(runs[name].dims[1:], share, attrs={
                    "units": "1", "long_name": f"share of kept runs in which {name[:-len('_binding')]} binds",
                    "description": f"fraction of the kept runs with {name} = 1"})
    coords = {"percentile": list(PERCENTILES), "time": runs["time"].values}
    for dim in ("city", "sector", "other"):
        if dim in runs.coords:
            coords[dim] = runs[dim].values
    summary = xr.Dataset(percentile_vars, coords=coords, attrs={
        "scenario": plan.scenario.name, "runs": plan.runs, "failed_runs": int(failed.sum()), "seed": plan.seed,
        "runs_kept": int(keep.sum()), "runs_excluded": int((~keep).sum()),
        "excluded_reasons": json.dumps(reasons_excluded),
        "sampling": plan.sampling,
        "description": "percentiles over the kept Monte Carlo runs (failed and implausible runs excluded)"})
    records = aggregate(goals, results)
    for record in records:
        record["failed_runs"] = int(failed.sum())
        record["excluded_runs"] = int((~keep).sum())
    return summary, records, {k: v for k, v in results.items() if v[0] is not None}


# ------------------------------------------------------------------------------------------------
# the command


def free_bytes(folder: Path) -> int:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


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
    from ..present.outputs import check_target, lock, publish
    from ..present.report import runs_sentence

    say = (lambda *a: None) if options.quiet else (lambda *a: print(*a, flush=True))
    scenario = with_integration(scenario, options.method, options.dt)
    plan = make_plan(model, scenario, runs=options.runs, seed=options.seed)
    check_target(folder, options.overwrite)
    if options.scheduler not in (None, "local"):
        check_scheduler(options.scheduler)
    need = estimate_bytes(model, plan)
    free = free_bytes(folder.parent)
    if need > 0.9 * free:
        raise InputError(Problem("--runs" if options.runs else str(scenario.path), None,
                                 "" if options.runs else "monte_carlo.runs",
                                 f"{plan.runs} runs need about {need / 1e9:.2f} GB but only {free / 1e9:.2f} GB are "
                                 f"free under {folder.parent}; use fewer runs or another --out"))
    work = folder.parent / f".{folder.name}.ensemble"
    started = time.perf_counter()
    with lock(folder):
        say(f"{scenario.name}: {plan.runs} runs of {len(scenario.uncertain)} uncertain inputs "
            f"({plan.sampling}, seed {plan.seed}, chunks of {plan.chunk}; about {need / 1e6:.0f} MB on disk)")
        try:
            computed = run_plan(model, plan, work, workers=options.workers, scheduler=options.scheduler,
                                progress=not options.quiet, say=say)
            elapsed = time.perf_counter() - started
            summary, goals = write_summaries(model, plan, work)
            shutil.rmtree(work / "done")
            (work / "samples.bin").unlink()
            publish(work, folder, options.overwrite)
        except OSError as exc:  # the finished chunks stay in the work folder: the same command resumes
            raise OutputError(f"cannot write the ensemble in {work}: {exc.strerror or exc}"
                              + (f" ({exc.filename})" if exc.filename else "") + "; free room or fix it and run "
                              "the same command again to resume") from None
    done_now = sum(min(plan.chunk, plan.runs - k * plan.chunk) for k in range(plan.n_chunks - computed, plan.n_chunks))
    resumed = f" ({plan.runs - done_now} were done before)" if done_now < plan.runs else ""
    say(f"{scenario.name}: {done_now} runs computed in {elapsed:.1f} s ({done_now / max(elapsed, 1e-9):,.0f} runs/s)"
        f"{resumed}; outputs in {folder}/")
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
        raise flag_error("--scheduler", "give 'local' or a scheduler address such as tcp://HOST:8786 "
                                        f"(got {address!r})")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise flag_error("--scheduler", f"no Dask scheduler answers at {address} ({exc.strerror or exc}); start one "
                                        "or use --scheduler local") from None


def write_summaries(model: Model, plan: Plan, work: Path):
    """summary.nc, goals.json, the report and plots of a finished ensemble, written into ``work``."""
    from ..present import plots
    from ..api import resolved_yaml, run
    from ..present.outputs import write_json
    from ..present.report import runs_sentence, write_report

    scenario = plan.scenario
    summary, goals, per_run = summarise(model, plan, work)
    summary.to_netcdf(work / "summary.nc", engine="netcdf4")
    write_json(goals, work / "goals.json")
    (work / "scenario.resolved.yaml").write_text(resolved_yaml(scenario), encoding="utf-8")
    np.savez(work / "goal_indicators.npz", **{f"{k}_value": v for k, (v, _) in per_run.items()},
             **{f"{k}_met": m for k, (_, m) in per_run.items()})
    median = summary.sel(percentile=50).drop_vars("percentile")
    median.attrs["scenario"] = scenario.name
    extra = ["## Monte Carlo", "",
             f"{plan.runs} runs, {plan.sampling} sampling, seed {plan.seed}; {len(scenario.uncertain)} uncertain "
             f"inputs; {runs_sentence(summary.attrs)}. The goal table gives the probability that each goal is met with "
             "its Monte Carlo standard error; key indicators are medians over the kept runs. Per-run outputs: "
             "runs.zarr (`simulator.analysis.ensemble.open_runs(folder)`, with a `failed` flag per run); "
             "percentiles: summary.nc.", ""]
    write_report(work / "report.md", median, scenario, goals, None, extra=extra)
    central = run(scenario, variables=plan.variables)
    plots.fan_chart(summary, path=work / "fan_chart.png", title=f"{scenario.name}: {plan.runs} runs",
                    deterministic=central)
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
    from ..model import load_model

    model = load_model()
    scenario = as_scenario(scenario)
    plan = make_plan(model, scenario, runs=runs, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(folder) if folder else Path(tmp) / "work"
        run_plan(model, plan, work, workers=workers, scheduler=scheduler, progress=progress, say=lambda *a: None)
        summary, goals, _ = summarise(model, plan, work)
        per_run = open_runs(work)
        if folder is None:
            per_run = per_run.load()
    return summary, goals, per_run


# ------------------------------------------------------------------------------------------------
# Sobol sensitivity


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


def sensitivity_outputs(model: Model, scenario: Scenario, folder: Path, runs: int = 512, seed: int = 0,
                        overwrite: bool = False, quiet: bool = False) -> int:
    """Sobol indices of every goal indicator over the scenario's uncertain inputs, written into ``folder``."""
    import warnings

    import pandas as pd

    from ..present import plots
    from ..present.goals import indicator, load_goals
    from ..present.outputs import check_target, staging, write_json

    check_target(folder, overwrite)
    if not scenario.uncertain:
        raise InputError(Problem(str(scenario.path), None, "uncertain",
                                 "no uncertain inputs: add an uncertain: block (e.g. assumed_parameters: uniform)"))
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    dists = scenario.uncertain
    columns, names = unit_columns(dists)
    goals = load_goals(scenario.goals)
    variables = sorted({g["indicator"].get(k) for g in goals for k in ("variable", "numerator", "denominator")} - {None})
    n_runs = runs * (len(names) + 2)
    say(f"{scenario.name}: Sobol indices of {len(goals)} goal indicators over {len(names)} inputs, "
        f"N = {runs} ({n_runs} runs) ...")
    failures = []

    def evaluate(u):
        from tqdm import tqdm

        values = np.column_stack([ppf(d, np.clip(u[:, columns[j]], 1e-12, 1 - 1e-12)) for j, d in enumerate(dists)])
        out = []
        for start in tqdm(range(0, len(u), 20000), unit="block of 20k runs", disable=quiet, desc="runs"):
            inputs = scenario.inputs(model, runs=min(20000, len(u) - start))
            apply(inputs, dists, values[start:start + 20000])
            result = simulate(model, inputs, scenario.time, scenario.method, record=variables, on_error="nan")
            failures.append(len(result.failed))
            ds = to_dataset(result, runs=True)
            out.append(np.column_stack([indicator(ds, g["indicator"])[0].values for g in goals]))
        return np.vstack(out)

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        indices = sobol_indices(evaluate, names, runs, seed)
    elapsed = time.perf_counter() - started
    rows = []
    for j, goal in enumerate(goals):
        r = indices[j]
        for k, name in enumerate(names):
            rows.append({"goal": goal["id"], "input": name, "S1": float(r["S1"][k]), "S1_conf": float(r["S1_conf"][k]),
                         "ST": float(r["ST"][k]), "ST_conf": float(r["ST_conf"][k])})
    table = pd.DataFrame(rows)
    widest = float(table.ST_conf.max())
    warning = None
    if widest > 0.05 or runs < 1024:
        warning = (f"N = {runs} may be too small for stable indices: the widest 95 % confidence interval of a "
                   f"total-order index is ±{widest:.3f} (see SALib issue #599); try --runs {max(1024, 4 * runs)}")
        say(f"warning: {warning}")
    with staging(folder, overwrite) as tmp:
        table.to_csv(tmp / "sobol.csv", index=False)
        write_json({"scenario": scenario.name, "N": runs, "runs": n_runs, "failed_runs": int(sum(failures)),
                    "seconds": elapsed, "warning": warning, "indices": rows}, tmp / "sobol.json")
        plots.sobol_bars(table, path=tmp / "sobol.png", title=f"Sobol indices: {scenario.name} (N = {runs})")
        lines = [f"# Sobol sensitivity: `{scenario.name}`", "",
                 f"N = {runs} ({n_runs} runs, {sum(failures)} failed, {elapsed:.1f} s), Saltelli sampling, "
                 "first-order (S1) and total-order (ST) indices with 95 % confidence intervals.", ""]
        if warning:
            lines += [f"**Warning:** {warning}.", ""]
        for goal in goals:
            top = table[table.goal == goal["id"]].sort_values("ST", ascending=False).head(8)
            lines += [f"## {goal['id']}: {goal['description']}", "", "| input | S1 | ST |", "|---|---|---|"]
            lines += [f"| {r.input} | {r.S1:.3f} ± {r.S1_conf:.3f} | {r.ST:.3f} ± {r.ST_conf:.3f} |"
                      for r in top.itertuples()]
            lines.append("")
        (tmp / "report.md").write_text("\n".join(lines), encoding="utf-8")
    say(f"done in {elapsed:.1f} s; outputs in {folder}/")
    for goal in goals:
        top = table[table.goal == goal["id"]].sort_values("ST", ascending=False).head(3)
        say(f"  {goal['id']:<30} " + ", ".join(f"{r.input} (ST {r.ST:.2f})" for r in top.itertuples()))
    return 0
