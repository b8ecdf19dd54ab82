"""What water allows an industry to build (以水定产): ``simulate capacity SCENARIO --sector S --city C``.

Each year, the largest capacity of the sector that the city's industrial water allows is its capacity plus the
water industry could still use (its headroom: what it may use less its demand, negative where it is short) over
the water a unit of capacity draws, all other industry served first. Three sets of rights are compared, from
two runs in one batch: the scenario with no rights transferred from irrigation (its transfer limit set to zero),
the scenario as it is (the transfers it made), and the scenario with every right the city's irrigation districts
could give already transferred (held to what the city's water limit leaves). The industrial water shadow price
beside them is in yuan/m3, like the transfer price of rights.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import InputRef, simulate, to_dataset
from ..errors import flag_error
from ..inputs.scenario import Scenario


@dataclass(frozen=True)
class WaterUser:
    """An industry whose size is a capacity stock drawing a known volume of water per unit."""

    label: str  # in words, for titles
    capacity: str  # the capacity stock
    water_per_capacity: str  # m3 a unit of capacity draws in a year
    scale: float  # plotted in units of this many
    scale_label: str


USERS = {
    "coal_chemicals": WaterUser(
        "coal-chemical capacity",
        "coal_chemical_capacity",
        "coal_chemical_water_per_capacity",
        1e6,
        "million t of product a year",
    ),
    "coal_power": WaterUser("coal power capacity", "coal_power_capacity", "coal_power_water_per_capacity", 1e6, "GW"),
}
RIGHTS = ("without_transfers", "with_transfers_made", "with_all_transferable")
RIGHT_LABELS = {
    "without_transfers": "water allows: a run with no transfers",
    "with_transfers_made": "water allows: the run's transfers",
    "with_all_transferable": "water allows: every right the irrigation districts could transfer",
}


def capacity_paths(model, scenario: Scenario, sector: str, city: str) -> dict:
    """The capacity paths, the industrial water and its shadow price in ``city``, year by year."""
    if sector not in USERS:
        raise flag_error("--sector", f"unknown sector {sector!r}; one of: {', '.join(USERS)}")
    cities = list(model.spec.elements("city"))
    if city not in cities:
        raise flag_error("--city", f"unknown city {city!r}; one of: {', '.join(cities)}")
    user = USERS[sector]
    inputs = scenario.inputs(model, runs=2)
    inputs.set_parameter(InputRef("water_rights_transfer_limit", multiplier=True), 0.0, run=1)  # run 1: no transfers
    record = [
        user.capacity,
        user.water_per_capacity,
        "industrial_water_headroom",
        "industrial_water_headroom_all_transfers",
        "industrial_water_shadow_price",
        "water_rights_transferred",
    ]
    runs = to_dataset(simulate(model, inputs, scenario.time, scenario.method, record=record), runs=True)
    runs = runs.sel(city=city)
    made, none = runs.isel(run=0), runs.isel(run=1)

    def allowed(ds, headroom):
        per_unit = ds[user.water_per_capacity].values
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                per_unit > 0, np.maximum(0.0, ds[user.capacity].values + ds[headroom].values / per_unit), np.nan
            )

    paths = {
        "without_transfers": allowed(none, "industrial_water_headroom"),
        "with_transfers_made": allowed(made, "industrial_water_headroom"),
        "with_all_transferable": allowed(made, "industrial_water_headroom_all_transfers"),
    }
    return {
        "scenario": scenario.name,
        "sector": sector,
        "label": user.label,
        "city": city,
        "units": made[user.capacity].attrs["units"],
        "years": [float(t) for t in made["time"].values],
        "capacity": made[user.capacity].values.tolist(),
        "allowed": {k: v.tolist() for k, v in paths.items()},
        "water_per_capacity": made[user.water_per_capacity].values.tolist(),
        "water_per_capacity_units": made[user.water_per_capacity].attrs.get("units", ""),
        "industrial_water_headroom_m3_per_year": made["industrial_water_headroom"].values.tolist(),
        "water_rights_transferred_m3_per_year": made["water_rights_transferred"].values.tolist(),
        "industrial_water_shadow_price_yuan_per_m3": made["industrial_water_shadow_price"].values.tolist(),
        "transfer_price_yuan_per_m3_year": float(inputs.parameter("water_rights_price")[0]),
    }


def _summary(paths: dict, years=(2025, 2030, 2035)) -> list[str]:
    user = USERS[paths["sector"]]
    header = (
        f"| year | capacity in the run | {' | '.join(RIGHT_LABELS[k] for k in RIGHTS)} | industrial water "
        "shadow price (yuan/m3) |"
    )
    lines = [header, "|---" * (3 + len(RIGHTS)) + "|"]
    times = np.array(paths["years"])
    for year in years:
        hits = np.flatnonzero(times == year)
        if not len(hits):
            continue
        i = hits[0]
        cells = [f"{paths['allowed'][k][i] / user.scale:.2f}" for k in RIGHTS]
        lines.append(
            f"| {year} | {paths['capacity'][i] / user.scale:.2f} | {' | '.join(cells)} | "
            f"{paths['industrial_water_shadow_price_yuan_per_m3'][i]:.0f} |"
        )
    return lines


def _report(paths: dict) -> str:
    user = USERS[paths["sector"]]
    method = (
        f"Capacity in {user.scale_label}. The largest capacity the city's industrial water allows each year is "
        "the capacity in the run plus the water industry could still use (what it may use less its demand; "
        "negative where industry is short) over the water a unit of capacity draws "
        f"({paths['water_per_capacity_units']}, at its utilisation and the tariff), all other industry served "
        "first. 'A run with no transfers' is the scenario with its transfer limit set to zero; 'every right' "
        "counts all the water the city's irrigation districts could give as already transferred. New capacity "
        "(`coal_chemical_build`) adds water demand but not yet value added of its own, so this measures water, "
        "not profit."
    )
    price = (
        "The shadow price is the GDP one more m3 of industrial water would add in the year where industry is "
        "short (industry is then the marginal use): secondary value added per m3 of industrial demand, an "
        "average at fixed water per unit of output; 0 where industry is not short. Compare it with the transfer "
        "price of "
        f"rights, {paths['transfer_price_yuan_per_m3_year']:.2f} yuan per m3 a year (`water_rights_price`). "
        "capacity.csv holds every year; capacity.png plots them."
    )
    title = f"# What water allows: {user.label} in {paths['city']} ({paths['scenario']})"
    return "\n".join([title, "", method, "", *_summary(paths), "", price, ""])


def _csv(paths: dict, path: Path):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        unit = paths["units"]
        writer.writerow(
            [
                "year",
                f"capacity ({unit})",
                *(f"allowed_{k} ({unit})" for k in RIGHTS),
                "industrial_water_headroom (m3/year)",
                "water_rights_transferred (m3/year)",
                "industrial_water_shadow_price (yuan/m3)",
            ]
        )
        for i, year in enumerate(paths["years"]):
            writer.writerow(
                [
                    f"{year:g}",
                    paths["capacity"][i],
                    *(paths["allowed"][k][i] for k in RIGHTS),
                    paths["industrial_water_headroom_m3_per_year"][i],
                    paths["water_rights_transferred_m3_per_year"][i],
                    paths["industrial_water_shadow_price_yuan_per_m3"][i],
                ]
            )


def capacity_outputs(
    model, scenario: Scenario, folder: Path, sector: str, city: str, overwrite: bool = False, quiet: bool = False
) -> int:
    """``simulate capacity``: capacity.json, capacity.csv, capacity.png and report.md in ``folder``."""
    from ..files import check_target, staging, write_json
    from ..present.plots import capacity_plot

    check_target(folder, overwrite)  # before the run: a folder simulate may not write into fails at once
    paths = capacity_paths(model, scenario, sector, city)
    with staging(folder, overwrite) as out:
        write_json(paths, out / "capacity.json")
        _csv(paths, out / "capacity.csv")
        capacity_plot(paths, USERS[sector], RIGHT_LABELS, out / "capacity.png")
        (out / "report.md").write_text(_report(paths), encoding="utf-8")
    if not quiet:
        print("\n".join(_summary(paths)))
        print(f"outputs in {folder}/")
    return 0
