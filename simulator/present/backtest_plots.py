"""One figure per backtest origin: for each series and city, the data, the model's 90 % band and point
forecast, the conditional forecast (observed inputs) and the best naive forecast, with the origin marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SCALE = {"gdp_real": (1e8, "real GDP, 100m yuan (2020 prices)"), "population_census": (1e4, "population, 10k persons")}


def origin_plot(result: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = list(result["paths"])
    cities = list(result["paths"][series[0]])
    fig, axes = plt.subplots(len(series), len(cities), figsize=(4 * len(cities), 3.2 * len(series)), squeeze=False)
    origin = result["origin"]
    for i, s in enumerate(series):
        scale, label = SCALE.get(s, (1.0, s))
        for j, city in enumerate(cities):
            ax = axes[i, j]
            p = result["paths"][s][city]
            years = np.array(p["years"])
            after = years >= origin
            window = result.get("window_fit", {}).get(s, {}).get(city)
            if window:
                ax.plot(
                    window["years"],
                    np.array(window["model"]) / scale,
                    color="grey",
                    lw=0.8,
                    label="calibrated run (window)",
                )
            ax.plot(
                p["observed_years"], np.array(p["observed"]) / scale, "o", mfc="none", mec="k", ms=3, label="observed"
            )
            ax.fill_between(
                years[after],
                np.array(p["p5"])[after] / scale,
                np.array(p["p95"])[after] / scale,
                color="tab:blue",
                alpha=0.2,
                label="model 90 % band",
            )
            ax.plot(years, np.array(p["model"]) / scale, color="tab:blue", label="model (best fit)")
            ax.plot(
                years[after],
                np.array(p["conditional"])[after] / scale,
                color="tab:blue",
                ls=":",
                label="conditional (observed inputs)",
            )
            row = next((r for r in result["rows"] if r["series"] == s and r["city"] == city), None)
            if row is not None:
                ax.plot(
                    row["years"],
                    np.array(row["naive"][row["best_naive"]]) / scale,
                    color="tab:orange",
                    ls="--",
                    marker="x",
                    label=f"naive: {row['best_naive']}",
                )
                ax.plot(row["years"], np.array(row["observed"]) / scale, "ko", ms=4, label="observed after the origin")
                title = f"{city}: skill {row['skill']:+.2f}" if row["skill"] is not None else city
            else:
                title = city
            ax.axvline(origin, color="grey", lw=0.8)
            ax.set_title(title, fontsize=9)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, loc="upper left")
    fig.suptitle(f"Backtest from {origin}: calibrated on data up to {origin}, inputs as known then", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
