"""Model validation in the system-dynamics sense (Sterman ch. 21, Barlas 1996): the start year
reproduces the data, the hard limits hold, the accounts close, extreme conditions behave, the
integration error is small, each sector runs alone, and the compiled kernel equals the reference."""

import numpy as np
import pytest
import xarray as xr

import simulator
from simulator.engine import TimeGrid, reference, simulate, to_dataset
from simulator.engine import expressions as ex
from simulator.model import SECTORS, sector_model

from ..conftest import KEY_OUTPUTS, SCENARIOS

CENSUS_2020 = {"hohhot": 3446100, "baotou": 2709378, "ordos": 2153638, "ulanqab": 1706328}  # S04
GDP_2020 = {"hohhot": 2785.48e8, "baotou": 2769.65e8, "ordos": 3510.49e8, "ulanqab": 826.89e8}  # X03 (revised)
GDP_2020_BULLETIN = {"hohhot": 2800.7e8, "baotou": 2787.4e8, "ordos": 3533.7e8, "ulanqab": 827e8}  # S01-S31
SHIPPED = ["baseline", "plan", "drought", "coal_exit", "plan_drought"]


@pytest.fixture(scope="module")
def runs():
    return {name: simulator.run(SCENARIOS / f"{name}.yaml") for name in SHIPPED}


def test_2020_reproduces_the_data(baseline):
    for city, census in CENSUS_2020.items():
        assert abs(float(baseline["population"].sel(time=2020, city=city)) / census - 1) < 0.01
        gdp = float(baseline["gdp"].sel(time=2020, city=city))
        assert abs(gdp / GDP_2020[city] - 1) < 0.02
        assert abs(gdp / GDP_2020_BULLETIN[city] - 1) < 0.02
    total = float(baseline["population"].sel(time=2020).sum())
    assert abs(total / 10.015e6 - 1) < 0.01  # the plan's 1001.5万 (seed, 前言)


@pytest.mark.parametrize("name", SHIPPED)
def test_hard_limits_hold_everywhere(runs, name):
    ds = runs[name]
    tol = 1e-9
    assert (ds["water_use"] <= ds["water_supply_cap"] * (1 + tol)).all()
    assert (ds["coal_output"] <= ds["coal_cap"] * (1 + tol) + 1e-6).all()
    assert (ds["yellow_river_use"] <= ds["yellow_river_allocation"] * (1 + tol) + 1e-6).all()
    assert (ds["energy_use"] <= ds["energy_cap"] * (1 + tol)).all()
    assert (ds["groundwater_withdrawal"] <= ds["groundwater_available"] * (1 + tol) + 1e-6).all()
    for stock in (
        "residents",
        "urban_population",
        "rural_population",
        "capital",
        "groundwater_storage",
        "coal_power_capacity",
        "renewable_capacity",
    ):
        assert (ds[stock] >= 0).all()


def test_drought_binds_and_costs_gdp(runs):
    drought, base = runs["drought"], runs["baseline"]
    assert float(drought["water_binding"].sel(time=slice(2026, None)).max()) == 1
    after = drought["time"] >= 2027
    assert (drought["gdp"].sum("city").where(after) < base["gdp"].sum("city").where(after)).sum() == after.sum()
    assert float(drought["gdp_lost_to_water"].sum()) > float(base["gdp_lost_to_water"].sum())


def test_coal_exit_binds(runs):
    ds = runs["coal_exit"]
    assert float(ds["coal_binding"].sel(city="ordos", time=2030)) == 1
    assert float(ds["coal_output"].sel(city="ordos", time=2035)) < float(
        runs["baseline"]["coal_output"].sel(city="ordos", time=2035)
    )


@pytest.fixture(scope="module")
def partitioned():
    return simulator.run(SCENARIOS / "baseline.yaml", method="partitioned", dt=0.5)


