"""The generated kernel reads as the model: every access to an array names the variable and element it reads."""

import re

from simulator.engine import load
from simulator.engine.codegen import generate

from ..conftest import MODELS


def test_every_access_names_its_variable():
    source = generate(load(MODELS / "functions.yaml"))  # stocks, flows, a series, a lookup, a sum, an element
    model_part = source[source.index("def initialise(") : source.index("# The integrator driver")]
    assert not re.search(r"\b(s|v|p|ds|sg|lk)\[(h, )?\d", model_part), "an array read at a bare offset"
    assert not re.search(r"_lookup\(lk, \d", model_part), "a lookup table at a bare offset"
    assert "s[s_level + e_a]" in model_part  # level[a]: the variable and the element by name
    assert "sg[h, sg_policy] * p[m_policy]" in model_part  # a series: its column and its multiplier
    assert "_lookup(lk, lk_response, " in model_part
    assert "\n    #   growth[city] = " in model_part  # each equation as declared
