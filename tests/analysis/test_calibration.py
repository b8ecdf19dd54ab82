"""Calibration: fit statistics on hand-computed examples, recovery of known parameters from synthetic
data, the shipped calibration end to end, and the committed fitted file matching its configuration."""

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator
from simulator.analysis.calibrate import calibrate, write_outputs
from simulator.analysis.fit import fit_statistics
from simulator.cli import main
from simulator.engine import TimeGrid, default_inputs, simulate
from simulator.errors import InputError
from simulator.inputs.calibration import load_config

from ..conftest import ROOT


def test_theil_and_mape_by_hand():
    stats = fit_statistics([1, 2, 3, 4], [2, 2, 4, 4])
    assert stats["n"] == 4
    assert stats["mape"] == pytest.approx(0.1875)
    assert stats["rmspe"] == pytest.approx(math.sqrt((0.25 + 0.0625) / 4))
    assert stats["theil_um"] == pytest.approx(0.5)
    sd_s, sd_a, r = math.sqrt(1.25), 1.0, 1 / math.sqrt(1.25)
    assert stats["theil_us"] == pytest.approx((sd_s - sd_a) ** 2 / 0.5)
    assert stats["theil_uc"] == pytest.approx(2 * (1 - r) * sd_s * sd_a / 0.5)
    assert stats["r2"] == pytest.approx(r**2)
    perfect = fit_statistics([1, 2, 3], [1, 2, 3])
    assert perfect["mape"] == 0 and perfect["theil_um"] is None  # no error to decompose
    short = fit_statistics([1.0, 2.0], [1.1, 2.2])
    assert short["r2"] is None and short["mape"] == pytest.approx(1 / 11)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 100), st.floats(0.1, 100)), min_size=3, max_size=30))
def test_theil_parts_sum_to_one(pairs):
    s, a = np.array(pairs).T
    stats = fit_statistics(s, a)
    if stats["theil_um"] is not None and np.std(s) > 0 and np.std(a) > 0:
        assert stats["theil_um"] + stats["theil_us"] + stats["theil_uc"] == pytest.approx(1.0, abs=1e-9)


CONFIG = """
name: recovery
window: {{start: 2010, end: 2020}}
data: {data}
fitted_file: fitted.yaml
free:
  tfp_growth: {{bounds: [-0.03, 0.08]}}
  external_migration_rate: {{bounds: [-0.06, 0.06]}}
targets:
  - {{series: gdp_real, variable: gdp, error: 0.01}}
  - {{series: population_census, variable: population, error: 0.005}}
starts: 2
seed: 3
ensemble: {{samples: 300}}
"""


def test_recovers_known_parameters_from_noisy_synthetic_data(model, tmp_path):
    truth = {"tfp_growth": [0.012, 0.025, 0.005, 0.03], "external_migration_rate": [0.01, -0.004, 0.002, -0.02]}
    config_path = tmp_path / "recovery.yaml"
    data_path = tmp_path / "synthetic.csv"
    config_path.write_text(CONFIG.format(data=data_path.name))
    # generate the data from the model with the true parameters, plus noise
    inputs = default_inputs(model)
    for name, value in truth.items():
        inputs.set_parameter(name, value)
    result = simulate(model, inputs, TimeGrid(2010, 2020, 0.25), "rk4", record=["gdp", "population"])
    rng = np.random.default_rng(0)
    rows = ["series,city,year,value,units,source,confidence,note"]
    for k, city in enumerate(model.spec.elements("city")):
        for year in range(2010, 2021):
            gdp = result.values[0, year - 2010, result.column("gdp", k)] * (1 + 0.005 * rng.standard_normal())
            rows.append(f"gdp_real,{city},{year},{float(gdp)!r},yuan/year,synthetic,,")
        pop = result.values[0, -1, result.column("population", k)] * (1 + 0.002 * rng.standard_normal())
        rows.append(f"population_census,{city},2020,{float(pop)!r},person,synthetic,,")
    data_path.write_text("\n".join(rows) + "\n")
    config = load_config(config_path, model)
    fitted = calibrate(config, model, say=lambda *a: None)
    x = dict(zip([f.label for f in config.free], fitted["x"]))
    for k, city in enumerate(model.spec.elements("city")):
        assert x[f"tfp_growth[{city}]"] == pytest.approx(truth["tfp_growth"][k], abs=0.002)
        assert x[f"external_migration_rate[{city}]"] == pytest.approx(truth["external_migration_rate"][k], abs=0.001)
    assert len(fitted["ensemble"]["accepted"]) > 10  # the filtered ensemble keeps runs near the truth
    write_outputs(tmp_path, config, model, fitted)
    assert {
        "fitted.yaml",
        "uncertain.yaml",
        "fit.json",
        "report.md",
        "fit.png",
        "posterior_samples.csv",
        "posterior.csv",
        "identifiability.json",
    } <= {p.name for p in tmp_path.iterdir()}


