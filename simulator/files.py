"""Write outputs safely: into a folder the program owns, atomically, never touching anyone else's files.

An output folder is *owned* when it holds a manifest (``.simulate-outputs.json``) listing what simulate
wrote there. A run writes everything into a temporary folder beside the target and publishes it when
complete, so a failed or interrupted run leaves the previous results untouched and no partial folder.

- A target that does not exist, or is an empty folder, is created.
- An owned folder holding only what its manifest lists is replaced whole.
- A folder holding anything simulate did not write (a user's files, or a folder with no manifest) is
  refused before any work starts; with ``overwrite`` only the files the old manifest lists are replaced,
  and the user's files stay (a new output whose name a user's file already has is still refused).

Two processes writing the same folder do not corrupt each other: the second is refused while the
first holds the lock (a lock left by a process that no longer runs is taken over). Every failure to
write is an OutputError naming the path (the CLI exits 2).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import OutputError

MANIFEST = ".simulate-outputs.json"


class OutputBusy(OutputError):
    """Another process is writing the same output folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owned_entries(folder: Path) -> list[str] | None:
    """The entries the folder's manifest lists, or None if simulate did not make the folder."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(entries, list) or not all(isinstance(e, str) and e and "/" not in e for e in entries):
        return None
    return entries


def foreign_entries(folder: Path) -> list[str]:
    """What is in ``folder`` that simulate did not write there (sorted names)."""
    owned = set(owned_entries(folder) or ()) | {MANIFEST}
    return sorted(e.name for e in folder.iterdir() if e.name not in owned)


def check_target(folder: Path, overwrite: bool = False, flag: str = "output folder") -> None:
    """Refuse, before any work, an output folder that cannot be written or holds files simulate did not make."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{flag} {folder}: exists and is not a folder; choose a folder for the outputs")
        if folder.is_dir():
            foreign = foreign_entries(folder)
            if foreign and not overwrite:
                shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
                raise OutputError(
                    f"{flag} {folder}: the folder holds files simulate did not write ({shown}); they would be "
                    f"lost. Choose a new or empty folder, or add --overwrite to replace only simulate's own "
                    f"outputs there (listed in {MANIFEST}) and keep the rest"
                )
        parent = _existing_parent(folder.absolute())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"{flag} {folder}: cannot write in {parent} (permission denied)")
    except OSError as exc:
        raise OutputError(f"{flag} {folder}: {exc.strerror or exc}") from None


def version() -> str:
    from . import __version__

    return __version__


def _existing_parent(path: Path) -> Path:
    probe = path.parent
    while not probe.exists():
        probe = probe.parent
    return probe


def free_bytes(folder: Path) -> int:
    """The room left on the disk ``folder`` would be written to (it need not exist yet)."""
    return shutil.disk_usage(_existing_parent(Path(folder).absolute())).free


@contextmanager
def lock(folder: Path):
    """Hold ``.<folder>.lock`` beside the folder for the duration of the block."""
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder.parent}: {exc.strerror or exc}") from None
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
                raise OutputBusy(
                    f"{folder} is being written by another simulate process (pid {pid}); "
                    f"wait for it or choose another --out folder"
                ) from None
            path.unlink(missing_ok=True)  # stale lock
        except OSError as exc:
            raise OutputError(f"cannot write in {folder.parent}: {exc.strerror or exc}") from None
    else:
        raise OutputBusy(f"cannot lock {folder}")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def staging(folder: Path, overwrite: bool = False):
    """Yield a temporary folder; on success its contents are published into ``folder`` (see the module
    docstring), on any failure it is removed and ``folder`` is untouched."""
    folder = Path(folder)
    check_target(folder, overwrite)
    with lock(folder):
        try:
            with staged(folder, overwrite) as tmp:
                yield tmp
        except OSError as exc:
            raise OutputError(
                f"cannot write the outputs in {folder}: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else "")
            ) from None


PUBLISHED: list[Path] = []  # the output folders this process has published (what an interrupt leaves behind)


@contextmanager
def staged(folder: Path, overwrite: bool = False):
    """Yield a temporary folder beside ``folder`` whose contents are published into it when the block ends
    without an error; the temporary folder is removed in any case. The caller holds ``lock(folder)``."""
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"  # unique while the lock is held
    try:
        make_work_folder(tmp)
        yield tmp
        publish(tmp, folder, overwrite)
        PUBLISHED.append(folder)
    finally:  # also when a signal arrived between making the folder and using it
        shutil.rmtree(tmp, ignore_errors=True)


