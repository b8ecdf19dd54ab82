"""The engine: declarations -> checked model -> numba kernel -> arrays -> xarray.

model = load("path/to/model")            # read, then the passes: expand, check, order, layout
inputs = default_inputs(model, runs=1)   # parameters, series, lookups (inputs.py)
result = simulate(model, inputs, TimeGrid(2020, 2035, 0.25), "rk4")
ds = to_dataset(result)
"""

from .build import Model, build, load
from .inputs import METHODS, InputRef, Inputs, TimeGrid, default_inputs
from .run import Result, simulate, to_dataset

__all__ = [
    "METHODS",
    "InputRef",
    "Inputs",
    "Model",
    "Result",
    "TimeGrid",
    "build",
    "default_inputs",
    "load",
    "simulate",
    "to_dataset",
]