def _shipped_config(tmp_path, steps=200):
    config = (ROOT / "calibration" / "baseline.yaml").read_text()
    config = config.replace("data: data/history.csv", f"data: {ROOT / 'calibration' / 'data' / 'history.csv'}")
    config = config.replace("scenario: start_2010.yaml", f"scenario: {ROOT / 'calibration' / 'start_2010.yaml'}")
    config = config.replace("fitted_file: fitted/baseline.yaml", "fitted_file: fitted.yaml")
    config = config.replace(
        "posterior: {walkers: 48, steps: 1500, burn: 500, thin: 20}",
        f"posterior: {{walkers: 40, steps: {steps}, burn: {steps // 2}, thin: 5}}",
    )
    (tmp_path / "baseline.yaml").write_text(config)
    return tmp_path / "baseline.yaml"


def test_shipped_calibration_end_to_end(tmp_path):
    """Finishes in seconds here (minutes is the promise), writes every output into --out and nothing beside
    the configuration, and the fit, with its joint posterior draws, loads into a scenario."""
    config = _shipped_config(tmp_path)
    out = tmp_path / "out"
    assert main(["calibrate", str(config), "--out", str(out), "--quiet"]) == 0
    fit = __import__("json").loads((out / "fit.json").read_text())
    gdp = [r for r in fit if r["series"] == "gdp_real"]
    assert len(gdp) == 4 and all(r["mape"] < 0.05 for r in gdp)
    for r in fit:
        assert {"series", "city", "n", "mape", "rmspe", "r2", "theil_um", "theil_us", "theil_uc"} <= set(r)
    # --out is a trial: the fitted files beside the configuration are not written
    assert not (tmp_path / "fitted.yaml").exists() and not (tmp_path / "fitted_uncertain.yaml").exists()
    assert (out / "fitted.yaml").exists() and (out / "uncertain.yaml").exists() and (out / "posterior.csv").exists()
    scenario = out / "uses_fit.yaml"
    scenario.write_text(
        "name: uses_fit\nparameters_from: fitted.yaml\nextends: uncertain.yaml\nmonte_carlo: {runs: 4}\n"
    )
    loaded = simulator.load_scenario(scenario)
    fitted = yaml.safe_load((out / "fitted.yaml").read_text())["parameters"]
    assert loaded.parameters["tfp_growth"][2] == pytest.approx(fitted["tfp_growth"]["ordos"])
    assert any(d.target == "tfp_growth" for d in loaded.uncertain)
    simulator.run(loaded)
    report = (out / "report.md").read_text()
    assert "## Posterior (emcee)" in report and "## Identifiability" in report and "R-hat" in report


