"""Calibration: fit statistics on hand-computed examples, recovery of known parameters from synthetic
data, the shipped calibration end to end, and the committed fitted file matching its configuration."""

import hashlib
import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator
from simulator.calibrate import calibrate, load_config, write_outputs
from simulator.cli import main
from simulator.engine import TimeGrid, default_inputs, simulate
from simulator.fit import fit_statistics

from .conftest import ROOT


def test_theil_and_mape_by_hand():
    stats = fit_statistics([1, 2, 3, 4], [2, 2, 4, 4])
    assert stats["n"] == 4
    assert stats["mape"] == pytest.approx(0.1875)
    assert stats["rmspe"] == pytest.approx(math.sqrt((0.25 + 0.0625) / 4))
    assert stats["theil_um"] == pytest.approx(0.5)
    sd_s, sd_a, r = math.sqrt(1.25), 1.0, 1 / math.sqrt(1.25)
    assert stats["theil_us"] == pytest.approx((sd_s - sd_a) ** 2 / 0.5)
    assert stats["theil_uc"] == pytest.approx(2 * (1 - r) * sd_s * sd_a / 0.5)
    assert stats["r2"] == pytest.approx(r ** 2)
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
    assert {"fitted.yaml", "uncertain.yaml", "fit.json", "report.md", "fit.png", "posterior_samples.csv"} <= {
        p.name for p in tmp_path.iterdir()}


def test_shipped_calibration_end_to_end(tmp_path):
    """Finishes in seconds here (minutes is the promise), writes every output, and the fit loads into a scenario."""
    config = (ROOT / "calibration" / "baseline.yaml").read_text()
    config = config.replace("data: data/history.csv", f"data: {ROOT / 'calibration' / 'data' / 'history.csv'}")
    config = config.replace("fitted_file: fitted/baseline.yaml", "fitted_file: fitted.yaml")
    (tmp_path / "baseline.yaml").write_text(config)
    out = tmp_path / "out"
    assert main(["calibrate", str(tmp_path / "baseline.yaml"), "--out", str(out), "--quiet"]) == 0
    fit = __import__("json").loads((out / "fit.json").read_text())
    gdp = [r for r in fit if r["series"] == "gdp_real"]
    assert len(gdp) == 4 and all(r["mape"] < 0.05 for r in gdp)
    for r in fit:
        assert {"series", "city", "n", "mape", "rmspe", "r2", "theil_um", "theil_us", "theil_uc"} <= set(r)
    assert (tmp_path / "fitted.yaml").exists() and (tmp_path / "fitted_uncertain.yaml").exists()
    scenario = tmp_path / "uses_fit.yaml"
    scenario.write_text("name: uses_fit\nparameters_from: fitted.yaml\nextends: fitted_uncertain.yaml\n"
                        "monte_carlo: {runs: 4}\n")
    loaded = simulator.load_scenario(scenario)
    fitted = yaml.safe_load((tmp_path / "fitted.yaml").read_text())["parameters"]
    assert loaded.parameters["tfp_growth"][2] == pytest.approx(fitted["tfp_growth"]["ordos"])
    assert any(d.target == "tfp_growth" for d in loaded.uncertain)
    simulator.run(loaded)


def test_committed_fit_matches_its_configuration_and_data():
    fitted = yaml.safe_load((ROOT / "calibration" / "fitted" / "baseline.yaml").read_text())
    meta = fitted["calibration"]
    config_text = (ROOT / "calibration" / "baseline.yaml").read_text()
    assert meta["config_sha256"] == hashlib.sha256(config_text.encode()).hexdigest()[:16], \
        "calibration/baseline.yaml changed: run `simulate calibrate calibration/baseline.yaml` and commit the fit"
    data = (ROOT / "calibration" / "data" / "history.csv").read_bytes()
    assert meta["data_sha256"] == hashlib.sha256(data).hexdigest()[:16]
