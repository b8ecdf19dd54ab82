"""Figures an economist reads: trajectories per city with the limits drawn, a binding-limit timeline,
a goal dashboard, scenario comparisons, Monte Carlo fan charts, calibration fits and Sobol indices. Each
function takes a Dataset (or goal records) and returns a matplotlib Figure; ``path`` saves it as PNG.

Every figure: a title in words, the y axis in the display units of ``report.display`` (10k persons,
100m yuan, ...), a legend that says what each line is, and years as calendar years."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ..model.limits import LIMITS, limit_on
from .report import display, goal_kind, goal_number, goal_scale

CITY_COLOURS = {"hohhot": "#1b9e77", "baotou": "#d95f02", "ordos": "#7570b3", "ulanqab": "#e7298a"}
# the panels of the trajectories figure; a limit's use is drawn with its cap and demand (limits.py)
PANELS = (
    "population",
    "urban_population",
    "gdp",
    "energy_use",
    "co2",
    "coal_output",
    "water_use",
    "groundwater_storage",
    "renewable_capacity",
)
TITLES = {
    "population": "Population",
    "urban_population": "Urban population",
    "gdp": "GDP (2020 prices)",
    "potential_gdp": "Potential GDP (2020 prices)",
    "four_city_investment_rate": "Investment over GDP",
    "energy_use": "Energy use",
    "co2": "CO2 emissions",
    "coal_output": "Coal output",
    "water_use": "Water use",
    "water_demand": "Water demand",
    "groundwater_storage": "Groundwater storage",
    "renewable_capacity": "Wind and solar capacity",
    "urban_share": "Urban share of population",
    "gdp_per_capita": "GDP per person",
}
# thin lines drawn beside a panel's variable that are not limits: variable -> ((line, style, what it is), ...)
REFERENCE_LINES = {"gdp": (("potential_gdp", ":", "potential GDP (no limit binding)"),)}
# a city whose largest value is this many times the other cities' largest gets a panel of its own
DWARFS = 5.0
BAND_ALPHAS = {"5–95 % band": 0.18, "25–75 % band": 0.35}


def title_of(name: str) -> str:
    """A variable's name in words, for titles."""
    return TITLES.get(name, name.replace("_", " ").capitalize())


def companion_lines(name: str) -> tuple[tuple[str, str, str], ...]:
    """(variable, line style, label) drawn thin beside ``name``: a limit's cap dashed and its demand dotted
    (from the catalogue), or a reference line such as potential GDP."""
    limit = limit_on(name)
    if limit is not None:
        return ((limit.cap, "--", f"limit ({limit.label})"), (limit.demand, ":", "demand (without the limit)"))
    return REFERENCE_LINES.get(name, ())


def _save(fig, path):
    if path is not None:  # the layout is already tight; bbox_inches="tight" would draw the figure twice
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def _layout(fig):
    """Tight panels with room for the suptitle above and the figure legend below (in inches, whatever the
    figure's height)."""
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1 - 0.4 / height))


def _years(ax, times):
    """Calendar years on the x axis: whole years, a few ticks, no offset, limits at the first and last year."""
    ax.set_xlim(float(times[0]), float(times[-1]))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10], integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.0f}"))


def _plain_y(ax):
    """No offset ("+2.02e3") on the y axis: the display units already make the numbers readable."""
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")


def _panel_axes(ax, times, labelsize: float):
    """A time panel's axes: small tick labels, a light grid, calendar years along x, no offset on y."""
    ax.tick_params(labelsize=labelsize)
    ax.grid(alpha=0.3)
    _years(ax, times)
    _plain_y(ax)


def _city_groups(da: xr.DataArray, cities: list[str]) -> list[tuple[str, list[str]]]:
    """All cities in one panel, or, where one city dwarfs the others (coal in Ordos), that city in a panel of
    its own and the others together, so that neither is flattened. Returns (panel label, cities) pairs."""
    peaks = {c: float(np.nanmax(np.abs(da.sel(city=c).values))) for c in cities}
    largest = max(peaks, key=peaks.get)
    others = [c for c in cities if c != largest]
    rest = max((peaks[c] for c in others), default=0.0)
    if rest > 0 and peaks[largest] > DWARFS * rest:
        return [(largest.capitalize(), [largest]), ("other cities", others)]
    return [("", cities)]


