"""A readable report.md: goals, key indicators per city, binding limits and their prices, assumptions."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import xarray as xr

from ..analysis import growth
from ..engine.units import parse_unit
from ..goals import load_goals
from ..model.limits import LIMITS

# display units for the report: (base unit symbol, factor, label)
# (10k = 万, 100m = 亿, as Chinese statistics count)
DISPLAY = {
    "person": (1e4, "10k persons"),
    "yuan": (1e8, "100m yuan"),
    "m3": (1e8, "100m m3"),
    "t": (1e4, "10k t"),
    "tce": (1e4, "10k tce"),
    "tCO2": (1e6, "Mt CO2"),
    "kW": (1e4, "10k kW"),
    "kWh": (1e8, "100m kWh"),
}
KEY_INDICATORS = (
    "population",
    "urban_share",
    "gdp",
    "gdp_per_capita",
    "energy_use",
    "co2",
    "coal_output",
    "water_demand",
    "water_use",
    "water_supply_cap",
    "groundwater_storage",
    "renewable_capacity",
)
# years at which an ensemble report gives the share of runs in which each limit binds
SHARE_YEARS = (2025, 2030, 2035)


def display(units: str) -> tuple[float, str]:
    """Factor and label to show a quantity in the units readers of Chinese statistics expect."""
    unit = parse_unit(units)
    for symbol, (factor, label) in DISPLAY.items():
        # a stock (X) or a flow (X/year) of one of the counted quantities; ratios keep their units
        if unit.powers.get(symbol) == 1 and set(unit.powers) <= {symbol, "year"} and unit.powers.get("year", -1) == -1:
            return factor, label + (" per year" if "year" in unit.powers else "")
    if units == "1":
        return 0.01, "%"
    return 1.0, units


def fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def goal_kind(goal: dict) -> str | None:
    """The indicator kind of a goal record (records from goals.py carry the id, not the indicator)."""
    if "indicator" in goal:
        return goal["indicator"].get("kind")
    return next((g["indicator"]["kind"] for g in load_goals() if g["id"] == goal["id"]), None)


def goal_scale(goal: dict) -> tuple[float, str]:
    """(factor, suffix) to show a goal's indicator and target: a year as a year, a ratio against 1 (demand
    over a limit, wind and solar over coal power) as a ratio, other dimensionless indicators in percent."""
    if goal.get("units") not in ("1", "1/year"):
        return 1.0, ""
    kind = goal_kind(goal)
    ratio = kind == "max" or (kind == "share" and abs(goal["target"]) >= 1)
    return (1.0, "") if ratio else (100.0, " %")


def goal_number(goal: dict, value: float | None) -> str:
    """A goal's indicator (or target) in words: "3.68 %", "1.14", "2030"."""
    if value is None or not math.isfinite(value):
        return "–"
    if goal.get("units") == "year":
        return f"{value:.0f}"
    scale, suffix = goal_scale(goal)
    return f"{fmt(value * scale)}{suffix}"


def goals_table(goals: list[dict]) -> list[str]:
    ensemble = any("probability" in g for g in goals)
    if ensemble:
        lines = ["| goal | target | probability met (± s.e.) | median value | description |", "|---|---|---|---|---|"]
    else:
        lines = ["| goal | target | value | met | description |", "|---|---|---|---|---|"]
    for g in goals:
        target = f"{g['comparison']} {goal_number(g, g['target'])}"
        if ensemble:
            p = g.get("probability")
            median = (g.get("value_percentiles") or {}).get("50")
            prob = "not evaluated" if p is None else f"{p:.1%} ± {g['stderr'] or 0:.1%}"
            lines.append(f"| {g['id']} | {target} | {prob} | {goal_number(g, median)} | {g['description']} |")
        else:
            met = {True: "yes", False: "**no**", None: g.get("note", "–")}[g.get("met")]
            lines.append(f"| {g['id']} | {target} | {goal_number(g, g.get('value'))} | {met} | {g['description']} |")
    return lines


