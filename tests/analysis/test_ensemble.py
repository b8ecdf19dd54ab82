"""Monte Carlo: the same numbers whatever the threads, backend or interruptions; sampling; Sobol indices."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import simulator
from simulator.analysis.runner import make_plan, run_plan
from simulator.analysis.sampling import ppf, unit_sample
from simulator.analysis.sensitivity import sobol_indices
from simulator.analysis.store import open_runs
from simulator.analysis.summary import summarise
from simulator.inputs.scenario import Distribution

from ..conftest import ROOT, requires

SMALL = """name: small_mc
extends: {root}/scenarios/plan_uncertain.yaml
monte_carlo: {{runs: {runs}, seed: 7, sampling: lhs, chunk: {chunk}}}
"""


def small_scenario(tmp_path, runs=600, chunk=150):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL.format(root=ROOT, runs=runs, chunk=chunk))
    return simulator.load_scenario(path)


def store_arrays(folder: Path) -> dict:
    ds = open_runs(folder)
    return {name: ds[name].values for name in ds.data_vars}


@requires("distributed", "ensembles on Dask")
def test_same_seed_threads_and_dask_give_identical_bits(model, tmp_path):
    scenario = small_scenario(tmp_path)
    results = {}
    for label, kwargs in (
        ("1 thread", {"workers": 1}),
        ("2 threads", {"workers": 2}),
        ("again", {"workers": 1}),
        ("dask", {"workers": 2, "scheduler": "local"}),
    ):
        work = tmp_path / label.replace(" ", "_")
        run_plan(model, make_plan(model, scenario), work, progress=False, say=lambda *a: None, **kwargs)
        results[label] = store_arrays(work)
    reference = results["1 thread"]
    assert np.isfinite(reference["gdp"]).all() and reference["gdp"].shape == (600, 16, 4)
    assert len(np.unique(reference["gdp"][:, -1, 0])) == 600  # the runs differ
    for label in ("2 threads", "again", "dask"):
        for name, values in reference.items():
            assert values.tobytes() == results[label][name].tobytes(), (label, name)


def test_a_killed_run_resumes_to_the_same_numbers(model, tmp_path):
    scenario_path = tmp_path / "resume.yaml"
    scenario_path.write_text(SMALL.format(root=ROOT, runs=30000, chunk=500))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "simulator.cli", str(scenario_path), "--out", str(out), "--workers", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = tmp_path / ".killed.ensemble" / "done"
    deadline = time.time() + 240
    while time.time() < deadline and not (done.exists() and len(list(done.iterdir())) >= 4):
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)  # killed outright: no cleanup at all
    process.wait()
    finished_before = len(list(done.iterdir()))
    assert 4 <= finished_before < 60, finished_before
    assert not out.exists()
    resumed = subprocess.run(command + ["--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    subprocess.run(
        [sys.executable, "-m", "simulator.cli", str(scenario_path), "--out", str(straight), "--quiet"],
        cwd=ROOT,
        check=True,
    )
    a, b = store_arrays(out), store_arrays(straight)
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    goals_a = json.loads((out / "goals.json").read_text())
    goals_b = json.loads((straight / "goals.json").read_text())
    assert goals_a == goals_b
    assert not (tmp_path / ".killed.ensemble").exists()


@pytest.mark.parametrize(
    "dist, args, mean, var, low, high",
    [
        ("uniform", {"low": 2.0, "high": 5.0}, 3.5, 9 / 12, 2.0, 5.0),
        ("normal", {"mean": 1.0, "sd": 0.5}, 1.0, 0.25, -np.inf, np.inf),
        (
            "truncnormal",
            {"mean": 0.0, "sd": 1.0, "low": -1.0, "high": 2.0},
            stats.truncnorm.mean(-1, 2),
            stats.truncnorm.var(-1, 2),
            -1.0,
            2.0,
        ),
        (
            "lognormal",
            {"median": 2.0, "sigma": 0.3},
            2.0 * np.exp(0.045),
            4 * np.exp(0.09) * (np.exp(0.09) - 1),
            0,
            np.inf,
        ),
        ("triangular", {"low": 0.0, "mode": 1.0, "high": 4.0}, 5 / 3, (16 + 1 - 4) / 18, 0.0, 4.0),
        ("choice", {"values": [1, 2, 10], "weights": [1, 1, 2]}, 5.75, (1 + 4 + 200) / 4 - 5.75**2, 1, 10),
    ],
)
def test_distribution_moments_and_bounds(dist, args, mean, var, low, high):
    u = next(unit_sample(200_000, 1, seed=3, sampling="random", chunk=200_000))[:, 0]
    x = ppf(Distribution("p", dist, args), np.clip(u, 1e-12, 1 - 1e-12))
    assert np.all(x >= low) and np.all(x <= high)
    assert np.mean(x) == pytest.approx(mean, rel=0.01, abs=0.01)
    assert np.var(x) == pytest.approx(var, rel=0.03)


def test_latin_hypercube_is_stratified():
    n, d = 1000, 7
    u = np.vstack(list(unit_sample(n, d, seed=11, sampling="lhs", chunk=300)))
    assert u.shape == (n, d)
    for j in range(d):
        strata = np.floor(u[:, j] * n).astype(int)
        assert sorted(strata) == list(range(n))  # one point in each of the n strata, in every dimension


def test_blocks_do_not_change_the_sample():
    for sampling in ("random", "lhs", "sobol"):
        a = np.vstack(list(unit_sample(1024, 3, seed=5, sampling=sampling, chunk=100)))
        b = np.vstack(list(unit_sample(1024, 3, seed=5, sampling=sampling, chunk=1024)))
        assert a.tobytes() == b.tobytes(), sampling


def test_sobol_indices_of_the_ishigami_function():
    from SALib.test_functions import Ishigami

    result = sobol_indices(lambda u: Ishigami.evaluate(-np.pi + 2 * np.pi * u), ["x1", "x2", "x3"], 2048, seed=2)[0]
    a, b = 7.0, 0.1
    var = a**2 / 8 + b * np.pi**4 / 5 + b**2 * np.pi**8 / 18 + 0.5
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    s1 = np.array([v1, v2, 0.0]) / var
    st = np.array([v1 + v13, v2, v13]) / var
    assert np.all(np.abs(result["S1"] - s1) <= result["S1_conf"] + 0.01)
    assert np.all(np.abs(result["ST"] - st) <= result["ST_conf"] + 0.01)


def test_goal_probabilities_agree_with_counting_runs(model, tmp_path):
    scenario = small_scenario(tmp_path, runs=400, chunk=400)
    plan = make_plan(model, scenario)
    work = tmp_path / "work"
    run_plan(model, plan, work, progress=False, say=lambda *a: None)
    _, records, per_run = summarise(model, plan, work)
    runs = open_runs(work)
    for record in records:
        if record["probability"] is None:
            continue
        _values, met = per_run[record["id"]]
        assert record["probability"] == pytest.approx(met.mean())
        assert record["stderr"] == pytest.approx(np.sqrt(met.mean() * (1 - met.mean()) / len(met)))
    growth = next(r for r in records if r["id"] == "gdp_growth_2021_2025")
    total = runs["gdp"].sum("city")
    by_hand = ((total.sel(time=2025) / total.sel(time=2020)) ** 0.2 - 1 >= 0.055).values
    assert growth["probability"] == pytest.approx(by_hand.mean())


def test_disk_estimate_refuses_an_impossible_request(tmp_path, capsys):
    from simulator.cli import main

    path = tmp_path / "huge.yaml"
    path.write_text(SMALL.format(root=ROOT, runs=10**9, chunk=10000))
    assert main([str(path), "--out", str(tmp_path / "huge")]) == 2
    err = capsys.readouterr().err
    assert "monte_carlo.runs" in err and "GB are free" in err and not (tmp_path / "huge").exists()


def test_run_ensemble_api(tmp_path):
    summary, goals, per_run = simulator.run_ensemble(small_scenario(tmp_path, runs=200, chunk=100))
    assert summary["gdp"].dims == ("percentile", "time", "city")
    assert (summary["gdp"].sel(percentile=5) <= summary["gdp"].sel(percentile=95)).all()
    assert per_run.sizes["run"] == 200 and all("probability" in g for g in goals)
    assert summary["gdp"].attrs["units"] == "yuan/year"
    kept = per_run["gdp"].values[(per_run["failed"].values == 0) & (per_run["implausible"].values == 0)]
    assert len(kept) == summary.attrs["runs_kept"]
    # numpy interpolates float32 runs in float32, the summary in float64: the same to float32 precision
    np.testing.assert_allclose(summary["gdp"].values, np.percentile(kept, [5, 25, 50, 75, 95], axis=0), rtol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_order_statistics_are_numpys_percentiles(n):
    from simulator.analysis.summary import order_statistics

    rows = np.sort(np.random.default_rng(n).normal(size=(3, n)), axis=1)
    got = order_statistics(rows, (5, 25, 50, 75, 95))
    if n == 0:
        assert np.isnan(got).all()
    else:
        np.testing.assert_allclose(got, np.percentile(rows, (5, 25, 50, 75, 95), axis=1), rtol=1e-12, atol=1e-15)


def test_the_store_holds_each_runs_outputs(model, tmp_path):
    """Chunks written straight to zarr's format read back through zarr and xarray as the kernel's numbers,
    the last (partial) chunk included; nothing half-written is left beside them."""
    from simulator.analysis.runner import run_chunk
    from simulator.analysis.sampling import Samples, apply
    from simulator.engine.run import to_dataset

    scenario = small_scenario(tmp_path, runs=250, chunk=100)
    plan = make_plan(model, scenario)
    work = tmp_path / "work"
    run_plan(model, plan, work, progress=False, say=lambda *a: None)
    stored = open_runs(work)
    inputs = scenario.inputs(model).with_runs(250)
    apply(inputs, scenario.uncertain, Samples(work / "samples.bin", 250, len(scenario.uncertain)).rows(0, 250))
    direct = to_dataset(run_chunk(model, inputs, scenario.time, scenario.method, plan.variables), runs=True)
    for name in plan.variables:
        assert stored[name].dims == direct[name].dims
        assert stored[name].values.tobytes() == direct[name].values.tobytes(), name
    assert not list(work.rglob("*.tmp"))
