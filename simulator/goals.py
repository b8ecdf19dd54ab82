"""The plan's goals (goals.yaml) -> indicators of a run -> met or not, or a probability for an ensemble."""

from __future__ import annotations

import copy
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
import yaml

if TYPE_CHECKING:  # a scenario's goals: block, read by inputs/schema.py
    from .inputs.schema import GoalChoice

GOALS_FILE = Path(__file__).with_name("goals.yaml")


@lru_cache(maxsize=1)
def _goals() -> tuple:
    return tuple(yaml.safe_load(GOALS_FILE.read_text(encoding="utf-8")))


def load_goals(choice: GoalChoice | None = None) -> list[dict]:
    """The plan's goals, optionally narrowed (select) and changed (override) by a scenario."""
    goals = [copy.deepcopy(g) for g in _goals()]
    if choice is not None:
        if choice.select:
            goals = [g for g in goals if g["id"] in choice.select]
        for goal in goals:
            goal.update(choice.override.get(goal["id"], {}))
    return goals


def indicator_variables(goals: list[dict]) -> list[str]:
    """The model variables the goals' indicators read, in the goals' order, each once."""
    return list(
        dict.fromkeys(
            g["indicator"][k] for g in goals for k in ("variable", "numerator", "denominator") if g["indicator"].get(k)
        )
    )


def indicator(ds: xr.Dataset, spec: dict) -> tuple[xr.DataArray | None, str]:
    """The indicator of one goal, per run if the Dataset has runs; (None, reason) if not computable."""
    kind = spec["kind"]
    times = ds["time"].values
    last = float(times[-1])

    def year(key):
        value = spec.get(key)
        return last if value == "end" else float(value)

    needed = [year(k) for k in ("from", "to", "at") if k in spec]
    missing = [y for y in needed if not np.any(np.isclose(times, y))]
    if missing:
        return None, f"the run does not cover {', '.join(f'{y:g}' for y in missing)}"
    for key in ("variable", "numerator", "denominator"):
        if key in spec and spec[key] not in ds:
            return None, f"the output has no {spec[key]!r}"

    def total(name, at):
        data = ds[name].sel(time=at)
        return data.sum("city") if "city" in data.dims else data

    if kind in ("growth_rate", "change"):
        ratio = total(spec["variable"], year("to")) / total(spec["variable"], year("from"))
        if kind == "change":
            return ratio - 1, ""
        return ratio ** (1.0 / (year("to") - year("from"))) - 1, ""
    if kind == "ratio_change":

        def intensity(at):
            return total(spec["numerator"], at) / total(spec["denominator"], at)

        return intensity(year("to")) / intensity(year("from")) - 1, ""
    if kind == "share":
        return total(spec["numerator"], year("at")) / total(spec["denominator"], year("at")), ""
    if kind == "max":
        data = ds[spec["variable"]].sel(time=slice(year("from"), year("to")))
        return data.max([d for d in data.dims if d != "run"]), ""
    if kind == "peak_year":
        data = ds[spec["variable"]]
        series = data.sum("city") if "city" in data.dims else data
        return series["time"][series.argmax("time")].drop_vars("time", errors="ignore"), ""
    raise ValueError(f"unknown indicator kind {kind!r}")


def is_met(goal: dict, value: xr.DataArray, ds: xr.Dataset) -> xr.DataArray:
    if goal["comparison"] == ">=":
        met = value >= goal["target"] - goal.get("tolerance", 0.0)
    else:
        met = value <= goal["target"] + goal.get("tolerance", 0.0)
    if goal["indicator"]["kind"] == "peak_year":  # still rising at the end of the run is not a peak
        met = met & (value < float(ds["time"].values[-1]))
    return met


def _record(goal: dict) -> dict:
    record = {
        k: goal[k] for k in ("id", "description", "comparison", "target", "tolerance", "units", "source") if k in goal
    }
    record["source"] = " ".join(str(record.get("source", "")).split())
    return record


def per_run(ds: xr.Dataset, goals: list[dict]) -> dict:
    """For a Dataset with a run dim: goal id -> (indicator per run, met per run), or (None, reason)."""
    out = {}
    for goal in goals:
        value, reason = indicator(ds, goal["indicator"])
        out[goal["id"]] = (None, reason) if value is None else (value.values, is_met(goal, value, ds).values)
    return out


def aggregate(goals: list[dict], runs: dict) -> list[dict]:
    """Ensemble records from per-run indicators: the probability each goal is met, its Monte Carlo
    standard error sqrt(p (1 - p) / n), and percentiles of the indicator. ``met`` is p >= 0.5."""
    out = []
    for goal in goals:
        record = _record(goal)
        values, met = runs[goal["id"]]
        if values is None:
            record.update(
                {"value": None, "met": None, "probability": None, "stderr": None, "note": f"not evaluated: {met}"}
            )
            out.append(record)
            continue
        n = len(values)
        finite = np.isfinite(values)
        p = float(np.mean(met)) if n else math.nan
        record.update(
            {
                "probability": p,
                "stderr": math.sqrt(p * (1 - p) / n) if n > 1 else None,
                "runs": n,
                "value_percentiles": {
                    str(q): float(np.percentile(values[finite], q)) if finite.any() else None
                    for q in (5, 25, 50, 75, 95)
                },
                "met": p >= 0.5,
            }
        )
        out.append(record)
    return out


def evaluate(ds: xr.Dataset, goals: list[dict]) -> list[dict]:
    """One record per goal: id, description, target, comparison, units, source and value/met for one run,
    or probability/stderr (and value percentiles) for an ensemble (a Dataset with a run dim)."""
    if "run" in ds.dims:
        return aggregate(goals, per_run(ds, goals))
    out = []
    for goal in goals:
        record = _record(goal)
        value, reason = indicator(ds, goal["indicator"])
        if value is None:
            record.update({"value": None, "met": None, "note": f"not evaluated: {reason}"})
        else:
            v = float(value.values)
            record.update({"value": v if math.isfinite(v) else None, "met": bool(is_met(goal, value, ds).values)})
        out.append(record)
    return out
