"""Summaries of a finished (or running) ensemble: percentiles per variable, city and year over the kept runs
(failed and implausible runs left out, with the reasons counted), the share of kept runs in which each limit
binds, and the goal indicators per run with the probability that each goal is met.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..engine import Model
from ..model.limits import LIMITS
from .store import StoredRuns, open_runs

if TYPE_CHECKING:
    from .runner import Plan

PERCENTILES = (5, 25, 50, 75, 95)
# each limit by its binding indicator, whose summary adds the share of kept runs in which the limit binds
BINDING = {limit.binding: limit for limit in LIMITS}


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
        rows = data.kept_by_element(keep)
        rows.sort(axis=1)  # numpy's vectorised sort: faster than partitioning for five percentiles
        values = order_statistics(rows, PERCENTILES).reshape((len(PERCENTILES),) + shape)
        if name not in BINDING:
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
            chunk = xr.Dataset({n: (runs[n].dims, StoredRuns(work / "runs.zarr" / n).runs(start, stop, rows),
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
                percentile_vars[BINDING[name].share] = xr.Variable(runs[name].dims[1:], share, attrs={
                    "units": "1", "long_name": f"share of kept runs in which {name.removesuffix('_binding')} binds",
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