def indicators_table(ds: xr.Dataset, years=(2020, 2025, 2030, 2035)) -> list[str]:
    years = [y for y in years if np.any(np.isclose(ds["time"].values, y))]
    cities = [str(c) for c in ds["city"].values]
    lines = [
        f"| indicator | units | city | {' | '.join(str(y) for y in years)} |",
        "|---|---|---|" + "---|" * len(years),
    ]
    for name in KEY_INDICATORS:
        if name not in ds:
            continue
        factor, label = display(ds[name].attrs.get("units", ""))
        for city in cities + ["four cities"]:
            if city == "four cities":
                if name in ("urban_share", "gdp_per_capita"):
                    continue
                values = [float(ds[name].sel(time=y).sum("city")) for y in years]
            else:
                values = [float(ds[name].sel(time=y, city=city)) for y in years]
            cells = " | ".join(fmt(v / factor) for v in values)
            lines.append(f"| {name} | {label} | {city} | {cells} |")
    return lines


# the demography section: (variable, what it is[, (factor, display unit)]); by default shares and ratios in %,
# people in 10k (display)
DEMOGRAPHY = (
    ("total_fertility_rate", "at the year's age-specific rates", (1.0, "children per woman")),
    ("share_aged_60_plus", "share of residents aged 60+"),
    ("dependency_ratio", "residents aged 0-14 and 65+ per 100 aged 15-64"),
    ("old_age_dependency_ratio", "residents aged 65+ per 100 aged 15-64"),
    ("labour_force", "residents aged 15-59 in the labour force"),
    ("urbanisation", "rural residents moving to town in the year"),
    ("births", "births in the year"),
    ("deaths", "deaths in the year"),
    ("intercity_in_migration", "migrants arriving from the other three cities"),
    ("intercity_out_migration", "migrants leaving for the other three cities"),
    ("external_migration", "net migration with the rest of China"),
)


def demography_table(ds: xr.Dataset, years=(2020, 2025, 2030, 2035)) -> list[str]:
    """Fertility, ageing, labour and migration by origin per city, in display units."""
    years = [y for y in years if np.any(np.isclose(ds["time"].values, y))]
    lines = [
        f"| indicator | what it is | units | city | {' | '.join(str(y) for y in years)} |",
        "|---|---|---|---|" + "---|" * len(years),
    ]
    for name, what, *shown in DEMOGRAPHY:
        if name not in ds:
            continue
        factor, label = shown[0] if shown else display(ds[name].attrs.get("units", ""))
        for city in (str(c) for c in ds["city"].values):
            cells = " | ".join(fmt(float(ds[name].sel(time=y, city=city)) / factor) for y in years)
            lines.append(f"| {name} | {what} | {label} | {city} | {cells} |")
    return lines


def _total(ds: xr.Dataset, name: str, city, where, mean: bool = False) -> str:
    """A variable summed (or averaged) over the selected years of one city, in display units; "–" if the
    run's outputs do not include it."""
    if name not in ds:
        return "–"
    factor, units = display(ds[name].attrs.get("units", ""))
    data = ds[name].sel(city=city).where(where)
    value = float(data.mean() if mean else data.sum())
    return f"{fmt(value / factor)} {units.split(' per')[0]}"


