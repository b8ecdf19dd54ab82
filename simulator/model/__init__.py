"""The Hu-Bao-E-Wu regional model, declared as data in this folder (one YAML file per sector).

    demography.yaml  economy.yaml  energy.yaml  water.yaml  constraints.yaml  parameters.yaml

``load_model()`` reads, checks and orders it once per process.
"""

from functools import lru_cache
from pathlib import Path

from ..engine import Model, load

MODEL_DIR = Path(__file__).parent


@lru_cache(maxsize=1)
def load_model() -> Model:
    """The regional model, built from the declarations in simulator/model/."""
    return load(MODEL_DIR)
