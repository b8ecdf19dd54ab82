"""Unit: the one declarative validator (simulator.inputs.schema) behind scenarios, calibration configurations
and search blocks."""

import pytest
import yaml

from simulator.errors import InputError
from simulator.inputs import schema
from simulator.inputs.calibration import load_config
from simulator.inputs.schema import (
    CalibrationFile,
    GoalChoice,
    MonteCarlo,
    Posterior,
    ScenarioFile,
    SearchSettings,
    TimeSettings,
)
from simulator.model import load_model

from ..conftest import ROOT


def _read(section, record):
    problems = []
    value = schema.read(section, record, ("x",), lambda path, message: problems.append((path, message)))
    return value, problems


def test_defaults_come_from_the_record_alone():
    value, problems = _read({}, ScenarioFile)
    assert problems == []
    assert value.time == TimeSettings() and (value.time.start, value.time.end, value.time.dt) == (2020, 2035, 0.25)
    assert value.monte_carlo == MonteCarlo(runs=1000, seed=0, sampling="lhs", chunk=10000)
    assert value.outputs.formats == ["netcdf", "csv", "report", "plots"]
    assert value.outputs.formats is not ScenarioFile().outputs.formats  # a fresh list, never shared


def test_every_problem_is_reported_with_its_key_path_and_the_default_kept():
    value, problems = _read(
        {
            "monte_carlo": {"runs": 0, "sampling": "lsh", "chunk": 2.5, "sed": 1},
            "time": {"dt": "1/12", "method": "rk5"},
        },
        ScenarioFile,
    )
    messages = dict(problems)
    assert "must be a whole number from 1 to 1,000,000,000 (got 0)" in messages[("x", "monte_carlo", "runs")]
    assert "did you mean 'lhs'" in messages[("x", "monte_carlo", "sampling")]
    assert ("x", "monte_carlo", "chunk") in messages  # 2.5 is not whole
    assert "unknown key (did you mean 'seed'?)" in messages[("x", "monte_carlo", "sed")]
    assert "must be one of euler, rk4, partitioned" in messages[("x", "time", "method")]
    assert len(problems) == 5
    assert value.monte_carlo.runs == 1000 and value.time.dt == pytest.approx(1 / 12)


@pytest.mark.parametrize("raw", [True, "7", 7.0, float("nan"), None])
def test_a_whole_number_is_an_integer_and_nothing_else(raw):
    value, problems = _read({"futures": raw}, SearchSettings)
    assert value.futures == 200
    assert len(problems) == 1 and "must be a whole number" in problems[0][1]  # an empty number too


def test_a_seed_keeps_all_its_bits():
    for seed in (2**53 + 1, 2**63 - 1):
        value, problems = _read({"seed": seed}, MonteCarlo)
        assert problems == [] and value.seed == seed and isinstance(value.seed, int)
    _, problems = _read({"seed": 2**63}, MonteCarlo)
    assert len(problems) == 1


def test_an_empty_key_is_nothing_given_only_where_nothing_is_a_default():
    value, problems = _read({"select": None, "override": None}, GoalChoice)
    assert problems == [] and value.select is None and value.override == {}
    _, problems = _read({"description": None, "time": {"dt": None}}, ScenarioFile)
    assert {path for path, _ in problems} == {("x", "description"), ("x", "time", "dt")}


def test_fractions_of_a_year_where_a_step_is_meant():
    value, problems = _read({"dt": "1/12", "save": "1/2"}, TimeSettings)
    assert problems == [] and value.dt == pytest.approx(1 / 12) and value.save == 0.5


def test_the_declared_defaults():
    assert (SearchSettings().futures, SearchSettings().generations, SearchSettings().population) == (200, 20, 40)
    assert (Posterior().walkers, Posterior().steps, Posterior().burn, Posterior().thin) == (48, 1500, 500, 10)
    file = CalibrationFile()
    assert (file.window.start, file.window.end, file.starts, file.seed) == (2010, 2020, 4, 0)
    assert (file.ensemble.samples, file.data, file.fitted_file) == (2000, "data/history.csv", None)


def test_a_section_that_is_not_a_mapping_is_named():
    _, problems = _read({"monte_carlo": [1, 2]}, ScenarioFile)
    assert problems == [(("x", "monte_carlo"), "must be a mapping (key: value), not list")]


def _config(tmp_path, **changes):
    """The shipped configuration, copied with its files named absolutely, and changed."""
    folder = ROOT / "calibration"
    data = yaml.safe_load((folder / "baseline.yaml").read_text(encoding="utf-8"))
    for key in ("scenario", "data"):
        if key in data:
            data[key] = str((folder / data[key]).resolve())
    data.update(changes, fitted_file=str(tmp_path / "fitted.yaml"))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "changes, key, message",
    [
        ({"starts": "many"}, "starts", "must be a whole number from 1 to 1,000"),
        ({"posterior": {"walkers": 0}}, "posterior.walkers", "must be a whole number from 1"),
        ({"targts": []}, "targts", "unknown key (did you mean 'targets'?)"),
        ({"window": {"start": 2020, "end": 2010}}, "window", "must be before end"),
        ({"method": "RK4"}, "method", "must be one of euler, rk4, partitioned"),
    ],
)
def test_a_bad_calibration_configuration_names_its_line_and_key(tmp_path, changes, key, message):
    with pytest.raises(InputError) as error:
        load_config(_config(tmp_path, **changes), load_model())
    text = "\n".join(str(p) for p in error.value.problems)
    assert f": {key}: " in text and message in text, text
    assert all(p.line for p in error.value.problems), text


def test_the_shipped_configuration_copied_loads(tmp_path):
    assert load_config(_config(tmp_path), load_model()).posterior.steps >= 1
