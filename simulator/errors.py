"""Errors that say what to fix.

Every problem a user can cause carries the file, the line and the key path, and is printed as
``FILE:LINE: key.path: message``. Several problems are collected and reported together.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


def did_you_mean(name, candidates) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``candidates``, or nothing: to end a message with."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class InputError(Exception):
    """Bad user input (a scenario, a model file, a calibration file). The CLI exits with status 2."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def flag_error(flag: str, message: str) -> InputError:
    """A bad command-line value, reported as ``--flag: message``."""
    return InputError(Problem(flag, None, "", message))


class ModelError(InputError):
    """A model declaration that does not build: unknown names, loops, units, dims."""


class ScenarioError(InputError):
    """A scenario file that does not validate."""


class SimulationError(RuntimeError):
    """A run produced a non-finite number. Names the variable, element, time and run."""


class OutputError(Exception):
    """An output folder that cannot or must not be written. The CLI exits with status 2."""
