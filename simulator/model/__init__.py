"""The Hu-Bao-E-Wu regional model, declared as data in this folder (one YAML file per sector).

    demography.yaml  economy.yaml  energy.yaml  water.yaml  constraints.yaml  parameters.yaml

``load_model()`` reads, checks and orders it once per process. ``sector_model()`` builds one sector
alone, with what it reads from the other sectors given as exogenous time paths.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..engine import Model, build, load
from ..engine import expressions as ex
from ..engine.build import expressions_of
from ..engine.declarations import Variable, read_model

MODEL_DIR = Path(__file__).parent
SECTORS = ("demography", "economy", "energy", "water", "constraints")


@lru_cache(maxsize=1)
def load_model() -> Model:
    """The regional model, built from the declarations in simulator/model/."""
    return load(MODEL_DIR)


def sector_model(sector: str, exogenous) -> Model:
    """One sector alone: its own declarations and the parameters, with every variable it reads from
    another sector replaced by a time path taken from ``exogenous`` (a Dataset of a full run).
    Time paths are read by calendar year (engine.inputs.calendar_year): flows and auxiliaries, recorded as
    averages over each year, are that year's values; stocks, recorded at year ends, enter as the mean of
    the year's two ends."""
    full = load_model()
    spec = read_model([MODEL_DIR / "dimensions.yaml", MODEL_DIR / f"{sector}.yaml", MODEL_DIR / "parameters.yaml"])
    needed = set()
    for var in spec.variables.values():
        for _, tree in expressions_of(var):
            needed |= ex.references(tree)
    times = exogenous["time"].values
    for name in sorted(needed - set(spec.variables)):
        source = full.variables[name]
        data = exogenous[name]
        flat = data.values.reshape(len(times), -1)
        if source.kind == "stock":  # the start value stays the instantaneous one
            flat = np.concatenate([flat[:1], 0.5 * (flat[1:] + flat[:-1])])
        points = [(times.copy(), flat[:, k].copy()) for k in range(flat.shape[1])]
        spec.variables[name] = Variable(
            name=name,
            kind="series",
            dims=source.dims,
            units=source.units,
            doc=f"exogenous: {source.doc}",
            source="a full-model run",
            points=points,
            sector="exogenous",
        )
    return build(spec)
