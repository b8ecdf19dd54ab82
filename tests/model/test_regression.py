"""Regression: the baseline against its stored reference output.

The reference is regenerated only by `python -m tests.regenerate_reference` (never by editing this test);
a failure here means the baseline changed: if that was intended, regenerate and commit the new file.
"""

import csv

import numpy as np

from ..regenerate_reference import REFERENCE, VARIABLES


def test_baseline_matches_the_stored_reference(baseline):
    rows = list(csv.DictReader(REFERENCE.open(encoding="utf-8")))
    assert {r["variable"] for r in rows} == set(VARIABLES)
    for row in rows:
        stored = float(row["value"])
        now = float(baseline[row["variable"]].sel(city=row["city"], time=float(row["year"])))
        assert row["units"] == baseline[row["variable"]].attrs["units"]
        # the same arithmetic on another machine may differ in the last bits (libm); 1e-9 is far above that
        assert np.isclose(now, stored, rtol=1e-9, atol=0), (row, now)
