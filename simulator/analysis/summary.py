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
from .plausibility import guarded
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

    from ..goals import aggregate, load_goals

    runs = open_runs(work)  # lazily, for names, dims and attributes
    failed, keep, reasons_excluded = kept_runs(model, plan, work)
    goals = load_goals(plan.scenario.goals)
    variables = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(
            lambda name: percentiles(StoredRuns(work / "runs.zarr" / name), keep, name in BINDING), plan.variables
        )  # submitted now; the goal indicators meanwhile
        results = goal_indicators(work, runs, goals, keep, block)
        for name, (values, share) in zip(plan.variables, done):
            variables.update(summary_variables(name, runs[name], values, share))
    coords = {"percentile": list(PERCENTILES), "time": runs["time"].values}
    coords.update({dim: runs[dim].values for dim in ("city", "sector", "other") if dim in runs.coords})
    summary = xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "scenario": plan.scenario.name,
            "runs": plan.runs,
            "failed_runs": int(failed.sum()),
            "seed": plan.seed,
            "runs_kept": int(keep.sum()),
            "runs_excluded": int((~keep).sum()),
            "excluded_reasons": json.dumps(reasons_excluded),
            "sampling": plan.sampling,
            "description": "percentiles over the kept Monte Carlo runs (failed and implausible runs excluded)",
        },
    )
    records = aggregate(goals, results)
    for record in records:
        record["failed_runs"] = int(failed.sum())
        record["excluded_runs"] = int((~keep).sum())
    return summary, records, {k: v for k, v in results.items() if v[0] is not None}


def kept_runs(model: Model, plan: Plan, work: Path) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Which runs the summaries count: (failed, kept, how many runs each reason leaves out). A run that went
    non-finite or left a plausible range is left out; it counts under the first range it leaves."""
    import zarr

    store = zarr.open_group(str(work / "runs.zarr"), mode="r", zarr_format=2)  # plain reads for the numbers
    failed = store["failed"][:].astype(bool)
    reasons = {"went non-finite": int(failed.sum())} if failed.any() else {}
    bits = store["implausible"][:]
    for bit, name in enumerate(guarded(model, plan.variables)):
        first = (bits & (1 << bit)).astype(bool) & ((bits & ((1 << bit) - 1)) == 0)
        if first.any():
            low, high = model.variables[name].plausible
            reasons[f"left the plausible range of {name} [{low:g}, {high:g}] {model.variables[name].units}"] = int(
                first.sum()
            )
    return failed, ~failed & (bits == 0), reasons


def percentiles(data: StoredRuns, keep: np.ndarray, binding: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Percentiles of a stored output over the kept runs (percentiles x time x dims), and, for a limit's
    binding indicator, the share of kept runs in which it is 1 (time x dims; otherwise None)."""
    shape = data.shape[1:]
    rows = data.kept_by_element(keep)
    rows.sort(axis=1)  # numpy's vectorised sort: faster than partitioning for five percentiles
    values = order_statistics(rows, PERCENTILES).reshape((len(PERCENTILES),) + shape)
    if not binding:
        return values, None
    return values, (rows > 0.5).mean(axis=1).reshape(shape) if rows.shape[1] else np.full(shape, np.nan)


def summary_variables(name: str, stored: xr.DataArray, values: np.ndarray, share) -> dict[str, xr.Variable]:
    """A variable's percentiles with its attributes, and the share of runs in which a limit binds where
    ``share`` is given (``name`` is then the limit's binding indicator)."""
    dims = stored.dims[1:]
    out = {name: xr.Variable(("percentile",) + dims, values, attrs=dict(stored.attrs))}
    if share is not None:
        out[BINDING[name].share] = xr.Variable(
            dims,
            share,
            attrs={
                "units": "1",
                "long_name": f"share of kept runs in which {name.removesuffix('_binding')} binds",
                "description": f"fraction of the kept runs with {name} = 1",
            },
        )
    return out


def goal_indicators(work: Path, runs: xr.Dataset, goals: list[dict], keep: np.ndarray, block: int) -> dict:
    """Each goal's indicator and whether the goal is met, per kept run, read one block of runs at a time:
    goal id -> (values, met), or (None, why the goal cannot be evaluated)."""
    from ..goals import indicator_variables, per_run

    needed = [n for n in sorted(indicator_variables(goals)) if n in runs]
    parts: dict[str, list] = {g["id"]: [] for g in goals}
    reasons = {}
    for start in range(0, len(keep), block):
        stop = min(len(keep), start + block)
        rows = np.flatnonzero(keep[start:stop]) + start
        if not len(rows):
            continue
        chunk = xr.Dataset(
            {
                n: (runs[n].dims, StoredRuns(work / "runs.zarr" / n).runs(start, stop, rows), runs[n].attrs)
                for n in needed
            },
            coords={d: runs[d].values for n in needed for d in runs[n].dims[1:]},
        )
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
    return results
