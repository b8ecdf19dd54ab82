"""End to end: the real `simulate` command on every shipped scenario, compare, list, describe;
the report's tables against results.nc; plots produced; an interrupted run leaves nothing behind."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import xarray as xr

from ..conftest import KEY_OUTPUTS, ROOT, SCENARIOS

SHIPPED = sorted(p.stem for p in SCENARIOS.glob("*.yaml") if not p.stem.endswith(("_uncertain", "_search")))
MONTE_CARLO = sorted(p.stem for p in SCENARIOS.glob("*_uncertain.yaml"))


def simulate(*args, cwd=ROOT, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "simulator.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    for name in SHIPPED:
        simulate(SCENARIOS / f"{name}.yaml", "--out", root / name, "--quiet")
    return root


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_writes_its_outputs(outputs, name):
    folder = outputs / name
    names = {p.name for p in folder.iterdir()}
    assert {
        "results.nc",
        "csv",
        "goals.json",
        "report.md",
        "scenario.resolved.yaml",
        "trajectories.png",
        "binding.png",
        "goals.png",
    } <= names
    for png in ("trajectories.png", "binding.png", "goals.png"):
        assert (folder / png).stat().st_size > 10_000
    ds = xr.open_dataset(folder / "results.nc")
    for var in KEY_OUTPUTS:
        assert ds[var].dims == ("time", "city") and ds[var].attrs["units"], var
        assert ds[var].attrs["long_name"] and ds[var].attrs["description"]
    assert ds.attrs["scenario"] == name and "name:" in ds.attrs["scenario_resolved"]
    goals = json.loads((folder / "goals.json").read_text())
    assert {g["id"] for g in goals} >= {
        "gdp_growth_2021_2025",
        "urban_population_2025",
        "water_within_caps",
        "coal_within_cap",
        "energy_intensity_2025",
    }
    for g in goals:
        assert {"id", "description", "target", "value", "met"} <= set(g)
    csv = (folder / "csv" / "gdp.csv").read_text().splitlines()
    assert csv[0] == "year,hohhot (yuan/year),baotou (yuan/year),ordos (yuan/year),ulanqab (yuan/year)"
    assert len(csv) == 1 + ds.sizes["time"]


@pytest.mark.parametrize("name", MONTE_CARLO)
def test_every_shipped_monte_carlo_scenario_runs(tmp_path, name):
    folder = tmp_path / name
    result = simulate(SCENARIOS / f"{name}.yaml", "--out", folder, "--runs", 300)
    assert "P(met)" in result.stdout
    names = {p.name for p in folder.iterdir()}
    assert {
        "runs.zarr",
        "summary.nc",
        "goals.json",
        "report.md",
        "fan_chart.png",
        "goals.png",
        "scenario.resolved.yaml",
    } <= names
    goals = json.loads((folder / "goals.json").read_text())
    assert all({"id", "description", "target", "probability", "stderr", "met"} <= set(g) for g in goals)
    summary = xr.open_dataset(folder / "summary.nc")
    assert summary["gdp"].dims == ("percentile", "time", "city") and summary.attrs["runs"] == 300
    assert "| goal | target | probability met" in (folder / "report.md").read_text()
    assert (folder / "fan_chart.png").stat().st_size > 10_000


def test_report_tables_agree_with_results(outputs):
    folder = outputs / "baseline"
    ds = xr.open_dataset(folder / "results.nc")
    report = (folder / "report.md").read_text()
    row = re.search(
        r"^\| population \| 10k persons \| hohhot \| ([\d,.]+) \| ([\d,.]+) \| ([\d,.]+) \| ([\d,.]+) \|$", report, re.M
    )
    assert row, "population row for Hohhot missing"
    for year, cell in zip((2020, 2025, 2030, 2035), row.groups()):
        assert float(cell.replace(",", "")) == pytest.approx(
            float(ds["population"].sel(city="hohhot", time=year)) / 1e4, abs=0.5
        )
    goals = json.loads((folder / "goals.json").read_text())
    gdp = next(g for g in goals if g["id"] == "gdp_growth_2021_2025")
    total = ds["gdp"].sum("city")
    growth = float((total.sel(time=2025) / total.sel(time=2020)) ** (1 / 5) - 1)
    assert gdp["value"] == pytest.approx(growth, rel=1e-12)
    assert f"| gdp_growth_2021_2025 | >= 6 % | {growth * 100:.3g} % |" in report


def test_drought_report_shows_the_binding_limit(outputs):
    report = (outputs / "drought" / "report.md").read_text()
    assert re.search(r"^\| water \| hohhot \| 20\d\d–2035 \|", report, re.M)
    assert "Dynamic shadow prices" in report


def test_compare(tmp_path):
    result = simulate("compare", SCENARIOS / "baseline.yaml", SCENARIOS / "drought.yaml", "--out", tmp_path / "cmp")
    assert "gdp_growth_2021_2025" in result.stdout
    assert {"differences.csv", "report.md", "goals.json", "compare.png"} <= {
        p.name for p in (tmp_path / "cmp").iterdir()
    }
    rows = (tmp_path / "cmp" / "differences.csv").read_text().splitlines()
    assert rows[0] == "variable,units,city,year,A,B,difference,relative_difference"


def test_compare_refuses_scenarios_that_start_in_different_years(tmp_path):
    result = simulate(
        "compare",
        SCENARIOS / "baseline.yaml",
        ROOT / "calibration" / "start_2010.yaml",
        "--out",
        tmp_path / "cmp",
        check=False,
    )
    assert result.returncode == 2 and "start_2010.yaml" in result.stderr and "starts in 2010" in result.stderr
    assert not (tmp_path / "cmp").exists()


def test_list_and_describe():
    listing = simulate("list").stdout
    for text in (
        "Scenarios",
        "required_return [1/year]",
        "coal_cap [t/year]",
        "water_use [m3/year]",
        "gdp_growth_2021_2025",
    ):
        assert text in listing
    described = simulate("describe", "industrial_water_demand").stdout
    assert (
        "(other_industrial_water_demand + energy_industry_water_demand) * industrial_water_price_response" in described
    )
    assert "units:       m3/year" in described and "water.yaml" in described
    parameter = simulate("describe", "depreciation_rate").stdout
    assert "0.096" in parameter and "Zhang" in parameter
    missing = simulate("describe", "gdpp", check=False)
    assert missing.returncode == 2 and "did you mean 'gdp'" in missing.stderr


def test_help_everywhere():
    for command in ([], ["run"], ["compare"], ["list"], ["describe"], ["export"], ["calibrate"], ["sensitivity"]):
        result = simulate(*command, "--help")
        assert "usage: simulate" in result.stdout


def test_missing_file_exits_2(tmp_path):
    result = simulate(tmp_path / "nope.yaml", check=False)
    assert result.returncode == 2 and "scenario file not found" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_leaves_no_partial_folder(tmp_path, sig, code):
    out = tmp_path / "run"
    # a shell starts background jobs with SIGINT ignored, and Python keeps it so: restore the default in the child,
    # so the test holds however pytest itself was started
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", str(SCENARIOS / "plan.yaml"), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".run.tmp-") for p in tmp_path.iterdir()):
        time.sleep(0.005)
    assert any(p.name.startswith(".run.tmp-") for p in tmp_path.iterdir()), "the run never started writing"
    os.kill(process.pid, sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
    assert "Traceback" not in err


def run_as_module(folder, code: str):
    """``python -m`` a script (the way the CLI runs: CPython's exit on an interrupt differs from ``-c``), with
    SIGINT at its default whatever the shell that started the tests did to it."""
    (folder / "script_under_test.py").write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "script_under_test"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_inside_exec_still_exits_with_the_status(tmp_path, sig, code):
    # dataclasses and namedtuple build methods with exec(string); an interrupt that arrived there (as when a
    # module is imported mid-run) made `python -m simulator.cli` die by SIGINT at exit instead of exiting 130
    process = run_as_module(
        tmp_path,
        "import os, sys\n"
        "from simulator import cli\n"
        f'cli.HANDLERS["run"] = lambda args: exec("os.kill(os.getpid(), {int(sig)})\\nwhile True: pass")\n'
        'raise SystemExit(cli.main(["run", "any.yaml"]))\n',
    )
    assert process.returncode == code, process.stderr
    assert "no outputs were written" in process.stderr and "Traceback" not in process.stderr


def test_an_interrupt_python_swallows_still_sets_the_status(tmp_path):
    # a signal that lands in a weakref callback (as during an import) raises where Python only prints the
    # error: the command finishes, and the exit status and message still say it was interrupted
    process = run_as_module(
        tmp_path,
        "import os, signal, sys, weakref\n"
        "from simulator import cli\n"
        "class Thing: pass\n"
        "def callback(ref):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    for _ in range(10**6): pass\n"
        "def command(args):\n"
        "    thing = Thing(); ref = weakref.ref(thing, callback); del thing\n"
        "    return 0\n"
        'cli.HANDLERS["run"] = command\n'
        'raise SystemExit(cli.main(["run", "any.yaml"]))\n',
    )
    assert process.returncode == 130, process.stderr
    assert "interrupted, too late to stop: the command finished" in process.stderr
    assert "Traceback" not in process.stderr and "Exception ignored" not in process.stderr


def test_main_restores_the_signal_handlers_and_runs_outside_the_main_thread(tmp_path):
    import threading

    from simulator.cli import main

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook
    assert main(["list", "policies"]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook) == before
    statuses = []
    worker = threading.Thread(target=lambda: statuses.append(main(["list", "policies"])))
    worker.start()
    worker.join()
    assert statuses == [0]


def test_an_interrupt_after_publishing_names_what_was_written(tmp_path, monkeypatch, capsys):
    from simulator import cli

    def command(args):
        from simulator.files import lock, staged

        with lock(tmp_path / "out"), staged(tmp_path / "out") as tmp:
            (tmp / "results.txt").write_text("done")
        raise cli.Stopped(signal.SIGTERM)  # arrives after the folder was published

    monkeypatch.setitem(cli.HANDLERS, "run", command)
    assert cli.main(["run", "any.yaml"]) == 143
    assert f"terminated; after writing {tmp_path / 'out'}" in capsys.readouterr().err
    assert (tmp_path / "out" / "results.txt").read_text() == "done"


def test_second_writer_is_refused(tmp_path):
    out = tmp_path / "run"
    lock = tmp_path / ".run.lock"
    lock.write_text(str(os.getppid()))  # a live process holds the folder
    result = simulate(SCENARIOS / "baseline.yaml", "--out", out, check=False)
    assert result.returncode == 2 and "being written by another simulate process" in result.stderr
    assert not out.exists()
    lock.write_text("999999999")  # a stale lock is taken over
    simulate(SCENARIOS / "baseline.yaml", "--out", out, "--quiet")
    assert (out / "results.nc").exists() and not lock.exists()
