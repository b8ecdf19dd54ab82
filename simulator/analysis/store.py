"""An ensemble's work folder on disk: its sample, the per-run outputs chunk by chunk, and what resuming needs.

Layout of the work folder (``.<name>.ensemble`` beside the output folder while it runs):

    manifest.json     what is being run (a re-run with a different manifest starts afresh)
    samples.bin       the sampled inputs, inputs x runs (float64), drawn once before any run
    runs.zarr         outputs per run: time x city per variable (float32), and a failed and an implausible
                      flag per run
    done/chunk_NNNNN  written after a chunk is safely stored; a chunk without it is recomputed

When every chunk is done, the summaries are written and the folder is moved to the output folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..engine import Model
from ..engine.run import variable_attrs, year_coordinate
from ..files import resume_or_start
from .plausibility import flags, guarded
from .sampling import Samples

if TYPE_CHECKING:
    from .runner import Plan

# what an ensemble's work folder may hold (anything else is not removed when a different setup starts afresh)
WORK_ENTRIES = {
    "manifest.json",
    "done",
    "samples.bin",
    "samples.tmp",
    "runs.zarr",
    "summary.nc",
    "goals.json",
    "scenario.resolved.yaml",
    "goal_indicators.npz",
    "report.md",
    "fan_chart.png",
    "goals.png",
}


def prepare(work: Path, model: Model, plan: Plan, say=print) -> bool:
    """Keep ``work`` if it was set up for the same plan (the ensemble resumes); otherwise set it up afresh:
    the whole sample drawn, the store created, and the manifest written last (its presence means the setup
    is complete). Returns True when it was set up now."""
    manifest = plan.manifest()
    fresh = resume_or_start(work, manifest, WORK_ENTRIES, "an ensemble", say)
    if fresh:
        (work / "done").mkdir()
        Samples.write(work / "samples.bin", plan.scenario.uncertain, plan.runs, plan.seed, plan.sampling)
        Store(work / "runs.zarr", model, plan, create=True)
        (work / "manifest.json").write_text(json.dumps(manifest))
    return fresh


def samples(work: Path, plan: Plan) -> Samples:
    """The sample the work folder holds."""
    return Samples(work / "samples.bin", plan.runs, len(plan.scenario.uncertain))


def chunks_to_do(work: Path, plan: Plan) -> list[int]:
    """The chunks not yet safely stored."""
    return [k for k in range(plan.n_chunks) if not (work / "done" / f"chunk_{k:05d}").exists()]


def mark_done(work: Path, k: int, runs: int):
    """Record that chunk ``k`` (of ``runs`` runs) is stored."""
    (work / "done" / f"chunk_{k:05d}").write_text(str(runs))


def drop_resume_files(work: Path):
    """Remove what only resuming needs (the done markers and the sample) from a finished ensemble."""
    shutil.rmtree(work / "done")
    (work / "samples.bin").unlink()


def open_runs(folder) -> xr.Dataset:
    """The per-run outputs of a finished (or running) ensemble folder, lazily, as an xarray Dataset."""
    return xr.open_zarr(Path(folder) / "runs.zarr", consolidated=False)


class Store:
    """The zarr store of an ensemble's per-run outputs, laid out for xarray (dims run, time, city, ...)."""

    def __init__(self, path: Path, model: Model, plan: Plan, create=False):
        import zarr

        self.path, self.model, self.plan = path, model, plan
        self.guarded = guarded(model, plan.variables)
        if create:
            self._create(zarr.open_group(str(path), mode="w", zarr_format=2))
        self.root = zarr.open_group(str(path), mode="r+", zarr_format=2)

    def _create(self, root):
        """The empty arrays: coordinates, one array per recorded variable, and the per-run flags."""
        model, plan = self.model, self.plan
        grid = plan.scenario.time
        self._coord(root, "run", np.arange(plan.runs))
        self._coord(root, "time", year_coordinate(grid.times))
        for dim in model.spec.dims:
            self._coord(root, dim, np.array(model.spec.dims[dim], dtype="<U16"))
        for alias, base in model.spec.aliases.items():
            self._coord(root, alias, np.array(model.spec.dims[base], dtype="<U16"))
        for name in plan.variables:
            var = model.variables[name]
            shape = (plan.runs, grid.n_saves + 1) + model.shape(name)
            array = root.create_array(
                name, shape=shape, chunks=(plan.chunk,) + shape[1:], dtype="f4", fill_value=np.nan, compressors=None
            )  # speed over disk; see _write_chunk
            array.attrs.update({"_ARRAY_DIMENSIONS": ["run", "time", *var.dims], **variable_attrs(model, name)})
        array = root.create_array("failed", shape=(plan.runs,), chunks=(plan.chunk,), dtype="i1", fill_value=None)
        array.attrs["_ARRAY_DIMENSIONS"] = ["run"]
        array.attrs["description"] = "1 where the run went non-finite (its outputs are NaN)"
        array = root.create_array("implausible", shape=(plan.runs,), chunks=(plan.chunk,), dtype="u4", fill_value=None)
        array.attrs["_ARRAY_DIMENSIONS"] = ["run"]
        array.attrs["description"] = (
            "bit j set where the run left the plausible range of guarded variable j: " + ", ".join(self.guarded)
        )

    @staticmethod
    def _coord(root, name, values):
        array = root.create_array(name, shape=values.shape, dtype=values.dtype, fill_value=None)
        array[:] = values
        array.attrs["_ARRAY_DIMENSIONS"] = [name]

    def write(self, start: int, values: np.ndarray, labels, failed: np.ndarray):
        """A chunk of runs from ``start``: the kernel's values (runs x saves x columns named by ``labels``)
        and the indices of the runs that failed."""
        column = 0
        stop = start + values.shape[0]
        for name in dict.fromkeys(n for n, _ in labels):
            size = self.model.size(name)
            block = values[:, :, column : column + size]
            column += size
            self._write_chunk(name, start, block.reshape(block.shape[:2] + self.model.shape(name)))
        went_non_finite = np.zeros(stop - start, dtype="i1")
        went_non_finite[failed] = 1
        self.root["failed"][start:stop] = went_non_finite
        self.root["implausible"][start:stop] = self.implausible(values, labels, failed)

    def _write_chunk(self, name: str, start: int, block: np.ndarray):
        """One whole chunk of a per-run output, written as zarr stores an uncompressed chunk (format 2): its
        raw little-endian C-order bytes in the file named by its chunk index, the last chunk padded with the
        fill value. Through zarr's own writer the same bytes cost several times the CPU, taken from the
        kernel running beside it (10^6 runs: 5.6 GB)."""
        chunk = self.plan.chunk
        assert start % chunk == 0, "chunks are written whole"
        if len(block) < chunk:
            block = np.concatenate([block, np.full((chunk - len(block),) + block.shape[1:], np.nan, block.dtype)])
        path = chunk_file(self.path / name, start // chunk, block.ndim)
        tmp = path.with_name(path.name + ".tmp")
        np.ascontiguousarray(block, dtype="<f4").tofile(tmp)
        os.replace(tmp, path)

    def implausible(self, values: np.ndarray, labels, failed) -> np.ndarray:
        """Per run, a bit per guarded variable whose plausible range the run leaves (failed runs: 0)."""
        bits = flags(self.model, self.guarded, values, labels)
        bits[failed] = 0
        return bits


def chunk_file(array: Path, k: int, ndim: int) -> Path:
    """The file of chunk k (along runs) of a stored array, as zarr format 2 names it."""
    return array / ".".join([str(k)] + ["0"] * (ndim - 1))


class StoredRuns:
    """A per-run output of the store read straight from its chunk files (what Store writes), for the
    summaries: several times faster than through zarr. Unwritten chunks read as the fill value, NaN."""

    def __init__(self, array: Path):
        meta = json.loads((array / ".zarray").read_text())
        assert meta["compressor"] is None and meta["dimension_separator"] == "."
        self.path, self.shape, self.chunks = array, tuple(meta["shape"]), tuple(meta["chunks"])
        self.dtype = np.dtype(meta["dtype"])

    def chunk(self, k: int) -> np.ndarray:
        file = chunk_file(self.path, k, len(self.shape))
        if not file.exists():
            return np.full(self.chunks, np.nan, self.dtype)
        return np.fromfile(file, dtype=self.dtype).reshape(self.chunks)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        n = self.chunks[0]
        parts = [self.chunk(k)[max(start - k * n, 0) : stop - k * n] for k in range(start // n, -(-stop // n))]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.empty((0,) + self.shape[1:], self.dtype)

    def runs(self, start: int, stop: int, rows: np.ndarray) -> np.ndarray:
        """The runs ``rows`` (sorted, within [start, stop)) of the block [start, stop): a plain slice when
        they are all of it."""
        if len(rows) == stop - start:
            return self[start:stop]
        return self[int(rows.min()) : int(rows.max()) + 1][rows - rows.min()]

    def kept_by_element(self, keep: np.ndarray) -> np.ndarray:
        """The kept runs as (elements x kept runs), float32, each element's runs contiguous; read and
        transposed one stored chunk at a time (a whole-array transpose is five times slower)."""
        columns = int(np.prod(self.shape[1:], dtype=int))
        rows = np.empty((columns, int(keep.sum())), dtype=np.float32)
        block, at = self.chunks[0], 0
        for start in range(0, self.shape[0], block):
            values = self[start : start + block].reshape(-1, columns)
            chosen = keep[start : start + block]
            values = values if chosen.all() else values[chosen]
            rows[:, at : at + len(values)] = values.T
            at += len(values)
        return rows
