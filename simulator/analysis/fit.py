"""Fit statistics for behaviour reproduction (Sterman 1984; Business Dynamics ch. 21).

All are fractions: a MAPE of 2 % is 0.02. Theil's inequality statistics split the mean squared error
into bias (U_M), unequal variation (U_S) and unequal covariation (U_C), with U_M + U_S + U_C = 1; a good
fit has its error mostly in U_C (unsystematic). Statistics that need variation (R², Theil) are None for
fewer than three points.
"""

from __future__ import annotations

import math

import numpy as np


def fit_statistics(simulated, observed) -> dict:
    s = np.asarray(simulated, dtype=float)
    a = np.asarray(observed, dtype=float)
    n = len(a)
    out = {"n": n, "mape": None, "rmspe": None, "r2": None, "theil_um": None, "theil_us": None, "theil_uc": None}
    if n == 0:
        return out
    relative = (s - a) / a
    out["mape"] = float(np.mean(np.abs(relative)))
    out["rmspe"] = float(np.sqrt(np.mean(relative**2)))
    if n < 3:
        return out
    mse = float(np.mean((s - a) ** 2))
    sd_s, sd_a = float(np.std(s)), float(np.std(a))
    r = float(np.corrcoef(s, a)[0, 1]) if sd_s > 0 and sd_a > 0 else math.nan
    out["r2"] = None if math.isnan(r) else r * r
    if mse > 0:
        out["theil_um"] = (float(np.mean(s)) - float(np.mean(a))) ** 2 / mse
        out["theil_us"] = (sd_s - sd_a) ** 2 / mse
        out["theil_uc"] = 2 * (1 - (0.0 if math.isnan(r) else r)) * sd_s * sd_a / mse
    return out
