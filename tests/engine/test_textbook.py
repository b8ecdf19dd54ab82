"""The engine on textbook models with known answers, and the kernel against the numpy reference."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from simulator.engine import TimeGrid, default_inputs, load, reference, simulate, to_dataset

from ..conftest import MODELS


@pytest.fixture(scope="module")
def exponential():
    return load(MODELS / "exponential.yaml")


@pytest.fixture(scope="module")
def logistic():
    return load(MODELS / "logistic.yaml")


@pytest.fixture(scope="module")
def sir():
    return load(MODELS / "sir.yaml")


@pytest.mark.parametrize("rate", [0.05, -0.3])
def test_exponential_growth_and_decay(exponential, rate):
    inputs = default_inputs(exponential)
    inputs.set_parameter("growth_rate", rate)
    ds = to_dataset(simulate(exponential, inputs, TimeGrid(0, 10, 1 / 16), "rk4"))
    exact = 100 * np.exp(rate * ds["time"].values)
    np.testing.assert_allclose(ds["level"].values, exact, rtol=1e-8)
    # the flow is the average over each year: its integral equals the stock change exactly
    np.testing.assert_allclose(np.diff(ds["level"].values), ds["growth"].values[1:], rtol=1e-12)


def test_logistic_against_closed_form(logistic):
    ds = to_dataset(simulate(logistic, default_inputs(logistic), TimeGrid(0, 30, 1 / 16), "rk4"))
    t = ds["time"].values
    exact = 1000 / (1 + (1000 / 10 - 1) * np.exp(-0.4 * t))
    np.testing.assert_allclose(ds["population"].values, exact, rtol=1e-7)


def test_sir_against_solve_ivp(sir):
    ds = to_dataset(simulate(sir, default_inputs(sir), TimeGrid(0, 6, 1 / 64), "rk4"))

    def rhs(t, y):
        s, i, _ = y
        infection = 3.0 * s * i / 10000
        return [-infection, infection - i / 0.5, i / 0.5]

    sol = solve_ivp(rhs, (0, 6), [9990, 10, 0], t_eval=ds["time"].values, rtol=1e-11, atol=1e-9, method="DOP853")
    for k, name in enumerate(["susceptible", "infected", "recovered"]):
        np.testing.assert_allclose(ds[name].values, sol.y[k], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method, order", [("euler", 1), ("rk4", 4)])
def test_convergence_order(logistic, method, order):
    """Halving dt cuts the error about 2x for Euler and 16x for RK4."""
    exact = 1000 / (1 + 99 * np.exp(-0.4 * 20))
    errors = []
    for dt in (0.5, 0.25, 0.125):
        ds = to_dataset(simulate(logistic, default_inputs(logistic), TimeGrid(0, 20, dt), method))
        errors.append(abs(float(ds["population"].sel(time=20)) - exact))
    ratios = errors[0] / errors[1], errors[1] / errors[2]
    for ratio in ratios:
        assert 2**order * 0.8 < ratio < 2**order * 1.25, ratios


def test_ageing_chain_against_closed_form():
    """A shifted index (cohort[age - 1]) moves people along the chain: Erlang shares, nobody lost."""
    from math import factorial

    model = load(MODELS / "ageing.yaml")
    ds = to_dataset(simulate(model, default_inputs(model), TimeGrid(0, 20, 1 / 32), "rk4"))
    kt = 0.2 * ds["time"].values
    for j in range(4):
        exact = 1000 * kt**j * np.exp(-kt) / factorial(j)
        np.testing.assert_allclose(ds["cohort"].values[:, j], exact, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ds["cohort"].sum("age").values, 1000, rtol=1e-12)
    assert float(ds["ageing_in"].sel(age="g0").max()) == 0.0


@pytest.mark.parametrize("name", ["exponential", "logistic", "sir", "ageing"])
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_kernel_matches_reference(name, method):
    model = load(MODELS / f"{name}.yaml")
    inputs = default_inputs(model)
    grid = TimeGrid(0, 12, 0.25)
    kernel = simulate(model, inputs, grid, method).values[0]
    slow = reference.simulate(model, inputs, grid, method)
    np.testing.assert_allclose(kernel, slow, rtol=1e-12, atol=0)


def test_order_is_printable(logistic):
    text = logistic.describe_order()
    assert text.index("crowding") < text.index("net_growth")


def test_stateful_functions(tmp_path):
    """smooth, delay1, delay3 and initial against their closed forms for a step input."""
    path = tmp_path / "stateful.yaml"
    path.write_text("""
variables:
  input_level: {kind: aux, units: widget/year, equation: "1 + step(1, 2)", doc: a step from 1 to 2 at t = 2}
  smoothed: {kind: aux, units: widget/year, equation: "smooth(input_level, 1.5)", doc: first-order smooth}
  delayed: {kind: aux, units: widget/year, equation: "delay1(input_level, 1.5)", doc: material delay}
  delayed3: {kind: aux, units: widget/year, equation: "delay3(input_level, 1.5)", doc: third-order delay}
  start_value: {kind: aux, units: widget/year, equation: "initial(input_level * 3)", doc: initial}
  total: {kind: stock, units: widget, initial: 0, inflows: [inflow], doc: accumulates}
  inflow: {kind: flow, units: widget/year, equation: delayed, doc: into the stock}
""")
    model = load(path)
    grid = TimeGrid(0, 10, 1 / 64, save=0.25)
    ds = to_dataset(simulate(model, default_inputs(model), grid, "rk4"))
    t = ds["time"].values
    after = t >= 2.25  # averages over intervals entirely after the step
    # recorded values are interval averages: compare with the average of the exact curve
    average = 2 - 1.5 / 0.25 * (np.exp(-(t - 0.25 - 2) / 1.5) - np.exp(-(t - 2) / 1.5))
    # RK4's last stage before t = 2 already sees the step: an error of about dt/6/tau = 2e-3
    np.testing.assert_allclose(ds["smoothed"].values[after], average[after], rtol=3e-3)
    np.testing.assert_allclose(ds["delayed"].values[after], average[after], rtol=3e-3)
    assert np.all(ds["start_value"].values == 3.0)

    def delay3_exact(time):  # response of a third-order delay to a unit step at t = 2
        k, tau = 3 / 1.5, np.maximum(time - 2, 0)
        return 2 - np.exp(-k * tau) * (1 + k * tau + (k * tau) ** 2 / 2)

    averages = np.array([delay3_exact(np.linspace(x - 0.25, x, 2001)).mean() for x in t[after]])
    np.testing.assert_allclose(ds["delayed3"].values[after], averages, rtol=3e-3)


def test_initial_of_time_is_the_start_time(tmp_path):
    """initial() of an expression that reads time is its value at the start, not re-evaluated each step."""
    path = tmp_path / "clock.yaml"
    path.write_text("""
variables:
  started: {kind: aux, units: year, equation: "initial(time)", doc: the start time}
  elapsed: {kind: aux, units: year, equation: "time - started", doc: time since the start}
""")
    model = load(path)
    for method in ("euler", "rk4"):
        ds = to_dataset(simulate(model, default_inputs(model), TimeGrid(2010, 2015, 0.25), method))
        assert np.all(ds["started"].values == 2010.0)
        np.testing.assert_allclose(ds["elapsed"].values, ds["time"].values - 2010.0)
