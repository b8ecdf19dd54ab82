"""Write the generated kernel to an on-disk cache keyed by a hash of its source, and import it.

The file name carries the hash, so a changed model gets a new file and an unchanged one reuses
the file and numba's compiled cache next to it: a second process starts without compiling.
The cache folder is ``$SIMULATOR_CACHE_DIR`` or ``~/.cache/hubaoewu-simulator``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numba

from .build import Model
from .codegen import generate

_loaded: dict[str, object] = {}


def cache_dir() -> Path:
    root = os.environ.get("SIMULATOR_CACHE_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "hubaoewu-simulator"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_hash(source: str) -> str:
    key = f"{source}\nnumba {numba.__version__}\npython {sys.version_info[:3]}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def load_kernel(model: Model):
    """The compiled kernel module of a model (generated, written and imported on first use)."""
    module = model.__dict__.get("_kernel")
    if module is not None:  # generated once per built model
        return module
    source = generate(model)
    digest = source_hash(source)
    if digest in _loaded:
        model.__dict__["_kernel"] = _loaded[digest]
        return _loaded[digest]
    folder = cache_dir() / "kernels"
    folder.mkdir(exist_ok=True)
    path = folder / f"kernel_{digest}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        # write atomically: another process may be importing the same file
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(source)
        os.replace(tmp, path)
    name = f"simulator_kernel_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.SOURCE_PATH = path
    _loaded[digest] = module
    model.__dict__["_kernel"] = module
    return module
