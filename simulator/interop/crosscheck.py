"""Run an exported model in PySD, an independent engine, and compare it with ours.

PySD 3.14 builds its state as ``np.array([stock values], dtype=object)``. Under numpy 2, when every
stock is a subscripted array of the same shape this makes a 2-D array of Python floats instead of a
1-D array of DataArrays, and the integration continues in object dtype until a ufunc fails
("loop of ufunc does not support argument 0 of type float"). ``pysd_model`` patches those two
methods to build the 1-D array PySD intends; flat (unsubscripted) models are unaffected.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def _object_array(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for k, value in enumerate(values):
        out[k] = value
    return out


def _patch_pysd():
    from pysd.py_backend import model as pysd_model

    macro = pysd_model.Macro
    if getattr(macro, "_hubaoewu_patched", False):
        return

    def ddt(self):
        return _object_array([component.ddt() for component in self._dynamicstateful_elements])

    def state(self):
        return _object_array([component.state for component in self._dynamicstateful_elements])

    macro.ddt = ddt
    macro.state = property(state, macro.state.fset)
    macro._hubaoewu_patched = True


def pysd_model(mdl: Path):
    """Translate and load a Vensim .mdl with PySD (the translation is written beside it)."""
    import pysd

    _patch_pysd()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(mdl))


def pysd_stocks(model, stocks, cities, flat: bool, **run_kwargs) -> dict[str, np.ndarray]:
    """Run a loaded PySD model; each stock as (time, element) from PySD's output columns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = model.run(**run_kwargs)
    out = {}
    for name in stocks:
        columns = [f"{name}_{c}" if flat else f"{name}[{c}]" for c in cities]
        out[name] = frame[columns].to_numpy(dtype=float)
    return out
