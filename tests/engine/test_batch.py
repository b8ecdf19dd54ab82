"""Batches: bitwise identical on 1 and 2 threads; NaN stops with the variable, element, time and run."""

import numba
import numpy as np
import pytest

from simulator.engine import TimeGrid, default_inputs, load, reference, simulate
from simulator.errors import ModelError, SimulationError

from ..conftest import MODELS


def test_threads_give_identical_bits(model):
    inputs = default_inputs(model, runs=64)
    rng = np.random.default_rng(1)
    inputs.set_parameter("tfp_growth", rng.uniform(0, 0.03, size=(64, 4)))
    inputs.set_parameter("required_return", rng.uniform(0.05, 0.12, size=(64, 4)))
    grid = TimeGrid(2020, 2035, 0.25)
    one = simulate(model, inputs, grid, "rk4", n_threads=1).values
    many = simulate(model, inputs, grid, "rk4", n_threads=max(2, numba.config.NUMBA_NUM_THREADS)).values
    assert one.tobytes() == many.tobytes()
    assert len(np.unique(one[:, -1, 0])) > 1  # the runs really differ


def test_nan_names_the_variable(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        (MODELS / "logistic.yaml")
        .read_text()
        .replace("equation: population / carrying_capacity", "equation: population / (carrying_capacity - 1000)")
    )
    model = load(path)
    with pytest.raises(SimulationError) as info:
        simulate(model, default_inputs(model, runs=3), TimeGrid(0, 5, 0.25), "euler")
    message = str(info.value)
    assert message.startswith("run 0:")
    assert "crowding" in message and "first appears in crowding at time 0" in message
    assert "2 other run(s) failed too" in message


def test_nan_in_one_run_of_many(model):
    inputs = default_inputs(model, runs=4)
    inputs.set_parameter("capital_output_ratio", 0.0, run=2)  # capital 0 -> 0/0 in its production-function term
    with pytest.raises(SimulationError, match=r"^run 2: .*capital_input\[hohhot\]"):
        simulate(model, inputs, TimeGrid(2020, 2025, 0.25), "rk4")


def test_nonnegative_stocks_stay_nonnegative(tmp_path):
    path = tmp_path / "drain.yaml"
    path.write_text("""
variables:
  tank: {kind: stock, units: m3, initial: 10, outflows: [drain], doc: a tank}
  drain: {kind: flow, units: m3/year, equation: 100, doc: far more than the tank holds}
""")
    model = load(path)
    for method in ("euler", "rk4"):
        values = simulate(model, default_inputs(model), TimeGrid(0, 3, 0.25), method).values[0, :, 0]
        assert np.all(values >= 0)
        assert values[-1] < 1e-3 * values[0]
        if method == "euler":  # the outflow is limited to what the tank holds: it empties in one step
            assert values[1] == 0


def test_reports_are_computed_only_when_recorded(model):
    """A run that records a few variables skips the reports no rate reads (shares, slacks, shadow prices),
    and what it does record is bitwise what the full run records."""
    assert "water_shadow_price" in model.reporting and "labour_force" not in model.reporting
    assert model.reporting["non_fossil_share"] == {"non_fossil_energy"}  # a report read by a report
    wanted = dict(zip(model.reporting, model.reporting_wanted(["gdp", "non_fossil_share"])))
    assert wanted["non_fossil_share"] and wanted["non_fossil_energy"] and wanted["renewable_share_of_generation"]
    assert not wanted["water_shadow_price"]
    inputs = default_inputs(model, runs=2)
    grid = TimeGrid(2020, 2030, 0.25)
    full = simulate(model, inputs, grid, "rk4")
    some = simulate(model, inputs, grid, "rk4", record=["gdp", "non_fossil_share", "water_use"])
    for name, element in some.labels:
        assert (
            some.values[:, :, some.column(name, element)].tobytes()
            == full.values[:, :, full.column(name, element)].tobytes()
        )