@pytest.mark.parametrize("method", ["rk4", "partitioned"])
def test_population_accounts_close(baseline, partitioned, method):
    """Over every year, change in population = births - deaths + net migration (flows are year averages), with
    RK4 and with the partitioned method (whose reports made of slow flows alone are held with them)."""
    ds = baseline if method == "rk4" else partitioned
    change = ds["population"].diff("time")
    flows = (ds["births"] - ds["deaths"] + ds["net_migration"]).isel(time=slice(1, None))
    np.testing.assert_allclose(change.values, flows.values, rtol=1e-9, atol=1e-6 * float(ds["population"].max()))
    urban = ds["urban_population"].diff("time")
    urban_flows = ds["urbanisation"] + ds["urban_natural_increase"] + ds["urban_net_migration"]
    np.testing.assert_allclose(urban.values, urban_flows.isel(time=slice(1, None)).values, rtol=1e-9)
    # by cohort: each age group changes by its births, deaths, ageing in and out, and migration
    cohort = ds["residents"].diff("time")
    cohort_flows = (
        ds["births_by_cohort"] - ds["deaths_by_cohort"] + ds["ageing_in"] - ds["ageing_out"] + ds["migration_by_cohort"]
    ).isel(time=slice(1, None))
    np.testing.assert_allclose(cohort.values, cohort_flows.values, rtol=1e-9, atol=1e-6 * float(ds["residents"].max()))
    # ageing moves people between groups and loses none; births and migration add up to their totals
    np.testing.assert_allclose(ds["ageing_in"].sum("age").values, ds["ageing_out"].sum("age").values, rtol=1e-12)
    np.testing.assert_allclose(ds["births_by_cohort"].sum(["sex", "age"]).values, ds["births"].values, rtol=1e-12)
    np.testing.assert_allclose(
        ds["migration_by_cohort"].sum(["sex", "age"]).values,
        ds["net_migration"].values,
        rtol=1e-9,
        atol=1e-9 * float(abs(ds["net_migration"]).max()),
    )
    # town by cohort: its own births, deaths, ageing and migration, and the country's residents moving in
    urban_cohort = ds["urban_residents"].diff("time")
    urban_cohort_flows = (ds["urban_cohort_change"] + ds["urbanisation_by_cohort"]).isel(time=slice(1, None))
    np.testing.assert_allclose(
        urban_cohort.values, urban_cohort_flows.values, rtol=1e-9, atol=1e-6 * float(ds["urban_residents"].max())
    )
    np.testing.assert_allclose(
        ds["urbanisation_by_cohort"].sum(["sex", "age"]).values, ds["urbanisation"].values, rtol=1e-9
    )
    np.testing.assert_allclose(
        ds["urban_residents"].sum(["sex", "age"]).values, ds["urban_population"].values, rtol=1e-12
    )
    # summed over the ages, ageing moves no one: the urban residents' change is their births less deaths,
    # their net migration and those moving to town
    np.testing.assert_allclose(
        ds["urban_cohort_change"].sum(["sex", "age"]).values,
        (ds["urban_natural_increase"] + ds["urban_net_migration"]).values,
        rtol=1e-9,
        atol=1e-9 * float(ds["births"].max()),
    )
    assert float(ds["urban_residents"].min()) >= 0 and bool((ds["urban_residents"] <= ds["residents"]).all())


def test_migration_between_the_four_sums_to_zero(baseline):
    net = (baseline["intercity_in_migration"] - baseline["intercity_out_migration"]).sum("city")
    scale = float(baseline["intercity_out_migration"].sum("city").max())
    assert scale > 0
    assert float(abs(net).max()) <= 1e-9 * scale
    matrix = baseline["intercity_migration"]
    assert float(abs(matrix.sum("other").sum("city") - matrix.sum("city").sum("other")).max()) <= 1e-9 * scale