def trajectories(ds: xr.Dataset, variables=PANELS, path=None, title: str = ""):
    """Small multiples: one panel per variable (a name or a list of names), one line per city; a limit
    dashed and the demand it turns away dotted, GDP with potential GDP dotted."""
    variables = [variables] if isinstance(variables, str) else list(variables)
    cities = [str(c) for c in ds["city"].values]
    panels = [
        (name, label, group) for name in variables if name in ds for label, group in _city_groups(ds[name], cities)
    ]
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.3 * rows + 0.6), squeeze=False)
    time = ds["time"].values
    for ax, (name, group_label, group) in zip(axes.flat, panels):
        factor, units = display(ds[name].attrs.get("units", ""))
        lines = [line for line in companion_lines(name) if line[0] in ds]
        for city in group:
            colour = CITY_COLOURS.get(city)
            ax.plot(time, ds[name].sel(city=city) / factor, color=colour, lw=1.8)
            for line, style, _ in lines:
                ax.plot(time, ds[line].sel(city=city) / factor, color=colour, lw=1.0, ls=style)
        ax.set_title(title_of(name) + (f": {group_label}" if group_label else ""), fontsize=10)
        ax.set_ylabel(units, fontsize=8)
        _panel_axes(ax, time, labelsize=8)
        if lines:  # what each line style means in this panel
            styles = [plt.Line2D([], [], color="grey", lw=1.8)] + [
                plt.Line2D([], [], color="grey", ls=s) for _, s, _ in lines
            ]
            labels = [title_of(name).split(" (")[0]] + [label for _, _, label in lines]
            ax.legend(styles, labels, fontsize=7, loc="best", framealpha=0.8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    cities_legend = [plt.Line2D([], [], color=CITY_COLOURS.get(c), lw=1.8) for c in cities]
    fig.legend(
        cities_legend, [c.capitalize() for c in cities], loc="lower center", ncol=len(cities), fontsize=9, frameon=False
    )
    fig.suptitle(title or f"Trajectories per city: {ds.attrs.get('scenario', '')}", fontsize=12)
    _layout(fig)
    return _save(fig, path)


def age_label(element: str) -> str:
    """'a0_4' -> '0–4', 'a85_plus' -> '85+'."""
    return element[1:].replace("_plus", "+").replace("_", "–")


def _pyramid_panels(ds: xr.Dataset):
    """A panel per city for pyramids (men to the left, women to the right, five-year age groups up the side):
    the figure, the panels by city, the groups' positions and the display factor of persons."""
    cities = [str(c) for c in ds["city"].values]
    ages = [str(a) for a in ds["age"].values]
    factor, units = display(ds["residents"].attrs.get("units", "person"))
    fig, axes = plt.subplots(1, len(cities), figsize=(3.6 * len(cities), 5.2), squeeze=False, sharey=True)
    y = np.arange(len(ages))
    for ax, city in zip(axes.flat, cities):
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_title(city.capitalize(), fontsize=10)
        ax.set_xlabel(f"{units} (men left, women right)", fontsize=8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{abs(x):g}"))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, axis="x")
    axes.flat[0].set_yticks(y, [age_label(a) for a in ages])
    axes.flat[0].set_ylabel("age (years)", fontsize=8)
    return fig, dict(zip(cities, axes.flat)), y, factor


def pyramids(ds: xr.Dataset, years=(2020, 2025, 2035), path=None, title: str = ""):
    """Population pyramids, one panel per city: men to the left, women to the right, by five-year age group;
    the first year as bars, the later years as outlines."""
    years = [y for y in years if np.any(np.isclose(ds["time"].values, y))]
    fig, panels, y, factor = _pyramid_panels(ds)
    styles = ["-", "--", ":"]
    for city, ax in panels.items():
        for k, year in enumerate(years):
            men = ds["residents"].sel(city=city, sex="male", time=year).values / factor
            women = ds["residents"].sel(city=city, sex="female", time=year).values / factor
            if k == 0:
                ax.barh(y, -men, height=0.9, color="#4c72b0", alpha=0.55)
                ax.barh(y, women, height=0.9, color="#dd8452", alpha=0.55)
            else:  # the outline of the bars: each group's value over its whole height
                for side, values in ((-1, men), (1, women)):
                    ax.stairs(
                        side * values,
                        np.arange(len(y) + 1) - 0.5,
                        orientation="horizontal",
                        baseline=None,
                        color="black",
                        lw=1.1,
                        ls=styles[k % 3],
                    )
    handles = [Patch(color="#4c72b0", alpha=0.55), Patch(color="#dd8452", alpha=0.55)]
    labels = [f"men {years[0]}", f"women {years[0]}"]
    for k, year in enumerate(years[1:], start=1):
        handles.append(plt.Line2D([], [], color="black", ls=styles[k % 3]))
        labels.append(f"{year} (outline)")
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle(title or f"Population by age and sex: {ds.attrs.get('scenario', '')}", fontsize=12)
    _layout(fig)
    return _save(fig, path)


def town_and_country(ds: xr.Dataset, year=None, path=None, title: str = ""):
    """Pyramids of one year (default: the last) split into town and country, one panel per city: urban
    residents dark, rural residents light, men to the left and women to the right."""
    year = float(ds["time"].values[-1]) if year is None else year
    fig, panels, y, factor = _pyramid_panels(ds)
    colours = {"male": ("#2a4d7f", "#a9c1e0"), "female": ("#b5561c", "#f1c7a6")}
    for city, ax in panels.items():
        for sex, side in (("male", -1), ("female", 1)):
            urban = ds["urban_residents"].sel(city=city, sex=sex, time=year).values / factor
            rural = ds["residents"].sel(city=city, sex=sex, time=year).values / factor - urban
            ax.barh(y, side * urban, height=0.9, color=colours[sex][0])
            ax.barh(y, side * rural, left=side * urban, height=0.9, color=colours[sex][1])
    handles = [Patch(color=colours[sex][k]) for sex in ("male", "female") for k in (0, 1)]
    labels = ["urban men", "rural men", "urban women", "rural women"]
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(title or f"Town and country by age and sex, {year:.0f}: {ds.attrs.get('scenario', '')}", fontsize=12)
    _layout(fig)
    return _save(fig, path)


def binding_timeline(ds: xr.Dataset, path=None):
    """City x year grid per limit: where each hard limit binds."""
    limits = [limit for limit in LIMITS if limit.binding in ds]
    cities = [str(c) for c in ds["city"].values]
    rows = [(limit.label, c) for limit in limits for c in cities]
    grid = np.array([[float(v) for v in ds[limit.binding].sel(city=c).values] for limit in limits for c in cities])
    time = ds["time"].values
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(time) + 2), 0.35 * len(rows) + 1.5))
    # cells centred on their year
    ax.imshow(
        grid,
        aspect="auto",
        cmap="Reds",
        vmin=0,
        vmax=1.4,
        interpolation="nearest",
        extent=(time[0] - 0.5, time[-1] + 0.5, len(rows) - 0.5, -0.5),
    )
    ax.xaxis.set_major_locator(
        MaxNLocator(nbins=len(time) if len(time) <= 20 else 8, steps=[1, 2, 5, 10], integer=True)
    )
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.0f}"))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{label}: {c}" for label, c in rows], fontsize=8)
    for k in range(1, len(limits)):
        ax.axhline(k * len(cities) - 0.5, color="black", lw=0.8)
    ax.set_title(
        f"Where the hard limits bind: {ds.attrs.get('scenario', '')}\n(dark red: demand above the limit "
        "all year; lighter: part of the year)",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


COMPARISON_WORDS = {">=": "at least", "<=": "at most"}


def _goal_words(goal: dict, value: float) -> str:
    """ "3.68 % vs target at least 6 %", "peak 2020, target by 2030"."""
    if goal.get("units") == "year":
        when = "by" if goal["comparison"] == "<=" else "from"
        what = "peak " if goal_kind(goal) == "peak_year" else ""
        return f"{what}{value:.0f}, target {when} {goal['target']:.0f}"
    target = goal_number(goal, goal["target"])
    return f"{goal_number(goal, value)} vs target {COMPARISON_WORDS[goal['comparison']]} {target}"


def _goal_row(ax, goal: dict):
    """One goal on its own scale: the target line, the range where the goal is met shaded, the value a dot."""
    year = goal.get("units") == "year"
    scale = 1.0 if year else goal_scale(goal)[0]
    value, target = goal["value"] * scale, goal["target"] * scale
    threshold = target + goal.get("tolerance", 0.0) * scale * (1 if goal["comparison"] == "<=" else -1)
    low, high = min(value, target), max(value, target)
    pad = 0.35 * (max(high - low, 4.0) if year else max(high - low, 0.25 * abs(target), 1e-9))
    left, right = low - pad, high + pad
    if goal["comparison"] == ">=":
        ax.axvspan(threshold, right, color="#a6d96a", alpha=0.4, lw=0)
    else:
        ax.axvspan(left, threshold, color="#a6d96a", alpha=0.4, lw=0)
    ax.axvline(target, color="black", lw=1.2)
    ax.plot([value], [0], "o", ms=9, color="#1a9850" if goal.get("met") else "#d73027")
    ax.set_xlim(left, right)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    if year:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.0f}"))
    else:
        suffix = goal_scale(goal)[1]
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}{suffix}"))
    ax.tick_params(labelsize=7)
    verdict = "met" if goal.get("met") else "not met"
    ax.set_title(f"{goal['id']}: {_goal_words(goal, goal['value'])} ({verdict})", fontsize=8.5, loc="left")