def work_folder(folder: Path, job: str) -> Path:
    """Where a long job (an ensemble, a search) keeps its work beside its output folder while it runs, so
    that the same command resumes it."""
    return folder.parent / f".{folder.name}.{job}"


def make_work_folder(path: Path) -> Path:
    """A new folder for outputs in the making (ordinary permissions, so outputs are readable once published)."""
    shutil.rmtree(path, ignore_errors=True)  # left by a killed simulate process that had the same pid
    path.mkdir()
    return path


def publish(tmp: Path, folder: Path, overwrite: bool = False):
    """Move the finished outputs in ``tmp`` into ``folder``, writing the manifest of what simulate made."""
    folder = Path(folder)
    new = sorted(e.name for e in tmp.iterdir() if e.name != MANIFEST)
    write_json({"program": "simulate", "version": version(), "files": new}, tmp / MANIFEST)
    if not folder.exists():
        os.replace(tmp, folder)
        return
    check_target(folder, overwrite)
    if not any(folder.iterdir()):
        os.rmdir(folder)
        os.replace(tmp, folder)
        return
    if not foreign_entries(folder):  # an owned folder: replace it whole
        old = folder.parent / f".{folder.name}.old-{os.getpid()}"
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
        return
    # --overwrite beside files simulate did not write: replace only its own entries, one by one
    owned = set(owned_entries(folder) or ())
    clash = [name for name in new if (folder / name).exists() and name not in owned]
    if clash:
        raise OutputError(
            f"{folder}: will not replace {', '.join(clash)}: simulate did not write "
            f"{'it' if len(clash) == 1 else 'them'}; move {'it' if len(clash) == 1 else 'them'} away "
            "or choose another folder"
        )
    trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    for name in owned:
        if (folder / name).exists() or (folder / name).is_symlink():
            os.replace(folder / name, trash / name)
    for name in new + [MANIFEST]:
        os.replace(tmp / name, folder / name)
    shutil.rmtree(trash, ignore_errors=True)


def write_netcdf(ds: xr.Dataset, path: Path):
    """results.nc with CF-style attributes (units, long_name, description)."""
    ds = ds.copy()
    for name in ds.data_vars:
        ds[name].attrs = {
            k: (str(v) if not isinstance(v, (int, float, np.number)) else v) for k, v in ds[name].attrs.items()
        }
    ds.attrs["conventions"] = (
        "CF-style variable attributes (units, long_name, cell_methods); time is the "
        "calendar year: levels at its end, flows and rates averaged over it"
    )
    ds.attrs["simulator_version"] = version()
    if "time" in ds.coords:
        ds["time"].attrs = {"long_name": "calendar year", "units": "1"}
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
        frame.columns = [
            (".".join(map(str, c)) if isinstance(c, tuple) else str(c)) + f" ({units})" for c in frame.columns
        ]
        frame.index = [f"{t:g}" for t in frame.index]
        frame.index.name = "year"
        frame.to_csv(folder / f"{name}.csv")
        description = da.attrs.get("description", "").replace('"', "'")
        index.append(f'{name},{units},"{description}"')
    (folder / "variables.csv").write_text("\n".join(index) + "\n", encoding="utf-8")


def json_number(x) -> float | None:
    """A number for a JSON record: None where it is not finite (JSON has no NaN or infinity)."""
    x = float(x)
    return x if math.isfinite(x) else None


def sayer(quiet: bool):
    """A ``say`` for a command's progress lines: printed at once, or nothing when ``quiet``."""
    return silent if quiet else (lambda *lines: print(*lines, flush=True))


def silent(*lines):
    """A ``say`` that prints nothing."""


def write_json(data, path: Path):
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_plain) + "\n", encoding="utf-8")


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


def resume_or_start(work: Path, manifest: dict, known: set, what: str, say=print) -> bool:
    """Keep a long run's work folder if it was made for the same ``manifest`` (the run resumes); otherwise
    start it afresh — unless it holds files the run did not write (``known`` names the run's own). Returns
    True when the folder is new (then created, empty; the caller writes its manifest last)."""
    if work.exists():
        try:
            same = json.loads((work / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
        except (OSError, ValueError):
            same = False
        if same:
            return False
        strange = sorted(e.name for e in work.iterdir() if e.name not in known)
        if strange:
            raise OutputError(
                f"{work} holds files {what} did not write ({', '.join(strange[:5])}); move them, or remove the folder"
            )
        say(f"  {work} holds the work of {what} set up differently, or never set up in full; starting afresh")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return True