def test_water_accounts_close(baseline):
    ds = baseline
    uses = (
        ds["domestic_water_use"]
        + ds["ecological_water_use"]
        + ds["industrial_water_use"]
        + ds["agricultural_water_use"]
    )
    np.testing.assert_allclose(ds["water_use"].values, uses.values, rtol=1e-12)
    np.testing.assert_allclose(
        ds["groundwater_storage"].diff("time").values,
        (ds["groundwater_recharge"] - ds["groundwater_withdrawal"]).isel(time=slice(1, None)).values,
        rtol=1e-9,
        atol=1.0,
    )
    supplied = ds["groundwater_withdrawal"] + np.minimum(ds["water_use"], ds["surface_water_supply"])
    np.testing.assert_allclose(supplied.values, ds["water_use"].values, rtol=1e-9)


def test_2020_energy_use_of_the_four_cities_is_the_documented_check(baseline):
    """energy.yaml's check against the region, its figures: the four cities' start-year energy use, inverted from
    CEADs CO2, is 2.25e8 tce, 83 % of Inner Mongolia's (about 2.71e8 tce: its 5.2 % of China's 48.6e8 tce in
    2019, grown 7.1 %) with 57 % of its GDP (17,360e8 yuan). A change that moves them must restate the check."""
    region_energy = 48.6e8 * 0.052 * 1.071
    energy = float(baseline["energy_use"].sel(time=2020).sum())
    assert energy == pytest.approx(2.25e8, rel=0.01)
    assert energy / region_energy == pytest.approx(0.83, abs=0.005)
    assert sum(GDP_2020.values()) / 17360e8 == pytest.approx(0.57, abs=0.005)


def test_investment_follows_the_return_on_capital(baseline, tmp_path):
    """Investment closes the gap to the capital at which the return equals the user cost: it rises with
    productivity and falls with a higher required return; investment transferred in adds its own size to
    capital, neither displacing the city's own investment nor drawing much more of it."""
    model = simulator.load_model()
    scenario = simulator.load_scenario(SCENARIOS / "baseline.yaml")
    later = {"time": slice(2022, 2035)}

    def own(ds):
        return ds["investment"] - ds["transferred_investment"]

    fitted = scenario.inputs(model)
    faster = _run_with(model, scenario, {"tfp_growth": fitted.parameter("tfp_growth")[0] + 0.01})
    assert (faster["investment_rate"].sel(**later) > baseline["investment_rate"].sel(**later)).all()
    dearer = _run_with(model, scenario, {"required_return": fitted.parameter("required_return")[0] + 0.03})
    assert (dearer["investment"].sel(**later) < baseline["investment"].sel(**later)).all()
    assert (dearer["capital"].sel(time=2035) < baseline["capital"].sel(time=2035)).all()
    path = tmp_path / "transfer.yaml"
    path.write_text(
        f"name: transfer\nextends: {SCENARIOS / 'baseline.yaml'}\n"
        "policies:\n  transferred_investment: {start: 2022, value: 1.0e+10}\n"
    )
    transfer = simulator.run(path)
    ratio = (own(transfer) / own(baseline)).sel(**later)
    assert float(ratio.min()) >= 1.0 and float(ratio.max()) < 1.05  # own investment moves only with the workers
    gained = (transfer["capital"] - baseline["capital"]).sel(time=2035)
    built = transfer["transferred_capital"].sel(time=2035)
    assert (gained >= built).all() and (gained < 1.2 * built).all()  # beyond it: own capital for the workers drawn


def _run_with(model, scenario, settings):
    inputs = scenario.inputs(model)
    for name, value in settings.items():
        inputs.set_parameter(name, value)
    return to_dataset(simulate(model, inputs, scenario.time, scenario.method))


EXTREMES = {
    "no_yellow_river": {"yellow_river_allocation.multiplier": 0.0},
    "no_investment": {"required_return": 1.0},  # capital earns less than its cost: investment stops
    "no_births": {"fertility_level": 0.0},
    "coal_cap_10x": {"coal_cap.multiplier": 10.0},
    "no_groundwater": {"natural_groundwater_recharge": 0.0, "initial_groundwater_storage": 0.0},
}


