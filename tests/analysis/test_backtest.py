"""Backtest: inputs as known at an origin (no information after it), naive benchmarks by hand, the command's
bad input, the README table, and the credibility gate (issue 11 item 5) on the 2016 origin."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from simulator.analysis.backtest import (
    GATE_ORIGIN,
    README_BEGIN,
    README_END,
    Options,
    census_growth_noise,
    naive_forecasts,
    run_backtest,
    update_readme,
    vintage_inputs,
)
from simulator.cli import main
from simulator.engine import default_inputs

from ..conftest import ROOT

CONFIG = ROOT / "calibration" / "baseline.yaml"


@pytest.mark.parametrize("origin", [2014, 2016, 2018])
def test_no_input_carries_information_after_the_origin(model, origin):
    """Every series' values after the origin follow its declared rule from points at or before the origin;
    parameters dated later take their 'before' value or are listed as leaks."""
    base = default_inputs(model)
    inputs, leaks = vintage_inputs(model, base, origin)
    leaked = {leak["input"] for leak in leaks}
    years = np.arange(origin + 1, 2021, dtype=float)
    for name in model.series:
        vintage = model.variables[name].vintage or {}
        rule = vintage.get("forecast", "hold_last")
        for (xs, ys), (bx, by) in zip(inputs.series[name], base.series[name]):
            known = bx <= origin + 1e-6
            if name in leaked or not np.any(bx > origin + 1e-6):
                continue
            after = np.interp(years, xs, ys)
            if isinstance(rule, (int, float)) and not isinstance(rule, bool):
                assert np.allclose(after, rule), name
            elif not known.any():  # a constant path
                assert np.allclose(after, by[0]), name
            elif rule == "hold_last" or known.sum() < 2:
                assert np.allclose(after, by[known][-1]), name
            else:  # trend through the last two known points
                kx, ky = bx[known], by[known]
                slope = (ky[-1] - ky[-2]) / (kx[-1] - kx[-2])
                assert np.allclose(after, ky[-1] + slope * (years - kx[-1])), name
    for name in model.parameters:
        vintage = model.variables[name].vintage
        if vintage and vintage["info_year"] > origin:
            if vintage.get("before") is not None:
                before = vintage["before"]
                dim = model.variables[name].dims[0] if isinstance(before, dict) else None
                expected = [before[e] for e in model.spec.elements(dim)] if dim else before
                assert np.allclose(inputs.parameter(name)[0], expected), name
            else:
                assert name in leaked, name
    # the shock of 2020 is not known at the origin
    assert np.interp(2020.0, *inputs.series["output_shock"][0]) == 0


def test_every_input_with_information_after_2020_is_marked(model):
    """Inputs whose sources cite figures after 2020 carry `vintage` with the year of their information."""
    for name in (
        "outside_coal_demand_index",
        "water_red_line",
        "irrigation_efficiency",
        "renewable_capacity_2020",
        "coal_power_capacity_2020",
        "urban_domestic_water_per_capita",
        "industrial_water_intensity_2020",
        "electricity_export",
    ):
        vintage = model.variables[name].vintage
        assert vintage is not None and vintage["info_year"] > 2020, name


def test_naive_forecasts_by_hand():
    levels = pd.Series({2010: 100.0, 2011: 110.0, 2012: 121.0, 2013: 133.1, 2014: 146.41, 2015: 161.051})
    out = naive_forecasts("gdp_real", levels, 2014, [2015, 2016])
    assert out["rw_drift"] == pytest.approx([146.41 * 1.1, 146.41 * 1.21])  # last level x mean growth of 4 years
    assert out["loglinear_trend"] == pytest.approx([161.051, 177.1561])  # an exact exponential is its own trend
    census = pd.Series({2010: 1000.0})
    early = pd.Series({2000: 800.0, 2006: 900.0, 2007: 920.0, 2008: 950.0, 2009: 980.0})
    pop = naive_forecasts("population_census", census, 2016, [2020], early)
    assert pop["last_census"] == pytest.approx([1000.0])
    assert pop["census_trend"] == pytest.approx([1000.0 * (1000 / 800) ** (10 / 10)])
    assert pop["last_growth"] == pytest.approx([1000.0 * math.exp(10 * math.log(1000 / 980))])
    assert pop["rw_drift"] == pytest.approx([1000.0 * math.exp(10 * math.log(1000 / 900) / 4)])


def test_census_growth_noise_by_hand():
    """Sigma is the RMS change of the cities' growth rates between the two half-decades before the census; the
    rate walks by one N(0, sigma) step per half-decade, so the log error 10 years on has variance 125 sigma^2."""
    census = pd.DataFrame(
        {"city": ["a", "b"], "year": [2010, 2010], "value": [100.0 * math.exp(0.10), 100.0 * math.exp(-0.20)]}
    )
    early = {
        "a": pd.Series({2000: 100.0 * math.exp(-0.05), 2005: 100.0}),  # rates 0.01 then 0.02: change +0.01
        "b": pd.Series({2000: 100.0, 2005: 100.0}),
    }  # rates 0 then -0.04: change -0.04
    sigma = math.sqrt((0.01**2 + 0.04**2) / 2)
    times = [2016.0, 2017.0, 2018.0, 2019.0, 2020.0]
    noise = census_growth_noise(census, early, 2016, ["a", "b"], times, 40000, np.random.default_rng(0))
    assert set(noise) == {("population", 0), ("population", 1)}
    log_error = np.log(noise[("population", 1)])
    assert log_error.shape == (40000, len(times))
    assert np.std(log_error[:, -1]) == pytest.approx(math.sqrt(125) * sigma, rel=0.03)  # 10 e1 + 5 e2
    assert np.std(log_error[:, 0]) == pytest.approx(math.sqrt(6**2 + 1) * sigma, rel=0.03)  # 2016: 5 e1 + 1 (e1 + e2)
    assert abs(np.mean(log_error[:, -1])) < 0.01
    # a census after the origin is not known at it
    later = pd.concat([census, pd.DataFrame({"city": ["a", "b"], "year": [2020, 2020], "value": [1e9, 1.0]})])
    again = census_growth_noise(later, early, 2016, ["a", "b"], times, 40000, np.random.default_rng(0))
    assert all(np.array_equal(again[key], noise[key]) for key in noise)
    # without the two half-decades before the census there is nothing to measure
    assert (
        census_growth_noise(
            census, {"a": pd.Series({2005: 100.0})}, 2016, ["a", "b"], times, 10, np.random.default_rng(0)
        )
        == {}
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--origins", "2030"], "--origins: origin 2030 outside"),
        (["--origins", "2019"], "--origins: origin 2019 outside"),
        (["--runs", "3"], "--runs"),
    ],
)
def test_bad_flags_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "bt"
    assert main_exit(["backtest", str(CONFIG), "--out", str(out), "--quiet"] + argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_configuration_exits_2(tmp_path, capsys):
    assert main_exit(["backtest", str(tmp_path / "nothere.yaml"), "--out", str(tmp_path / "bt")]) == 2
    assert "nothere.yaml" in capsys.readouterr().err
    assert not (tmp_path / "bt").exists()


def test_bad_configuration_exits_2_naming_file_line_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    text = CONFIG.read_text().replace("data: data/history.csv", f"data: {CONFIG.parent / 'data' / 'history.csv'}")
    text = text.replace("scenario: start_2010.yaml", f"scenario: {CONFIG.parent / 'start_2010.yaml'}")
    bad.write_text(text + "windw: {start: 2010}\n")
    assert main_exit(["backtest", str(bad), "--out", str(tmp_path / "bt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:" in err and "windw" in err and "unknown key" in err
    assert not (tmp_path / "bt").exists()


def main_exit(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse errors
        return exc.code


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """The backtest from the gate origin with short chains (the full command uses the configuration's)."""
    out = tmp_path_factory.mktemp("backtest") / "out"
    doc = run_backtest(
        CONFIG,
        origins=(GATE_ORIGIN,),
        runs=120,
        out=out,
        say=lambda *a: None,
        options=Options(walkers=40, steps=300, burn=150, starts=2),
    )
    return doc, out


def test_backtest_writes_its_record(gate):
    _doc, out = gate
    assert {"backtest.json", "report.md", f"backtest_{GATE_ORIGIN}.png"} <= {p.name for p in out.iterdir()}
    record = json.loads((out / "backtest.json").read_text())
    rows = record["results"][0]["rows"]
    assert {(r["series"], r["city"]) for r in rows} == {
        (s, c) for s in ("gdp_real", "population_census") for c in ("hohhot", "baotou", "ordos", "ulanqab")
    }
    for r in rows:
        assert {"skill", "mape", "coverage_50", "coverage_90", "width_90", "crps", "crps_naive", "best_naive"} <= set(r)
        assert all(y > GATE_ORIGIN for y in r["years"])  # judged only after the origin
    result = record["results"][0]
    assert result["window"][1] == GATE_ORIGIN
    assert result["posterior"]["acceptance"] > 0.1


def _summary(doc, series):
    return next(s for s in doc["summary"] if s["series"] == series and s["origin"] == GATE_ORIGIN)


def test_gate_model_beats_the_best_naive_forecast_on_real_gdp(gate):
    gdp = _summary(gate[0], "gdp_real")
    assert gdp["skill"] > 0, f"four-city GDP MAPE {gdp['mape']:.3f} vs best naive {gdp['mape_best_naive']:.3f}"


def test_gate_90_percent_band_covers_gdp(gate):
    gdp = _summary(gate[0], "gdp_real")
    assert gdp["coverage_90"] >= 0.8, gdp
    assert gdp["width_90"] < 0.5  # not by being enormous


def test_gate_model_beats_the_best_naive_forecast_on_population(gate):
    assert _summary(gate[0], "population_census")["skill"] > 0


def test_gate_90_percent_band_covers_population(gate):
    population = _summary(gate[0], "population_census")
    assert population["coverage_90"] >= 0.8, population
    assert population["width_90"] < 0.5  # not by being enormous


def test_readme_table_is_rewritten_between_its_markers_only(gate, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{README_BEGIN}\nold table\n{README_END}\nafter\n")
    update_readme(gate[0], readme)
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n") and text.endswith(f"{README_END}\nafter\n")
    assert "old table" not in text and "| origin | series | city |" in text and "gdp_real" in text


def test_readme_command_reads_an_existing_record(gate, tmp_path, monkeypatch):
    """`python -m simulator.analysis.backtest --readme RECORD` rewrites the working copy's README without a new run."""
    from simulator.analysis import backtest

    _, out = gate
    (tmp_path / "README.md").write_text(f"{README_BEGIN}\n{README_END}\n")
    monkeypatch.chdir(tmp_path)
    assert backtest.main(["--readme", str(out / "backtest.json")]) == 0
    assert "| 2016 | gdp_real |" in (tmp_path / "README.md").read_text()
    assert backtest.main(["--readme", str(tmp_path / "none.json")]) == 2