def test_time_paths_recorded_run_by_run(tmp_path):
    """A run records each time path at its multiplier: a level (report point) at the save time, a rate (report
    mean) as its average over the year that ends there, which is the year's value (paths hold within a year)."""
    path = tmp_path / "paths.yaml"
    path.write_text("""
dimensions:
  city: [a, b]
variables:
  target: {kind: series, dims: [city], units: widget, points: {a: {0: 1.0, 10: 2.0}, b: {0: 4.0, 10: 3.0}},
           source: test, doc: a level that moves every year}
  quota: {kind: series, units: widget/year, points: {2: 5.0, 4: 1.0}, source: test, doc: a rate}
  level: {kind: stock, units: widget, initial: 1, inflows: [filling], doc: level}
  filling: {kind: flow, units: widget/year, equation: quota, doc: filling}
""")
    model = load(path)
    inputs = default_inputs(model, runs=3)
    inputs.set_parameter("target.multiplier", [[1.0, 1.0], [2.0, 0.5], [0.0, 3.0]])
    inputs.set_parameter("quota.multiplier", [1.0, 0.5, 2.0])
    years = np.arange(7.0)
    for method in ("euler", "rk4", "partitioned"):
        result = simulate(model, inputs, TimeGrid(0, 6, 0.25), method, record=["level", "quota", "target"])
        quota = result.values[:, :, result.column("quota")]
        np.testing.assert_allclose(
            quota, np.interp(years, [2, 4], [5, 1]) * np.array([[1.0], [0.5], [2.0]]), rtol=1e-12
        )
        for k, (xs, ys) in enumerate([([0, 10], [1, 2]), ([0, 10], [4, 3])]):
            target = result.values[:, :, result.column("target", k)]
            np.testing.assert_allclose(
                target, np.interp(years, xs, ys) * inputs.parameter("target.multiplier")[:, [k]], rtol=1e-12
            )


LEVELS = """
variables:
  rate: {kind: parameter, units: 1/year, value: 0.1, source: test, doc: growth}
  policy: {kind: series, units: '1', points: {0: 1.0, 10: 2.0}, source: test, doc: a path that moves every year}
  level: {kind: stock, units: widget, initial: 1, inflows: [growth], doc: level}
  growth: {kind: flow, units: widget/year, equation: rate * level * policy, doc: growth}
  scaled: {kind: aux, units: widget, report: point, equation: level * policy, doc: a level that reads the path}
  doubled: {kind: aux, units: widget, report: point, equation: 2 * level, doc: a level that reads no path}
"""


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_levels_are_the_same_read_from_the_next_step(tmp_path, method):
    """A level (report: point) that reads no time path is taken from the next step's first evaluation, one
    that does from an evaluation with the ending year's paths: both equal what a full run records."""
    path = tmp_path / "levels.yaml"
    path.write_text(LEVELS)
    model = load(path)
    assert model.reads_paths == {"growth", "scaled"}
    inputs = default_inputs(model)
    grid = TimeGrid(0, 6, 0.5)
    for record in (["doubled"], ["scaled"], ["doubled", "scaled"]):
        fast = simulate(model, inputs, grid, method, record=record).values[0]
        slow = reference.simulate(model, inputs, grid, method, record=record)  # each level from its own evaluation
        np.testing.assert_allclose(fast, slow, rtol=1e-12)


PARTITIONED = """
variables:
  young: {kind: stock, units: person, initial: 100, slow: true, inflows: [births], outflows: [ageing], doc: young}
  old: {kind: stock, units: person, initial: 10, slow: true, inflows: [ageing], outflows: [deaths], doc: old}
  births: {kind: flow, units: person/year, equation: fertility * young * policy, doc: births}
  ageing: {kind: flow, units: person/year, equation: ageing_rate * young, doc: the young growing old}
  deaths: {kind: flow, units: person/year, equation: death_rate * old, doc: deaths}
  policy: {kind: series, units: '1', points: {0: 1.0, 6: 0.5}, source: test, doc: a path that moves every year}
  capital: {kind: stock, units: yuan, initial: 50, inflows: [investment], doc: capital}
  investment: {kind: flow, units: yuan/year, equation: saving * capital * young / reference, doc: investment}
  fertility: {kind: parameter, units: 1/year, value: 0.3, source: test, doc: births per young person}
  ageing_rate: {kind: parameter, units: 1/year, value: 0.5, source: test, doc: share of the young ageing}
  death_rate: {kind: parameter, units: 1/year, value: 0.4, source: test, doc: deaths per old person}
  saving: {kind: parameter, units: 1/year, value: 0.1, source: test, doc: investment per unit of capital}
  reference: {kind: parameter, units: person, value: 100, source: test, doc: young people of the start}
"""