def test_wind_and_solar_bases_earn_their_sales_not_the_return_on_capital(runs):
    """The plan's bases are the build beyond what the investment rate pays for, from the first projected year:
    their investment is reported, not added to capital, and their value added is their sales; the baseline
    builds at the financed rate and has none."""
    model = simulator.load_model()
    financed = dict(zip(model.spec.elements("city"), np.ravel(model.variables["renewable_build_financed"].value)))
    cost, hours, price, ratio = (
        float(model.variables[name].value)
        for name in (
            "renewable_unit_investment",
            "renewable_full_load_hours",
            "renewable_power_price",
            "renewable_value_added_ratio",
        )
    )
    base, plan = runs["baseline"], runs["plan"]
    for name in ("renewable_project_investment", "renewable_project_capacity", "renewable_project_value_added"):
        assert float(abs(base[name]).max()) == 0.0
        assert float(abs(plan[name].sel(time=2020)).max()) == 0.0  # the start year is data
    added = plan["renewable_project_investment"].sel(time=2023)  # a mean over 2023, the bases' build 2e6 kW/yr
    for city in ("baotou", "ordos", "ulanqab"):
        assert float(added.sel(city=city)) == pytest.approx((2.0e6 - financed[city]) * cost, rel=1e-9)
    assert float(added.sel(city="hohhot")) == 0.0  # no base in Hohhot
    capacity = plan["renewable_project_capacity"]  # at year ends; value added is the mean over each year
    mean_capacity = (capacity + capacity.shift(time=1)) / 2  # the build is steady within a year
    sold = plan["renewable_sold_share"]  # 1 but in Ulanqab from 2031, whose use no longer takes all its wind and sun
    assert float(sold.sel(city=["baotou", "ordos"]).min()) == 1.0 and float(sold.sel(city="ulanqab", time=2035)) < 0.99
    np.testing.assert_allclose(
        plan["renewable_project_value_added"].sel(time=slice(2022, None)),
        (mean_capacity * hours * price * ratio * sold).sel(time=slice(2022, None)),
        rtol=5e-3,
    )
    assert float(plan["renewable_project_value_added"].sel(city="ordos", time=2026)) > 0.0
    scenario = simulator.load_scenario(SCENARIOS / "plan.yaml")
    as_is, dearer = (_run_with(model, scenario, {"renewable_unit_investment": c}) for c in (cost, 10 * cost))
    np.testing.assert_allclose(dearer["renewable_project_investment"], 10 * as_is["renewable_project_investment"])
    np.testing.assert_array_equal(dearer["gdp"].values, as_is["gdp"].values)  # the cost buys no capital
    # their value added is GDP: without it the bases' cities lose exactly it (investment answers the return on the
    # capital outside coal and the bases, which their sales do not change)
    unsold = _run_with(model, scenario, {"renewable_value_added_ratio": 0.0})
    lost = (as_is["gdp"] - unsold["gdp"]).sel(time=2022)
    sales = as_is["renewable_project_value_added"].sel(time=2022)
    for city in ("baotou", "ordos", "ulanqab"):
        assert float(lost.sel(city=city)) == pytest.approx(float(sales.sel(city=city)), rel=1e-9)
    # beyond what the city's use and exports take, wind and solar are curtailed and the bases sell less
    assert float(plan["renewable_sold_share"].max()) == 1.0
    tripled = _run_with(model, scenario, {"renewable_build.multiplier": 3.0})
    assert float(tripled["renewable_sold_share"].sel(city="ulanqab", time=2030)) < 1.0


@pytest.fixture(scope="module")
def extremes(model):
    scenario = simulator.load_scenario(SCENARIOS / "baseline.yaml")
    return {name: _run_with(model, scenario, s) for name, s in EXTREMES.items()}


