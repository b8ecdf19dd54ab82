"""Export to Vensim and the independent-engine check: the exported model run in PySD (Euler, the same
dt) matches our Euler run, stock by stock, within 1e-6 relative."""

import numpy as np
import pytest

import simulator
from simulator.cli import main
from simulator.engine import default_inputs, load, simulate, to_dataset
from simulator.interop.crosscheck import pysd_model, pysd_stocks
from simulator.interop.vensim import to_vensim

from ..conftest import MODELS, SCENARIOS, requires

pysd = requires("pysd", "the independent engine the export is checked against")

REGIONAL_STOCKS = [
    "urban_population",
    "rural_population",
    "capital",
    "productivity_index",
    "energy_efficiency_index",
    "renewable_capacity",
    "coal_power_capacity",
    "industrial_water_efficiency_index",
    "groundwater_storage",
]


@pysd
@pytest.mark.parametrize("flat", [True, False], ids=["flat", "subscripted"])
def test_exported_baseline_runs_in_pysd_like_our_euler_run(tmp_path, flat):
    mdl = tmp_path / f"baseline{'_flat' if flat else ''}.mdl"
    assert main(["export", str(SCENARIOS / "baseline.yaml"), "--out", str(mdl)] + (["--flat"] if flat else [])) == 0
    ours = simulator.run(SCENARIOS / "baseline.yaml", method="euler")
    theirs = pysd_stocks(pysd_model(mdl), REGIONAL_STOCKS, list(ours["city"].values), flat)
    for name in REGIONAL_STOCKS:
        np.testing.assert_allclose(theirs[name], ours[name].values, rtol=1e-6, err_msg=name)


def _euler_run(model, tmp_path, end, dt):
    """A scenario of ``model`` alone (Euler, from 0 to ``end``) and its run as a Dataset."""
    scenario_path = tmp_path / "run.yaml"
    scenario_path.write_text(f"name: test\ntime: {{start: 0, end: {end}, dt: {dt}, method: euler}}\n")
    scenario = simulator.load_scenario(scenario_path, model)
    return scenario, to_dataset(simulate(model, scenario.inputs(model), scenario.time, "euler"))


@pysd
def test_every_exported_function_matches_in_pysd(tmp_path):
    model = load(MODELS / "functions.yaml")
    scenario, ds = _euler_run(model, tmp_path, 10, 0.125)
    mdl = tmp_path / "functions.mdl"
    mdl.write_text(to_vensim(model, scenario))
    text = mdl.read_text()
    # initial() values and stocks' initial values are written as the start-year numbers (export.start_state)
    for construct in (
        "SUM(",
        "INTEG(",
        "WITH LOOKUP(",
        "STEP(",
        "RAMP(",
        "PULSE(",
        "IF THEN ELSE(",
        ":AND:",
        ":NOT:",
        "EXP(",
        "LN(",
        "SQRT(",
        "ABS(",
        "MIN(",
        "MAX(",
        "other <-> city",
    ):
        assert construct in text, construct
    theirs = pysd_stocks(pysd_model(mdl), ["level", "watcher"], ["a", "b", "c"], flat=False)
    for name in ("level", "watcher"):
        np.testing.assert_allclose(theirs[name], ds[name].values, rtol=1e-6, err_msg=name)


@pysd
@pytest.mark.parametrize("flat", [True, False], ids=["flat", "subscripted"])
def test_a_shifted_index_is_exported_element_by_element(tmp_path, flat):
    """cohort[age - 1] has no Vensim counterpart: the equation is written once per age group, reading
    the group before by name (0 for the first), and PySD then runs the ageing chain as we do."""
    model = load(MODELS / "ageing.yaml")
    scenario, ds = _euler_run(model, tmp_path, 10, 0.125)
    mdl = tmp_path / "ageing.mdl"
    mdl.write_text(to_vensim(model, scenario, flat=flat))
    text = mdl.read_text()
    assert ("ageing_in_g1=\n\tageing_out_g0" if flat else "ageing_in[g1]=\n\tageing_out[g0]") in text
    theirs = pysd_stocks(pysd_model(mdl), ["cohort"], ["g0", "g1", "g2", "g3", "g4"], flat=flat)
    np.testing.assert_allclose(theirs["cohort"], ds["cohort"].values, rtol=1e-6)


@pysd
def test_shifted_indexes_in_start_values_and_sums_are_exported(tmp_path):
    """A shift in a stock's initial value, in initial() and inside sum() over the shifted dim: the subscripted
    export writes each element's own start value and unrolls the sum, and PySD runs it as we do."""
    path = tmp_path / "shifts.yaml"
    path.write_text("""
dimensions:
  age: [g0, g1, g2]
variables:
  w: {kind: parameter, dims: [age], units: person, value: {g0: 30, g1: 50, g2: 70}, source: test, doc: weights}
  s: {kind: stock, dims: [age], units: person, initial: 'w[age - 1] + 1', inflows: [f], doc: a stock}
  f: {kind: flow, dims: [age], units: person/year, equation: 'sum(s[age - 1], age) / 1000 * w / w[g0] / one_year',
      doc: a flow}
  start: {kind: aux, dims: [age], units: person, equation: 'initial(s[age + 1])', doc: a start value}
  one_year: {kind: parameter, units: year, value: 1, source: test, doc: a year}
""")
    model = load(path)
    scenario, ds = _euler_run(model, tmp_path, 5, 0.25)
    mdl = tmp_path / "shifts.mdl"
    mdl.write_text(to_vensim(model, scenario))
    theirs = pysd_stocks(pysd_model(mdl), ["s", "start"], ["g0", "g1", "g2"], flat=False)
    np.testing.assert_allclose(theirs["s"], ds["s"].values, rtol=1e-6)
    np.testing.assert_allclose(theirs["start"], ds["start"].values, rtol=1e-6)


@pysd
def test_documented_exception_the_outflow_limit_is_not_exported(tmp_path):
    """Our engine holds a non-negative stock at zero by limiting its outflows within a step; Vensim and
    PySD have no such rule, so where it acts the exported model differs (and goes negative)."""
    path = tmp_path / "drain.yaml"
    path.write_text(
        "variables:\n  tank: {kind: stock, units: m3, initial: 10, outflows: [drain], doc: a tank}\n"
        "  drain: {kind: flow, units: m3/year, equation: '8', doc: drains it}\n"
    )
    model = load(path)
    scenario_path = tmp_path / "run.yaml"
    scenario_path.write_text("name: drain\ntime: {start: 0, end: 3, dt: 0.25, method: euler}\n")
    scenario = simulator.load_scenario(scenario_path, model)
    ours = simulate(model, default_inputs(model), scenario.time, "euler").values[0, :, 0]
    mdl = tmp_path / "drain.mdl"
    mdl.write_text(to_vensim(model, scenario))
    theirs = pysd_model(mdl).run()["tank"].to_numpy()
    assert ours.min() >= 0
    assert theirs.min() < 0
