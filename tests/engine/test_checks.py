"""Build-time checks: each error names the file, the line, the variable and what is wrong."""

import re

import pytest

from simulator.engine import load
from simulator.errors import ModelError

HEADER = """dimensions:
  city: [a, b]
  other: {alias_of: city}
variables:
  k: {kind: parameter, units: 1/year, value: 0.1, source: test, doc: a rate}
  distance: {kind: parameter, dims: [city, other], units: km, value: 1, source: test, doc: distance}
  level: {kind: stock, dims: [city], units: widget, initial: 1, inflows: [growth], doc: level}
  growth: {kind: flow, dims: [city], units: widget/year, equation: k * level, doc: growth}
"""


def _errors(tmp_path, extra: str) -> str:
    path = tmp_path / "model.yaml"
    path.write_text(HEADER + extra)
    with pytest.raises(ModelError) as info:
        load(path)
    return str(info.value)


def test_unknown_name_with_did_you_mean(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, dims: [city], units: widget, equation: levle * 2, doc: x}\n")
    assert re.search(r"model\.yaml:9: x: equation: unknown name 'levle' \(did you mean 'level'\?\)", text), text


def test_algebraic_loop_names_the_loop(tmp_path):
    text = _errors(
        tmp_path,
        "  x: {kind: aux, units: widget, dims: [city], equation: y + level, doc: x}\n"
        "  y: {kind: aux, units: widget, dims: [city], equation: x * 2, doc: y}\n",
    )
    assert "algebraic loop" in text and ("x -> y -> x" in text or "y -> x -> y" in text), text
    assert text.count("algebraic loop") == 1


def test_units_that_do_not_balance(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: widget, dims: [city], equation: level + k, doc: x}\n")
    assert re.search(r"model\.yaml:9: x: .*units do not balance in level \+ k: widget vs 1/year", text), text


def test_declared_units_differ_from_the_equation(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: widget, dims: [city], equation: level * k, doc: x}\n")
    assert "the equation gives widget/year but x is declared in widget" in text, text


def test_flow_units_must_match_the_stock(tmp_path):
    text = _errors(
        tmp_path,
        "  s2: {kind: stock, units: widget, dims: [city], initial: 0, inflows: [f2], doc: s}\n"
        "  f2: {kind: flow, units: widget, dims: [city], equation: level, doc: f}\n",
    )
    assert "flow 'f2' is in widget but s2 (in widget) needs flows in widget/year" in text, text


def test_dims_that_do_not_match(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: km, dims: [city], equation: distance, doc: x}\n")
    assert "dims do not match" in text and "sum over or subscript ['other']" in text, text


def test_bad_subscript(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: km, dims: [city], equation: 'distance[city, c]', doc: x}\n")
    assert "'c' is neither a dimension nor an element of 'city'" in text, text


def test_only_a_dimension_can_be_shifted(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: widget, dims: [city], equation: 'level[a - 1]', doc: x}\n")
    assert "only a dimension can be shifted, not 'a'" in text, text


def test_a_shift_past_every_element_is_refused(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: widget, dims: [city], equation: 'level[city - 2]', doc: x}\n")
    assert "a shift of 2 passes every element of 'city' (2)" in text, text


def test_sum_over_a_dim_it_does_not_vary_along(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: 1/year, equation: 'sum(k, city)', doc: x}\n")
    assert "does not vary along it" in text, text


def test_declaration_mistakes(tmp_path):
    text = _errors(
        tmp_path,
        "  x: {kind: aux, units: widget, dims: [town], equation: level, doc: x}\n"
        "  y: {kind: auxiliary, units: widget, equation: 1, doc: y}\n"
        "  z: {kind: parameter, units: '1', value: 1, doc: z, status: assumed}\n",
    )
    assert "unknown dimension 'town'" in text
    assert "kind must be one of" in text
    assert "a parameter needs 'source'" in text


def test_all_problems_are_listed(tmp_path):
    text = _errors(tmp_path, "  x: {kind: aux, units: widget, dims: [city], equation: foo + bar, doc: x}\n")
    assert "'foo'" in text and "'bar'" in text