def test_without_out_the_fitted_files_are_updated(tmp_path):
    config = _shipped_config(tmp_path, steps=60)
    assert main(["calibrate", str(config), "--quiet", "--out", str(tmp_path / "trial")]) == 0
    assert not (tmp_path / "fitted.yaml").exists()
    from simulator.analysis.calibrate import fitted_paths, update_fitted_files
    from simulator.model import load_model

    model = load_model()
    cfg = load_config(config, model)
    result = calibrate(cfg, model, say=lambda *a: None)
    update_fitted_files(cfg, model, result)
    paths = fitted_paths(cfg)
    assert all(p.exists() for p in paths.values())
    expected = {"uncertain": {"posterior": {"draws": "fitted_posterior.csv"}}}
    assert yaml.safe_load(paths["uncertain"].read_text()) == expected


def test_committed_posterior_draws_are_joint_rows_named_as_uncertain_targets(model):
    """calibration/fitted/baseline_posterior.csv: a column per fitted number (scenario uncertain syntax), a row
    per retained draw (a few thousand at most), values inside the declared bounds; the carried-over start
    ratio converted per draw like the fitted file."""
    import pandas as pd

    draws = pd.read_csv(ROOT / "calibration" / "fitted" / "baseline_posterior.csv")
    config = load_config(ROOT / "calibration" / "baseline.yaml", model)
    expected = [f.label for f in config.free if f.name not in config.carry_over]
    expected += [f"{name}[{c}]" for name in config.carry_over for c in model.spec.elements("city")]
    assert list(draws.columns) == expected
    assert 500 <= len(draws) <= 5000
    for column in draws.columns:
        name = column.split("[")[0]
        low, high = model.variables[name].bounds
        assert draws[column].between(low, high).all(), column
    fitted = yaml.safe_load((ROOT / "calibration" / "fitted" / "baseline.yaml").read_text())["parameters"]
    median = draws["capital_output_ratio[ordos]"].median()
    assert median == pytest.approx(fitted["capital_output_ratio"]["ordos"], rel=0.15)
    uncertain = yaml.safe_load((ROOT / "calibration" / "fitted" / "baseline_uncertain.yaml").read_text())
    assert uncertain == {"uncertain": {"posterior": {"draws": "baseline_posterior.csv"}}}


def test_identifiability_report_flags_a_parameter_on_its_bound(model, tmp_path):
    """A bound that cuts through the data's best value is reported as a warning with the reason."""
    config = (
        _shipped_config(tmp_path, steps=40)
        .read_text()
        .replace("tfp_growth: {bounds: [-0.03, 0.08]}", "tfp_growth: {bounds: [-0.03, 0.005]}")
    )
    (tmp_path / "tight.yaml").write_text(config)
    cfg = load_config(tmp_path / "tight.yaml", model)
    result = calibrate(cfg, model, say=lambda *a: None, posterior=False)
    ident = result["identifiability"]
    assert any(w["parameter"].startswith("tfp_growth") and w["bound"] == "upper" for w in ident["on_bound"])
    assert "the bound, not the data" in ident["on_bound"][0]["reason"]
    n = len(cfg.free)
    assert np.array(ident["correlation"]).shape == (n, n)
    assert len(ident["profile"]["cost"]) == len(ident["profile"]["step_in_bound_widths"])


def test_split_rhat_of_independent_chains_is_near_one_and_of_shifted_ones_is_not():
    from simulator.analysis.calibrate import split_rhat

    rng = np.random.default_rng(0)
    same = rng.normal(size=(2000, 16, 2))
    assert np.all(np.abs(split_rhat(same) - 1) < 0.01)
    shifted = same.copy()
    shifted[:, :4, 0] += 3.0  # one walker group stuck elsewhere
    assert split_rhat(shifted)[0] > 1.2


