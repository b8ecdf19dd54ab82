"""Unit algebra and parsing (units.py)."""

import pytest

from simulator.engine.units import UnitError, parse_unit


def test_products_and_quotients():
    assert str(parse_unit("yuan/(person*year)")) == "yuan/(person*year)"
    assert parse_unit("kWh/kW/year") == parse_unit("hour/year")  # kWh is defined as kW*hour
    assert parse_unit("m3/yuan") * parse_unit("yuan/year") == parse_unit("m3/year")
    assert parse_unit("1") == parse_unit("dimensionless")
    assert parse_unit("1").dimensionless
    assert parse_unit("m^2") ** 0.5 == parse_unit("m")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("10k person", "no numeric scale"),
        ("yuan year", "unexpected"),
        ("(yuan", "missing"),
        ("m^x", "exponent must be a number"),
        ("", "non-empty"),
    ],
)
def test_bad_units_say_why(text, reason):
    with pytest.raises(UnitError, match=reason):
        parse_unit(text)


def test_model_definitions_extend_the_table():
    assert parse_unit("GWh", {"GWh": "GW*hour"}) == parse_unit("GW*hour")
