"""Unit: typed input references -- the only way code outside the engine reaches the parameter array."""

import numpy as np

from simulator.engine import InputRef, default_inputs


def test_parse_round_trips_the_scenario_text():
    assert InputRef.parse("coal_cap.multiplier", 2) == InputRef("coal_cap", multiplier=True, element=2)
    assert InputRef.parse("tfp_growth") == InputRef("tfp_growth")
    assert str(InputRef("coal_cap", multiplier=True)) == "coal_cap.multiplier"


def test_columns_of_a_parameter_and_of_a_multiplier_are_theirs_alone(model):
    inputs = default_inputs(model, runs=2)
    parameter, multiplier = InputRef("tfp_growth"), InputRef("coal_cap", multiplier=True)
    assert len(inputs.columns(parameter)) == model.size("tfp_growth")
    assert list(inputs.columns(InputRef("tfp_growth", element=2))) == [inputs.columns(parameter)[2]]
    assert not set(inputs.columns(parameter)) & set(inputs.columns(multiplier))
    np.testing.assert_array_equal(inputs.params[:, inputs.columns(multiplier)], 1.0)  # multipliers start at 1


def test_assign_and_scale_touch_only_the_element_named(model):
    inputs = default_inputs(model, runs=3)
    before = inputs.params.copy()
    ref = InputRef("coal_cap", multiplier=True, element=1)
    inputs.assign(ref, [0.5, 1.0, 2.0])
    inputs.assign(ref, [2.0, 2.0, 2.0], scale=True)
    np.testing.assert_array_equal(inputs.parameter("coal_cap.multiplier")[:, 1], [1.0, 2.0, 4.0])
    changed = np.flatnonzero((inputs.params != before).any(axis=0))
    assert list(changed) == list(inputs.columns(ref))


def test_parameter_and_set_parameter_reach_one_element_when_named(model):
    inputs = default_inputs(model, runs=2)
    before = inputs.parameter("tfp_growth").copy()
    inputs.set_parameter(InputRef("tfp_growth", element=1), 0.5)
    np.testing.assert_array_equal(inputs.parameter(InputRef("tfp_growth", element=1)), [0.5, 0.5])
    after = inputs.parameter("tfp_growth")
    np.testing.assert_array_equal(np.delete(after, 1, axis=1), np.delete(before, 1, axis=1))
