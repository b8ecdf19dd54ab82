"""Dynamic shadow prices: what one more unit of a binding limit is worth over the whole run.

The model reports each limit's instantaneous shadow price (constraints.yaml). Because a limit also
shapes investment, migration and groundwater, the full cost shows only over time. Here each limit is
raised by 1 % in one city, for the whole run, in one batch of runs through the kernel; the price is
the change in four-city GDP summed over the projection years, divided by the extra allowance summed
over the same years.
"""

from __future__ import annotations

import numpy as np

from ..engine import InputRef, simulate, to_dataset
from ..inputs.scenario import Scenario
from ..model.limits import LIMITS

# (policy path raised, output that measures the allowance, binding indicator, unit of the allowance)
LEVERS = tuple(
    (lever.policy, lever.allowance, limit.binding, limit.allowance_units) for limit in LIMITS for lever in limit.levers
)
STEP = 0.01


def dynamic_shadow_prices(model, scenario: Scenario, ds) -> list[dict]:
    """One record per (limit, city) where the limit binds in ``ds`` at least once."""
    cases = []
    for policy, allowance, binding, unit in LEVERS:
        if binding not in ds:
            continue
        for k, city in enumerate(ds["city"].values):
            if float(ds[binding].sel(city=city).max()) < 0.5:
                continue
            if policy == "water_red_line" and float(ds["water_red_line"].sel(city=city).max()) <= 0:
                continue
            cases.append((policy, allowance, unit, k, str(city)))
    if not cases:
        return []
    inputs = scenario.inputs(model, runs=1 + len(cases))
    for run, (policy, _, _, k, _) in enumerate(cases, start=1):
        inputs.params[run, inputs.columns(InputRef(policy, multiplier=True, element=k))] *= 1 + STEP
    record = sorted({"gdp"} | {c[1] for c in cases})
    result = simulate(model, inputs, scenario.time, scenario.method, record=record)
    runs = to_dataset(result, runs=True)
    years = runs["time"] > scenario.time.start
    gdp = runs["gdp"].where(years).sum(("time", "city"))
    out = []
    for run, (policy, allowance, unit, k, city) in enumerate(cases, start=1):
        extra = (runs[allowance].isel(run=run, city=k) - runs[allowance].isel(run=0, city=k)).where(years).sum()
        gained = float(gdp.isel(run=run) - gdp.isel(run=0))
        price = gained / float(extra) if float(extra) > 0 else np.nan
        out.append(
            {
                "limit": policy,
                "city": city,
                "allowance_units": unit,
                "extra_allowance": float(extra),
                "gdp_gained_yuan": gained,
                "shadow_price": price,
                "units": f"yuan/{unit}",
            }
        )
    return out
