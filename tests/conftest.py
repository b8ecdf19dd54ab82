"""Shared fixtures. Paths are relative to the repository root, whatever the working folder."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
MODELS = TESTS / "models"  # small models the engine tests build
BAD_SCENARIOS = TESTS / "bad_scenarios"  # one file per kind of mistake a user makes
SCENARIOS = ROOT / "scenarios"
# main per-city outputs a run must write with units and descriptions (checked in the Dataset and in results.nc)
KEY_OUTPUTS = (
    "population",
    "urban_population",
    "gdp",
    "capital",
    "energy_use",
    "coal_output",
    "coal_cap",
    "co2",
    "water_demand",
    "water_use",
    "water_supply_cap",
    "yellow_river_allocation",
)


def requires(package: str, for_what: str):
    """Skip a test when an optional package is missing, saying which and what it is for."""
    return pytest.mark.skipif(
        importlib.util.find_spec(package) is None,
        reason=f"{package} is not installed ({for_what}); pip install -e '.[test]'",
    )


@pytest.fixture(scope="session")
def model():
    from simulator.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def baseline(model):
    import simulator

    return simulator.run(SCENARIOS / "baseline.yaml")
