"""Presentation: the constraint catalogue, reports that agree with the run, and figures an economist reads
at a glance (checked through matplotlib objects: titles, axis labels, legends, ticks, limits)."""

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import xarray as xr

from simulator.goals import load_goals
from simulator.model import load_model
from simulator.model.limits import LIMITS, limit_on
from simulator.present import plots, report

CITIES = ["hohhot", "baotou", "ordos", "ulanqab"]
YEARS = np.arange(2020, 2036)
UNITS = {
    "population": "person",
    "urban_population": "person",
    "gdp": "yuan/year",
    "potential_gdp": "yuan/year",
    "energy_use": "tce/year",
    "energy_cap": "tce/year",
    "energy_demand": "tce/year",
    "co2": "tCO2/year",
    "coal_output": "t/year",
    "coal_cap": "t/year",
    "coal_demand": "t/year",
    "water_use": "m3/year",
    "water_supply_cap": "m3/year",
    "water_demand": "m3/year",
    "groundwater_storage": "m3",
    "renewable_capacity": "kW",
}
# 2020 levels per city (Ordos mines fifty times the coal of the others)
LEVELS = {
    "population": [3.4e6, 2.7e6, 2.2e6, 1.7e6],
    "gdp": [2.8e11, 2.8e11, 3.5e11, 0.8e11],
    "energy_use": [2.7e7, 5.6e7, 11e7, 2.7e7],
    "co2": [7e7, 13e7, 31e7, 5e7],
    "coal_output": [1e7, 1e7, 6.4e8, 0.0],
    "water_use": [1.0e9, 0.93e9, 1.35e9, 0.72e9],
    "groundwater_storage": [5e9, 5e9, 13e9, 8e9],
    "renewable_capacity": [1.5e6, 6e6, 3e6, 8e6],
}


# variable -> (level it scales, factor)
DERIVED = {
    "urban_population": ("population", 0.7),
    "potential_gdp": ("gdp", 1.05),
    "energy_cap": ("energy_use", 1.2),
    "energy_demand": ("energy_use", 1.1),
    "coal_cap": ("coal_output", 1.2),
    "coal_demand": ("coal_output", 1.1),
    "water_supply_cap": ("water_use", 1.2),
    "water_demand": ("water_use", 1.1),
}


def run_dataset() -> xr.Dataset:
    """A small deterministic run with the variables the figures draw."""
    growth = 1 + 0.02 * (YEARS - 2020)[:, None]
    data = {}
    for name, units in UNITS.items():
        base, factor = DERIVED.get(name, (name, 1.0))
        data[name] = (("time", "city"), np.array(LEVELS[base])[None, :] * growth * factor, {"units": units})
    return xr.Dataset(data, coords={"time": YEARS, "city": CITIES}, attrs={"scenario": "test"})


def goal_records(ensemble=False) -> list[dict]:
    """Records as goals.evaluate writes them, one per goal in goals.yaml."""
    values = {
        "gdp_growth_2021_2025": 0.0368,
        "urban_population_2025": 0.0614,
        "water_within_caps": 1.14,
        "coal_within_cap": 0.946,
        "energy_intensity_2025": -0.186,
        "non_fossil_2030": 0.0907,
        "new_energy_above_thermal_2025": 0.52,
        "gdp_2035": 0.427,
        "co2_peak": 2020.0,
    }
    records = []
    for goal in load_goals():
        record = {k: goal[k] for k in ("id", "description", "comparison", "target", "tolerance", "units")}
        value = values[goal["id"]]
        if ensemble:
            record.update(
                probability=0.8 if goal["id"] != "water_within_caps" else 0.002,
                stderr=0.004,
                value_percentiles={"50": value},
                met=goal["id"] != "water_within_caps",
            )
        else:
            record.update(
                value=value,
                met=goal["id"] in ("urban_population_2025", "coal_within_cap", "energy_intensity_2025", "co2_peak"),
            )
        records.append(record)
    return records


def scenario_stub():
    return SimpleNamespace(
        name="test",
        description="",
        time=SimpleNamespace(start=2020, end=2035, dt=0.25),
        method="rk4",
        data={},
        uncertain=[],
    )


