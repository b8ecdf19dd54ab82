"""Growth by source: how much of each city's GDP growth over a period came from productivity, capital, labour,
coal mining, the wind and solar bases, and the limits and shocks that cut output.

Realised GDP is the production function's output plus coal mining's and the bases' value added (economy.yaml).
The production function's output is its potential, less what water shortages and then the energy limit cut
(the gdp_lost_to_* outputs, sequential, so they add up to the cut), times what temporary shocks leave:

    GDP = potential x (1 - water / potential) x (1 - energy / (potential - water)) x shock + coal + bases,
    potential = Y0 x A x (K/K0)^a x (L/L0)^(1-a)

In the shipped scenarios the shock factor is below 1 only in the 2020 row: 2020's COVID dip (output_shock), and
2020 reported as the year's average while the model starts from its end (about half a year of trend growth
lower), so growth from 2020 carries a rebound that is neither a factor nor a limit.

The change in non-coal output is split over its factors with the logarithmic-mean Divisia index (LMDI-I;
Ang 2004, Energy Policy 32, 1131), which is exact and has no residual: for a product Y = X1 x X2 x ...,
dY = sum_i L(Y1, Y0) ln(Xi1 / Xi0), with L(a, b) = (a - b) / (ln a - ln b). Productivity is measured as in
growth accounting, as what potential output grew beyond capital's and labour's terms (the Solow residual); in
the model it is the productivity index, up to the difference between a year's mean of a product and the
product of its means. Each source's change in GDP is then shown as its share of the period's average annual
growth rate, in percentage points a year, so the sources add up to the growth rate.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

# the periods of the plan: its 2025 goals (growth 2021-2025 over 2020) and its 2035 vision
PERIODS = ((2020, 2025), (2025, 2035))
SOURCES = {
    "productivity": "total factor productivity (the residual of potential output over its inputs)",
    "capital": "capital's term in potential output, (K/K0)^a",
    "labour": "labour's term, (L/L0)^(1-a)",
    "water": "output cut by water shortages, irrigation's and industry's (negative: a cut that grew)",
    "energy": "output cut by the energy dual-control limit (negative: a cut that grew)",
    "shocks": "temporary output shocks; for 2021-2025, the rebound from 2020's COVID dip and year-average base",
    "coal": "coal mining's value added",
    "bases": "the wind and solar bases' value added",
}
WATER_LOSSES = ("gdp_lost_to_water", "gdp_lost_to_industrial_water")
NEEDED = (
    "gdp",
    "potential_value_added",
    "capital_input",
    "labour_input",
    "coal_value_added",
    "renewable_project_value_added",
    *WATER_LOSSES,
    "gdp_lost_to_energy_limit",
)


def missing(ds: xr.Dataset) -> list[str]:
    """The outputs growth by source needs that a run did not record."""
    return [name for name in NEEDED if name not in ds]


def _log_mean(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """L(a, b) = (a - b) / (ln a - ln b), and a where a == b."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return xr.where(a == b, a, (a - b) / np.log1p((a - b) / b))


def changes(ds: xr.Dataset, start: float, end: float) -> xr.Dataset:
    """Each source's change in GDP from ``start`` to ``end`` (yuan/year), per city; they add up to the change."""
    at = ds.sel(time=[start, end])
    bases = at["renewable_project_value_added"]
    produced = at["gdp"] - at["coal_value_added"] - bases  # the production function's realised output
    potential = at["potential_value_added"].sum("sector")
    after_water = potential - sum(at[name] for name in WATER_LOSSES)
    after_energy = after_water - at["gdp_lost_to_energy_limit"]
    growth = {
        "capital": np.log(at["capital_input"]),
        "labour": np.log(at["labour_input"]),
        "water": np.log(after_water / potential),
        "energy": np.log(after_energy / after_water),
        "shocks": np.log(produced / after_energy),
    }
    growth["productivity"] = np.log(potential) - growth["capital"] - growth["labour"]

    def change(x):
        return x.sel(time=end, drop=True) - x.sel(time=start, drop=True)

    weight = _log_mean(produced.sel(time=end, drop=True), produced.sel(time=start, drop=True))
    out = {name: weight * change(log) for name, log in growth.items()}
    out["coal"] = change(at["coal_value_added"])
    out["bases"] = change(bases)
    return xr.Dataset({name: out[name] for name in SOURCES})


def growth_by_source(ds: xr.Dataset, periods=PERIODS) -> xr.Dataset:
    """Average annual GDP growth per period and its sources, in percentage points a year, per city and for the
    four cities together (``city="four cities"``); ``growth`` is the total the sources add up to."""
    absent = missing(ds)
    if absent:
        raise KeyError(f"growth by source needs {', '.join(absent)} in the run's outputs")
    result = []
    for start, end in periods:
        change = changes(ds, start, end)
        gdp = ds["gdp"].sel(time=[start, end])
        total = xr.concat([change, change.sum("city", skipna=False).expand_dims(city=["four cities"])], "city")
        gdp = xr.concat([gdp, gdp.sum("city", skipna=False).expand_dims(city=["four cities"])], "city")
        before, after = gdp.isel(time=0, drop=True), gdp.isel(time=1, drop=True)
        rate = (after / before) ** (1 / (end - start)) - 1
        # the growth rate shared out in proportion to each source's change (x / n as the change tends to 0)
        relative = (after - before) / before
        scale = xr.where(abs(relative) > 1e-12, rate / relative, 1 / (end - start))
        shares = (total / before * scale * 100).assign(growth=rate * 100)
        result.append(shares.expand_dims(period=[f"{start + 1:g}-{end:g}"]))
    out = xr.concat(result, "period")
    for name, what in SOURCES.items():
        out[name].attrs.update(units="percentage points/year", description=what)
    out["growth"].attrs.update(units="%/year", description="average annual growth of real GDP")
    return out
