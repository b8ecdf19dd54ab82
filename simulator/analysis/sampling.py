"""Sampling the uncertain inputs: inverse CDFs of the distributions, unit samples (random, Latin hypercube,
Sobol), the whole sample drawn once and stored on disk, and a batch of runs' inputs set from its rows.

Determinism: the sample is drawn once, up front, from the seed alone, and every run reads its own row, so
the numbers do not depend on how the runs are later split into chunks, threads or workers.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.stats import qmc

from ..engine import Inputs
from ..inputs.scenario import Distribution


def ppf(dist: Distribution, u: np.ndarray) -> np.ndarray:
    """Inverse CDF: uniform numbers in (0, 1) -> values of the distribution."""
    a = dist.args
    if dist.dist == "uniform":
        return a["low"] + (a["high"] - a["low"]) * u
    if dist.dist == "normal":
        return stats.norm.ppf(u, loc=a["mean"], scale=a["sd"])
    if dist.dist == "truncnormal":
        lo, hi = (a["low"] - a["mean"]) / a["sd"], (a["high"] - a["mean"]) / a["sd"]
        return stats.truncnorm.ppf(u, lo, hi, loc=a["mean"], scale=a["sd"])
    if dist.dist == "lognormal":
        return a["median"] * np.exp(a["sigma"] * stats.norm.ppf(u))
    if dist.dist == "triangular":
        width = a["high"] - a["low"]
        return stats.triang.ppf(u, (a["mode"] - a["low"]) / width, loc=a["low"], scale=width)
    if dist.dist == "posterior":  # a row of the draws table (the same row for every column: see Samples)
        from ..inputs.scenario import read_draws

        column = read_draws(a["draws"])["values"][:, a["column"]]
        return column[np.minimum((u * len(column)).astype(np.int64), len(column) - 1)]
    if dist.dist == "choice":
        values = np.asarray(a["values"], dtype=float)
        weights = np.asarray(a.get("weights") or np.ones(len(values)), dtype=float)
        edges = np.cumsum(weights) / weights.sum()
        return values[np.minimum(np.searchsorted(edges, u, side="right"), len(values) - 1)]
    raise ValueError(dist.dist)


def values_at(dist: Distribution, u: np.ndarray) -> np.ndarray:
    """The distribution's values at unit numbers ``u``, kept off 0 and 1 (where an inverse CDF is infinite)."""
    return ppf(dist, np.clip(u, 1e-12, 1 - 1e-12))


def _lhs_columns(runs: int, dims: int, seed: int):
    """Latin hypercube, one column at a time: a random permutation of the strata plus a uniform offset
    inside each stratum."""
    rng = np.random.default_rng(seed)
    for _ in range(dims):
        yield (rng.permutation(runs) + rng.random(runs)) / runs


def unit_sample(runs: int, dims: int, seed: int, sampling: str, chunk: int = 65536):
    """Yield blocks of rows of the (runs x dims) unit sample, in order. The blocks do not change the numbers."""
    if dims == 0:
        for start in range(0, runs, chunk):
            yield np.zeros((min(chunk, runs - start), 0))
        return
    if sampling == "random":
        rng = np.random.default_rng(seed)
        for start in range(0, runs, chunk):
            yield rng.random((min(chunk, runs - start), dims))
    elif sampling == "sobol":
        # blocks of any size continue one sequence; its balance is best when runs is a power of 2
        sampler = qmc.Sobol(d=dims, scramble=True, seed=seed)
        for start in range(0, runs, chunk):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                block = sampler.random(min(chunk, runs - start))
            yield block
    elif sampling == "lhs":
        columns = list(_lhs_columns(runs, dims, seed))
        for start in range(0, runs, chunk):
            stop = min(runs, start + chunk)
            yield np.column_stack([c[start:stop] for c in columns])
    else:
        raise ValueError(sampling)


def unit_columns(distributions: list[Distribution]) -> tuple[list[int], list[str]]:
    """Which column of the unit sample each uncertain input reads, and a label per column. The columns of
    one posterior table share a column, so a run takes one whole row of draws (correlations kept)."""
    columns, labels, groups = [], [], {}
    for dist in distributions:
        key = ("posterior", dist.args["draws"]) if dist.dist == "posterior" else None
        if key is None or key not in groups:
            labels.append(dist.label if key is None else f"calibrated parameters (a row of {Path(key[1]).name})")
            if key is not None:
                groups[key] = len(labels) - 1
        columns.append(len(labels) - 1 if key is None else groups[key])
    return columns, labels


class Samples:
    """The sampled inputs on disk, input by input (inputs x runs, float64), read a block of runs at a time
    with plain reads, so memory stays at one block however many runs there are."""

    def __init__(self, path: Path, runs: int, inputs: int):
        self.path, self.runs, self.inputs = path, runs, inputs

    @classmethod
    def write(cls, path: Path, distributions: list[Distribution], runs: int, seed: int, sampling: str) -> Samples:
        """Draw the whole sample once, up front, and store it."""
        tmp = path.with_suffix(".tmp")
        dims = len(distributions)
        columns, labels = unit_columns(distributions)
        with open(tmp, "wb") as fh:
            fh.truncate(8 * runs * dims)

            def put(j, start, u):
                fh.seek(8 * (j * runs + start))
                fh.write(np.ascontiguousarray(values_at(distributions[j], u), dtype=np.float64).tobytes())

            if sampling == "lhs":  # column by column: never more than one column in memory
                for c, column in enumerate(_lhs_columns(runs, len(labels), seed)):
                    for j in (j for j in range(dims) if columns[j] == c):
                        put(j, 0, column)
            else:
                start = 0
                for block in unit_sample(runs, len(labels), seed, sampling):
                    for j in range(dims):
                        put(j, start, block[:, columns[j]])
                    start += len(block)
        os.replace(tmp, path)
        return cls(path, runs, dims)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Runs ``start`` to ``stop`` (excluded) of the sample: (runs x inputs)."""
        out = np.empty((stop - start, self.inputs))
        with open(self.path, "rb") as fh:
            for j in range(self.inputs):
                fh.seek(8 * (j * self.runs + start))
                out[:, j] = np.frombuffer(fh.read(8 * (stop - start)), dtype=np.float64)
        return out


def apply(inputs: Inputs, distributions: list[Distribution], values: np.ndarray, scale: bool = False):
    """Set each run's sampled inputs (later entries override earlier ones on the same element); with
    ``scale``, multiply what is there instead (a policy lever on a path whose multiplier is also drawn)."""
    for j, dist in enumerate(distributions):
        inputs.assign(dist.ref, values[:, j], scale=scale)