def x_tick_texts(ax) -> list[str]:
    """The x tick labels shown (inside the axis limits)."""
    ax.figure.canvas.draw()
    low, high = sorted(ax.get_xlim())
    return [label.get_text() for x, label in zip(ax.get_xticks(), ax.get_xticklabels()) if low <= x <= high]


def assert_years_as_years(ax, most=9):
    ticks = x_tick_texts(ax)
    assert ticks and all(re.fullmatch(r"\d{4}", t) for t in ticks), ticks
    assert ax.xaxis.get_offset_text().get_text() == ""
    assert len(ticks) <= most


def all_texts(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]


# ------------------------------------------------------------------------------------------------
# the constraint catalogue


def test_catalogue_names_declared_variables_and_policy_paths():
    model = load_model()
    for limit in LIMITS:
        assert [v for v in limit.variables() if v not in model.variables] == [], limit.label
        assert [lever.policy for lever in limit.levers if lever.policy not in model.multiplier_offset] == []
        assert model.variables[limit.cap].units == model.variables[limit.use].units == f"{limit.allowance_units}/year"
        assert model.variables[limit.binding].units == "1"
    assert [lever.policy for lever in limit_on("water_use").levers] == ["yellow_river_allocation", "water_red_line"]
    assert limit_on("water_use").share == "share_water_binding"
    assert limit_on("population") is None


def test_binding_timeline_rows_come_from_the_catalogue():
    ds = run_dataset()
    for limit in LIMITS:
        ds[limit.binding] = (("time", "city"), np.zeros((len(YEARS), 4)), {"units": "1"})
    fig = plots.binding_timeline(ds)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [f"{limit.label}: {city}" for limit in LIMITS for city in CITIES]
    assert_years_as_years(fig.axes[0], most=len(YEARS))


# ------------------------------------------------------------------------------------------------
# reports that agree with the run (issue 10 item 7)


def ensemble_median(excluded: int) -> xr.Dataset:
    """An ensemble summary's median run, as ensemble.py passes it to write_report."""
    ds = run_dataset()
    share = np.zeros((len(YEARS), 4))
    share[:, 0] = np.clip((YEARS - 2024) * 0.1, 0, 1)  # water in Hohhot: 10 % in 2025, 60 % in 2030, first > 50 % 2030
    ds["share_water_binding"] = (("time", "city"), share, {"units": "1"})
    ds["share_coal_binding"] = (("time", "city"), np.zeros((len(YEARS), 4)), {"units": "1"})
    ds.attrs.update(
        runs_kept=10_000 - excluded,
        runs_excluded=excluded,
        excluded_reasons=json.dumps({"implausible population": excluded} if excluded else {}),
    )
    return ds


def test_ensemble_report_gives_the_share_of_runs_in_which_each_limit_binds(tmp_path):
    report.write_report(tmp_path / "report.md", ensemble_median(excluded=20), scenario_stub(), goal_records(True))
    text = (tmp_path / "report.md").read_text()
    assert "no limit binds in this run" not in text
    assert re.search(r"^\| water \| hohhot \| 10\.0% \| 60\.0% \| 100\.0% \| 2030 \| 100\.0% \(2034\) \|$", text, re.M)
    assert not re.search(r"^\| (water|coal cap) \| (baotou|ordos|ulanqab) \|", text, re.M)
    assert "9,980 of 10,000 runs kept, 20 excluded (implausible population: 20)" in text


def test_ensemble_report_says_when_all_runs_are_kept(tmp_path):
    report.write_report(tmp_path / "report.md", ensemble_median(excluded=0), scenario_stub(), goal_records(True))
    assert "all 10,000 runs kept" in (tmp_path / "report.md").read_text()


def test_ensemble_report_without_shares_does_not_claim_that_no_limit_binds(tmp_path):
    report.write_report(tmp_path / "report.md", run_dataset(), scenario_stub(), goal_records(True))
    text = (tmp_path / "report.md").read_text()
    assert "no limit binds" not in text
    assert "does not record how often the limits bind" in text