@pytest.mark.parametrize("name", EXTREMES)
def test_extreme_conditions_keep_stocks_non_negative(extremes, name):
    ds = extremes[name]
    for stock in (
        "residents",
        "urban_population",
        "rural_population",
        "capital",
        "productivity_index",
        "groundwater_storage",
        "coal_power_capacity",
        "renewable_capacity",
        "energy_efficiency_index",
    ):
        assert (ds[stock] >= 0).all(), stock
    for var in ("gdp", "water_use", "energy_use", "co2", "coal_output"):
        assert (ds[var] >= 0).all() and np.isfinite(ds[var]).all(), var


def test_extreme_conditions_respond_with_the_right_sign(extremes, baseline):
    end = {"time": 2035}
    total = lambda ds, v: float(ds[v].sel(**end).sum())  # noqa: E731
    no_river = extremes["no_yellow_river"]
    assert total(no_river, "water_use") < total(baseline, "water_use")
    assert total(no_river, "gdp") < total(baseline, "gdp")
    assert float(no_river["yellow_river_use"].max()) == 0
    # irrigation cannot keep running on Yellow River water that is not there (Sterman's example)
    assert float(no_river["agricultural_water_shortage"].sel(city="baotou", time=2025)) > 0.2
    no_inv = extremes["no_investment"]
    assert (no_inv["capital"].diff("time") < 0).all()
    assert total(no_inv, "gdp") < total(baseline, "gdp")
    no_births = extremes["no_births"]
    assert float(no_births["births"].max()) == 0
    assert total(no_births, "population") < total(baseline, "population")
    big_cap = extremes["coal_cap_10x"]
    assert (big_cap["coal_binding"] == 0).all()
    assert total(big_cap, "coal_output") >= total(baseline, "coal_output")
    dry = extremes["no_groundwater"]
    assert float(dry["groundwater_withdrawal"].max()) == 0
    assert total(dry, "water_use") < total(baseline, "water_use")


@pytest.mark.parametrize("name", ["baseline", "plan"])
def test_integration_error_is_small(name):
    """RK4 with dt halved moves population and GDP in 2035 by < 0.5 % (here far less); the partitioned
    method at dt 1/2 keeps the population within 0.1 % of RK4 at dt 1/8 in every year."""
    coarse = simulator.run(SCENARIOS / f"{name}.yaml", dt=0.25)
    fine = simulator.run(SCENARIOS / f"{name}.yaml", dt=0.125)
    for var in ("population", "gdp"):
        a, b = coarse[var].sel(time=2035), fine[var].sel(time=2035)
        assert float(abs(a / b - 1).max()) < 0.005
    # the Monte Carlo scenarios' integration: partitioned at dt 1/2 (measured: at most 0.004 % and 0.02 %)
    partitioned = simulator.run(SCENARIOS / f"{name}.yaml", dt=0.5, method="partitioned")
    for var in ("population", "labour_force", "urban_population"):
        assert float(abs(partitioned[var] / fine[var] - 1).max()) < 0.001, var


def test_ensemble_step_moves_goal_probabilities_far_less_than_their_error(tmp_path):
    """The Monte Carlo scenarios integrate at dt 1/2 by the partitioned method (the population by the
    midpoint rule): against RK4 at dt 1/4 on the same sample, each goal's probability moves by well under
    its Monte Carlo standard error."""
    from simulator.analysis.ensemble import with_integration

    scenario = simulator.load_scenario(SCENARIOS / "plan_uncertain.yaml")
    assert (scenario.time.dt, scenario.method) == (0.5, "partitioned")
    half = simulator.run_ensemble(scenario, runs=2000, folder=tmp_path / "half")[1]
    quarter = simulator.run_ensemble(with_integration(scenario, "rk4", 0.25), runs=2000, folder=tmp_path / "quarter")[1]
    for a, b in zip(half, quarter):
        if b["probability"] is not None:
            assert abs(a["probability"] - b["probability"]) <= max(0.25 * (b["stderr"] or 0), 1 / 2000), b["id"]


