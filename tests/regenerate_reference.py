"""Regenerate the stored reference output of scenarios/baseline.yaml (tests/reference/baseline.csv).

Run this, and only this, when a change to the model or its data is meant to change the baseline:

    python -m tests.regenerate_reference

then review the diff of tests/reference/baseline.csv and commit it with the change that caused it.
"""

from pathlib import Path

import simulator

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).resolve().parent / "reference" / "baseline.csv"
VARIABLES = (
    "population",
    "urban_population",
    "gdp",
    "capital",
    "energy_use",
    "co2",
    "coal_output",
    "water_demand",
    "water_use",
    "water_supply_cap",
    "groundwater_storage",
    "renewable_capacity",
    "coal_power_capacity",
)


def reference_table(ds) -> str:
    lines = ["variable,units,city,year,value"]
    for name in VARIABLES:
        for city in ds["city"].values:
            for year in ds["time"].values:
                value = float(ds[name].sel(city=city, time=year))
                lines.append(f"{name},{ds[name].attrs['units']},{city},{year:g},{value:.15e}")
    return "\n".join(lines) + "\n"


def main():
    ds = simulator.run(ROOT / "scenarios" / "baseline.yaml")
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(reference_table(ds), encoding="utf-8")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main()
