"""Water v2: industry's water by use, its rights, transfers from irrigation, the tariff's effect, the
four cities against the province, and `simulate capacity` (what water allows industry to build)."""

import json

import numpy as np
import pytest

import simulator
from simulator.analysis.capacity import RIGHTS, capacity_paths
from simulator.engine import simulate, to_dataset

from ..cli.test_cli import simulate as simulate_cli
from ..conftest import SCENARIOS

# Inner Mongolia's water use by sector in 2009, 1e8 m3 (China Statistical Yearbook 2010, table 12-18; shared data
# v2 P01): the latest year by sector the project has; 2020 by sector was not found
PROVINCE_2009 = {"agricultural": 138.7e8, "industrial": 20.9e8, "domestic": 14.1e8, "ecological": 7.6e8}
TOL = 1e-9


def _run(model, **settings):
    scenario = simulator.load_scenario(SCENARIOS / "baseline.yaml")
    inputs = scenario.inputs(model)
    for name, value in settings.items():
        inputs.set_parameter(name, value)
    return to_dataset(simulate(model, inputs, scenario.time, scenario.method))


@pytest.fixture(scope="module")
def no_transfers(model):
    return _run(model, **{"water_rights_transfer_limit.multiplier": 0.0})


def test_the_losses_to_each_limit_add_up_to_the_gdp_lost(baseline):
    # from 2025 the 2020 shock and the start-row correction are gone: potential GDP less GDP is what the limits cost
    ds = baseline.sel(time=slice(2025, None))
    lost = (
        ds["gdp_lost_to_water"]
        + ds["gdp_lost_to_industrial_water"]
        + ds["gdp_lost_to_energy_limit"]
        + ds["gdp_lost_to_coal_cap"]
    )
    assert float(ds["gdp_lost_to_industrial_water"].sum()) > 0
    np.testing.assert_allclose(lost.values, (ds["potential_gdp"] - ds["gdp"]).values, rtol=1e-9, atol=1.0)


def test_the_start_year_supplies_industry_and_ordos_energy_water_is_as_published(baseline):
    start = baseline.sel(time=2020)
    np.testing.assert_allclose(start["industrial_water_use"], start["industrial_water_demand"], rtol=1e-12)
    # Ordos' energy industries (mining, power, chemicals) drew 2.14e8 m3 in 2015 and were projected to need
    # 4.4e8 m3 in 2020 (literature §1, study L)
    assert 2.14e8 <= float(start["energy_industry_water_demand"].sel(city="ordos")) <= 4.4e8


def test_industry_is_held_to_its_rights(baseline):
    ds = baseline
    binding = ds["industrial_water_binding"] > 1 - TOL  # binding the whole year (the indicator is a yearly mean)
    assert bool(binding.any()), "industry's rights never bind in the baseline"
    np.testing.assert_allclose(
        ds["industrial_water_use"].where(binding).values,
        ds["industrial_water_available"].where(binding).values,
        rtol=1e-12,
    )
    assert (ds["industrial_water_shadow_price"].where(binding) > 0).sum() == binding.sum()
    assert float(ds["industrial_water_shadow_price"].where(ds["industrial_water_binding"] == 0).max()) == 0


def test_transfers_move_irrigation_water_to_industry(baseline, no_transfers):
    with_, without = baseline, no_transfers
    assert float(abs(without["water_rights_transferred"]).max()) == 0
    transferred = with_["water_rights_transferred"]
    assert float(transferred.sel(city="ordos", time=2035)) > 0
    assert (transferred <= with_["water_rights_transfer_limit"] * (1 + TOL)).all()
    # irrigation gives up what industry gains: demands are yearly means, the stock is at the year's end, so
    # compare with the stock's mean over the year by the trapezoid rule, once the first works are finished
    given_up = (without["agricultural_water_demand"] - with_["agricultural_water_demand"]).isel(time=slice(1, None))
    mean_transferred = 0.5 * (
        transferred.isel(time=slice(1, None)).values + transferred.isel(time=slice(None, -1)).values
    )
    np.testing.assert_allclose(given_up.values[4:], mean_transferred[4:], rtol=0.05, atol=1e4)
    later = with_["time"] >= 2028
    ordos = {"city": "ordos"}
    assert (
        with_["industrial_water_shortage"].sel(**ordos).where(later)
        < without["industrial_water_shortage"].sel(**ordos).where(later)
    ).sum() == later.sum()
    assert float(with_["gdp"].sel(**ordos, time=2035)) > float(without["gdp"].sel(**ordos, time=2035))