def test_euler_and_rk4_agree_roughly(baseline):
    euler = simulator.run(SCENARIOS / "baseline.yaml", method="euler", dt=1 / 16)
    for var in ("population", "gdp"):
        assert float(abs(euler[var].sel(time=2035) / baseline[var].sel(time=2035) - 1).max()) < 0.01


# Net migration moves with the growth of labour demand since the start year and with wage gaps; fed yearly
# averages, the demography alone sees them about half a year early, a few per cent of these small net flows.
# Water rights under construction start when industry is short, which since 2021's rebound is a kink of the yearly
# industrial water paths the water sector is fed.
NET_FLOWS = {
    "external_migration": 0.05,
    "net_migration": 0.05,
    "urban_net_migration": 0.05,
    "water_rights_in_construction": 0.05,
}


@pytest.mark.parametrize("sector", SECTORS)
def test_each_sector_runs_alone(sector, baseline):
    """A sector fed the other sectors' trajectories as exogenous paths reproduces its own trajectories
    (within a few per cent on average: the exogenous paths are read year by year, so kinks inside a year are
    blunted; 15 % at the worst point)."""
    model = sector_model(sector, baseline)
    ds = to_dataset(
        simulate(
            model, simulator.load_scenario(SCENARIOS / "baseline.yaml").inputs(model), TimeGrid(2020, 2035, 0.25), "rk4"
        )
    )
    own = [v for v in model.declared() if v.sector == sector and v.kind in ("stock", "aux", "flow")]
    assert own
    for var in own:
        name = var.name
        a, b = ds[name], baseline[name]
        assert np.isfinite(a).all(), name
        if var.equation is not None and any(
            isinstance(n, ex.Call) and n.func == "if_then_else" for n in ex.walk(var.equation)
        ):
            continue  # a switch: its timing within a year moves with yearly exogenous points
        if float((b == 0).mean()) > 0.5:
            continue  # mostly zero: a threshold (a shortfall), whose onset moves with yearly exogenous points
        scale = float(abs(b).max()) or 1.0
        assert float(np.sqrt(((a - b) ** 2).mean())) <= NET_FLOWS.get(name, 0.03) * scale, name
        assert float(abs(a - b).max()) <= 0.15 * scale, name


@pytest.mark.parametrize("method", ["euler", "rk4", "partitioned"])
def test_regional_kernel_matches_reference(model, method):
    scenario = simulator.load_scenario(SCENARIOS / "plan.yaml")
    inputs = scenario.inputs(model)
    grid = TimeGrid(2020, 2030, 0.25)
    record = [n for n, v in model.variables.items() if v.kind in ("stock", "aux", "flow")]
    kernel = simulate(model, inputs, grid, method, record=record).values[0]
    slow = reference.simulate(model, inputs, grid, method, record=record)
    assert np.isfinite(kernel).all()
    # relative to each variable's scale: a slack such as cap - use is ~1e-8 m3 of rounding on 1e9 m3
    scale = np.abs(slow).max(axis=0)
    assert np.all(np.abs(kernel - slow) <= 1e-12 * np.maximum(np.abs(slow), scale)), np.max(
        np.abs(kernel - slow) / np.maximum(np.abs(slow), scale)
    )


def test_outputs_carry_units_and_descriptions(baseline):
    for name in (
        *KEY_OUTPUTS,
        "water_slack",
        "coal_slack",
        "energy_slack",
        "water_shadow_price",
        "coal_shadow_price",
        "energy_shadow_price",
    ):
        assert name in baseline, name
        assert baseline[name].attrs["units"] and baseline[name].attrs["description"]
        assert baseline[name].dims == ("time", "city")
    assert list(baseline["city"].values) == ["hohhot", "baotou", "ordos", "ulanqab"]
    assert isinstance(baseline, xr.Dataset)