def test_partitioned_method(tmp_path):
    """RK4 for the fast stocks, the midpoint rule for the slow ones: what only the slow stocks need is
    evaluated at two of the four stages; the kernel agrees with the reference; the error falls as dt^2;
    the recorded flows of a slow stock add up to its change."""
    path = tmp_path / "partitioned.yaml"
    path.write_text(PARTITIONED)
    model = load(path)
    assert model.slow_only == {
        ("var", "births"),
        ("var", "ageing"),
        ("var", "deaths"),
        ("limit", "young"),
        ("limit", "old"),
    }
    inputs = default_inputs(model)
    record = ["young", "old", "capital", "births", "ageing", "deaths", "investment"]
    exact = simulate(model, inputs, TimeGrid(0, 6, 1 / 64), "rk4", record=record).values[0]
    errors = []
    for dt in (0.5, 0.25):
        grid = TimeGrid(0, 6, dt)
        fast = simulate(model, inputs, grid, "partitioned", record=record).values[0]
        np.testing.assert_allclose(
            fast, reference.simulate(model, inputs, grid, "partitioned", record=record), rtol=1e-12
        )
        errors.append(np.abs(fast[:, :3] / exact[:, :3] - 1).max())
        flows = fast[1:, 4] - fast[1:, 5]  # ageing - deaths, averaged over each year
        np.testing.assert_allclose(np.diff(fast[:, 1]), flows, rtol=1e-12)
    assert 1e-6 < errors[1] < errors[0] / 3.5  # second order (first order would halve it)


def test_a_slow_stocks_flow_read_by_a_fast_stock_is_an_error(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(PARTITIONED.replace("saving * capital * young / reference", "births * capital / reference"))
    with pytest.raises(ModelError, match="slow: its flow 'births' is also needed by the rate of a stock"):
        load(path)


def test_year_end_levels_skip_only_what_they_do_not_read(model):
    """Under the partitioned method the save-time evaluation skips what only the slow stocks need, unless a
    recorded level reads it: a level of the slow part is its value at the year-end state (from the recorded
    stocks), and the other levels are the same bits whether or not it is recorded."""
    assert "urban_birth_share" in model.reads_slow and "gdp" not in model.reads_slow
    inputs = default_inputs(model, runs=3)
    inputs.set_parameter("tfp_growth", np.array([[0.01] * 4, [0.02] * 4, [0.03] * 4]))
    grid = TimeGrid(2020, 2026, 0.5)
    record = ["gdp", "output_share", "total_fertility_rate", "urban_population", "urban_residents", "residents"]
    assert {model.variables[n].report for n in record[1:4]} == {"point"}  # levels, from the save-time evaluation
    assert {"output_share", "total_fertility_rate"} <= model.reads_paths  # so one is made at every save
    lean = simulate(model, inputs, grid, "partitioned", record=record)
    full = simulate(model, inputs, grid, "partitioned", record=record + ["urban_birth_share"])
    for name in record:
        columns = [full.column(name, k) for k in range(model.size(name))]
        assert lean.values[:, :, columns].tobytes() == full.values[:, :, columns].tobytes(), name
    schedule = inputs.parameter("fertility_schedule")[0]
    for k in range(4):
        women = [full.column(name, k * 36 + 18 + a) for name in ("urban_residents", "residents") for a in range(18)]
        urban, everyone = full.values[:, :, women[:18]] @ schedule, full.values[:, :, women[18:]] @ schedule
        share = full.values[:, :, full.column("urban_birth_share", k)]
        np.testing.assert_allclose(share[:, 1:], (urban / everyone)[:, 1:], rtol=1e-12)