def test_report_goals_show_years_as_years_and_ratios_as_ratios():
    table = "\n".join(report.goals_table(goal_records()))
    assert "| co2_peak | <= 2030 | 2020 |" in table
    assert "| water_within_caps | <= 1 | 1.14 |" in table
    assert "| energy_intensity_2025 | <= -15.0 % | -18.6 % |" in table
    assert "| gdp_growth_2021_2025 | >= 6 % | 3.68 % |" in table


# ------------------------------------------------------------------------------------------------
# figures (issue 10 item 8)


def axis_titled(fig, text):
    return next(ax for ax in fig.axes if ax.get_title() == text)


def legend_texts(obj) -> list[str]:
    legends = [obj.get_legend()] if hasattr(obj, "get_legend") else obj.legends
    return [t.get_text() for legend in legends if legend is not None for t in legend.get_texts()]


def test_trajectories_label_potential_gdp_and_say_what_each_line_style_means():
    fig = plots.trajectories(run_dataset())
    gdp = axis_titled(fig, "GDP (2020 prices)")
    assert legend_texts(gdp) == ["GDP", "potential GDP (no limit binding)"]
    assert legend_texts(axis_titled(fig, "Water use")) == ["Water use", "limit (water)", "demand (without the limit)"]
    assert legend_texts(axis_titled(fig, "Population")) == []  # one line style: the title says what it is
    assert legend_texts(fig) == ["Hohhot", "Baotou", "Ordos", "Ulanqab"]
    assert not any("demand" in t for t in legend_texts(gdp) + legend_texts(fig))


def test_pyramids_one_panel_per_city_men_left_women_right_ages_in_words(baseline):
    ds = baseline
    fig = plots.pyramids(ds)
    assert [ax.get_title() for ax in fig.axes] == ["Hohhot", "Baotou", "Ordos", "Ulanqab"]
    assert legend_texts(fig) == ["men 2020", "women 2020", "2025 (outline)", "2035 (outline)"]
    first = fig.axes[0]
    labels = [t.get_text() for t in first.get_yticklabels()]
    assert labels[0] == "0–4" and labels[-1] == "85+" and len(labels) == 18
    assert first.get_xlabel() == "10k persons (men left, women right)"
    lo, hi = first.get_xlim()
    widest = float(ds["residents"].sel(city="hohhot").max()) / 1e4  # the outlines and bars fit
    assert lo < -0.9 * widest and hi > 0.9 * widest
    assert plots.age_label("a85_plus") == "85+" and plots.age_label("a10_14") == "10–14"


def test_town_and_country_splits_each_group_into_urban_and_rural(baseline):
    fig = plots.town_and_country(baseline)
    assert [ax.get_title() for ax in fig.axes] == ["Hohhot", "Baotou", "Ordos", "Ulanqab"]
    assert legend_texts(fig) == ["urban men", "rural men", "urban women", "rural women"]
    assert "2035" in fig._suptitle.get_text()
    bars = fig.axes[0].patches  # urban men, rural men, urban women, rural women: 18 age groups each
    assert len(bars) == 4 * 18
    men = baseline["residents"].sel(city="hohhot", sex="male", time=2035).values / 1e4
    outer = np.array([-(b.get_x() + b.get_width()) for b in bars[18:36]])  # rural bars end at the residents
    np.testing.assert_allclose(outer, men, rtol=1e-9)


def test_report_has_the_population_section_with_migration_by_origin(baseline):
    text = "\n".join(report.demography_table(baseline))
    for name in (
        "total_fertility_rate",
        "dependency_ratio",
        "labour_force",
        "intercity_in_migration",
        "intercity_out_migration",
        "external_migration",
    ):
        assert f"| {name} |" in text, name


def test_trajectories_give_ordos_coal_a_panel_of_its_own():
    ds = run_dataset()
    fig = plots.trajectories(ds)
    ordos, others = axis_titled(fig, "Coal output: Ordos"), axis_titled(fig, "Coal output: other cities")
    factor = 1e4  # 10k t
    largest_other = float(ds["coal_cap"].sel(city=["hohhot", "baotou", "ulanqab"]).max()) / factor
    assert others.get_ylim()[1] < 1.5 * largest_other  # the other cities fill their panel
    assert ordos.get_ylim()[0] > 0.5 * float(ds["coal_output"].sel(city="ordos").min()) / factor
    assert len(ordos.get_lines()) == 3  # Ordos alone: output, cap, demand


