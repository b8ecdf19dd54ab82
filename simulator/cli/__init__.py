"""`simulate`: run scenarios and write their outputs; compare, list, describe, export, calibrate.

Exit status: 0 success, 2 bad input (a message naming file, line and key; nothing written),
1 internal error (a short message; --verbose shows the traceback), 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
import traceback
from pathlib import Path

COMMANDS = ("run", "compare", "list", "describe", "export", "calibrate", "sensitivity", "backtest", "search",
            "discover", "capacity")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simulate",
        description="Hu-Bao-E-Wu regional simulator. `simulate SCENARIO.yaml` runs a scenario and writes "
                    "results.nc, CSV files, goals.json, report.md and plots to outputs/<scenario name>/.",
        epilog="Commands: run (the default), compare, list, describe, export, calibrate, sensitivity, backtest, "
               "search, discover, capacity. "
               "`simulate COMMAND --help` for each.")
    from .. import __version__
    from ..engine.inputs import METHODS

    parser.add_argument("--version", action="version", version=f"simulate {__version__}")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run a scenario (the default command)",
                         description="Run a scenario and write its outputs atomically.")
    run.add_argument("scenario", help="scenario YAML file")
    _out(run, "outputs/<scenario name>")
    run.add_argument("--method", choices=tuple(METHODS), help="integration method (overrides the scenario)")
    run.add_argument("--dt", type=time_step, help="time step in years, dividing a year: 1, 0.5, 0.25, 1/12 ... "
                                                  "(overrides the scenario)")
    run.add_argument("--runs", type=whole(1), help="Monte Carlo: number of runs (overrides monte_carlo.runs)")
    run.add_argument("--seed", type=whole(0), help="Monte Carlo: random seed (overrides monte_carlo.seed)")
    run.add_argument("--workers", type=whole(1), help="Monte Carlo: threads (local) or Dask workers")
    run.add_argument("--scheduler", help="Monte Carlo on Dask: 'local' (a LocalCluster) or a scheduler address")
    _verbosity(run)

    compare = sub.add_parser("compare", help="compare two scenarios", description="Run two scenarios and write "
                             "difference tables and plots (B relative to A).")
    compare.add_argument("a", help="scenario A (the reference)")
    compare.add_argument("b", help="scenario B")
    _out(compare, "outputs/compare_<A>_<B>")
    _verbosity(compare)

    listing = sub.add_parser("list", help="list scenarios, parameters, policies and variables")
    listing.add_argument("what", nargs="?", default="all",
                         choices=("all", "scenarios", "parameters", "policies", "variables", "goals"))

    describe = sub.add_parser("describe", help="show a variable's or parameter's equation, units and source")
    describe.add_argument("name")

    export = sub.add_parser("export", help="write the model with a scenario's inputs as a Vensim .mdl")
    export.add_argument("scenario")
    export.add_argument("--format", choices=("vensim",), default="vensim")
    export.add_argument("--out", required=True, type=path_text, help="the .mdl file to write (a new file)")
    export.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    export.add_argument("--flat", action="store_true", help="one variable per city instead of subscripts")

    calibrate = sub.add_parser("calibrate", help="fit parameters to the cities' statistics")
    calibrate.add_argument("config", help="calibration configuration YAML (e.g. calibration/baseline.yaml)")
    _out(calibrate, "outputs/calibration_<name>")
    _verbosity(calibrate)

    backtest = sub.add_parser("backtest", help="rolling-origin backtest of a calibration against naive forecasts")
    backtest.add_argument("config", help="calibration configuration YAML (e.g. calibration/baseline.yaml)")
    backtest.add_argument("--origins", type=whole(1), nargs="+", default=[2014, 2016, 2018],
                          help="origin years (each calibrated on data up to it; default 2014 2016 2018)")
    backtest.add_argument("--runs", type=whole(10), default=400, help="posterior runs projected per origin")
    backtest.add_argument("--readme", action="store_true",
                          help="also rewrite README.md's 'How good are the forecasts' table from backtest.json")
    _out(backtest, "outputs/backtest_<name>")
    _verbosity(backtest)

    sensitivity = sub.add_parser("sensitivity", help="Sobol indices of each goal indicator (SALib)")
    sensitivity.add_argument("scenario")
    sensitivity.add_argument("--runs", type=whole(2), default=512, help="base sample size N (runs = N x (k + 2)); "
                             "a power of 2")
    sensitivity.add_argument("--seed", type=whole(0), default=0)
    _out(sensitivity, "outputs/<scenario name>_sensitivity")
    _verbosity(sensitivity)

    search = sub.add_parser("search", help="policy search: the lever mixes that do best across uncertain futures",
                            description="Many-objective search (NSGA-II) over the scenario's search: levers, each "
                                        "policy scored over the same futures from its uncertain: block. Resumable.")
    search.add_argument("scenario", help="scenario YAML file with a search: block (e.g. scenarios/plan_search.yaml)")
    search.add_argument("--futures", type=whole(1), help="futures each policy is scored over (overrides search.futures)")
    search.add_argument("--generations", type=whole(1), help="generations (overrides search.generations)")
    search.add_argument("--seed", type=whole(0), help="random seed of the futures and the search (overrides search.seed)")
    search.add_argument("--workers", type=whole(1), help="threads")
    _out(search, "outputs/<scenario name>_search")
    _verbosity(search)

    capacity = sub.add_parser("capacity", help="what water allows an industry to build in a city, with and without "
                              "water-rights transfers", description="Run a scenario and write, year by year, the "
                              "largest capacity of SECTOR the city's industrial water allows (without transfers, "
                              "with the run's transfers, with every transferable right) and the industrial water "
                              "shadow price.")
    capacity.add_argument("scenario", help="scenario YAML file")
    capacity.add_argument("--sector", required=True, help="coal_chemicals or coal_power")
    capacity.add_argument("--city", required=True, help="hohhot, baotou, ordos or ulanqab")
    _out(capacity, "outputs/<scenario name>_capacity_<sector>_<city>")
    _verbosity(capacity)

    discover = sub.add_parser("discover", help="scenario discovery: the futures in which a goal fails (PRIM)",
                              description="Run the scenario's ensemble and find, with PRIM, the region of its uncertain "
                                          "inputs where a goal fails. Resumable.")
    discover.add_argument("scenario", help="scenario YAML file with an uncertain: block (e.g. scenarios/plan_uncertain.yaml)")
    discover.add_argument("--goal", required=True, help="goal id (see `simulate list goals`)")
    discover.add_argument("--runs", type=whole(10), help="futures (overrides monte_carlo.runs)")
    discover.add_argument("--seed", type=whole(0), help="random seed (overrides monte_carlo.seed)")
    discover.add_argument("--density", type=share, default=0.5,
                          help="least share of failing futures in the box reported (default 0.5)")
    discover.add_argument("--workers", type=whole(1), help="threads")
    _out(discover, "outputs/<scenario name>_discover_<goal>")
    _verbosity(discover)
    return parser


def _out(p, default: str):
    p.add_argument("--out", type=path_text, help=f"output folder (default: {default}); it must be new, empty, or "
                   "made by simulate")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a folder that also holds other files, replacing only simulate's own outputs there")


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


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "run")
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    from ..errors import InputError, OutputError, SimulationError

    try:
        return {"run": cmd_run, "compare": cmd_compare, "list": cmd_list, "describe": cmd_describe,
                "export": cmd_export, "calibrate": cmd_calibrate, "sensitivity": cmd_sensitivity,
                "backtest": cmd_backtest, "search": cmd_search, "discover": cmd_discover,
                "capacity": cmd_capacity}[args.command](args)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 2
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"error: the simulation failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; no outputs were written", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if exc.code == 143:
            print("terminated; no outputs were written", file=sys.stderr)
        raise
    except Exception as exc:  # an internal error: short message, traceback on request
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)", file=sys.stderr)
        return 1


def _terminate(signum, frame):
    raise SystemExit(143)


def _say(args, *text):
    if not getattr(args, "quiet", False):
        print(*text, flush=True)


def _sayer(args):
    """A ``say`` for a domain function: prints its progress lines unless --quiet."""
    return lambda *text: _say(args, *text)


def _out_folder(args, scenario, default: str) -> Path:
    if getattr(args, "out", None):
        return Path(args.out)
    if scenario is not None and scenario.outputs.get("folder"):
        return Path(scenario.outputs["folder"])
    return Path("outputs") / default


# ------------------------------------------------------------------------------------------------
# run


def cmd_run(args) -> int:
    from ..engine.inputs import time_problems
    from ..errors import flag_error
    from ..model import load_model
    from ..present.outputs import check_target, staging
    from ..inputs.scenario import load_scenario

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    grid = scenario.time
    problems = time_problems(grid.start, grid.end, args.dt, grid.save) if args.dt is not None else []
    if problems:
        raise flag_error("--dt", f"{problems[0]} (the scenario runs {grid.start:g}-{grid.end:g}, saving every "
                                 f"{grid.save:g} years)")
    folder = _out_folder(args, scenario, scenario.name)
    check_target(folder, args.overwrite, "--out" if args.out else "output folder")
    asked = "--runs" if args.runs is not None else "--scheduler" if args.scheduler else \
        "monte_carlo" if scenario.data.get("monte_carlo") else None
    if asked and not scenario.uncertain:
        raise flag_error(asked if asked != "monte_carlo" else str(scenario.path),
                         f"{scenario.path} has no uncertain inputs, so every Monte Carlo run would be the same run; "
                         f"add an uncertain: block (for example extends: baseline_uncertain.yaml) or drop {asked}")
    ensemble = bool(scenario.uncertain)
    if ensemble:
        from ..analysis.ensemble import EnsembleOptions, run_ensemble_outputs

        options = EnsembleOptions(runs=args.runs, seed=args.seed, workers=args.workers, scheduler=args.scheduler,
                                  method=args.method, dt=args.dt, overwrite=args.overwrite,
                                  quiet=getattr(args, "quiet", False))
        return run_ensemble_outputs(model, scenario, folder, options)
    with staging(folder, args.overwrite) as tmp:
        started = time.perf_counter()
        ds, goals = write_run(tmp, model, scenario, method=args.method, dt=args.dt, say=_sayer(args))
        elapsed = time.perf_counter() - started
    _say(args, summary(ds, goals, scenario, folder, elapsed))
    return 0


def write_run(folder: Path, model, scenario, method=None, dt=None, say=print):
    """Run one scenario and write all its outputs into ``folder``. Returns (dataset, goals)."""
    from ..present import plots
    from ..api import resolved_yaml, run
    from ..present.goals import evaluate, load_goals
    from ..present.outputs import write_csv, write_json, write_netcdf
    from ..analysis.plausibility import messages
    from ..present.report import write_report
    from ..analysis.shadow import dynamic_shadow_prices

    say(f"running {scenario.name} ({scenario.time.start:g}-{scenario.time.end:g}) ...")
    ds = run(scenario, method=method, dt=dt)
    goals = evaluate(ds, load_goals(scenario.goals))
    warnings = messages(model, ds)
    for line in warnings:
        say(f"warning: {line}")
    chosen = scenario.outputs.get("variables")
    written = ds[[v for v in ds.data_vars if v in chosen]] if chosen else ds
    formats = scenario.outputs.get("formats") or []
    (folder / "scenario.resolved.yaml").write_text(resolved_yaml(scenario), encoding="utf-8")
    write_json(goals, folder / "goals.json")
    if "netcdf" in formats:
        write_netcdf(written, folder / "results.nc")
    if "csv" in formats:
        write_csv(written, folder / "csv")
    if "report" in formats:
        prices = dynamic_shadow_prices(model, scenario, ds)
        if prices:
            write_json(prices, folder / "shadow_prices.json")
        extra = ["## Plausibility", "", "This run leaves the plausible range the model declares for:", "",
                 *(f"- {line}" for line in warnings), ""] if warnings else None
        write_report(folder / "report.md", ds, scenario, goals, prices, extra=extra)
    if "plots" in formats:
        plots.trajectories(ds, path=folder / "trajectories.png")
        plots.binding_timeline(ds, path=folder / "binding.png")
        plots.goal_dashboard(goals, path=folder / "goals.png", title=f"Plan goals: {scenario.name}")
        if "residents" in written:
            plots.pyramids(written, path=folder / "pyramids.png")
        if {"residents", "urban_residents"} <= set(written):
            plots.town_and_country(written, path=folder / "town_and_country.png")
    return ds, goals


def summary(ds, goals, scenario, folder, elapsed) -> str:
    from ..model.limits import LIMITS

    lines = [f"{scenario.name}: done in {elapsed:.1f} s; outputs in {folder}/"]
    for g in goals:
        if g.get("value") is None:
            lines.append(f"  {g['id']:<30} not evaluated")
            continue
        lines.append(f"  {g['id']:<30} {format_goal_value(g)}  target {g['comparison']} "
                     f"{format_goal_value(g, g['target'])}  {'met' if g['met'] else 'NOT met'}")
    binding = []
    for limit in LIMITS:
        for city in ds["city"].values:
            years = ds["time"].values[ds[limit.binding].sel(city=city).values > 0.5]
            years = years[years > ds["time"].values[0]]
            if len(years):
                binding.append(f"{limit.label} in {city} ({years[0]:g}-{years[-1]:g})")
    lines.append("  binding limits: " + (", ".join(binding) if binding else "none"))
    return "\n".join(lines)


def format_goal_value(goal: dict, value=None) -> str:
    """A goal's value (or target) as the terminal prints it: as the report does (percent, ratio or year)."""
    from ..present.report import goal_number

    return goal_number(goal, goal["value"] if value is None else value)


