"""The checked-in model reference is generated from the declarations and must be current."""

from simulator.present.docs import DOC_PATH, model_reference


def test_model_reference_is_current(model):
    assert DOC_PATH.read_text(encoding="utf-8") == model_reference(model), (
        "docs/model.md is out of date: run `python -m simulator.present.docs` and commit it"
    )


def test_every_declared_variable_has_units_doc_and_parameters_a_source(model):
    for var in model.declared():
        assert var.units and var.doc, var.name
        if var.kind in ("parameter", "series", "lookup"):
            assert var.source, var.name
            if var.status == "assumed":
                assert var.range is not None, var.name
