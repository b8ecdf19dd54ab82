"""Write a run's outputs atomically: into a temporary folder beside the target, renamed when complete.

A run that fails or is interrupted leaves the previous results untouched and no partial folder.
Two processes writing the same folder do not corrupt each other: the second is refused while the
first holds the lock (a lock left by a process that no longer runs is taken over).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr


class OutputBusy(Exception):
    """Another process is writing the same output folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def lock(folder: Path):
    """Hold ``<folder>.lock`` beside the folder for the duration of the block."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.parent / f".{folder.name}.lock"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid) and pid != os.getpid():
                raise OutputBusy(f"{folder} is being written by another simulate process (pid {pid}); "
                                 f"wait for it or choose another --out folder") from None
            path.unlink(missing_ok=True)  # stale lock
    else:
        raise OutputBusy(f"cannot lock {folder}")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def staging(folder: Path):
    """Yield a temporary folder; on success it replaces ``folder``, on any failure it is removed."""
    folder = Path(folder)
    with lock(folder):
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; outputs are ordinary files
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = None
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_netcdf(ds: xr.Dataset, path: Path):
    """results.nc with CF-style attributes (units, long_name, description)."""
    ds = ds.copy()
    for name in ds.data_vars:
        ds[name].attrs = {k: (str(v) if not isinstance(v, (int, float, np.number)) else v)
                          for k, v in ds[name].attrs.items()}
    ds.attrs["Conventions"] = "CF-1.8"
    ds.to_netcdf(path, engine="netcdf4")


def write_csv(ds: xr.Dataset, folder: Path):
    """One CSV per variable: a row per year, a column per city (and sector), units in the header."""
    folder.mkdir(exist_ok=True)
    index = ["variable,units,description"]
    for name in ds.data_vars:
        da = ds[name]
        if "time" not in da.dims or "run" in da.dims:
            continue
        units = da.attrs.get("units", "")
        frame = da.to_pandas() if da.ndim <= 2 else da.stack(column=[d for d in da.dims if d != "time"]).to_pandas()
        if da.ndim == 1:
            frame = frame.to_frame(name)
        frame.columns = [(".".join(map(str, c)) if isinstance(c, tuple) else str(c)) + f" ({units})"
                         for c in frame.columns]
        frame.index = [f"{t:g}" for t in frame.index]
        frame.index.name = "year"
        frame.to_csv(folder / f"{name}.csv")
        description = da.attrs.get("description", "").replace('"', "'")
        index.append(f'{name},{units},"{description}"')
    (folder / "variables.csv").write_text("\n".join(index) + "\n", encoding="utf-8")


def write_json(data, path: Path):
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_plain) + "\n", encoding="utf-8")


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))
