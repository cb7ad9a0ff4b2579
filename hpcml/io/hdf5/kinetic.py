"""Moments (and optional snapshots of f) of a kinetic solve in one HDF5 file.

Layout (``nt`` output times, ``nx`` cells, ``dof`` unknowns per cell)::

    /x             (nx,)          cell centres
    /t             (nt,)          output times
    /rho /u /T     (nt, nx)       density, x-velocity, temperature
    /q /P          (nt, nx)       heat flux q_x, stress P_xx
    /f             (nt, nx, dof)  distribution snapshots (optional, large)
    attrs          problem description (Knudsen number, grids, initial data ...)

Written by all ranks, PetClaw style: with h5py's MPI build every rank opens
the file with ``driver='mpio'``, takes part in creating and growing the
datasets and writes its own slab ``[offset, offset + n_local)``; otherwise
the slabs are gathered to rank 0.  Datasets grow by one row per output time
and are flushed, so a killed run keeps the times already written.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from hpcml.io.hdf5._h5 import has_mpio, load_h5py, require_mpio
from hpcml.parallel import Context, collective_call

_log = logging.getLogger(__name__)

MOMENTS = ("rho", "u", "T", "q", "P")


def _attr(value: object) -> object:
    """An HDF5-attribute-friendly form of ``value`` (JSON text for containers)."""
    if isinstance(value, (str, int, float, bool, np.number)):
        return value
    return json.dumps(value, default=str)


class MomentWriter:
    """Append the moments of each output time to ``path`` from all ranks.

    Parameters
    ----------
    path
        Output file (overwritten).
    ctx
        The job's Context (collective: every rank constructs and calls).
    x_local
        ``(n_local,)`` cell centres of this rank's block.
    offset, nx
        First global cell of the block and the global cell count.
    attrs
        File attributes (containers are stored as JSON).
    dof
        Unknowns per cell when snapshots of f are written, else None.
    """

    def __init__(self, path: str | Path, ctx: Context, x_local: np.ndarray, offset: int,
                 nx: int, attrs: dict | None = None, dof: int | None = None):
        self.path, self.ctx = Path(path), ctx
        self.offset, self.n_local, self.nx, self.dof = offset, len(x_local), nx, dof
        self.nt = 0
        h5py = load_h5py(prefer_mpi=ctx.size > 1)
        choice = getattr(ctx, "hdf5_writer", "auto")      # config parallel.hdf5_writer
        if choice == "mpio" and ctx.size > 1:
            h5py = require_mpio()
        self.mpio = (ctx.size > 1 and ctx.has_mpi and has_mpio(h5py)
                     and choice in ("auto", "mpio"))
        self._gather = ctx.size > 1 and not self.mpio
        if ctx.is_root:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        ctx.comm.barrier()
        self._file = None
        if self.mpio:
            self._file = collective_call(ctx, lambda: h5py.File(self.path, "w", driver="mpio",
                                                                comm=ctx.comm))
        elif ctx.is_root:
            self._file = h5py.File(self.path, "w")
        if self._file is not None:
            self._create(attrs or {})
        x = self._collect(np.asarray(x_local, dtype=float))
        if x is not None:
            self._write_slab(self._file["x"], None, x)
        _log.info("writing moments to %s (%s)", self.path,
                  "mpio, each rank its slab" if self.mpio else
                  "gathered to rank 0" if self._gather else "serial")

    def _create(self, attrs: dict) -> None:
        """Create the (empty, growable) datasets; collective under mpio."""
        f = self._file
        f.create_dataset("x", (self.nx,), dtype="f8")
        f.create_dataset("t", (0,), maxshape=(None,), dtype="f8", chunks=(64,))
        for name in MOMENTS:
            f.create_dataset(name, (0, self.nx), maxshape=(None, self.nx), dtype="f8",
                             chunks=(1, self.nx))
        if self.dof is not None:
            rows = max(1, min(self.nx, (1 << 21) // self.dof))
            f.create_dataset("f", (0, self.nx, self.dof), maxshape=(None, self.nx, self.dof),
                             dtype="f8", chunks=(1, rows, self.dof))
        for key, value in attrs.items():
            f.attrs[key] = _attr(value)
        f.attrs["moments"] = ",".join(MOMENTS)

    def _collect(self, a: np.ndarray) -> np.ndarray | None:
        """Return the local block (serial/mpio), or the whole array on rank 0 (gather)."""
        if not self._gather:
            return a
        parts = self.ctx.comm.gather(a, root=0)
        return np.concatenate(parts) if self.ctx.is_root else None

    def _write_slab(self, dset: object, row: int | None, a: np.ndarray) -> None:
        """Write ``a`` at this rank's cells (all cells when gathered)."""
        lo = 0 if self._gather else self.offset
        index = (slice(lo, lo + a.shape[0]),) if row is None else (row, slice(lo, lo + a.shape[0]))
        dset[index] = a

    def write(self, t: float, moments: dict[str, np.ndarray], f: np.ndarray | None = None) -> None:
        """Append output time ``t``: ``moments`` on this block's cells, ``f`` ``(n_local, ...)``."""
        row = self.nt
        self.nt += 1
        if self._file is not None:
            for name in ("t", *MOMENTS, *(("f",) if self.dof is not None else ())):
                d = self._file[name]
                d.resize((self.nt, *d.shape[1:]))
            if self.ctx.is_root or self.mpio:
                self._file["t"][row] = t
        for name in MOMENTS:
            a = self._collect(np.asarray(moments[name], dtype=float))
            if a is not None:
                self._write_slab(self._file[name], row, a)
        if self.dof is not None:
            a = self._collect(np.asarray(f, dtype=float).reshape(self.n_local, self.dof))
            if a is not None:
                self._write_slab(self._file["f"], row, a)
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Close the file (collective)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.ctx.comm.barrier()


def read_moments(path: str | Path) -> dict[str, np.ndarray]:
    """All datasets of a moment file as arrays, plus ``attrs`` (a dict); serial read."""
    h5py = load_h5py()
    with h5py.File(path, "r") as f:
        out = {name: f[name][()] for name in f}
        out["attrs"] = dict(f.attrs)
    return out
