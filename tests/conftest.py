"""Shared fixtures. Paths are relative to the repository root, whatever the working folder."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(__file__).resolve().parent / "models"
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def model():
    from simulator.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def baseline(model):
    import simulator

    return simulator.run(SCENARIOS / "baseline.yaml")
