"""Sobol sensitivity: first- and total-order indices of the goal indicators over a scenario's uncertain
inputs (Saltelli sampling, SALib)."""

from __future__ import annotations

import numpy as np


def sobol_indices(evaluate, names: list[str], n: int, seed: int = 0) -> dict:
    """First- and total-order Sobol indices (Saltelli sampling, SALib) of every output of ``evaluate``.

    ``evaluate`` takes an (N x inputs) array of uniform numbers in [0, 1] and returns (N x outputs).
    Returns {output index: {"S1", "S1_conf", "ST", "ST_conf"} arrays over the inputs}.
    """
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    x = sample.sample(problem, n, calc_second_order=False, seed=seed)
    y = np.atleast_2d(np.asarray(evaluate(x), dtype=float).T).T
    out = {}
    for j in range(y.shape[1]):
        column = y[:, j]
        if not np.isfinite(column).all():  # failed runs: the median keeps the estimator defined; reported
            column = np.where(np.isfinite(column), column, np.nanmedian(column))
        result = analyze.analyze(problem, column, calc_second_order=False, seed=seed, print_to_console=False)
        out[j] = {k: np.asarray(result[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    return out
