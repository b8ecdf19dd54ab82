"""numba flags, in one place.

- ``cache=True``: the compiled kernel is stored next to its generated source, so a second process
  starts without compiling.
- ``error_model='numpy'``: a division by zero gives inf/nan (which the driver reports by name)
  instead of raising inside a parallel loop.
- ``fastmath=False``: fastmath gave ~5 % and broke bitwise reproducibility (PERFORMANCE.md).
"""

JIT_FLAGS = {"cache": True, "error_model": "numpy", "fastmath": False, "nogil": True}
PARALLEL_FLAGS = {**JIT_FLAGS, "parallel": True}


def flags_text(flags: dict) -> str:
    """The flags as decorator arguments, written into the generated source (and so into its hash)."""
    return ", ".join(f"{k}={v!r}" for k, v in sorted(flags.items()))
