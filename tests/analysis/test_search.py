"""Policy search and scenario discovery (issue 16): the search's policies are ready-to-run scenarios that
reproduce its numbers, it is deterministic and resumes, bad search blocks are exit-2 messages, and PRIM
finds a box that is there."""

import json

import numpy as np
import pandas as pd
import pytest

from simulator.analysis import search as search_module
from simulator.analysis.discover import find_box
from simulator.cli import main

from ..conftest import SCENARIOS

SEARCH = SCENARIOS / "plan_search.yaml"
SMALL = ["--futures", "12", "--generations", "2", "--seed", "5", "-q"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "out"
    assert main(["search", str(SEARCH), *SMALL, "--out", str(out)]) == 0
    return out


def test_search_writes_the_pareto_set_plots_and_report(searched):
    record = json.loads((searched / "search.json").read_text())
    assert record["futures"] == 12 and record["generations"] == 2 and len(record["history"]) == 2
    assert record["runs"] == 2 * 40 * 12
    # plan_search's generations integrate at dt 1; what it reports is scored at plan_uncertain's dt 1/2
    assert record["time_step"] == {"generations": 1.0, "scores": 0.5}
    policies = record["pareto"]
    assert policies and len(list((searched / "policies").glob("policy_*.yaml"))) == len(policies)
    first = [p["objectives"]["P(gdp_growth_2021_2025)"] for p in policies]
    assert first == sorted(first, reverse=True)  # ranked by the first objective
    for p in policies:
        for lever in record["levers"]:
            assert lever["low"] <= p["levers"][lever["label"]] <= lever["high"]
    # the front is non-dominated on the objectives as the search minimised them
    signs = np.array([-1 if o["sense"] == "max" else 1 for o in record["objectives"]])
    f = np.array([[p["objectives"][o["label"]] for o in record["objectives"]] for p in policies]) * signs
    for i in range(len(f)):
        assert not any(np.all(f[j] <= f[i]) and np.any(f[j] < f[i]) for j in range(len(f)) if j != i)
    rows = (searched / "pareto.csv").read_text().splitlines()
    assert rows[1].startswith("as_written,") and len(rows) == len(policies) + 2
    report = (searched / "report.md").read_text()
    assert "against the scenario as written" in report and "policy_01.yaml" in report
    assert "the generations integrated with a step of 1 year," in report and "the scenario's step of 1/2 year" in report
    assert set(record["dropped_when_rescored"]) == {"constraints", "dominated"}
    for plot in ("pareto.png", "convergence.png"):
        assert (searched / plot).stat().st_size > 10_000


def test_a_policy_file_runs_the_same_futures_and_gives_the_same_probabilities(searched, tmp_path):
    # at the scenario's own dt, though the generations integrated at the search's coarser one
    record = json.loads((searched / "search.json").read_text())
    policy = searched / "policies" / "policy_01.yaml"
    assert "extends:" in policy.read_text()
    assert main([str(policy), "--runs", "12", "--seed", "5", "--out", str(tmp_path / "run"), "-q"]) == 0
    goals = json.loads((tmp_path / "run" / "goals.json").read_text())
    goals = goals["goals"] if isinstance(goals, dict) else goals
    found = record["pareto"][0]["probabilities"]
    for goal in goals:
        assert goal["probability"] == pytest.approx(found[goal["id"]], abs=1e-12), goal["id"]


def test_policy_files_write_per_city_parameter_and_pre_start_levers_in_full(tmp_path):
    """A lever on one city keeps the other cities' paths as searched, a parameter lever writes the whole
    parameter, a path with points before the start year is written from the start year: the file still
    reproduces the search."""
    scenario = tmp_path / "levers.yaml"
    scenario.write_text(f"""name: levers
extends: {SCENARIOS / "plan_uncertain.yaml"}
search:
  levers:
    policies.transferred_investment[baotou]: {{low: 0, high: 3}}
    industrial_water_saving_rate: {{low: 0.02, high: 0.06}}
    policies.renewable_build: {{low: 0.9, high: 1.1}}
  objectives: [{{maximise: gdp_growth_2021_2025}}, {{minimise: water_use, year: 2030}}]
  futures: 10
  generations: 2
  population: 6
  seed: 2
""")
    out = tmp_path / "out"
    assert main(["search", str(scenario), "--out", str(out), "-q"]) == 0
    record = json.loads((out / "search.json").read_text())
    text = (out / "policies" / "policy_01.yaml").read_text()
    assert "hohhot:" in text and "2010" not in text  # every city's path, from 2020 on
    assert (
        main(
            [
                str(out / "policies" / "policy_01.yaml"),
                "--runs",
                "10",
                "--seed",
                "2",
                "--out",
                str(tmp_path / "run"),
                "-q",
            ]
        )
        == 0
    )
    goals = json.loads((tmp_path / "run" / "goals.json").read_text())
    for goal in goals["goals"] if isinstance(goals, dict) else goals:
        assert goal["probability"] == pytest.approx(record["pareto"][0]["probabilities"][goal["id"]], abs=1e-12)


def test_the_search_is_deterministic_and_resumes_where_it_stopped(searched, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = search_module.hypervolume

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 2:  # in the second generation, before its checkpoint
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(search_module, "hypervolume", interrupted)
    out = tmp_path / "out"
    assert main(["search", str(SEARCH), *SMALL, "--out", str(out)]) == 130
    assert not out.exists() and (tmp_path / ".out.search" / "state.pkl").exists()
    monkeypatch.setattr(search_module, "hypervolume", real)
    scored = []
    score = search_module.Evaluator.__call__
    monkeypatch.setattr(search_module.Evaluator, "__call__", lambda self, v: scored.append(len(v)) or score(self, v))
    assert main(["search", str(SEARCH), *SMALL, "--out", str(out)]) == 0
    assert scored[0] == 40 and len(scored) == 2  # the second generation, then the front: the first is not redone
    assert not (tmp_path / ".out.search").exists()
    again, first = (json.loads((folder / "search.json").read_text()) for folder in (out, searched))
    for key in ("pareto", "history", "as_written", "runs"):
        assert again[key] == first[key], key


BAD_SEARCH = [
    ("levers: {policies.nothing: {low: 0, high: 1}}", "search.levers.policies.nothing", "unknown policy"),
    ("levers: {policies.water_transfer: {low: 2, high: 1}}", "search.levers.policies.water_transfer", "low < high"),
    ("levers: {tfp_growth: {low: 0, high: 0.02}}", "search.levers.tfp_growth", "a lever is a decision"),
    (
        "levers: {policies.water_transfer: {values: [1]}}",
        "search.levers.policies.water_transfer.values",
        "at least two",
    ),
    ("objectives: [{maximise: gdp_growt}]", "search.objectives[0].maximise", "did you mean"),
    ("objectives: [{minimise: co2, year: 2040}]", "search.objectives[0].year", "a saved year"),
    ("objectives: [{minimise: co2}]", "search.objectives[0].year", "a saved year"),
    ("constraints: [{goal: coal_within_cap, at_least: 2}]", "search.constraints[0]", "probability 0-1"),
    ("objectives: [{minimise: tfp_growth, year: 2030}]", "search.objectives[0].minimise", "a model output"),
    ("objectives: [{maximise: gdp_growth_2021_2025, year: 2030}]", "search.objectives[0].year", "give no year"),
    (
        "levers: {policies.water_transfer: {low: 0, high: 2}, 'policies.water_transfer[hohhot]': {low: 0, high: 1}}",
        "search.levers.policies.water_transfer[hohhot]",
        "overlaps another lever",
    ),
    ("dt: 0.3", "search.dt", "must divide a year"),
    ("dt: 2", "search.dt", "multiple of dt"),
    ("futures: 0", "search.futures", "whole number"),
    ("population: [1]", "search.population", "whole number"),
]


@pytest.mark.parametrize("change, key, words", BAD_SEARCH)
def test_a_bad_search_block_is_an_exit_2_message_at_the_users_line(tmp_path, capsys, change, key, words):
    base = """name: mine
extends: {search}
search:
  levers: {{policies.water_transfer: {{low: 0, high: 2}}}}
  objectives: [{{maximise: gdp_growth_2021_2025}}]
"""
    field = change.split(":")[0]
    lines = [line for line in base.format(search=SEARCH).splitlines() if not line.startswith(f"  {field}:")]
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("\n".join(lines + [f"  {change}"]) + "\n")
    assert main(["search", str(scenario), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "mine.yaml:" in err and f"{key}:" in err and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]


def test_search_needs_a_search_block_and_uncertain_futures(tmp_path, capsys):
    assert main(["search", str(SCENARIOS / "plan_uncertain.yaml"), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "search: the scenario has no search: block" in capsys.readouterr().err
    scenario = tmp_path / "certain.yaml"
    scenario.write_text(
        f"name: certain\nextends: {SCENARIOS / 'plan.yaml'}\nsearch:\n"
        "  levers: {policies.water_transfer: {low: 0, high: 2}}\n"
        "  objectives: [{maximise: gdp_growth_2021_2025}]\n"
    )
    assert main(["search", str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "certain.yaml:3: search: a search scores each policy over uncertain futures" in capsys.readouterr().err


def test_the_rescored_front_keeps_what_meets_the_constraints_and_counts_what_it_drops():
    F = np.array([[1.0, 5], [2, 4], [3, 3], [2.5, 4.5], [0.5, 0.5]])  # minimised; the 4th is dominated by the 2nd
    rank, dropped = search_module.rescored_front(F, np.array([0, 0, 0, 0, 0.2]))  # the 5th misses a constraint
    assert list(rank) == [0, 1, 2] and dropped == {"constraints": 1, "dominated": 1}
    # none meets them: a nearly feasible policy stays beside one that scores better but misses by more
    rank, dropped = search_module.rescored_front(F[[1, 4]], np.array([0.01, 0.3]))
    assert list(rank) == [1, 0] and dropped == {"constraints": 0, "dominated": 0}
    rank, _ = search_module.rescored_front(F[[1, 3]], np.array([0.01, 0.3]))  # better and nearer: the only one
    assert list(rank) == [0]


def test_the_sentence_flags_a_limit_that_is_not_significant():
    from simulator.analysis.discover import sentence

    box = {"density": 0.5, "mass": 0.1, "coverage": 0.4}
    limits = [
        {"input": "a", "min": 0.0, "max": 0.3, "units": "", "qp": 1e-20, "sampled": [0.0, 1.0]},
        {"input": "b", "min": 0.6, "max": 1.0, "units": "1/year", "qp": 0.33, "sampled": [0.0, 1.0]},
    ]
    text = sentence({"description": "G"}, {**box, "restrictions": limits}, 0.12)
    assert "where a is below 0.3 and b is above 0.6 1/year" in text
    assert text.endswith("The limit on b (quasi-p 0.33) is not significant at 5%: read it as a hint, not a finding.")
    assert "not significant" not in sentence({"description": "G"}, {**box, "restrictions": limits[:1]}, 0.12)


def test_prim_finds_a_planted_box():
    rng = np.random.default_rng(0)
    inputs = pd.DataFrame(rng.uniform(size=(3000, 6)), columns=[f"x{i}" for i in range(6)])
    failed = ((inputs.x1 < 0.3) & (inputs.x4 > 0.6)).values | (rng.uniform(size=3000) < 0.02)
    box = find_box(inputs, failed, density=0.8)
    limits = {r["input"]: (r["min"], r["max"]) for r in box["restrictions"]}
    assert set(limits) == {"x1", "x4"}
    assert 0.29 <= limits["x1"][1] <= 0.4 and 0.5 <= limits["x4"][0] <= 0.61  # the widest box of density >= 0.8
    assert box["density"] >= 0.8 and box["coverage"] >= 0.8
    assert [r["input"] for r in box["ranking"][:2]] in (["x1", "x4"], ["x4", "x1"])


def test_prim_restricts_something_when_most_futures_fail():
    rng = np.random.default_rng(1)
    inputs = pd.DataFrame(rng.uniform(size=(2000, 4)), columns=["a", "b", "c", "d"])
    failed = (inputs.a < 0.6).values | (rng.uniform(size=2000) < 0.1)  # about 64 % fail
    box = find_box(inputs, failed, density=0.5)
    assert [r["input"] for r in box["restrictions"]] == ["a"] and box["restrictions"][0]["max"] < 0.75
    assert box["density"] >= (1 + failed.mean()) / 2 and box["coverage"] > 0.8  # denser than the failure rate


def test_discover_names_the_box_in_words(tmp_path, capsys):
    out = tmp_path / "d"
    assert (
        main(
            [
                "discover",
                str(SCENARIOS / "plan_uncertain.yaml"),
                "--goal",
                "gdp_growth_2021_2025",
                "--runs",
                "400",
                "--seed",
                "3",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    record = json.loads((out / "discover.json").read_text())
    assert record["runs_kept"] + record["runs_excluded"] == 400
    box = record["box"]
    assert box["restrictions"] and box["density"] > record["failure_rate"]
    first = box["restrictions"][0]
    assert first["input"] in record["sentence"] and record["sentence"].startswith('The goal "Four-city real GDP')
    assert {"discover.json", "box.csv", "peeling.png", "report.md"} <= {p.name for p in out.iterdir()}
    assert not (tmp_path / ".d.discover").exists()


def test_discover_refuses_an_unknown_goal(tmp_path, capsys):
    assert (
        main(["discover", str(SCENARIOS / "plan_uncertain.yaml"), "--goal", "gdp", "--out", str(tmp_path / "d"), "-q"])
        == 2
    )
    assert "--goal: unknown goal 'gdp'" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_the_search_gives_the_same_policies_on_one_thread(searched, tmp_path):
    out = tmp_path / "one"
    assert main(["search", str(SEARCH), *SMALL, "--workers", "1", "--out", str(out)]) == 0
    one, two = (json.loads((folder / "search.json").read_text()) for folder in (out, searched))
    assert one["pareto"] == two["pareto"] and one["as_written"] == two["as_written"]


def test_an_objective_can_be_what_a_policy_costs(tmp_path):
    """A time path is an objective too: the investment a policy transfers in, as the lever scales it."""
    scenario = tmp_path / "cost.yaml"
    scenario.write_text(f"""name: cost
extends: {SCENARIOS / "plan_uncertain.yaml"}
search:
  levers: {{policies.transferred_investment: {{low: 0, high: 2}}}}
  objectives: [{{maximise: gdp_growth_2021_2025}}, {{minimise: transferred_investment, year: 2025}}]
  futures: 8
  generations: 2
  population: 6
  seed: 4
""")
    assert main(["search", str(scenario), "--out", str(tmp_path / "out"), "-q"]) == 0
    record = json.loads((tmp_path / "out" / "search.json").read_text())
    label = "transferred_investment 2025 (yuan/year)"
    plan = record["as_written"]["objectives"][label]
    assert plan == pytest.approx(4 * 1.0e10, rel=1e-6)  # the plan: 100e8 yuan a year in each of four cities
    for policy in record["pareto"]:
        assert policy["objectives"][label] == pytest.approx(
            plan * policy["levers"]["policies.transferred_investment"], rel=1e-6
        )