def test_transfers_wait_for_industry_to_be_short_and_for_the_works(baseline):
    ds = baseline
    assert float(ds["water_rights_start"].where(ds["industrial_water_binding"] == 0).max()) == 0
    for city in ds.city.values:  # works start in the first year industry is short (later, works under way may cover it)
        short = ds["industrial_water_binding"].sel(city=city) > 1 - TOL
        if short.any():
            assert float(ds["water_rights_start"].sel(city=city).where(short, drop=True).isel(time=0)) > 0, city
    for city in ("baotou", "ordos"):
        one = ds.sel(city=city)
        first_short = float(one["time"].where(one["industrial_water_binding"] > 0.5).min())
        # a first-order delay of three years: under a third of what was started is finished a year later
        year = first_short + 1
        started = float(
            one["water_rights_in_construction"].sel(time=year) + one["water_rights_transferred"].sel(time=year)
        )
        assert 0 < float(one["water_rights_transferred"].sel(time=year)) < started / 3


def test_the_investment_behind_transfers_pays_for_every_right_started(baseline):
    # the yearly investment is the works started that year at the unit cost (4.6 yuan per m3 a year of right):
    # summed over the run, it pays for everything transferred or still being built by its end
    ds = baseline.sel(city="ordos")
    started = float(ds["water_rights_transferred"].sel(time=2035) + ds["water_rights_in_construction"].sel(time=2035))
    assert started > 0
    np.testing.assert_allclose(float(ds["water_rights_investment"].sum()), 4.6 * started, rtol=1e-9)


def test_irrigation_never_gives_up_more_than_it_needs(tmp_path):
    # Ordos builds 20 million t of coal chemicals a year from 2021 and its districts could give 100 x the limit
    scenario = tmp_path / "thirsty.yaml"
    scenario.write_text(
        f"name: thirsty\nextends: {SCENARIOS / 'baseline.yaml'}\npolicies:\n"
        "  coal_chemical_build: {ordos: {start: 2021, value: 2.0e+7}}\n"
        "  water_rights_transfer_limit: {multiply: {start: 2020, value: 100}}\n"
    )
    ds = simulator.run(scenario).sel(city="ordos")
    assert float(ds["industrial_water_shortage"].sel(time=2035)) > 0.2  # industry wants more than irrigation has
    held = ds["water_rights_transferred"] + ds["water_rights_in_construction"]
    assert float(held.sel(time=2035)) > 0.9 * float(ds["gross_irrigation_water_demand"].sel(time=2035))
    # rights once transferred stay with industry while irrigation's need falls with its efficiency (about 1 %/yr)
    assert (held <= ds["gross_irrigation_water_demand"] * 1.05).all()
    assert (ds["agricultural_water_demand"] >= 0).all()


def test_a_shortage_of_rights_does_not_deter_migrants(baseline, no_transfers):
    # industry's rights bind harder without transfers, but the taps run: urban water is short only under the
    # city's water limit, so migration is the same in both runs wherever that limit does not bind
    assert float(no_transfers["industrial_water_shortage"].sel(city="ordos", time=2035)) > float(
        baseline["industrial_water_shortage"].sel(city="ordos", time=2035)
    )
    assert float(abs(baseline["urban_water_shortage"].sel(city=["baotou", "ordos"])).max()) < 1e-12