def goal_dashboard(goals: list[dict], path=None, title: str = ""):
    """One row per goal: for one run the value against the target on the goal's own scale (percent, ratio
    or year); for an ensemble the probability that the goal is met."""
    if any("probability" in g for g in goals):
        return _probability_dashboard(goals, path, title)
    fig, axes = plt.subplots(len(goals), 1, figsize=(8, 0.85 * len(goals) + 1.3), squeeze=False)
    for ax, goal in zip(axes[:, 0], goals):
        if goal.get("value") is None:
            ax.axis("off")
            ax.set_title(f"{goal['id']}: {goal.get('note', 'not evaluated')}", fontsize=8.5, loc="left")
            continue
        _goal_row(ax, goal)
    legend = [
        plt.Line2D([], [], ls="", marker="o", color="#1a9850"),
        plt.Line2D([], [], ls="", marker="o", color="#d73027"),
        plt.Line2D([], [], color="black"),
        Patch(color="#a6d96a", alpha=0.4),
    ]
    fig.legend(
        legend,
        ["value in this run: met", "value in this run: not met", "target", "where the goal is met"],
        loc="lower center",
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(title or "Plan goals", fontsize=11)
    _layout(fig)
    return _save(fig, path)


def _probability_dashboard(goals: list[dict], path, title: str):
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(goals) + 1.4))
    for i, g in enumerate(goals):
        p = g.get("probability")
        if p is None:
            ax.text(0.01, i, g.get("note", "not evaluated"), va="center", fontsize=8)
            continue
        ax.barh(i, p, color=plt.cm.RdYlGn(p))
        median = (g.get("value_percentiles") or {}).get("50")
        detail = "" if median is None else f"  (median {_goal_words(g, median)})"
        ax.text(p + 0.01, i, f"{p:.1%} ± {g.get('stderr') or 0:.1%}{detail}", va="center", fontsize=8)
    ax.set_xlim(0, 1.6)
    ax.set_xticks(np.linspace(0, 1, 5))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("probability that the goal is met (± Monte Carlo standard error)")
    ax.set_yticks(range(len(goals)))
    ax.set_yticklabels([g["id"] for g in goals], fontsize=8)
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(title or "Plan goals: probability met", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def compare(
    a: xr.Dataset,
    b: xr.Dataset,
    variables=("population", "gdp", "co2", "coal_output", "water_use", "energy_use"),
    path=None,
):
    """Relative difference (B - A) / A per city for a few key variables."""
    variables = [v for v in variables if v in a and v in b]
    name_a, name_b = a.attrs.get("scenario", "A"), b.attrs.get("scenario", "B")
    cols = 3
    rows = int(np.ceil(len(variables) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.1 * rows + 0.6), squeeze=False)
    for ax, name in zip(axes.flat, variables):
        for city in a["city"].values:
            base = a[name].sel(city=city)
            diff = xr.where(base != 0, (b[name].sel(city=city) - base) / base * 100, np.nan)
            ax.plot(a["time"].values, diff, color=CITY_COLOURS.get(str(city)), lw=1.8, label=str(city).capitalize())
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(title_of(name), fontsize=10)
        ax.set_ylabel(f"% difference from {name_a}", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        _years(ax, a["time"].values)
    for ax in list(axes.flat)[len(variables) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(f"{name_b} compared with {name_a}: ({name_b} − {name_a}) / {name_a}, per city", fontsize=12)
    _layout(fig)
    return _save(fig, path)


def fan_chart(
    percentiles: xr.Dataset,
    variables=("population", "gdp", "co2", "water_use"),
    path=None,
    title="",
    deterministic: xr.Dataset | None = None,
):
    """Monte Carlo fan charts: median with 25-75 % and 5-95 % bands, one panel per variable and city; a
    limit dashed where the variable has one (its median over the runs, or the deterministic run's), and
    the ``deterministic`` run (the scenario with its central inputs) as a line when given."""
    variables = [v for v in variables if v in percentiles]
    cities = [str(c) for c in percentiles["city"].values]
    fig, axes = plt.subplots(
        len(variables), len(cities), figsize=(3.4 * len(cities), 2.7 * len(variables) + 0.6), squeeze=False
    )
    time = percentiles["time"].values
    drawn = set()
    for row, name in zip(axes, variables):
        factor, units = display(percentiles[name].attrs.get("units", ""))
        limit = limit_on(name)
        cap, cap_label = None, ""
        if limit is not None and limit.cap in percentiles:
            cap, cap_label = percentiles[limit.cap].sel(percentile=50), "limit (median over the runs)"
        elif limit is not None and deterministic is not None and limit.cap in deterministic:
            cap, cap_label = deterministic[limit.cap], "limit (deterministic run)"
        for ax, city in zip(row, cities):
            q = percentiles[name].sel(city=city) / factor
            colour = CITY_COLOURS.get(city)
            ax.fill_between(time, q.sel(percentile=5), q.sel(percentile=95), color=colour, alpha=0.18, lw=0)
            ax.fill_between(time, q.sel(percentile=25), q.sel(percentile=75), color=colour, alpha=0.35, lw=0)
            ax.plot(time, q.sel(percentile=50), color=colour, lw=1.8)
            if cap is not None:
                ax.plot(time, cap.sel(city=city) / factor, color=colour, lw=1.0, ls="--")
                drawn.add(cap_label)
            if deterministic is not None and name in deterministic:
                ax.plot(
                    deterministic["time"].values,
                    deterministic[name].sel(city=city) / factor,
                    color="black",
                    lw=1.0,
                    ls="-.",
                )
                drawn.add("deterministic run")
            ax.set_title(f"{title_of(name)}: {city.capitalize()}", fontsize=9)
            _panel_axes(ax, time, labelsize=7)
        row[0].set_ylabel(units, fontsize=8)
    handles = [Patch(color="grey", alpha=alpha, lw=0) for alpha in BAND_ALPHAS.values()]
    labels = list(BAND_ALPHAS)
    handles.append(plt.Line2D([], [], color="grey", lw=1.8))
    labels.append("median")
    for label in sorted(drawn):
        handles.append(
            plt.Line2D(
                [],
                [],
                color="black" if label == "deterministic run" else "grey",
                lw=1.0,
                ls="-." if label == "deterministic run" else "--",
            )
        )
        labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle(f"{title or 'Monte Carlo'}: median with 25–75 % and 5–95 % bands over the runs", fontsize=11)
    _layout(fig)
    return _save(fig, path)


def calibration_fit(config, result, path=None):
    """Simulated (line, with the uncalibrated defaults dashed) against observed (dots), per series and city,
    over the calibration window, in display units (growth rates in % per year)."""
    tables, defaults = result["tables"], result["tables_default"]
    model = result["problem"].model
    cities = [c for c in dict.fromkeys(c for t in tables for c in t.city) if c != "all"] or ["all"]
    years = np.arange(int(config.grid.start), int(config.grid.end) + 1)
    fig, axes = plt.subplots(
        len(tables), len(cities), figsize=(3.4 * len(cities), 2.6 * len(tables) + 0.6), squeeze=False
    )
    for row, (target, table, default) in zip(axes, zip(config.targets, tables, defaults)):
        if target.transform == "growth_rate":
            factor, units = 0.01, "growth rate, % per year"
        else:
            factor, units = display(model.variables[target.variable].units)
        places = ["all"] if set(table.city) == {"all"} else cities  # a target for the four cities: one panel
        split = sum(other.series == target.series for other in config.targets) > 1  # one series, two errors
        for ax in row[len(places) :]:
            ax.set_visible(False)
        for ax, city in zip(row, places):
            t, d = table[table.city == city], default[default.city == city]
            colour = CITY_COLOURS.get(city, "0.3")  # the four cities together: dark grey
            single = len(t) == 1  # a census year: a line of one point would not show
            ax.plot(t.year, t.value / factor, "o", color="black", ms=3.5, zorder=3, label=f"observed ({target.series})")
            ax.plot(
                t.year,
                t.simulated / factor,
                "-",
                color=colour,
                lw=1.8,
                marker="D" if single else None,
                ms=5,
                label="calibrated model",
            )
            ax.plot(
                d.year,
                d.simulated / factor,
                "--",
                color=colour,
                lw=1.0,
                marker="x" if single else None,
                ms=6,
                label="model before calibration",
            )
            place = "the four cities" if city == "all" else city.capitalize()
            years_shown = f", {t.year.min()}–{t.year.max()}" if split else ""
            ax.set_title(f"{title_of(target.variable)}: {place}{years_shown}", fontsize=9)
            _panel_axes(ax, years, labelsize=7)
            ax.set_xlim(years[0] - 0.5, years[-1] + 0.5)  # room for the dots at the window's ends
        row[0].set_ylabel(units, fontsize=8)
    handles = [
        plt.Line2D([], [], ls="", marker="o", color="black", ms=3.5),
        plt.Line2D([], [], color="grey", lw=1.8, marker="D", ms=4),
        plt.Line2D([], [], color="grey", lw=1.0, ls="--", marker="x", ms=5),
    ]
    fig.legend(
        handles,
        ["observed", "calibrated model", "model before calibration (declared defaults)"],
        loc="lower center",
        ncol=3,
        fontsize=9,
        frameon=False,
    )
    fig.suptitle(f"Calibration {config.name}: simulated against observed, {years[0]}–{years[-1]}", fontsize=11)
    _layout(fig)
    return _save(fig, path)


def sobol_bars(table, path=None, title="Sobol indices", top=10):
    """Per goal indicator: the inputs with the largest total-order index, S1 and ST with 95 % intervals."""
    goals = list(dict.fromkeys(table.goal))
    cols = 2
    rows = int(np.ceil(len(goals) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 0.32 * top * rows + 1.2 * rows), squeeze=False)
    for ax, goal in zip(axes.flat, goals):
        part = table[table.goal == goal].sort_values("ST", ascending=False).head(top)[::-1]
        y = np.arange(len(part))
        ax.barh(y + 0.2, part.ST, height=0.38, xerr=part.ST_conf, color="#4575b4", label="total order (ST)")
        ax.barh(y - 0.2, part.S1, height=0.38, xerr=part.S1_conf, color="#fdae61", label="first order (S1)")
        ax.set_yticks(y)
        ax.set_yticklabels(part.input, fontsize=7)
        ax.set_xlim(left=0)
        ax.set_xlabel("share of the indicator's variance (95 % interval)", fontsize=8)
        ax.set_title(f"Goal indicator: {goal}", fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    for ax in list(axes.flat)[len(goals) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=11)
    _layout(fig)
    return _save(fig, path)


def capacity_plot(paths: dict, user, right_labels: dict, path=None):
    """What water allows an industry to build in one city: the capacity in the run and the largest capacity
    each set of water rights allows (left); the industrial water shadow price against the transfer price of
    rights (right)."""
    years = np.array(paths["years"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    left.plot(years, np.array(paths["capacity"]) / user.scale, color="black", lw=2.2, label="capacity in the run")
    for (key, label), style in zip(right_labels.items(), (":", "-", "--")):
        left.plot(years, np.array(paths["allowed"][key]) / user.scale, lw=1.6, ls=style, label=label)
    left.set_ylabel(user.scale_label)
    left.set_title(f"{user.label.capitalize()}: in the run and what water allows", fontsize=10)
    shadow = np.array(paths["industrial_water_shadow_price_yuan_per_m3"], dtype=float)
    right.plot(
        years,
        np.where(shadow > 0, shadow, np.nan),
        color="tab:red",
        lw=1.8,
        label="industrial water shadow price (GDP per m3 where industry is short)",
    )
    right.axhline(
        paths["transfer_price_yuan_per_m3_year"],
        color="grey",
        ls="--",
        lw=1.2,
        label="transfer price of a water right (per m3 a year)",
    )
    right.set_yscale("log")
    right.set_ylabel("yuan/m3 (log scale; no line where industry is not short)")
    right.set_title("What one more m3 of industrial water is worth", fontsize=10)
    left.set_ylim(bottom=0)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        _years(ax, years)
        ax.legend(fontsize=8, loc="best", framealpha=0.8)
    fig.suptitle(
        f"What water allows industry to build in {paths['city'].capitalize()} (scenario {paths['scenario']})",
        fontsize=11,
    )
    _layout(fig)
    return _save(fig, path)
