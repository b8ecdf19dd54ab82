"""The command line's flags, declared: one function per command adds its parser; flag types turn a bad value
into argparse's ``argument --flag: message`` (exit 2)."""

from __future__ import annotations

import argparse
import math


def build_parser() -> argparse.ArgumentParser:
    """``simulate``'s parser: one subcommand per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="simulate",
        description="Hu-Bao-E-Wu regional simulator. `simulate SCENARIO.yaml` runs a scenario and writes "
        "results.nc, CSV files, goals.json, report.md and plots to outputs/<scenario name>/.",
        epilog=f"Commands: {', '.join(COMMANDS)} (run is the default). `simulate COMMAND --help` for each.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"simulate {__version__}")
    sub = parser.add_subparsers(dest="command")
    for add in COMMANDS.values():
        add(sub)
    return parser


def _run(sub):
    """`simulate [run] SCENARIO`"""
    from ..engine.inputs import METHODS

    run = sub.add_parser(
        "run",
        help="run a scenario (the default command)",
        description="Run a scenario and write its outputs atomically.",
    )
    run.add_argument("scenario", help="scenario YAML file")
    _out(run, "outputs/<scenario name>")
    run.add_argument("--method", choices=tuple(METHODS), help="integration method (overrides the scenario)")
    run.add_argument(
        "--dt",
        type=time_step,
        help="time step in years, dividing a year: 1, 0.5, 0.25, 1/12 ... (overrides the scenario)",
    )
    run.add_argument("--runs", type=whole(1), help="Monte Carlo: number of runs (overrides monte_carlo.runs)")
    run.add_argument("--seed", type=whole(0), help="Monte Carlo: random seed (overrides monte_carlo.seed)")
    run.add_argument("--workers", type=whole(1), help="Monte Carlo: threads (local) or Dask workers")
    run.add_argument("--scheduler", help="Monte Carlo on Dask: 'local' (a LocalCluster) or a scheduler address")
    _verbosity(run)


def _compare(sub):
    """`simulate compare A B`"""
    compare = sub.add_parser(
        "compare",
        help="compare two scenarios",
        description="Run two scenarios and write difference tables and plots (B relative to A).",
    )
    compare.add_argument("a", help="scenario A (the reference)")
    compare.add_argument("b", help="scenario B")
    _out(compare, "outputs/compare_<A>_<B>")
    _verbosity(compare)


def _list(sub):
    """`simulate list [WHAT]`"""
    from ..present.catalogue import LISTS

    listing = sub.add_parser("list", help="list scenarios, parameters, policies and variables")
    listing.add_argument("what", nargs="?", default="all", choices=LISTS)


def _describe(sub):
    """`simulate describe NAME`"""
    describe = sub.add_parser("describe", help="show a variable's or parameter's equation, units and source")
    describe.add_argument("name")


def _export(sub):
    """`simulate export SCENARIO --out FILE.mdl`"""
    export = sub.add_parser("export", help="write the model with a scenario's inputs as a Vensim .mdl")
    export.add_argument("scenario")
    export.add_argument("--format", choices=("vensim",), default="vensim")
    export.add_argument("--out", required=True, type=path_text, help="the .mdl file to write (a new file)")
    export.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    export.add_argument("--flat", action="store_true", help="one variable per city instead of subscripts")


def _calibrate(sub):
    """`simulate calibrate CONFIG`"""
    calibrate = sub.add_parser("calibrate", help="fit parameters to the cities' statistics")
    calibrate.add_argument("config", help="calibration configuration YAML (e.g. calibration/baseline.yaml)")
    _out(calibrate, "outputs/calibration_<name>")
    _verbosity(calibrate)


def _backtest(sub):
    """`simulate backtest CONFIG`"""
    from ..inputs.schema import BacktestSettings

    backtest = sub.add_parser("backtest", help="rolling-origin backtest of a calibration against naive forecasts")
    backtest.add_argument("config", help="calibration configuration YAML (e.g. calibration/baseline.yaml)")
    backtest.add_argument(
        "--origins",
        type=whole(1),
        nargs="+",
        default=list(BacktestSettings.origins),
        help="origin years (each calibrated on data up to it; default 2014 2016 2018)",
    )
    backtest.add_argument(
        "--runs", type=whole(10), default=BacktestSettings.runs, help="posterior runs projected per origin"
    )
    backtest.add_argument(
        "--readme",
        action="store_true",
        help="also rewrite README.md's 'How good are the forecasts' table from backtest.json",
    )
    _out(backtest, "outputs/backtest_<name>")
    _verbosity(backtest)


def _sensitivity(sub):
    """`simulate sensitivity SCENARIO`"""
    sensitivity = sub.add_parser("sensitivity", help="Sobol indices of each goal indicator (SALib)")
    sensitivity.add_argument("scenario")
    sensitivity.add_argument(
        "--runs", type=whole(2), default=512, help="base sample size N (runs = N x (k + 2)); a power of 2"
    )
    sensitivity.add_argument("--seed", type=whole(0), default=0)
    _out(sensitivity, "outputs/<scenario name>_sensitivity")
    _verbosity(sensitivity)


def _search(sub):
    """`simulate search SCENARIO`"""
    search = sub.add_parser(
        "search",
        help="policy search: the lever mixes that do best across uncertain futures",
        description="Many-objective search (NSGA-II) over the scenario's search: levers, each "
        "policy scored over the same futures from its uncertain: block. Resumable.",
    )
    search.add_argument("scenario", help="scenario YAML file with a search: block (e.g. scenarios/plan_search.yaml)")
    search.add_argument(
        "--futures", type=whole(1), help="futures each policy is scored over (overrides search.futures)"
    )
    search.add_argument("--generations", type=whole(1), help="generations (overrides search.generations)")
    search.add_argument(
        "--seed", type=whole(0), help="random seed of the futures and the search (overrides search.seed)"
    )
    search.add_argument("--workers", type=whole(1), help="threads")
    _out(search, "outputs/<scenario name>_search")
    _verbosity(search)


def _capacity(sub):
    """`simulate capacity SCENARIO --sector S --city C`"""
    capacity = sub.add_parser(
        "capacity",
        help="what water allows an industry to build in a city, with and without water-rights transfers",
        description="Run a scenario and write, year by year, the "
        "largest capacity of SECTOR the city's industrial water allows (without transfers, "
        "with the run's transfers, with every transferable right) and the industrial water "
        "shadow price.",
    )
    capacity.add_argument("scenario", help="scenario YAML file")
    capacity.add_argument("--sector", required=True, help="coal_chemicals or coal_power")
    capacity.add_argument("--city", required=True, help="hohhot, baotou, ordos or ulanqab")
    _out(capacity, "outputs/<scenario name>_capacity_<sector>_<city>")
    _verbosity(capacity)


def _discover(sub):
    """`simulate discover SCENARIO --goal GOAL`"""
    discover = sub.add_parser(
        "discover",
        help="scenario discovery: the futures in which a goal fails (PRIM)",
        description="Run the scenario's ensemble and find, with PRIM, the region of its uncertain "
        "inputs where a goal fails. Resumable.",
    )
    discover.add_argument(
        "scenario", help="scenario YAML file with an uncertain: block (e.g. scenarios/plan_uncertain.yaml)"
    )
    discover.add_argument("--goal", required=True, help="goal id (see `simulate list goals`)")
    discover.add_argument("--runs", type=whole(10), help="futures (overrides monte_carlo.runs)")
    discover.add_argument("--seed", type=whole(0), help="random seed (overrides monte_carlo.seed)")
    discover.add_argument(
        "--density", type=share, default=0.5, help="least share of failing futures in the box reported (default 0.5)"
    )
    discover.add_argument("--workers", type=whole(1), help="threads")
    _out(discover, "outputs/<scenario name>_discover_<goal>")
    _verbosity(discover)


COMMANDS = {
    "run": _run,
    "compare": _compare,
    "list": _list,
    "describe": _describe,
    "export": _export,
    "calibrate": _calibrate,
    "sensitivity": _sensitivity,
    "backtest": _backtest,
    "search": _search,
    "discover": _discover,
    "capacity": _capacity,
}  # name -> the function that adds its parser


def _out(p, default: str):
    p.add_argument(
        "--out", type=path_text, help=f"output folder (default: {default}); it must be new, empty, or made by simulate"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a folder that also holds other files, replacing only simulate's own outputs there",
    )


# flag types: a bad value is reported by argparse as `argument --flag: message`, exit 2
def whole(least: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
        if value < least or value >= 2**63:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {least} (got {text})")
        return value

    parse.__name__ = f"whole number >= {least}"
    return parse


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number between 0 and 1 (got {text!r})") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a number above 0 and at most 1 (got {text!r})")
    return value


def time_step(text: str) -> float:
    from ..engine.inputs import time_problems

    try:
        parts = text.split("/")
        value = int(parts[0]) / int(parts[1]) if len(parts) == 2 else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"must be a number such as 0.25 or 1/12 (got {text!r})") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number (got {text!r})")
    problems = time_problems(0.0, max(1.0, value), value, value)
    if problems:
        raise argparse.ArgumentTypeError(problems[0])
    return value


def path_text(text: str) -> str:
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError("give a folder path")
    return text


def _verbosity(p):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    group.add_argument("--verbose", "-v", action="store_true", help="print more, and tracebacks of internal errors")
