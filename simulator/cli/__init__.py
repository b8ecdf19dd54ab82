"""`simulate`: a thin layer that maps flags to the functions doing the work (their modules take typed arguments).

Exit status: 0 success, 2 bad input (a message naming file, line and key, or the flag; nothing written),
1 internal error (a short message; --verbose shows the traceback), 130/143 interrupted.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from .parser import COMMANDS, build_parser


def main(argv=None) -> int:
    """``simulate``: parse the flags, run the command, map errors to exit statuses."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "run")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    with _stop_signals():
        return _dispatch(args)


def _dispatch(args) -> int:
    """Run the command; map errors and stops to exit statuses."""
    from ..errors import InputError, OutputError, SimulationError
    from ..files import PUBLISHED

    PUBLISHED.clear()
    try:
        status = HANDLERS[args.command](args)
        if _received:  # a stop Python could not raise (it came inside a callback, which swallows errors)
            late = "too late to stop: the command finished and wrote all it had to"
            print(f"{Stopped(_received[0])}, {late}", file=sys.stderr)
            return 128 + _received[0]
        return status
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 2
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"error: the simulation failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # Stopped, or a bare one where the caller keeps its own SIGINT handler
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        written = f"after writing {', '.join(map(str, PUBLISHED))}" if PUBLISHED else "no outputs were written"
        print(f"{Stopped(signum)}; {written}", file=sys.stderr)
        return 128 + signum
    except Exception as exc:  # an internal error: short message, traceback on request
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)", file=sys.stderr)
        return 1


class Stopped(KeyboardInterrupt):
    """A stop asked for by a signal, Ctrl-C (SIGINT) or SIGTERM: exit status 128 + the signal's number.

    Not the bare KeyboardInterrupt: when that escapes code run from a string (``exec``, as dataclasses and
    namedtuple do while a module is imported), CPython marks the interrupt unhandled and, at exit, kills
    the process by SIGINT whatever status ``main`` returned; it compares the exact type, so a subclass
    leaves the exit status ours.
    """

    def __init__(self, signum: int):
        super().__init__("interrupted" if signum == signal.SIGINT else "terminated")
        self.signum = signum


_received: list[int] = []  # the stop signals since main started, kept even where Python could not raise


def _stop(signum, frame):
    _received.append(signum)
    raise Stopped(signum)


@contextmanager
def _stop_signals():
    """While a command runs: ``Stopped`` on SIGTERM, and on SIGINT unless it is ignored (a shell's background
    job), and no traceback for a stop Python cannot raise (inside a callback: ``_received`` has it). Nothing
    outside the main thread, where Python allows no signal handler; on leaving, what was there before."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signals.append(signal.SIGINT)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    previous = {signum: handler for signum, handler in previous.items() if handler is not None}  # None: set in C
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None if isinstance(unraisable.exc_value, Stopped) else hook(unraisable)
    for signum in previous:
        signal.signal(signum, _stop)
    try:
        yield
    finally:
        for signum in reversed(previous):
            signal.signal(signum, previous[signum])
        sys.unraisablehook = hook


def _say(args):
    """A ``say`` for a command's progress lines: nothing with --quiet."""
    from ..files import sayer

    return sayer(getattr(args, "quiet", False))


def _out_folder(args, scenario, default: str) -> Path:
    """``--out``, else the run scenario's ``outputs.folder`` (when ``scenario`` is given), else outputs/DEFAULT."""
    if getattr(args, "out", None):
        return Path(args.out)
    if scenario is not None and scenario.outputs.folder:
        return Path(scenario.outputs.folder)
    return Path("outputs") / default


def cmd_run(args) -> int:
    from ..engine.inputs import time_problems
    from ..errors import flag_error
    from ..files import check_target, staging
    from ..inputs.scenario import load_scenario
    from ..model import load_model

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    grid = scenario.time
    problems = time_problems(grid.start, grid.end, args.dt, grid.save) if args.dt is not None else []
    if problems:
        raise flag_error(
            "--dt", f"{problems[0]} (the scenario runs {grid.start:g}-{grid.end:g}, saving every {grid.save:g} years)"
        )
    folder = _out_folder(args, scenario, scenario.name)
    check_target(folder, args.overwrite, "--out" if args.out else "output folder")
    asked = (
        "--runs"
        if args.runs is not None
        else "--scheduler"
        if args.scheduler
        else "monte_carlo"
        if scenario.data.get("monte_carlo")
        else None
    )
    if asked and not scenario.uncertain:
        raise flag_error(
            asked if asked != "monte_carlo" else str(scenario.path),
            f"{scenario.path} has no uncertain inputs, so every Monte Carlo run would be the same run; "
            f"add an uncertain: block (for example extends: baseline_uncertain.yaml) or drop {asked}",
        )
    ensemble = bool(scenario.uncertain)
    if ensemble:
        from ..analysis.ensemble import EnsembleOptions, run_ensemble_outputs

        options = EnsembleOptions(
            runs=args.runs,
            seed=args.seed,
            workers=args.workers,
            scheduler=args.scheduler,
            method=args.method,
            dt=args.dt,
            overwrite=args.overwrite,
            quiet=getattr(args, "quiet", False),
        )
        return run_ensemble_outputs(model, scenario, folder, options)
    from ..present.run_outputs import summary, write_run

    with staging(folder, args.overwrite) as tmp:
        started = time.perf_counter()
        ds, goals = write_run(tmp, model, scenario, method=args.method, dt=args.dt, say=_say(args))
        elapsed = time.perf_counter() - started
    _say(args)(summary(ds, goals, scenario, folder, elapsed))
    return 0