def binding_table(ds: xr.Dataset) -> list[str]:
    """One run: where each limit binds, the demand it turns away, its shadow price and the GDP lost."""
    recorded = [limit for limit in LIMITS if limit.binding in ds]
    missing = [limit.binding for limit in LIMITS if limit.binding not in ds]
    note = [f"Not in this run's outputs (add them to `outputs.variables`): {', '.join(missing)}."] if missing else []
    if not recorded:
        return note
    lines = [
        "| limit | city | binds in | years binding | shortfall, total | mean shadow price when binding | "
        "marginal use | GDP lost, total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    projection = ds["time"] > ds["time"][0]
    for limit in recorded:
        for city in ds["city"].values:
            binds = (ds[limit.binding].sel(city=city) > 0.5) & projection
            years = ds["time"].values[binds.values]
            if not len(years):
                continue
            span = f"{years[0]:g}–{years[-1]:g}" if len(years) > 1 else f"{years[0]:g}"
            lines.append(
                f"| {limit.label} | {city} | {span} | {len(years)} | "
                f"{_total(ds, limit.shortfall, city, projection)} | "
                f"{_total(ds, limit.shadow_price, city, binds, mean=True)} | {limit.marginal} | "
                f"{_total(ds, limit.gdp_lost, city, projection)} |"
            )
    if len(lines) == 2:
        lines.append("| – | – | no limit binds in this run | | | | | |")
    return lines + ([""] + note if note else [])


def runs_sentence(attrs: dict) -> str | None:
    """How many runs of an ensemble count, and why the others do not; None if the attributes are absent."""
    if "runs_kept" not in attrs:
        return None
    kept, excluded = int(attrs["runs_kept"]), int(attrs.get("runs_excluded", 0))
    if not excluded:
        return f"all {kept:,} runs kept"
    reasons = json.loads(attrs.get("excluded_reasons") or "{}")
    why = "; ".join(f"{reason}: {n:,}" for reason, n in reasons.items())
    return f"{kept:,} of {kept + excluded:,} runs kept, {excluded:,} excluded" + (f" ({why})" if why else "")


def binding_share_table(ds: xr.Dataset) -> list[str]:
    """An ensemble: per limit and city, the share of kept runs in which the limit binds in a few years, and
    the first year in which it binds in more than half of them."""
    times = ds["time"].values
    years = [y for y in SHARE_YEARS if np.any(times == y)]
    lines = [
        f"| limit | city | {' | '.join(f'share binding in {y}' for y in years)} | first year binding in "
        "more than half of the runs | largest share (year) |",
        "|---|---|" + "---|" * (len(years) + 2),
    ]
    projection = times > times[0]
    for limit in LIMITS:
        if limit.share not in ds:
            continue
        for city in ds["city"].values:
            share = ds[limit.share].sel(city=city).values
            if not np.any(share[projection] > 0):
                continue
            cells = " | ".join(f"{float(share[times == y][0]):.1%}" for y in years)
            majority = times[projection & (share > 0.5)]
            first = f"{majority[0]:g}" if len(majority) else "never"
            peak = int(np.argmax(np.where(projection, share, -1)))
            lines.append(f"| {limit.label} | {city} | {cells} | {first} | {share[peak]:.1%} ({times[peak]:g}) |")
    if len(lines) == 2:
        lines.append("| – | – | no limit binds in any kept run |" + " |" * (len(years) + 1))
    return lines


def shadow_table(prices: list[dict]) -> list[str]:
    """Dynamic shadow prices (shadow.py), each policy path named with the limit it raises."""
    if not prices:
        return ["No limit binds, so no dynamic shadow price was computed."]
    lines = [
        "| limit raised by 1 % | city | extra allowance over the run | four-city GDP gained | shadow price |",
        "|---|---|---|---|---|",
    ]
    limit_of = {lever.policy: limit.label for limit in LIMITS for lever in limit.levers}
    for p in prices:
        factor, label = DISPLAY.get(p["allowance_units"], (1.0, p["allowance_units"]))
        policy = p["limit"]
        raised = f"{limit_of[policy]}: {policy}" if policy in limit_of else policy
        lines.append(
            f"| {raised} | {p['city']} | {fmt(p['extra_allowance'] / factor)} {label} | "
            f"{fmt(p['gdp_gained_yuan'] / 1e8)} 100m yuan | {fmt(p['shadow_price'])} {p['units']} |"
        )
    return lines


def assumptions(scenario) -> list[str]:
    """What the scenario sets differently from the model's defaults (the baseline)."""
    lines = []
    data = scenario.data
    for section in ("parameters", "policies"):
        for name, value in (data.get(section) or {}).items():
            lines.append(f"- {section}.{name}: `{_inline(value)}`")
    if data.get("parameters_from"):
        lines.append(f"- parameters from the fitted file `{data['parameters_from']}`")
    if data.get("uncertain"):
        lines.append(f"- {len(scenario.uncertain)} uncertain inputs (Monte Carlo)")
    return lines or ["- none: the model's defaults (current trends)"]


def growth_section(ds: xr.Dataset) -> list[str]:
    """One run: average annual GDP growth per plan period, split by source (analysis/growth.py)."""
    absent = growth.missing(ds)
    if absent:
        return [f"Not in this run's outputs (add them to `outputs.variables`): {', '.join(absent)}."]
    years = set(ds["time"].values.tolist())
    periods = [p for p in growth.PERIODS if set(p) <= years]
    if not periods:
        spans = ", ".join(f"{a:g}-{b:g}" for a, b in growth.PERIODS)
        return [f"The run does not reach both ends of a plan period ({spans})."]
    table = growth.growth_by_source(ds, periods)
    sources = list(growth.SOURCES)
    lines = [
        "Average annual growth of real GDP and what it came from, in percentage points a year (they add up to "
        "the growth rate; `simulator/analysis/growth.py` gives the method, an exact LMDI split of the production "
        "function, productivity as its residual):",
        "",
        *(f"- `{name}`: {what}" for name, what in growth.SOURCES.items()),
        "",
        f"| period | city | growth, %/yr | {' | '.join(sources)} |",
        "|---|---|---|" + "---|" * len(sources),
    ]
    for period in table["period"].values:
        for city in table["city"].values:
            row = table.sel(period=period, city=city)
            cells = " | ".join(f"{round(float(row[name]), 2) + 0.0:+.2f}" for name in sources)  # no -0.00
            lines.append(f"| {period} | {city} | {float(row['growth']):.2f} | {cells} |")
    return lines


def _inline(value) -> str:
    text = str(value)
    return text if len(text) < 160 else text[:157] + "..."


def binding_section(ds: xr.Dataset, ensemble: bool) -> list[str]:
    """The binding-limits section: one run's table, or an ensemble's shares of runs."""
    if not ensemble:
        return [
            "Where each hard limit binds (demand above the limit; use is held to it), the demand it turns "
            "away, the instantaneous shadow price (GDP one more unit would add that year) and the GDP lost.",
            "",
            *binding_table(ds),
        ]
    runs = runs_sentence(ds.attrs)
    lines = [
        "Share of the Monte Carlo runs in which each hard limit binds (demand above the limit; use is held "
        "to it), per city" + (f" ({runs})." if runs else "."),
        "",
    ]
    if not any(limit.share in ds for limit in LIMITS):
        return lines + [
            "This ensemble's summary does not record how often the limits bind; read the goals "
            "`water_within_caps` and `coal_within_cap` above for the probability that they do not."
        ]
    return lines + binding_share_table(ds)


def write_report(
    path, ds: xr.Dataset, scenario, goals: list[dict], prices: list[dict] | None = None, extra: list[str] | None = None
):
    """report.md for one run, or for an ensemble (``ds`` its median run with the ``share_<binding>``
    variables and ``runs_kept`` attributes of the summary; ``goals`` with probabilities)."""
    g = scenario.time
    ensemble = (
        any("probability" in goal for goal in goals)
        or "runs_kept" in ds.attrs
        or any(limit.share in ds for limit in LIMITS)
    )
    runs = runs_sentence(ds.attrs)
    lines = [
        f"# Scenario `{scenario.name}`",
        "",
        scenario.description or "",
        "",
        f"Run {date.today().isoformat()}: {g.start:g}–{g.end:g}, {scenario.method.upper()}, dt = {g.dt:g} year, "
        "money in yuan at constant 2020 prices. Stocks are year-end values; flows are averages over "
        "the year that ends at the date shown. Units as Chinese statistics count them: 10k = 万, 100m = 亿."
        + (f" Monte Carlo: {runs}." if runs else ""),
        "",
        "## Plan goals",
        "",
        *goals_table(goals),
        "",
        "## Key indicators",
        "",
        *indicators_table(ds),
        "",
        "## Population: fertility, ageing, labour and migration",
        "",
        "Population pyramids per city: `pyramids.png`; town and country by age in the last year: "
        "`town_and_country.png`. Net migration by origin: from the other three cities "
        "(arriving less leaving) and with the rest of China.",
        "",
        *demography_table(ds),
        "",
        *([] if ensemble else ["## Growth by source", "", *growth_section(ds), ""]),
        "## Binding limits",
        "",
        *binding_section(ds, ensemble),
        "",
    ]
    if prices is not None:
        lines += [
            "### Dynamic shadow prices",
            "",
            "Each binding limit raised by 1 % in one city for the whole run: four-city GDP gained over the "
            "projection years per unit of extra allowance.",
            "",
            *shadow_table(prices),
            "",
        ]
    lines += ["## Assumptions that differ from the baseline", "", *assumptions(scenario), ""]
    if extra:
        lines += extra
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