def test_a_higher_tariff_cuts_industrial_demand_by_its_elasticity(tmp_path, baseline):
    scenario = tmp_path / "dear_water.yaml"
    scenario.write_text(
        f"name: dear_water\nextends: {SCENARIOS / 'baseline.yaml'}\n"
        "policies:\n  industrial_water_price: {start: 2021, value: 10.0}\n"
    )  # twice the 2020 tariff
    dear = simulator.run(scenario)
    ratio = dear["industrial_water_price_response"] / baseline["industrial_water_price_response"]
    np.testing.assert_allclose(ratio.sel(time=slice(2022, None)).values, 2.0**-0.35, rtol=1e-12)
    assert float(dear["industrial_water_shortage"].sum()) < float(baseline["industrial_water_shortage"].sum())


def test_four_cities_against_the_province(baseline):
    # the four cities have 42 % of Inner Mongolia's residents (1001.5e4 of 2404.9e4 in the 2020 census) and most
    # of its industry, but a small part of its irrigation (the Hetao district is in Bayannur)
    share = {
        use: float(baseline[f"{use}_water_use"].sel(time=2020).sum("city")) / province
        for use, province in PROVINCE_2009.items()
    }
    assert 0.2 < share["domestic"] < 0.6
    assert 0.25 < share["industrial"] < 0.8
    assert 0.05 < share["agricultural"] < 0.3
    assert 0 < share["ecological"] < 1


def test_capacity_paths_order_the_rights(model, no_transfers):
    scenario = simulator.load_scenario(SCENARIOS / "baseline.yaml")
    paths = capacity_paths(model, scenario, "coal_chemicals", "ordos")
    ordos = no_transfers.sel(city="ordos")  # "without transfers" is a run without them
    expected = (
        ordos["coal_chemical_capacity"] + ordos["industrial_water_headroom"] / ordos["coal_chemical_water_per_capacity"]
    )
    np.testing.assert_allclose(paths["allowed"]["without_transfers"], np.maximum(0, expected.values), rtol=1e-9)
    allowed = {k: np.array(paths["allowed"][k]) for k in RIGHTS}
    assert (allowed["without_transfers"] <= allowed["with_transfers_made"] + 1e-6).all()
    assert (allowed["with_transfers_made"] <= allowed["with_all_transferable"] + 1e-6).all()
    np.testing.assert_allclose(allowed["with_transfers_made"][0], paths["capacity"][0], rtol=1e-9)
    short = np.array(paths["industrial_water_shadow_price_yuan_per_m3"]) > 0  # at some time in the year
    inside = short[:-1] & short[1:]  # a year end inside a shortage (the capacity paths are year-end values)
    made, capacity = allowed["with_transfers_made"][:-1], np.array(paths["capacity"])[:-1]
    assert inside.any() and (made[inside] < capacity[inside]).all()


def test_capacity_command_writes_its_outputs(tmp_path):
    out = tmp_path / "cap"
    simulate_cli("capacity", SCENARIOS / "baseline.yaml", "--sector", "coal_chemicals", "--city", "ordos", "--out", out)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "capacity.csv",
        "capacity.json",
        "capacity.png",
        "report.md",
    ]
    record = json.loads((out / "capacity.json").read_text())
    assert record["city"] == "ordos" and record["units"] == "t/year"
    assert "shadow price" in (out / "report.md").read_text()


@pytest.mark.parametrize("flag, value", [("--sector", "steel"), ("--city", "xian")])
def test_capacity_rejects_a_bad_flag(tmp_path, flag, value):
    out = tmp_path / "cap"
    args = {"--sector": "coal_chemicals", "--city": "ordos", flag: value}
    result = simulate_cli(
        "capacity", SCENARIOS / "baseline.yaml", *[x for kv in args.items() for x in kv], "--out", out, check=False
    )
    assert result.returncode == 2 and result.stderr.startswith(f"{flag}: unknown") and "Traceback" not in result.stderr
    assert not out.exists()
