"""Figures an economist reads: trajectories per city with the caps drawn, a binding-limit timeline,
a goal dashboard, scenario comparisons and Monte Carlo fan charts. Each function takes a Dataset (or
goal records) and returns a matplotlib Figure; ``path`` saves it as PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from .report import display  # noqa: E402

CITY_COLOURS = {"hohhot": "#1b9e77", "baotou": "#d95f02", "ordos": "#7570b3", "ulanqab": "#e7298a"}
# panel -> (variable, limit drawn dashed, demand drawn dotted)
PANELS = (
    ("population", None, None),
    ("urban_population", None, None),
    ("gdp", None, "potential_gdp"),
    ("energy_use", "energy_cap", "energy_demand"),
    ("co2", None, None),
    ("coal_output", "coal_cap", "coal_demand"),
    ("water_use", "water_supply_cap", "water_demand"),
    ("groundwater_storage", None, None),
    ("renewable_capacity", None, None),
)


def _save(fig, path):
    if path is not None:  # the layout is already tight; bbox_inches="tight" would draw the figure twice
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def trajectories(ds: xr.Dataset, panels=PANELS, path=None, title: str = ""):
    """Small multiples: one panel per variable, one line per city; limits dashed, demand dotted."""
    panels = [p for p in panels if p[0] in ds]
    cols = 3
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.1 * rows), squeeze=False)
    time = ds["time"].values
    for ax, (name, limit, demand) in zip(axes.flat, panels):
        factor, label = display(ds[name].attrs.get("units", ""))
        for city in ds["city"].values:
            colour = CITY_COLOURS.get(str(city))
            ax.plot(time, ds[name].sel(city=city) / factor, color=colour, lw=1.8, label=str(city))
            if limit and limit in ds:
                ax.plot(time, ds[limit].sel(city=city) / factor, color=colour, lw=1.0, ls="--")
            if demand and demand in ds:
                ax.plot(time, ds[demand].sel(city=city) / factor, color=colour, lw=1.0, ls=":")
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], color="grey", ls="--"), plt.Line2D([], [], color="grey", ls=":")]
    labels += ["limit (cap)", "demand"]
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=9, frameon=False)
    fig.suptitle(title or f"Trajectories: {ds.attrs.get('scenario', '')}", fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return _save(fig, path)


def binding_timeline(ds: xr.Dataset, path=None):
    """City x year grid per limit: where each hard limit binds."""
    limits = [(n, label) for n, label in (("water_binding", "water"), ("coal_binding", "coal cap"),
                                          ("energy_binding", "energy dual control")) if n in ds]
    cities = [str(c) for c in ds["city"].values]
    rows = [(label, c) for _, label in limits for c in cities]
    grid = np.array([[float(v) for v in ds[n].sel(city=c).values] for n, _ in limits for c in cities])
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * ds.sizes["time"] + 2), 0.35 * len(rows) + 1.5))
    ax.imshow(grid, aspect="auto", cmap="Reds", vmin=0, vmax=1.4, interpolation="nearest")
    ax.set_xticks(range(ds.sizes["time"]))
    ax.set_xticklabels([f"{t:g}" for t in ds["time"].values], rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{label}: {c}" for label, c in rows], fontsize=8)
    for k in range(1, len(limits)):
        ax.axhline(k * len(cities) - 0.5, color="black", lw=0.8)
    ax.set_title(f"Where the hard limits bind (dark = binding): {ds.attrs.get('scenario', '')}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def goal_dashboard(goals: list[dict], path=None, title: str = ""):
    """One bar per goal: the indicator against its target (or the probability it is met)."""
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(goals) + 1.2))
    ensemble = any("probability" in g for g in goals)
    for i, g in enumerate(goals):
        if ensemble:
            p = g.get("probability")
            value, label = (0.0, "not evaluated") if p is None else (p, f"{p:.0%}")
            colour = "#999999" if p is None else plt.cm.RdYlGn(p)
            ax.barh(i, value, color=colour)
            ax.text(value + 0.01, i, label, va="center", fontsize=8)
        else:
            v = g.get("value")
            if v is None:
                ax.text(0.01, i, "not evaluated", va="center", fontsize=8)
                continue
            target = g["target"]
            # progress towards the target: value / target on a common scale (1 = exactly on target)
            if g["comparison"] == ">=":
                score = v / target if target else v
            elif target < 0:  # "at least this much below": progress is v / target
                score = v / target if v < 0 else 0.0
            else:
                score = target / v if v > 0 else 2.0
            colour = "#1a9850" if g.get("met") else "#d73027"
            ax.barh(i, min(score, 2.0), color=colour)
            ax.text(min(score, 2.0) + 0.02, i, f"{v:.3g} vs {g['comparison']} {target:g}", va="center", fontsize=8)
    if ensemble:
        ax.set_xlim(0, 1.15)
        ax.set_xlabel("probability the goal is met")
    else:
        ax.axvline(1.0, color="black", lw=1)
        ax.set_xlim(0, 2.6)
        ax.set_xlabel("indicator relative to target (1 = on target; green = met)")
    ax.set_yticks(range(len(goals)))
    ax.set_yticklabels([g["id"] for g in goals], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title or "Plan goals", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def compare(a: xr.Dataset, b: xr.Dataset, variables=("population", "gdp", "co2", "coal_output", "water_use",
                                                       "energy_use"), path=None):
    """Relative difference (B - A) / A per city for a few key variables."""
    variables = [v for v in variables if v in a and v in b]
    cols = 3
    rows = int(np.ceil(len(variables) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, variables):
        for city in a["city"].values:
            base = a[name].sel(city=city)
            diff = xr.where(base != 0, (b[name].sel(city=city) - base) / base * 100, np.nan)
            ax.plot(a["time"].values, diff, color=CITY_COLOURS.get(str(city)), lw=1.8, label=str(city))
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(f"{name.replace('_', ' ')}: B vs A", fontsize=10)
        ax.set_ylabel("% difference", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(variables):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(f"{b.attrs.get('scenario', 'B')} compared with {a.attrs.get('scenario', 'A')}", fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return _save(fig, path)


def fan_chart(percentiles: xr.Dataset, variables=("population", "gdp", "co2", "water_use"), path=None, title=""):
    """Monte Carlo fan charts: median with 25-75 % and 5-95 % bands, one panel per variable and city."""
    variables = [v for v in variables if v in percentiles]
    cities = [str(c) for c in percentiles["city"].values]
    fig, axes = plt.subplots(len(variables), len(cities), figsize=(3.3 * len(cities), 2.6 * len(variables)),
                             squeeze=False)
    time = percentiles["time"].values
    for row, name in zip(axes, variables):
        factor, label = display(percentiles[name].attrs.get("units", ""))
        for ax, city in zip(row, cities):
            q = percentiles[name].sel(city=city) / factor
            colour = CITY_COLOURS.get(city)
            ax.fill_between(time, q.sel(percentile=5), q.sel(percentile=95), color=colour, alpha=0.18, lw=0)
            ax.fill_between(time, q.sel(percentile=25), q.sel(percentile=75), color=colour, alpha=0.35, lw=0)
            ax.plot(time, q.sel(percentile=50), color=colour, lw=1.8)
            ax.set_title(f"{name.replace('_', ' ')}: {city}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        row[0].set_ylabel(label, fontsize=8)
    fig.suptitle(title or "Monte Carlo: median, 25-75 % and 5-95 % ranges", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _save(fig, path)


def calibration_fit(config, result, path=None):
    """Simulated (line, with the uncalibrated defaults dashed) against observed (dots), per series and city."""
    tables, defaults = result["tables"], result["tables_default"]
    cities = list(dict.fromkeys(c for t in tables for c in t.city))
    fig, axes = plt.subplots(len(tables), len(cities), figsize=(3.3 * len(cities), 2.5 * len(tables)), squeeze=False)
    for row, (target, table, default) in zip(axes, zip(config.targets, tables, defaults)):
        for ax, city in zip(row, cities):
            t, d = table[table.city == city], default[default.city == city]
            scale = 1.0 if target.transform == "growth_rate" else float(np.abs(t.value).max() or 1)
            colour = CITY_COLOURS.get(city)
            ax.plot(t.year, t.value / scale, "o", color="black", ms=3.5, label="observed")
            ax.plot(t.year, t.simulated / scale, "-", color=colour, lw=1.8, label="calibrated")
            ax.plot(d.year, d.simulated / scale, "--", color=colour, lw=1.0, label="defaults")
            ax.set_title(f"{target.series}: {city}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        row[0].set_ylabel("growth rate" if target.transform == "growth_rate" else "relative to the largest value",
                          fontsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"Calibration {config.name}: simulated against observed", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
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
        ax.set_title(goal, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    for ax in list(axes.flat)[len(goals):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    return _save(fig, path)
