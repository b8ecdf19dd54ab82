"""Hu-Bao-E-Wu regional simulator: a system-dynamics model of Hohhot, Baotou, Ordos and Ulanqab.

For notebooks:

    import simulator
    scenario = simulator.load_scenario("scenarios/baseline.yaml")
    ds = simulator.run(scenario)                 # xarray.Dataset: time x city, units on every variable
    simulator.plots.trajectories(ds, "gdp")

Data flows one way: scenario YAML -> Scenario -> arrays -> numba kernel -> Dataset -> outputs.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .api import evaluate_goals, run
from .inputs.scenario import Scenario, load_scenario
from .model import load_model

__all__ = ["Scenario", "evaluate_goals", "load_model", "load_scenario", "run", "run_ensemble"]


def run_ensemble(scenario, runs=None, seed=None, folder=None, workers=None, scheduler=None, progress=False):
    """Run a scenario's Monte Carlo ensemble; see simulator.analysis.ensemble.run_ensemble (imported on first use,
    so that single runs do not pay for scipy.stats and zarr)."""
    from .analysis.ensemble import run_ensemble as run

    return run(scenario, runs=runs, seed=seed, folder=folder, workers=workers, scheduler=scheduler, progress=progress)


try:
    __version__ = _version("hubaoewu-simulator")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"


def __getattr__(name):
    """``simulator.plots`` and ``simulator.ensemble`` on first use (they import matplotlib and scipy)."""
    lazy = {"plots": ".present.plots", "ensemble": ".analysis.ensemble", "report": ".present.report"}
    if name in lazy:
        import importlib

        return importlib.import_module(lazy[name], __name__)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
