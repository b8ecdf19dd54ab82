"""Figures of a policy search (the Pareto policies in parallel coordinates, the convergence) and of
scenario discovery (PRIM's peeling trajectory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parallel_coordinates(record: dict, path: Path, title: str):
    """One line per Pareto policy across the levers (each axis from its low to its high) and the objectives
    (each axis from the worst to the best value seen), coloured by the first objective; the scenario as
    written is the dashed black line on the objective axes."""
    plt = _pyplot()
    levers, objectives = record["levers"], record["objectives"]
    policies = record["pareto"]
    axes_labels = [lever["label"] for lever in levers] + [o["label"] for o in objectives]
    columns = []
    ticks = []
    written = []  # the scenario as written: 1 on a policy lever (its path unchanged), unknown on a parameter
    for lever in levers:
        values = np.array([p["levers"][lever["label"]] for p in policies])
        span = (lever["high"] - lever["low"]) or 1
        columns.append((values - lever["low"]) / span)
        written.append((1 - lever["low"]) / span if lever["label"].startswith("policies.") else np.nan)
        ticks.append((f"{lever['low']:g}", f"{lever['high']:g}"))
    for o in objectives:
        values = np.array(
            [
                np.nan if v is None else v
                for v in [p["objectives"][o["label"]] for p in policies]
                + [record["as_written"]["objectives"][o["label"]]]
            ],
            dtype=float,
        )
        low, high = np.nanmin(values), np.nanmax(values)
        if o["sense"] == "min":  # best at the top
            low, high = high, low
        scaled = (values - low) / ((high - low) or 1)
        columns.append(scaled[:-1])
        written.append(scaled[-1])
        ticks.append(tuple(number(v, o["label"]) for v in (low, high)))
    data = np.column_stack(columns)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.15 * len(axes_labels)), 5.5))
    colour = data[:, len(levers)]
    cmap = plt.get_cmap("viridis")
    for row, c in zip(data, colour):
        ax.plot(range(len(axes_labels)), row, color=cmap(np.nan_to_num(c)), alpha=0.7, lw=1.2)
    ax.plot(range(len(axes_labels)), written, color="k", ls="--", lw=2, marker="o", ms=4, label="scenario as written")
    for x, (low, high) in enumerate(ticks):
        ax.axvline(x, color="grey", lw=0.8)
        ax.text(x, -0.06, low, ha="center", va="top", fontsize=8)
        ax.text(x, 1.04, high, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(axes_labels)), [_wrap(a) for a in axes_labels], fontsize=8)
    ax.set_ylim(-0.15, 1.15)
    ax.set_yticks([])
    ax.axvspan(len(levers) - 0.5, len(axes_labels) - 0.5, color="tab:orange", alpha=0.06)
    ax.set_title(
        f"{title}\nlevers (left, from low to high) and objectives (right, best at the top); "
        f"colour: {objectives[0]['label']}",
        fontsize=10,
    )
    sm = plt.cm.ScalarMappable(cmap=cmap)
    fig.colorbar(sm, ax=ax, label=f"{objectives[0]['label']} (worst to best)", ticks=[], fraction=0.03, pad=0.02)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    _save(fig, path)


def convergence(record: dict, path: Path, title: str):
    """The hypervolume of the feasible front by generation."""
    plt = _pyplot()
    history = record["history"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([h["generation"] for h in history], [h["hypervolume"] for h in history], marker="o")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume of the feasible front\n(objectives scaled to the first generation)")
    ax.set_title(title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    _save(fig, path)


def peeling(trajectory: list[dict], chosen: int, path: Path, title: str):
    """PRIM's peeling trajectory: coverage against density, coloured by the number of restricted inputs,
    the chosen box circled."""
    plt = _pyplot()
    coverage = np.array([t["coverage"] for t in trajectory])
    density = np.array([t["density"] for t in trajectory])
    dims = np.array([t["restricted"] for t in trajectory])
    fig, ax = plt.subplots(figsize=(7, 5))
    points = ax.scatter(coverage, density, c=dims, cmap="viridis", s=18)
    ax.plot(coverage[chosen], density[chosen], "o", ms=14, mfc="none", mec="tab:red", mew=2, label="chosen box")
    ax.set_xlabel("coverage: share of all failing futures inside the box")
    ax.set_ylabel("density: share of futures in the box that fail")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    fig.colorbar(points, ax=ax, label="inputs restricted by the box", ticks=range(int(dims.max()) + 1))
    ax.set_title(title)
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path: Path):
    """Lay the figure out, write it as PNG and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)


def number(value, label: str, digits: int = 3) -> str:
    """An objective's value as text: a probability (label ``P(...)``) in percent, anything else in
    ``digits`` significant figures; n/a where there is none."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.{max(digits - 3, 0)}%}" if label.startswith("P(") else f"{value:.{digits}g}"


def _wrap(label: str) -> str:
    import textwrap

    return textwrap.fill(label.replace("policies.", "").replace("_", " "), 14)