def test_trajectories_titles_in_words_units_and_years_as_years():
    fig = plots.trajectories(run_dataset())
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 10
    for ax in panels:
        assert "_" not in ax.get_title() and ax.get_title()[0].isupper()
        assert ax.get_ylabel()  # display units
        assert_years_as_years(ax)
        assert ax.get_xlim() == (2020, 2035)
    assert axis_titled(fig, "GDP (2020 prices)").get_ylabel() == "100m yuan per year"
    assert axis_titled(fig, "Population").get_ylabel() == "10k persons"


def test_trajectories_accept_one_variable_by_name():
    fig = plots.trajectories(run_dataset(), "gdp")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["GDP (2020 prices)"]


def test_goal_dashboard_shows_years_as_years_and_every_goal_on_its_own_scale():
    goals = goal_records()
    fig = plots.goal_dashboard(goals)
    texts = all_texts(fig)
    assert not any(re.search(r"\de[+-]\d", t) for t in texts), [t for t in texts if "e+" in t]
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert "co2_peak: peak 2020, target by 2030 (met)" in titles
    assert "energy_intensity_2025: -18.6 % vs target at most -15.0 % (met)" in titles
    assert "water_within_caps: 1.14 vs target at most 1 (not met)" in titles
    assert "gdp_growth_2021_2025: 3.68 % vs target at least 6 % (not met)" in titles
    for ax, goal in zip(fig.axes, goals):
        scale = 1 if goal["units"] == "year" else report.goal_scale(goal)[0]
        low, high = ax.get_xlim()
        assert low < goal["value"] * scale < high and low < goal["target"] * scale < high, goal["id"]
    peak = fig.axes[[g["id"] for g in goals].index("co2_peak")]
    assert_years_as_years(peak)
    assert peak.get_xlim()[1] - peak.get_xlim()[0] < 30


def test_goal_dashboard_of_an_ensemble_gives_probabilities_in_percent():
    fig = plots.goal_dashboard(goal_records(ensemble=True))
    texts = all_texts(fig)
    assert any(t.startswith("0.2% ± 0.4%  (median 1.14 vs target at most 1)") for t in texts)
    assert any(t.startswith("80.0% ± 0.4%  (median peak 2020, target by 2030)") for t in texts)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0%", "25%", "50%", "75%", "100%"]


def test_compare_reads_years_as_years():
    a = run_dataset()
    b = a * 1.02
    b.attrs["scenario"] = "plan"
    fig = plots.compare(a, b)
    for ax in fig.axes:
        if ax.get_title():
            assert_years_as_years(ax, most=6)
            assert ax.get_ylabel() == "% difference from test"
    assert legend_texts(fig) == ["Hohhot", "Baotou", "Ordos", "Ulanqab"]


def percentiles_dataset() -> xr.Dataset:
    ds = run_dataset()
    spread = xr.DataArray([0.8, 0.9, 1.0, 1.1, 1.2], dims="percentile", coords={"percentile": [5, 25, 50, 75, 95]})
    out = ds * spread
    for name in ds:
        out[name].attrs = ds[name].attrs
    return out


