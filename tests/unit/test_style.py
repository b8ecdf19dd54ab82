"""Style, as CI enforces it: ruff's chosen rules and its formatting (pyproject.toml, [tool.ruff])."""

import subprocess
import sys

from ..conftest import ROOT, requires

ruff = requires("ruff", "the linter and formatter CI enforces")


def _ruff(*args):
    return subprocess.run([sys.executable, "-m", "ruff", *args], capture_output=True, text=True, cwd=ROOT)


@ruff
def test_ruff_rules_hold():
    result = _ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@ruff
def test_code_is_formatted():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout + result.stderr