def cmd_compare(args) -> int:
    from ..inputs.scenario import load_scenario
    from ..model import load_model
    from ..present.compare import compare_outputs

    model = load_model()
    a, b = load_scenario(args.a, model), load_scenario(args.b, model)
    folder = _out_folder(args, None, f"compare_{a.name}_{b.name}")
    compare_outputs(a, b, folder, args.overwrite, _say(args))
    return 0


def cmd_list(args) -> int:
    from ..model import load_model
    from ..present.catalogue import listing

    print(listing(load_model(), args.what))
    return 0


def cmd_describe(args) -> int:
    from ..model import load_model
    from ..present.catalogue import description

    print(
        description(
            load_model(), args.name, baseline=Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"
        )
    )
    return 0


def _scenario(args, folder_name: str = ""):
    """(model, scenario, output folder) for a command on ``args.scenario``: ``--out``, else
    outputs/<scenario name><folder_name>."""
    from ..inputs.scenario import load_scenario
    from ..model import load_model

    model = load_model()
    scenario = load_scenario(args.scenario, model)
    return model, scenario, _out_folder(args, None, f"{scenario.name}{folder_name}")


def cmd_export(args) -> int:
    from ..interop.vensim import write_vensim

    model, scenario, _ = _scenario(args)
    write_vensim(model, scenario, Path(args.out), flat=args.flat, overwrite=args.overwrite)
    print(
        f"wrote {args.out} ({'flat' if args.flat else 'subscripted'}, {len(model.variables)} variables, "
        f"{scenario.time.start:g}-{scenario.time.end:g}, dt {scenario.time.dt:g})"
    )
    return 0


def cmd_calibrate(args) -> int:
    from ..analysis.calibrate import calibration_outputs

    calibration_outputs(Path(args.config), Path(args.out) if args.out else None, args.overwrite, _say(args))
    return 0


def cmd_backtest(args) -> int:
    from ..analysis.backtest import run_backtest

    run_backtest(
        Path(args.config),
        origins=tuple(args.origins),
        runs=args.runs,
        out=Path(args.out) if args.out else None,
        readme=args.readme,
        say=_say(args),
        overwrite=args.overwrite,
    )
    return 0


def cmd_sensitivity(args) -> int:
    from ..analysis.sensitivity import sensitivity_outputs

    model, scenario, folder = _scenario(args, "_sensitivity")
    return sensitivity_outputs(
        model, scenario, folder, runs=args.runs, seed=args.seed, overwrite=args.overwrite, quiet=args.quiet
    )


def cmd_search(args) -> int:
    from ..analysis.search import SearchOptions, search_outputs

    model, scenario, folder = _scenario(args, "_search")
    return search_outputs(
        model,
        scenario,
        folder,
        SearchOptions(
            futures=args.futures,
            generations=args.generations,
            seed=args.seed,
            workers=args.workers,
            overwrite=args.overwrite,
            quiet=args.quiet,
        ),
    )


def cmd_discover(args) -> int:
    from ..analysis.discover import DiscoverOptions, discover_outputs

    model, scenario, folder = _scenario(args, f"_discover_{args.goal}")
    return discover_outputs(
        model,
        scenario,
        folder,
        DiscoverOptions(
            goal=args.goal,
            runs=args.runs,
            seed=args.seed,
            density=args.density,
            workers=args.workers,
            overwrite=args.overwrite,
            quiet=args.quiet,
        ),
    )


def cmd_capacity(args) -> int:
    from ..analysis.capacity import capacity_outputs

    model, scenario, folder = _scenario(args, f"_capacity_{args.sector}_{args.city}")
    return capacity_outputs(model, scenario, folder, args.sector, args.city, overwrite=args.overwrite, quiet=args.quiet)


HANDLERS = {name: globals()[f"cmd_{name}"] for name in COMMANDS}  # every command the parser declares
