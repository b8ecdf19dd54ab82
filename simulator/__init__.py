"""Hu-Bao-E-Wu regional simulator: a system-dynamics model of Hohhot, Baotou, Ordos and Ulanqab.

For notebooks:

    import simulator
    scenario = simulator.load_scenario("scenarios/baseline.yaml")
    ds = simulator.run(scenario)                 # xarray.Dataset: time x city, units on every variable
    simulator.plots.trajectories(ds, "gdp")

Data flows one way: scenario YAML -> Scenario -> arrays -> numba kernel -> Dataset -> outputs.
"""

from .api import evaluate_goals, run
from .ensemble import run_ensemble
from .model import load_model
from .scenario import Scenario, load_scenario

__all__ = ["Scenario", "evaluate_goals", "load_model", "load_scenario", "run", "run_ensemble"]
__version__ = "0.1.0"
