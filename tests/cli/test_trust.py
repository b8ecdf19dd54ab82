"""Trust at the command line (issue 10): the program never destroys a file it did not make, every bad
input (YAML or flag) is an exit-2 message naming the user's file and line or the flag, absurd results
are never silent, and a year in a scenario means that calendar year."""

import json

import numpy as np
import pytest
import xarray as xr

import simulator
from simulator.cli import main

from ..conftest import ROOT, SCENARIOS

BASELINE = SCENARIOS / "baseline.yaml"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def mine(folder, extra=""):
    """A user's scenario extending the baseline, in the user's own folder."""
    return write(folder / "my.yaml", f"name: mine\nextends: {BASELINE}\n{extra}")


def listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ------------------------------------------------------------------------------------------------
# 1. outputs never destroy what the program did not make


def test_out_beside_the_users_files_is_refused_and_nothing_is_touched(tmp_path, capsys):
    scenario = mine(tmp_path)
    write(tmp_path / "thesis.docx", "years of work")
    before = listing(tmp_path)
    assert main([str(scenario), "--out", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "my.yaml" in err and "thesis.docx" in err and "--overwrite" in err and "Traceback" not in err
    assert listing(tmp_path) == before
    assert (tmp_path / "thesis.docx").read_text() == "years of work"


def test_a_file_the_user_put_inside_an_output_folder_survives(tmp_path, capsys):
    scenario = mine(tmp_path)
    out = tmp_path / "out"
    assert main([str(scenario), "--out", str(out), "-q"]) == 0
    write(out / "notes.txt", "my notes")
    assert main([str(scenario), "--out", str(out), "-q"]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert main([str(scenario), "--out", str(out), "-q", "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "results.nc").exists() and (out / "csv" / "gdp.csv").exists()
    manifest = json.loads((out / ".simulate-outputs.json").read_text())
    assert "notes.txt" not in manifest["files"] and "results.nc" in manifest["files"]
    assert manifest["version"] == simulator.__version__


def test_overwrite_never_replaces_a_users_file_of_an_output_name(tmp_path, capsys):
    scenario = mine(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    write(out / "report.md", "the user's report")
    assert main([str(scenario), "--out", str(out), "-q", "--overwrite"]) == 2
    assert "report.md" in capsys.readouterr().err
    assert (out / "report.md").read_text() == "the user's report"
    assert listing(out) == ["report.md"]


def test_an_owned_folder_is_replaced_whole_and_user_files_above_it_stay(tmp_path):
    scenario = mine(tmp_path)
    write(tmp_path / "thesis.docx", "x")
    out = tmp_path / "runs" / "a"
    assert main([str(scenario), "--out", str(out), "-q"]) == 0
    assert main([str(scenario), "--out", str(out), "-q"]) == 0
    assert (tmp_path / "thesis.docx").exists() and (tmp_path / "my.yaml").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["a"]  # no temporary folders left


@pytest.mark.parametrize("target", [".", ".."])
def test_out_dot_and_dotdot_are_refused_without_leftovers(tmp_path, monkeypatch, capsys, target):
    work = tmp_path / "work"
    work.mkdir()
    scenario = mine(work)
    monkeypatch.chdir(work)
    before = listing(tmp_path)
    assert main([str(scenario), "--out", target, "-q"]) == 2
    assert "simulate did not write" in capsys.readouterr().err
    assert listing(tmp_path) == before


@pytest.mark.parametrize("command", ["ensemble", "compare", "sensitivity"])
def test_other_commands_refuse_a_folder_with_user_files(tmp_path, capsys, command):
    scenario = mine(tmp_path)
    write(tmp_path / "thesis.docx", "x")
    before = listing(tmp_path)
    uncertain = SCENARIOS / "baseline_uncertain.yaml"
    argv = {
        "ensemble": [str(uncertain), "--runs", "10"],
        "compare": ["compare", str(BASELINE), str(scenario)],
        "sensitivity": ["sensitivity", str(uncertain), "--runs", "2"],
    }[command]
    assert main([*argv, "--out", str(tmp_path), "-q"]) == 2
    assert "thesis.docx" in capsys.readouterr().err
    assert listing(tmp_path) == before


def test_an_output_path_that_cannot_be_made_is_an_exit_2_message(tmp_path, capsys):
    scenario = mine(tmp_path)
    write(tmp_path / "afile", "x")
    assert main([str(scenario), "--out", str(tmp_path / "afile" / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "afile" in err and "internal error" not in err


# ------------------------------------------------------------------------------------------------
# 2. errors name the file the user wrote; per-city overrides keep the fitted values


def test_an_error_in_a_fitted_parameter_names_the_users_line(tmp_path, capsys):
    scenario = mine(tmp_path, "parameters:\n  tfp_growth: {ordos: 5}\n")
    assert main([str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "my.yaml:4: parameters.tfp_growth.ordos: 5 is outside" in err
    assert "baseline.yaml" not in err


def test_a_per_city_override_keeps_the_other_cities_fitted_values(tmp_path):
    base = simulator.load_scenario(BASELINE)
    own = simulator.load_scenario(mine(tmp_path, "parameters:\n  required_return: {ordos: 0.12}\n"))
    fitted = base.parameters["required_return"]
    assert own.parameters["required_return"][2] == 0.12
    np.testing.assert_array_equal(own.parameters["required_return"][[0, 1, 3]], fitted[[0, 1, 3]])
    restate = f"parameters:\n  required_return: {{ordos: {float(fitted[2])!r}}}\n"
    restated = simulator.load_scenario(mine(tmp_path, restate))
    np.testing.assert_array_equal(restated.parameters["required_return"], fitted)


# ------------------------------------------------------------------------------------------------
# 3. command-line values are validated like YAML values


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--dt", "0.3"], "--dt"),
        (["--dt", "0"], "--dt"),
        (["--dt", "nan"], "--dt"),
        (["--dt", "inf"], "--dt"),
        (["--dt", "2"], "--dt"),
        (["--seed", "-1"], "--seed"),
        (["--runs", "0"], "--runs"),
        (["--workers", "0"], "--workers"),
        (["--runs", "ten"], "--runs"),
        (["--runs", "5"], "--runs"),  # the baseline has no uncertain inputs: 5 identical runs would mean nothing
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler"),
        (["--out", ""], "--out"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, argv, flag):
    out = tmp_path / "o"
    assert exit_code([str(BASELINE), *argv, *(["--out", str(out)] if flag != "--out" else []), "-q"]) == 2
    err = capsys.readouterr().err
    assert flag in err and "internal error" not in err and "Traceback" not in err
    assert not out.exists()


def exit_code(argv) -> int:
    """The exit status of `simulate ARGV` (argparse exits through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_sensitivity_runs_zero_is_refused(capsys):
    assert exit_code(["sensitivity", str(SCENARIOS / "baseline_uncertain.yaml"), "--runs", "0"]) == 2
    assert "--runs" in capsys.readouterr().err


def test_compare_with_different_start_years_is_an_exit_2_message(tmp_path, capsys):
    other = mine(tmp_path, "time: {start: 2015}\n")
    assert main(["compare", str(BASELINE), str(other), "--out", str(tmp_path / "c"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "starts in 2015" in err and "internal error" not in err
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------------------------------------
# 4. wrong types anywhere in a scenario: see test_fuzz_wrong_types.py


# ------------------------------------------------------------------------------------------------
# 5. absurd results never pass silently


@pytest.mark.parametrize(
    "time, key, words", [("{end: 2200}", "time.end", "2050"), ("{start: 2005}", "time.start", "2010-2020")]
)
def test_horizons_outside_what_the_model_supports_are_errors(tmp_path, capsys, time, key, words):
    scenario = mine(tmp_path, f"time: {time}\n")
    assert main([str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"my.yaml:3: {key}:" in err and words in err


def test_draws_outside_a_parameters_bounds_are_refused(tmp_path, capsys):
    scenario = mine(tmp_path, "uncertain:\n  capital_elasticity: {dist: uniform, low: -1, high: 2}\n")
    assert main([str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "my.yaml:4: uncertain.capital_elasticity:" in err and "valid range [0, 1]" in err


def test_implausible_runs_are_counted_and_excluded_from_the_probabilities(model):
    scenario = SCENARIOS / "baseline_uncertain.yaml"
    _, _, runs = simulator.run_ensemble(scenario, runs=40, seed=1)
    largest = runs["population"].max(dim=("time", "city"))
    threshold = float(largest.median())  # about half the runs leave [0, threshold]
    population = model.variables["population"]
    saved = population.plausible
    population.plausible = (0.0, threshold)
    try:
        summary, goals, runs = simulator.run_ensemble(scenario, runs=40, seed=1)
    finally:
        population.plausible = saved
    excluded = int(summary.attrs["runs_excluded"])
    reasons = json.loads(summary.attrs["excluded_reasons"])
    assert 10 < excluded < 30 and sum(reasons.values()) == excluded
    assert any("population" in reason for reason in reasons)
    assert int(summary.attrs["runs_kept"]) + excluded == 40
    assert all(g["excluded_runs"] == excluded for g in goals)
    kept = runs["population"].max(dim=("time", "city")) <= threshold
    assert int(kept.sum()) == 40 - excluded
    high = np.percentile(runs["population"].sel(time=2035, city="ordos").values[kept.values], 95)
    assert float(summary["population"].sel(percentile=95, time=2035, city="ordos")) == pytest.approx(high, rel=1e-6)


def test_every_run_of_an_ensemble_starts_from_the_observed_start_year(baseline):
    """2020 is data: GDP, population and CO2 of the start year are the statistics in every run, whatever
    the draws (unpublished start-year quantities, such as water use, may differ between runs)."""
    _, _, runs = simulator.run_ensemble(SCENARIOS / "baseline_uncertain.yaml", runs=64, seed=3)
    for name in ("gdp", "population", "urban_population", "co2"):
        start = runs[name].sel(time=2020)
        np.testing.assert_allclose(
            start.values, np.broadcast_to(baseline[name].sel(time=2020).values, start.shape), rtol=2e-6, err_msg=name
        )
    # no limit cuts the observed year: a draw's own 2020 coal output is what it produces in 2020
    for binding in ("coal_binding", "water_binding", "energy_binding"):
        assert not runs[binding].sel(time=2020).any(), binding


def test_no_assumed_coal_cap_can_sit_below_the_2020_output(model):
    cap, output = model.variables["coal_cap"], model.variables["coal_output_2020"]
    for c, city in enumerate(model.spec.dims["city"]):
        _, caps = cap.points[c]
        assert caps[0] * cap.range[c][0] >= output.range[c][1], city


def test_a_deterministic_run_outside_a_plausible_range_says_so(tmp_path, model, capsys):
    population = model.variables["population"]
    saved = population.plausible
    population.plausible = (0.0, 2.5e6)
    try:
        assert main([str(mine(tmp_path)), "--out", str(tmp_path / "o")]) == 0
    finally:
        population.plausible = saved
    out = capsys.readouterr().out
    assert "warning: population in hohhot leaves its plausible range" in out
    assert "## Plausibility" in (tmp_path / "o" / "report.md").read_text()


# ------------------------------------------------------------------------------------------------
# 6. years are calendar years


@pytest.mark.parametrize("method, dt", [("rk4", 0.25), ("euler", 1.0), ("euler", 0.25)])
def test_a_policy_from_2025_acts_over_2025_and_not_before(tmp_path, method, dt):
    base = simulator.run(BASELINE, method=method, dt=dt)
    for policy in ("{multiply: {start: 2025, value: 0.5}}", "{start: 2025, value: 1.0e+9}"):
        changed = simulator.run(
            mine(tmp_path, f"policies:\n  yellow_river_allocation: {policy}\n"), method=method, dt=dt
        )
        allocation = changed["yellow_river_allocation"].sel(city="ordos")
        before = base["yellow_river_allocation"].sel(city="ordos")
        assert float(allocation.sel(time=2024)) == float(before.sel(time=2024))
        expected = 0.5 * float(before.sel(time=2025)) if "multiply" in policy else 1.0e9
        assert float(allocation.sel(time=2025)) == pytest.approx(expected, rel=1e-12)
        for var in ("water_use", "gdp", "groundwater_storage"):  # nothing moves before 2025
            xr.testing.assert_equal(changed[var].sel(time=slice(2020, 2024)), base[var].sel(time=slice(2020, 2024)))


def test_a_linear_path_gives_each_calendar_year_its_value(tmp_path):
    ds = simulator.run(mine(tmp_path, "policies:\n  water_saving_effort: {2020: 0, 2025: 0.03}\n"))
    values = ds["water_saving_effort"].sel(time=slice(2020, 2027), city="ordos").values
    np.testing.assert_allclose(values, [0, 0.006, 0.012, 0.018, 0.024, 0.03, 0.03, 0.03], atol=1e-15)


# ------------------------------------------------------------------------------------------------
# 7. reports that agree with the run


def test_outputs_variables_limits_what_is_written_not_what_is_evaluated(tmp_path):
    scenario = mine(tmp_path, "outputs:\n  variables: [population, gdp]\n")
    out = tmp_path / "o"
    assert main([str(scenario), "--out", str(out), "-q"]) == 0
    goals = json.loads((out / "goals.json").read_text())
    assert all(g["value"] is not None for g in goals)
    assert set(xr.open_dataset(out / "results.nc").data_vars) == {"population", "gdp"}
    assert (out / "binding.png").exists()
    reference = simulator.evaluate_goals(simulator.run(BASELINE))
    assert [g["value"] for g in goals] == [g["value"] for g in reference]


def test_an_ensemble_report_says_where_limits_bind(tmp_path):
    out = tmp_path / "o"
    assert main([str(SCENARIOS / "plan_uncertain.yaml"), "--runs", "30", "--out", str(out), "-q"]) == 0
    summary = xr.open_dataset(out / "summary.nc")
    share = summary["share_water_binding"]
    assert float(share.max()) > 0
    report = (out / "report.md").read_text()
    assert "no limit binds" not in report
    assert "30 runs kept" in report or "all 30 runs kept" in report


# ------------------------------------------------------------------------------------------------
# 8. smaller things


def test_the_readme_api_snippet_runs(tmp_path):
    import simulator as fresh

    ds = fresh.run(BASELINE)
    fig = fresh.plots.trajectories(ds)
    assert fig.axes


def test_open_runs_takes_a_string_path(tmp_path):
    from simulator.analysis.store import open_runs

    folder = tmp_path / "e"
    simulator.run_ensemble(SCENARIOS / "baseline_uncertain.yaml", runs=5, seed=2, folder=folder)
    assert open_runs(str(folder))["gdp"].sizes["run"] == 5


def test_version_flag_and_stamps(tmp_path, capsys):
    assert exit_code(["--version"]) == 0 and simulator.__version__ in capsys.readouterr().out
    out = tmp_path / "o"
    assert main([str(mine(tmp_path)), "--out", str(out), "-q"]) == 0
    ds = xr.open_dataset(out / "results.nc")
    assert ds.attrs["simulator_version"] == simulator.__version__
    assert "Conventions" not in ds.attrs and ds["time"].attrs["long_name"] == "calendar year"
    resolved = (out / "scenario.resolved.yaml").read_text()
    assert str(ROOT) not in resolved and str(tmp_path) not in resolved
    assert simulator.__version__ in resolved.splitlines()[0]


def test_describe_shows_the_calibrated_value(capsys):
    assert main(["describe", "tfp_growth"]) == 0
    out = capsys.readouterr().out
    assert "calibrated:" in out and "declared:" in out


def test_list_policies_gives_default_status_and_source(capsys):
    assert main(["list", "policies"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("hukou_reform"))
    assert "{" in line and "policy" in line


def test_compare_prints_percent_like_run(tmp_path, capsys):
    assert main(["compare", str(BASELINE), str(SCENARIOS / "plan.yaml"), "--out", str(tmp_path / "c")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "gdp_growth_2021_2025" in x)
    assert "%" in line
    assert "co2_peak" not in line


def test_sensitivity_includes_the_co2_peak(tmp_path):
    scenario = mine(
        tmp_path,
        "uncertain:\n  autonomous_efficiency_gain: {dist: uniform, low: 0.01, high: 0.05}\n"
        "  capital_elasticity: {dist: uniform, low: 0.4, high: 0.6}\n",
    )
    assert main(["sensitivity", str(scenario), "--runs", "4", "--out", str(tmp_path / "s"), "-q"]) == 0
    rows = json.loads((tmp_path / "s" / "sobol.json").read_text())["indices"]
    assert "co2_peak" in {r["goal"] for r in rows}


def test_posterior_draws_are_used_a_whole_row_per_run(tmp_path):
    from simulator.analysis.sampling import Samples
    from simulator.inputs.scenario import read_draws

    rng = np.random.default_rng(0)
    a = rng.normal(0.55, 0.03, 40)
    table = np.column_stack([a, 0.01 + 0.2 * (a - 0.55)])
    np.savetxt(tmp_path / "post.csv", table, delimiter=",", header="capital_elasticity,tfp_growth[ordos]", comments="")
    scenario = simulator.load_scenario(
        mine(tmp_path, "uncertain:\n  assumed_parameters: uniform\n  posterior: {draws: post.csv}\n")
    )
    labels = [d.label for d in scenario.uncertain]
    assert labels.count("capital_elasticity") == 1 and "tfp_growth[ordos]" in labels
    calibrated = set(simulator.load_scenario(BASELINE).fitted)
    assert not {d.target for d in scenario.uncertain if d.dist == "uniform"} & calibrated
    for sampling in ("lhs", "random", "sobol"):
        samples = Samples.write(tmp_path / f"{sampling}.bin", scenario.uncertain, 64, 3, sampling)
        rows = samples.rows(0, 64)
        j, k = labels.index("capital_elasticity"), labels.index("tfp_growth[ordos]")
        pairs = {tuple(r) for r in table}
        assert all((x, y) in pairs for x, y in rows[:, [j, k]])
    assert read_draws(tmp_path / "post.csv")["values"].shape == (40, 2)


def test_a_scenario_without_uncertain_inputs_explains_runs(tmp_path, capsys):
    assert main([str(BASELINE), "--runs", "3", "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "no uncertain inputs" in capsys.readouterr().err


def test_no_nan_or_inf_reaches_a_path(tmp_path, capsys):
    scenario = mine(tmp_path, "policies:\n  coal_cap: {multiply: 1.0e+308}\n")
    assert main([str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "finite" in capsys.readouterr().err


def test_export_never_replaces_an_existing_file_unasked(tmp_path, capsys):
    target = write(tmp_path / "model.mdl", "the user's model")
    assert main(["export", str(BASELINE), "--out", str(target)]) == 2
    assert "--overwrite" in capsys.readouterr().err and target.read_text() == "the user's model"
    assert main(["export", str(BASELINE), "--out", str(target), "--overwrite"]) == 0
    assert target.read_text().startswith("{UTF-8}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.mdl"]


def test_calibrate_refuses_a_folder_with_user_files_before_fitting(tmp_path, capsys):
    write(tmp_path / "thesis.docx", "x")
    before = listing(tmp_path)
    assert main(["calibrate", str(ROOT / "calibration" / "baseline.yaml"), "--out", str(tmp_path), "-q"]) == 2
    assert "thesis.docx" in capsys.readouterr().err and listing(tmp_path) == before