def test_committed_fit_matches_its_configuration_and_data():
    fitted = yaml.safe_load((ROOT / "calibration" / "fitted" / "baseline.yaml").read_text())
    meta = fitted["calibration"]
    config_text = (ROOT / "calibration" / "baseline.yaml").read_text()
    assert meta["config_sha256"] == hashlib.sha256(config_text.encode()).hexdigest()[:16], (
        "calibration/baseline.yaml changed: run `simulate calibrate calibration/baseline.yaml` and commit the fit"
    )
    data = (ROOT / "calibration" / "data" / "history.csv").read_bytes()
    assert meta["data_sha256"] == hashlib.sha256(data).hexdigest()[:16]


def test_start_year_timing_no_jump_in_the_first_window_years(model):
    """The start row reports the start year's annual GDP; the first projected year carries a full year of
    growth, so the calibrated run's first-year GDP residuals are no larger than the second year's (the old
    convention, the annual figure taken as the year-end rate, left them about half a year of growth low)."""
    import pandas as pd

    from simulator.analysis.calibrate import FitProblem, window_start_values
    from simulator.inputs.scenario import load_scenario

    config = load_config(ROOT / "calibration" / "baseline.yaml", model)
    x = window_start_values(config, yaml.safe_load((ROOT / "calibration" / "fitted" / "baseline.yaml").read_text()))
    problem = FitProblem(model, config, load_scenario(config.scenario_path, model).inputs(model))
    table = problem.simulated_table(x)[0]
    residual = (table.simulated / table.value - 1).groupby(table.year).apply(lambda r: float(np.mean(np.abs(r))))
    first, second = residual.loc[config.grid.start + 1], residual.loc[config.grid.start + 2]
    assert first <= 1.25 * second + 0.002, residual.round(4).to_dict()
    run = simulate(model, problem.inputs(x), config.grid, config.method, record=["gdp"])
    history = pd.read_csv(config.data_path)
    start = history[(history.series == "gdp_real") & (history.year == int(config.grid.start))].set_index("city").value
    for k, city in enumerate(model.spec.elements("city")):
        # within 3 %: the start year's coal value added is approximated (2020 coal output x the demand index;
        # Ordos' 2010 coal output is not in the data), the non-coal part is exact
        assert run.values[0, 0, run.column("gdp", k)] == pytest.approx(start[city], rel=0.03)


def test_the_province_investment_rate_is_the_documented_table():
    """build_history.py's investment_rate_province (a target for the four cities together, city "all") is
    docs/sources/capital.md's I / Y row, from the perpetual-inventory capital stock."""
    history = pd.read_csv(ROOT / "calibration" / "data" / "history.csv")
    rows = history[history.series == "investment_rate_province"].sort_values("year")
    assert set(rows.city) == {"all"} and list(rows.year) == list(range(2010, 2021))
    table = [0.815, 0.819, 0.868, 0.943, 0.771, 0.751, 0.635, 0.485, 0.319, 0.319, 0.313]
    np.testing.assert_allclose(rows.value, table, atol=0.0006)
    assert set(rows[rows.year >= 2018].confidence) == {"low"}


def test_a_regional_target_with_rows_per_city_names_its_line(model, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("series,city,year,value\ninvestment_rate_province,ordos,2012,0.8\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: c\nwindow: {{start: 2010, end: 2020}}\ndata: {data.name}\nfitted_file: f.yaml\n"
        "free:\n  tfp_growth: {bounds: [0, 0.05]}\n"
        "targets:\n  - {series: investment_rate_province, variable: four_city_investment_rate, error: 0.1}\n"
    )
    with pytest.raises(InputError) as info:
        load_config(config, model)
    assert "c.yaml:8: targets[0].series" in str(info.value) and "city all" in str(info.value)


def test_a_backtest_window_keeps_only_the_investment_rates_known_at_its_origin(model):
    config = load_config(ROOT / "calibration" / "baseline.yaml", model)
    window = config.with_window_end(2016)
    kept = [t for t in window.targets if t.series == "investment_rate_province"]
    assert len(kept) == 1  # the 2018-2020 target has no row before 2017 and is dropped
    assert set(kept[0].rows.city) == {"all"} and kept[0].rows.year.max() == 2016