# ------------------------------------------------------------------------------------------------
# compare


def cmd_compare(args) -> int:
    from ..present import plots
    from ..api import run
    from ..errors import flag_error
    from ..present.goals import evaluate, load_goals
    from ..model import load_model
    from ..present.outputs import staging, write_json
    from ..present.report import indicators_table
    from ..inputs.scenario import load_scenario

    model = load_model()
    a = load_scenario(args.a, model)
    b = load_scenario(args.b, model)
    if (a.time.start, a.time.save) != (b.time.start, b.time.save):
        raise flag_error(args.b, f"starts in {b.time.start:g} saving every {b.time.save:g} years, but {args.a} starts "
                                 f"in {a.time.start:g} saving every {a.time.save:g} years; compare scenarios that "
                                 "start in the same year on the same output interval")
    folder = Path(args.out) if args.out else Path("outputs") / f"compare_{a.name}_{b.name}"
    with staging(folder, args.overwrite) as tmp:  # checks the folder before any work
        _say(args, f"running {a.name} and {b.name} ...")
        da, db = run(a), run(b)
        ga, gb = evaluate(da, load_goals(a.goals)), evaluate(db, load_goals(b.goals))
        rows = ["variable,units,city,year,A,B,difference,relative_difference"]
        common = [v for v in ("population", "urban_population", "gdp", "energy_use", "co2", "coal_output",
                              "water_demand", "water_use", "groundwater_storage") if v in da and v in db]
        years = [t for t in da["time"].values if t in db["time"].values]
        for name in common:
            for city in da["city"].values:
                for year in years:
                    x, y = float(da[name].sel(city=city, time=year)), float(db[name].sel(city=city, time=year))
                    rel = (y - x) / x if x else float("nan")
                    rows.append(f"{name},{da[name].attrs['units']},{city},{year:g},{x:.6g},{y:.6g},{y - x:.6g},{rel:.6g}")
        (tmp / "differences.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        write_json({"A": a.name, "B": b.name, "goals_A": ga, "goals_B": gb}, tmp / "goals.json")
        lines = [f"# `{b.name}` compared with `{a.name}`", "", "## Goals", "",
                 "| goal | A value | A met | B value | B met |", "|---|---|---|---|---|"]
        for x, y in zip(ga, gb):
            def show(g):
                return ("–", "–") if g.get("value") is None else (format_goal_value(g), "yes" if g["met"] else "no")
            lines.append(f"| {x['id']} | {' | '.join(show(x))} | {' | '.join(show(y))} |")
        lines += ["", f"## Key indicators: {a.name}", "", *indicators_table(da), "",
                  f"## Key indicators: {b.name}", "", *indicators_table(db), "",
                  "Differences per variable, city and year: differences.csv.", ""]
        (tmp / "report.md").write_text("\n".join(lines), encoding="utf-8")
        plots.compare(da, db, path=tmp / "compare.png")
    _say(args, f"comparison written to {folder}/")
    for x, y in zip(ga, gb):
        if x.get("value") is not None and y.get("value") is not None:
            _say(args, f"  {x['id']:<30} A {format_goal_value(x):>10} ({'met' if x['met'] else 'not met'})   "
                       f"B {format_goal_value(y):>10} ({'met' if y['met'] else 'not met'})")
    return 0


# ------------------------------------------------------------------------------------------------
# list and describe


def cmd_list(args) -> int:
    from ..present.goals import load_goals
    from ..model import load_model

    model = load_model()
    what = args.what
    out = []
    if what in ("all", "scenarios"):
        out.append("Scenarios (scenarios/):")
        folder = Path("scenarios")
        import yaml

        for path in sorted(folder.glob("*.yaml")) if folder.exists() else []:
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                desc = " ".join(str(data.get("description", "")).split())
            except yaml.YAMLError:
                desc = "(not valid YAML)"
            out.append(f"  {path}  {desc}")
        out.append("")
    if what in ("all", "parameters"):
        out.append("Parameters (set under `parameters:`): name [units] default  status  source")
        for name in model.parameters:
            v = model.variables[name]
            out.append(f"  {name} [{v.units}] {_compact(v.value)}  {v.status}  {' '.join(v.source.split())[:90]}")
        out.append("")
    if what in ("all", "policies"):
        out.append("Policies and time paths (set under `policies:`, by calendar year): name [units] default path  "
                   "status  source")
        for name in model.series:
            v = model.variables[name]
            xs, ys = v.points[0]
            path = ", ".join(f"{x:g}: {y:g}" for x, y in list(zip(xs, ys))[:4]) + (", ..." if len(xs) > 4 else "")
            more = " (first element)" if len(v.points) > 1 else ""
            out.append(f"  {name} [{v.units}] {{{path}}}{more}  {v.status}  {' '.join(v.source.split())[:90]}")
        out.append("")
    if what in ("all", "variables"):
        out.append("Variables (outputs): name [units] kind dims  description")
        for v in model.declared():
            if v.kind in ("stock", "flow", "aux"):
                dims = f"({', '.join(v.dims)})" if v.dims else "()"
                out.append(f"  {v.name} [{v.units}] {v.kind} {dims}  {v.doc}")
        out.append("")
    if what in ("all", "goals"):
        out.append("Goals:")
        for g in load_goals():
            out.append(f"  {g['id']}: {g['description']} ({g['comparison']} {g['target']})")
    print("\n".join(out))
    return 0


def _compact(value) -> str:
    import numpy as np

    flat = np.asarray(value).ravel()
    if len(flat) and np.all(flat == flat[0]):
        return f"{flat[0]:g}"
    return "[" + ", ".join(f"{x:g}" for x in flat[:6]) + (", ..." if len(flat) > 6 else "") + "]"


def _calibrated(model) -> dict:
    """The baseline's calibrated parameter values, if the shipped baseline scenario is at hand."""
    from ..errors import InputError
    from ..inputs.scenario import load_scenario

    baseline = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"
    try:
        return load_scenario(baseline, model).fitted if baseline.exists() else {}
    except InputError:
        return {}


def cmd_describe(args) -> int:
    from ..engine import expressions as ex
    from ..engine.build import expressions_of
    from ..errors import InputError, Problem
    from ..model import load_model

    model = load_model()
    var = model.variables.get(args.name)
    if var is None or var.hidden:
        import difflib

        close = difflib.get_close_matches(args.name, [v.name for v in model.declared()], n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(Problem("describe", None, args.name, f"no variable or parameter of that name{hint}"))
    lines = [f"{var.name}  ({var.kind}, sector {var.sector}, declared in {var.file}:{var.line})",
             f"  units:       {var.units}",
             f"  dims:        {', '.join(var.dims) or '(scalar)'}",
             f"  description: {var.doc}"]
    if var.source:
        lines.append(f"  source:      {' '.join(var.source.split())}")
    if var.status:
        lines.append(f"  status:      {var.status}")
    for role, tree in expressions_of(var):
        lines.append(f"  {role + ':':<12} {ex.to_text(tree)}")
    if var.kind == "stock":
        if var.inflows:
            lines.append(f"  inflows:     {', '.join(var.inflows)}")
        if var.outflows:
            lines.append(f"  outflows:    {', '.join(var.outflows)}")
        lines.append(f"  non-negative: {var.nonnegative}")
    if var.kind == "parameter":
        lines.append(f"  declared:    {_compact(var.value)}")
        fitted = _calibrated(model).get(var.name)
        if fitted is not None:
            lines.append(f"  calibrated:  {_compact(fitted)}  (the baseline's value: calibration/fitted/baseline.yaml)")
    if var.kind in ("series", "lookup"):
        for k, (xs, ys) in enumerate(var.points):
            label = model.element_label(var.name, k)
            lines.append(f"  points {label}: " + ", ".join(f"{x:g}: {y:g}" for x, y in zip(xs, ys)))
    if var.bounds:
        lines.append(f"  bounds:      {list(var.bounds)}")
    if var.range is not None:
        lines.append(f"  range:       {_compact(var.range.reshape(-1, 2)[:, 0])} to {_compact(var.range.reshape(-1, 2)[:, 1])}")
    users = sorted(n for n, v in model.variables.items() if not v.hidden and any(
        var.name in ex.references(t) for _, t in expressions_of(v)) or var.name in v.inflows + v.outflows)
    if users:
        lines.append(f"  used by:     {', '.join(users)}")
    print("\n".join(lines))
    return 0


# ------------------------------------------------------------------------------------------------
# commands implemented in their own modules


def cmd_export(args) -> int:
    from ..interop.vensim import write_vensim
    from ..model import load_model
    from ..inputs.scenario import load_scenario

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    write_vensim(model, scenario, Path(args.out), flat=args.flat, overwrite=args.overwrite)
    print(f"wrote {args.out} ({'flat' if args.flat else 'subscripted'}, {len(model.variables)} variables, "
          f"{scenario.time.start:g}-{scenario.time.end:g}, dt {scenario.time.dt:g})")
    return 0


def cmd_calibrate(args) -> int:
    from ..analysis.calibrate import calibration_outputs

    calibration_outputs(Path(args.config), Path(args.out) if args.out else None, args.overwrite, _sayer(args))
    return 0


def cmd_backtest(args) -> int:
    from ..analysis.backtest import run_backtest

    run_backtest(Path(args.config), origins=tuple(args.origins), runs=args.runs,
                 out=Path(args.out) if args.out else None, readme=args.readme, say=_sayer(args), overwrite=args.overwrite)
    return 0


def cmd_sensitivity(args) -> int:
    from ..analysis.ensemble import sensitivity_outputs
    from ..model import load_model
    from ..inputs.scenario import load_scenario

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    folder = Path(args.out) if args.out else Path("outputs") / f"{scenario.name}_sensitivity"
    return sensitivity_outputs(model, scenario, folder, runs=args.runs, seed=args.seed, overwrite=args.overwrite,
                               quiet=args.quiet)


def cmd_search(args) -> int:
    from ..model import load_model
    from ..inputs.scenario import load_scenario
    from ..analysis.search import SearchOptions, search_outputs

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    folder = Path(args.out) if args.out else Path("outputs") / f"{scenario.name}_search"
    return search_outputs(model, scenario, folder, SearchOptions(
        futures=args.futures, generations=args.generations, seed=args.seed, workers=args.workers,
        overwrite=args.overwrite, quiet=args.quiet))


def cmd_discover(args) -> int:
    from ..analysis.discover import DiscoverOptions, discover_outputs
    from ..model import load_model
    from ..inputs.scenario import load_scenario

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    folder = Path(args.out) if args.out else Path("outputs") / f"{scenario.name}_discover_{args.goal}"
    return discover_outputs(model, scenario, folder, DiscoverOptions(
        goal=args.goal, runs=args.runs, seed=args.seed, density=args.density, workers=args.workers,
        overwrite=args.overwrite, quiet=args.quiet))


def cmd_capacity(args) -> int:
    from ..analysis.capacity import capacity_outputs
    from ..model import load_model
    from ..inputs.scenario import load_scenario

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    folder = Path(args.out) if args.out else Path("outputs") / f"{scenario.name}_capacity_{args.sector}_{args.city}"
    return capacity_outputs(model, scenario, folder, args.sector, args.city, overwrite=args.overwrite,
                            quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
