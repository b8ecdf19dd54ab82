"""The Python API: a scenario in, an xarray Dataset out."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
import yaml

from . import goals as goals_module
from .engine import TimeGrid, simulate, to_dataset
from .inputs.scenario import Scenario, load_scenario
from .model import load_model


def as_scenario(scenario) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario, load_model())


def portable_path(path: str) -> str:
    """A path relative to the working folder (so outputs name no absolute path of the machine)."""
    import os

    try:
        return os.path.relpath(path)
    except ValueError:
        return Path(path).name


def resolved_yaml(scenario: Scenario) -> str:
    """The scenario as run: its merged keys (extends applied) as YAML text."""

    def plain(x):
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [plain(v) for v in x]
        return x

    data = plain({k: v for k, v in scenario.data.items() if k != "extends"})
    if isinstance(data.get("parameters_from"), str):  # never a path of this machine
        data["parameters_from"] = portable_path(data["parameters_from"])
    posterior = data.get("uncertain", {}).get("posterior") if isinstance(data.get("uncertain"), dict) else None
    if isinstance(posterior, dict) and isinstance(posterior.get("draws"), str):
        posterior["draws"] = portable_path(posterior["draws"])

    data.setdefault("time", {})
    data["time"] = {
        "start": scenario.time.start,
        "end": scenario.time.end,
        "dt": scenario.time.dt,
        "save": scenario.time.save,
        "method": scenario.method,
    }
    from . import __version__

    stamp = f"# resolved by simulate {__version__}; paths are relative to the folder it ran in\n"
    return stamp + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def recorded_variables(model, scenario: Scenario, chosen, every_limit_variable: bool = True) -> list[str]:
    """What a run must record: the chosen variables, and whatever the goals, the binding report and the
    plausibility guards read (outputs.variables limits what is written, not what is checked). Ensembles
    record only each limit's binding indicator (``every_limit_variable=False``)."""
    from .analysis.plausibility import guarded
    from .model.limits import LIMITS

    goals = goals_module.load_goals(scenario.goals)
    needed = goals_module.indicator_variables(goals)
    needed += [name for limit in LIMITS for name in (limit.variables() if every_limit_variable else [limit.binding])]
    needed += guarded(model)
    return list(dict.fromkeys([*chosen, *(n for n in needed if n and n in model.variables)]))


def run(
    scenario, *, method: str | None = None, dt: float | None = None, variables=None, n_threads: int | None = None
) -> xr.Dataset:
    """Run one scenario (a path or a Scenario) and return its trajectories.

    The Dataset has dims ``time`` (years) and ``city`` (and ``sector``, ``other`` where a variable has
    them); every variable carries ``units``, ``description`` and ``source`` attributes. ``method`` and
    ``dt`` override the scenario's integration settings.
    """
    model = load_model()
    scenario = as_scenario(scenario)
    grid = (
        scenario.time if dt is None else TimeGrid(scenario.time.start, scenario.time.end, float(dt), scenario.time.save)
    )
    method = method or scenario.method
    variables = variables or scenario.outputs.variables
    if variables is not None:
        variables = recorded_variables(model, scenario, variables)
    result = simulate(model, scenario.inputs(model), grid, method, record=variables, n_threads=n_threads)
    ds = to_dataset(result)
    ds.attrs.update(
        {
            "scenario": scenario.name,
            "scenario_description": scenario.description,
            "scenario_resolved": resolved_yaml(scenario),
            "scenario_file": str(Path(scenario.path).name) if scenario.path else "",
        }
    )
    return ds


def evaluate_goals(ds: xr.Dataset, scenario: Scenario | None = None) -> list[dict]:
    """The plan's goals evaluated on a run (or an ensemble), as selected by the scenario."""
    return goals_module.evaluate(ds, goals_module.load_goals(scenario.goals if scenario else None))
