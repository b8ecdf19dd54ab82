"""Growth by source: the sources add up to the growth rate, each lands where its factor moved, and the report
shows them."""

import numpy as np
import pytest
import xarray as xr

from simulator.analysis.growth import SOURCES, changes, growth_by_source
from simulator.present import report

YEARS = np.arange(2020, 2036)


def economy(**paths) -> xr.Dataset:
    """A one-city run in which GDP is exactly the growth accounting's product and sums; each keyword is a
    function of the years since 2020 for one of its terms (1, or 0 for value added, by default): A, K and L the
    production function's, W and E what water and then energy leave of it, shock what a shock leaves."""
    t = (YEARS - 2020).astype(float)
    term = {
        name: np.asarray(paths.get(name, lambda t: np.ones_like(t))(t), float)
        for name in ("A", "K", "L", "W", "E", "shock")
    }
    coal, bases = (np.asarray(paths.get(name, lambda t: np.zeros_like(t))(t), float) for name in ("coal", "bases"))
    potential = 1.0e11 * term["A"] * term["K"] * term["L"]
    water = potential * (1 - term["W"])
    energy = (potential - water) * (1 - term["E"])
    gdp = (potential - water - energy) * term["shock"] + coal + bases

    def city(values):
        return (("time", "city"), values[:, None])

    return xr.Dataset(
        {
            "gdp": city(gdp),
            "potential_value_added": (("time", "city", "sector"), potential[:, None, None] * np.array([[[0.4, 0.6]]])),
            "capital_input": city(term["K"]),
            "labour_input": city(term["L"]),
            "coal_value_added": city(coal),
            "renewable_project_value_added": city(bases),
            "gdp_lost_to_water": city(water / 4),
            "gdp_lost_to_industrial_water": city(water * 3 / 4),
            "gdp_lost_to_energy_limit": city(energy),
        },
        coords={"time": YEARS, "city": ["x"], "sector": ["a", "b"]},
    )


@pytest.mark.parametrize(
    "source, paths",
    [
        ("productivity", {"A": lambda t: 1.03**t}),
        ("capital", {"K": lambda t: 1.02**t}),
        ("labour", {"L": lambda t: 0.99**t}),
        ("water", {"W": lambda t: 1 - 0.01 * t}),
        ("energy", {"E": lambda t: 1 - 0.005 * t}),
        ("shocks", {"shock": lambda t: np.where(t == 0, 0.95, 1.0)}),
        ("coal", {"coal": lambda t: 1.0e9 * t}),
        ("bases", {"bases": lambda t: 2.0e9 * t}),
    ],
)
def test_growth_lands_on_the_source_that_moved(source, paths):
    table = growth_by_source(economy(**paths)).sel(city="x")
    for period in table["period"].values:
        row = table.sel(period=period)
        others = [name for name in SOURCES if name != source]
        np.testing.assert_allclose([float(row[name]) for name in others], 0.0, atol=1e-12)
        np.testing.assert_allclose(float(row[source]), float(row["growth"]), rtol=1e-12)
    first = float(table["growth"].isel(period=0))
    if source == "productivity":
        assert first == pytest.approx(3.0, rel=1e-12)  # 3 %/yr of productivity is 3 %/yr of GDP
    if source == "shocks":
        assert first == pytest.approx((1 / 0.95 ** (1 / 5) - 1) * 100, rel=1e-12)
        assert float(table["growth"].isel(period=1)) == 0.0


def test_sources_add_up_to_the_change_and_the_rate_when_everything_moves_at_once():
    ds = economy(
        A=lambda t: 1.04**t,
        K=lambda t: 1.01**t,
        L=lambda t: 0.98**t,
        W=lambda t: 1 - 0.002 * t,
        E=lambda t: np.where(t == 5, 0.99, 1.0),
        shock=lambda t: np.where(t == 0, 0.97, 1.0),
        coal=lambda t: 1.0e10 + 5.0e8 * t,
        bases=lambda t: 1.0e9 * np.minimum(t, 5),
    )
    change = changes(ds, 2020, 2025)
    gdp = ds["gdp"].sel(city="x")
    assert float(sum(change[name] for name in SOURCES).item()) == pytest.approx(
        float(gdp.sel(time=2025) - gdp.sel(time=2020)), rel=1e-12
    )
    table = growth_by_source(ds)
    np.testing.assert_allclose(sum(table[name] for name in SOURCES), table["growth"], rtol=1e-12)
    assert float(table["productivity"].isel(period=0, city=0)) > 3.0  # the largest source, about its 4 %/yr


def test_a_run_adds_up_for_every_city_and_the_four_cities(baseline):
    table = growth_by_source(baseline)
    assert list(table["city"].values) == [*map(str, baseline["city"].values), "four cities"]
    np.testing.assert_allclose(sum(table[name] for name in SOURCES), table["growth"], rtol=1e-9, atol=1e-12)
    gdp = baseline["gdp"].sum("city")
    expected = (float(gdp.sel(time=2025) / gdp.sel(time=2020)) ** (1 / 5) - 1) * 100
    assert float(table["growth"].sel(period="2021-2025", city="four cities")) == pytest.approx(expected, rel=1e-12)
    assert float(abs(table["bases"]).max()) == 0.0  # the baseline builds no base
    # the energy limit binds in 2024-2025 in the baseline: a cut that grew from 2020 to 2025, gone by 2035
    assert (table["energy"].sel(period="2021-2025") < 0).all()
    assert (table["energy"].sel(period="2026-2035") > 0).all()


def test_the_shock_term_is_exactly_2020s_dip_and_year_average_base(baseline):
    """Nothing else may land in the shock term: from 2020 it is the log of what the start row's shock and
    year-average factor took away (economy.yaml: value_added), from 2025 on it is zero."""
    change = changes(baseline, 2020, 2025)
    produced = baseline["gdp"] - baseline["coal_value_added"] - baseline["renewable_project_value_added"]
    first, last = (produced.sel(time=y) for y in (2020, 2025))
    weight = (last - first) / np.log(last / first)
    start = baseline.sel(time=2020)
    expected = -weight * np.log((1 - start["output_shock"]) * start["start_row_factor"])
    np.testing.assert_allclose(change["shocks"], expected, rtol=1e-9)
    np.testing.assert_allclose(changes(baseline, 2025, 2035)["shocks"], 0.0, atol=1e-6 * float(last.max()))


def test_report_shows_growth_by_source_or_says_what_is_missing(baseline):
    text = "\n".join(report.growth_section(baseline))
    assert "| 2021-2025 | four cities |" in text and "| 2026-2035 | hohhot |" in text
    assert "-0.00" not in text
    assert "capital_input" in report.growth_section(baseline.drop_vars("capital_input"))[0]
    assert "2020-2025" in report.growth_section(baseline.sel(time=slice(2020, 2024)))[0]
