"""Write labeled frames to the HDF5 frame store, with provenance, and export them.

The frame store (:mod:`hpcml.io.store`, schema 1) has no place for
free-form attributes, so provenance goes to a JSON sidecar next to it,
``<out>.provenance.json``: one record per labeling batch (method, CP2K
version and binary, SHA-256 of the input template, candidate file and its
hash, counts, failure reasons) with the range of store frames it produced.
Both files are replaced atomically (written aside, then renamed).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from hpcml.errors import DataError
from hpcml.io import Frames
from hpcml.io.store import append_frames, store_info, write_frames

_log = logging.getLogger(__name__)


def provenance_path(out: str | os.PathLike) -> Path:
    """The provenance sidecar of store ``out``."""
    return Path(f"{os.fspath(out)}.provenance.json")


def read_provenance(out: str | os.PathLike) -> dict:
    """The sidecar of ``out`` (``{"batches": [...]}``; empty when absent)."""
    path = provenance_path(out)
    if not path.exists():
        return {"format": "hpcml-label-provenance", "version": 1, "batches": []}
    return json.loads(path.read_text())


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def _batch_id(provenance: dict) -> str:
    return f"{provenance['frames_sha256']}:{provenance['input_hash']}:{provenance['virial']}"


def save_labeled(out: str | os.PathLike, frames: Frames, provenance: dict,
                 append: bool = False) -> int:
    """Write ``frames`` to store ``out`` (serial; call on one rank) and record provenance.

    Parameters
    ----------
    out
        Store path.  Without ``append`` it is replaced atomically.
    frames
        Labeled frames (energy eV, force eV/Angstrom, virial eV).
    provenance
        Batch record (must hold ``frames_sha256``, ``input_hash``, ``virial``).
    append
        Append to an existing store; a batch with the same candidates, input
        hash and virial flag already recorded there is not appended again.

    Returns
    -------
    int
        Frames in the store afterwards.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = dict(provenance, batch=_batch_id(provenance),
                  written=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    if append and out.exists():
        sidecar = read_provenance(out)
        if any(b.get("batch") == record["batch"] for b in sidecar["batches"]):
            _log.info("label: this batch is already in %s; not appended again", out)
            return store_info(out).n_committed
        first = store_info(out).n_committed
        try:
            n = append_frames(out, frames) if frames.n_frames else first
        except ValueError as exc:
            raise DataError(f"{out}: cannot append the labeled frames: {exc}") from None
    else:
        sidecar, first = read_provenance("/nonexistent"), 0
        n = write_frames(out, frames).n_committed
    sidecar["batches"].append(dict(record, first_frame=first, n_frames=frames.n_frames))
    _write_json(provenance_path(out), sidecar)
    _log.info("label: %s holds %d frame(s) (%d from this batch)", out, n, frames.n_frames)
    return n


def export_frames(frames: Frames, deepmd: str | os.PathLike | None = None,
                  extxyz: str | os.PathLike | None = None) -> None:
    """Write ``frames`` also as DeePMD-kit npy systems and/or extended XYZ.

    Each export replaces an earlier one (written aside, then renamed).
    """
    if deepmd is not None:
        from hpcml.io.deepmd import write_deepmd_npy

        target, tmp = Path(deepmd), Path(f"{os.fspath(deepmd)}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        write_deepmd_npy(frames, tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    if extxyz is not None:
        from hpcml.io.extxyz import write_extxyz

        tmp = Path(f"{os.fspath(extxyz)}.tmp")
        write_extxyz(frames, tmp)
        os.replace(tmp, extxyz)
