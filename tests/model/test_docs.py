"""The checked-in references (model, settings) are generated from what they describe and must be current."""

from simulator.present.docs import DOC_PATH, SETTINGS_PATH, model_reference, settings_reference


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


def test_settings_reference_is_current():
    assert SETTINGS_PATH.read_text(encoding="utf-8") == settings_reference(), (
        "docs/settings.md is out of date: run `python -m simulator.present.docs`"
    )


def test_settings_reference_lists_every_key_of_every_record():
    from simulator.inputs import schema
    from simulator.present.docs import SETTINGS_FILES

    text = settings_reference()
    records = [record for _, _, record in SETTINGS_FILES]
    while records:
        record = records.pop()
        for name, key in schema.keys(record).items():
            assert f"| `{name}` |" in text, (record.__name__, name)
            if key.record is not None:
                records.append(key.record)
    for heading in ("### `time:`", "### `search:`", "### each entry of `free:`", "### each item of `targets:`"):
        assert heading in text
    assert "| `dt` | a number such as 0.25 or 1/12 | – | integration step of the generations" in text
    assert "| `runs` | a whole number from 1 to 1,000,000,000 | `1000` |" in text
