"""Behaviour reproduction out of sample: the calibrated baseline against 2021 figures that the calibration
(window 2010-2020) never saw (calibration/data/out_of_sample.csv, with sources)."""

import csv

import pytest

from ..conftest import ROOT

ROWS = list(csv.DictReader((ROOT / "calibration" / "data" / "out_of_sample.csv").open(encoding="utf-8")))

# 2021 real GDP growth: the model returns to its pre-2020 potential path in 2021 (output_shock acts over 2020
# only) and, since the start-year timing fix, gives 2021 a full year of trend growth on top: about 9.5 %
# (Hohhot) and 9.8 % (four cities) against 6.5 % and 6.3 % reported. The old match (6.2 %) came from two
# errors cancelling (half a year of growth missing, against the full rebound). 2021 is the one
# out-of-sample year, so the shock's persistence is not tuned to it; the failure stays visible instead.
GDP_2021 = pytest.mark.xfail(
    strict=True,
    reason="full rebound to the pre-2020 potential path in 2021 "
    "(output_shock over 2020 only) overshoots 2021 growth by about 3 points",
)
PARAMS = [pytest.param(r, marks=GDP_2021) if r["series"] == "gdp_real_growth" else r for r in ROWS]


@pytest.mark.parametrize("row", PARAMS, ids=[f"{r['series']}-{r['city']}" for r in ROWS])
def test_2021_out_of_sample(baseline, row):
    observed = float(row["value"])
    if row["series"] == "gdp_real_growth":
        gdp = baseline["gdp"] if row["city"] == "inner_mongolia" else baseline["gdp"].sel(city=row["city"])
        if "city" in gdp.dims:  # Inner Mongolia's growth is compared with the four cities together
            gdp = gdp.sum("city")
        simulated = float(gdp.sel(time=2021) / gdp.sel(time=2020) - 1)
        assert simulated == pytest.approx(observed, abs=0.01)  # within one percentage point
    elif row["series"] == "resident_population_yearend":
        simulated = float(baseline["population"].sel(city=row["city"], time=2021))
        assert simulated == pytest.approx(observed, rel=0.01)
    elif row["series"] == "urbanization_rate":
        simulated = float(baseline["urban_share"].sel(city=row["city"], time=2021))
        assert simulated == pytest.approx(observed, abs=0.01)
    else:
        pytest.fail(f"no comparison for {row['series']}")
