"""Safe YAML loading: lines for every key, duplicate keys, tags refused, aliases bounded."""

from simulator import yamlio


def test_lines_and_key_paths(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("name: x\ntime:\n  start: 2020\n  end: 2035\nlist:\n  - 1\n  - 2\n")
    doc, problems = yamlio.load(path)
    assert not problems
    assert doc.line(("time", "end")) == 4
    assert doc.line(("list", 1)) == 7
    assert doc.line(("time", "missing")) == 2  # falls back to the parent
    assert yamlio.key_path(("policies", "coal_cap", "ordos")) == "policies.coal_cap.ordos"


def test_duplicate_key_is_an_error(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    _, problems = yamlio.load(path)
    assert len(problems) == 1 and problems[0].line == 3 and "duplicate" in problems[0].message


def test_python_tags_are_refused(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("a: !!python/object/apply:os.system ['echo hacked']\n")
    doc, problems = yamlio.load(path)
    assert doc is None and "invalid YAML" in problems[0].message


def test_billion_laughs_fails_fast(tmp_path):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for k in range(1, 9):
        lines.append(f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 10) + "]")
    path = tmp_path / "lol.yaml"
    path.write_text("\n".join(lines) + "\n")
    doc, problems = yamlio.load(path)
    assert doc is None and "expands to more than" in problems[0].message


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\nb: [1, 2\nc: 3\n")
    doc, problems = yamlio.load(path)
    assert doc is None and problems[0].line is not None and "invalid YAML" in problems[0].message