def test_fan_chart_labels_the_bands_draws_the_limit_and_the_deterministic_run():
    fig = plots.fan_chart(percentiles_dataset(), deterministic=run_dataset() * 1.01)
    assert legend_texts(fig) == [
        "5–95 % band",
        "25–75 % band",
        "median",
        "deterministic run",
        "limit (median over the runs)",
    ]
    water = axis_titled(fig, "Water use: Hohhot")
    dashed = [line for line in water.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1
    cap = run_dataset()["water_supply_cap"].sel(city="hohhot").values / 1e8
    np.testing.assert_allclose(dashed[0].get_ydata(), cap)
    gdp = axis_titled(fig, "GDP (2020 prices): Hohhot")
    assert not [line for line in gdp.get_lines() if line.get_linestyle() == "--"]
    assert_years_as_years(water)
    assert water.get_ylabel() == "100m m3 per year"


def test_fan_chart_without_a_deterministic_run_has_no_such_line():
    fig = plots.fan_chart(percentiles_dataset())
    assert "deterministic run" not in legend_texts(fig)


def test_calibration_fit_axes_span_the_window_in_years():
    rows = pd.DataFrame({"city": CITIES, "year": [2020] * 4, "value": LEVELS["population"]})
    table = rows.assign(simulated=rows.value * 1.01)
    config = SimpleNamespace(
        name="test",
        grid=SimpleNamespace(start=2010.0, end=2020.0),
        targets=[SimpleNamespace(series="population_census", variable="population", transform="level")],
    )
    result = {"tables": [table], "tables_default": [table], "problem": SimpleNamespace(model=load_model())}
    fig = plots.calibration_fit(config, result)
    hohhot = axis_titled(fig, "Population: Hohhot")
    assert hohhot.get_xlim() == (2009.5, 2020.5)
    assert_years_as_years(hohhot)
    assert hohhot.get_ylabel() == "10k persons"
    np.testing.assert_allclose(hohhot.get_lines()[0].get_ydata(), [LEVELS["population"][0] / 1e4])


def test_shadow_prices_name_the_limit_each_policy_path_raises():
    prices = [
        {
            "limit": "water_red_line",
            "city": "hohhot",
            "allowance_units": "m3",
            "extra_allowance": 1.6e8,
            "gdp_gained_yuan": 2e9,
            "shadow_price": 12.5,
            "units": "yuan/m3",
        }
    ]
    assert report.shadow_table(prices)[2] == (
        "| water: water_red_line | hohhot | 1.6 100m m3 | 20.0 100m yuan | 12.5 yuan/m3 |"
    )


def test_goal_dashboard_shows_a_goal_that_could_not_be_evaluated():
    goals = goal_records()
    goals[0].update(value=None, met=None, note="not evaluated: the run does not cover 2025")
    fig = plots.goal_dashboard(goals)
    assert fig.axes[0].get_title(loc="left") == "gdp_growth_2021_2025: not evaluated: the run does not cover 2025"


def test_report_of_a_run_without_binding_indicators_does_not_claim_that_no_limit_binds():
    lines = report.binding_table(run_dataset())
    assert not any("no limit binds" in line for line in lines)
    assert lines == [
        "Not in this run's outputs (add them to `outputs.variables`): water_binding, "
        "industrial_water_binding, coal_binding, energy_binding."
    ]


def test_report_binding_table_of_one_run():
    ds = run_dataset()
    binding = np.zeros((len(YEARS), 4))
    binding[11:, 0] = 1  # water binds in Hohhot 2031-2035
    ds["water_binding"] = (("time", "city"), binding, {"units": "1"})
    ds["water_shortfall"] = (("time", "city"), binding * 2e7, {"units": "m3/year"})
    ds["water_shadow_price"] = (("time", "city"), binding * 10.0, {"units": "yuan/m3"})
    lines = report.binding_table(ds)
    assert lines[2] == "| water | hohhot | 2031–2035 | 5 | 1 100m m3 | 10.0 yuan/m3 | irrigation (served last) | – |"
    assert lines[-1] == (
        "Not in this run's outputs (add them to `outputs.variables`): industrial_water_binding, "
        "coal_binding, energy_binding."
    )


def test_fan_chart_takes_the_limit_from_the_deterministic_run_when_the_runs_did_not_record_it():
    percentiles = percentiles_dataset().drop_vars("coal_cap")
    deterministic = run_dataset()
    fig = plots.fan_chart(percentiles, variables=("coal_output",), deterministic=deterministic)
    assert "limit (deterministic run)" in legend_texts(fig)
    ordos = axis_titled(fig, "Coal output: Ordos")
    dashed = [line for line in ordos.get_lines() if line.get_linestyle() == "--"]
    np.testing.assert_allclose(dashed[0].get_ydata(), deterministic["coal_cap"].sel(city="ordos").values / 1e4)
