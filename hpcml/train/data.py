"""Training data: labeled frames with their neighbour lists, split and batched.

Frames come from any reader of :mod:`hpcml.io` (deepmd/npy, the HDF5 frame
store, extxyz).  Neighbour lists are built once, when the data are loaded;
a training step then only concatenates precomputed arrays.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hpcml.errors import DataError
from hpcml.io import Frames, read_any
from hpcml.molecular.batch import Batch, make_batch
from hpcml.molecular.neighbors import NeighborList, NeighborOverflowError, build_neighbor_list
from hpcml.molecular.reference import env_rows
from hpcml.molecular.spec import DeepPotSpec

_log = logging.getLogger(__name__)


@dataclass
class LabeledFrame:
    """One frame ready for training.

    Attributes
    ----------
    atype
        (natoms,) int type of each atom.
    nlist
        Its neighbour list (:class:`NeighborList`).
    energy
        Energy, eV.
    force
        (natoms, 3) eV/A, input atom order.
    virial
        (3, 3) eV, or None.
    source
        ``"<system>:<index>"`` for error messages.
    """

    atype: np.ndarray
    nlist: NeighborList
    energy: float
    force: np.ndarray
    virial: np.ndarray | None
    source: str

    @property
    def natoms(self) -> int:
        """Number of atoms."""
        return int(self.atype.size)


def _check_labels(frames: Frames, path: str) -> None:
    """Raise DataError unless ``frames`` carry energies and forces."""
    missing = [k for k in ("energy", "force") if k not in frames]
    if missing:
        raise DataError(f"{path}: frames have no {missing} labels; training needs energy "
                        "and force (label the frames first, e.g. `hpcml label`)")
    for key in ("energy", "force"):
        if not np.all(np.isfinite(frames[key])):
            raise DataError(f"{path}: {key} holds NaN or inf values; remove those frames")


def load_frames(paths: Sequence[str | os.PathLike], spec: DeepPotSpec,
                fmt: str = "auto") -> list[list[LabeledFrame]]:
    """Read labeled systems and build neighbour lists.

    Parameters
    ----------
    paths
        Systems to read (any format of :func:`hpcml.io.read_any`).
    spec
        Model hyper-parameters: ``type_map``, ``rcut`` and ``sel`` are used.
    fmt
        Format name or ``"auto"``.

    Returns
    -------
    list of list of LabeledFrame
        The frames of each system, in file order.

    Raises
    ------
    DataError
        For unreadable data, missing labels, elements outside ``type_map`` or
        neighbour counts above ``sel`` (naming the file and frame).
    """
    systems = []
    for path in paths:
        frames = read_any(path, fmt=fmt)
        unknown = sorted(set(frames.type_map) - set(spec.type_map))
        used = {frames.type_map[t] for t in np.unique(frames["atype"])}
        if used & set(unknown):
            raise DataError(f"{path}: elements {sorted(used & set(unknown))} are not in "
                            f"type_map {list(spec.type_map)}; add them to data.type_map")
        frames = frames.with_type_map(spec.type_map)
        _check_labels(frames, str(path))
        systems.append([_labeled(frames, i, f"{path}:{i}", spec) for i in range(len(frames))])
        _log.info("read %d frame(s) from %s", len(frames), path)
    return systems


def _labeled(frames: Frames, i: int, source: str, spec: DeepPotSpec) -> LabeledFrame:
    """Neighbour list and labels of frame ``i``."""
    f = frames.frame(i)
    try:
        nlist = build_neighbor_list(f["coord"], f["cell"], f["atype"], spec.rcut, spec.sel)
    except NeighborOverflowError as exc:
        raise NeighborOverflowError(f"{source}: {exc}") from None
    return LabeledFrame(atype=f["atype"].astype(np.int64), nlist=nlist,
                        energy=float(f["energy"]), force=f["force"].astype(np.float64),
                        virial=f["virial"].astype(np.float64) if "virial" in f else None,
                        source=source)


def n_validation(n_frames: int, fraction: float) -> int:
    """Validation frames of a system of ``n_frames`` (at least one when it has two)."""
    n_valid = int(round(fraction * n_frames))
    if fraction > 0 and n_frames > 1:
        n_valid = max(n_valid, 1)
    return n_valid


def split_validation(systems: list[list[LabeledFrame]],
                     fraction: float) -> tuple[list[LabeledFrame], list[LabeledFrame]]:
    """Training and validation frames: the last ``fraction`` of each system validates."""
    train, valid = [], []
    for frames in systems:
        cut = len(frames) - n_validation(len(frames), fraction)
        train += frames[:cut]
        valid += frames[cut:]
    if not train:
        raise DataError("no training frames left after the validation split; "
                        "lower train.validation_fraction or add data")
    return train, valid


def energy_bias(frames: Sequence[LabeledFrame], ntypes: int) -> np.ndarray:
    """Per-type atomic energy (ntypes,) eV: least squares of E against type counts."""
    counts = np.array([np.bincount(f.atype, minlength=ntypes) for f in frames], np.float64)
    energies = np.array([f.energy for f in frames])
    bias, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return bias


def env_stats(frames: Sequence[LabeledFrame], spec: DeepPotSpec,
              max_frames: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Normalisation ``(avg, std)``, each (ntypes, 4), of the environment rows.

    Statistics per centre type over ``sel`` slots per atom (empty slots count
    as zero rows), as DeePMD-kit does: ``avg = [mean(s), 0, 0, 0]``,
    ``std = [std(s), a, a, a]`` with ``a`` the root mean square of the
    direction columns; values below 1e-2 become 1e-2.
    """
    nt = spec.ntypes
    sums = np.zeros((nt, 3))          # sum s, sum s^2, sum of squared direction columns
    slots = np.zeros(nt)
    for f in frames[:max_frames]:
        real = f.nlist.index >= 0
        rows = np.zeros(real.shape + (4,))
        rows[real] = env_rows(f.nlist.rij[real], spec.rcut_smth, spec.rcut)
        for t in range(nt):
            r = rows[f.atype == t]
            sums[t] += [r[..., 0].sum(), (r[..., 0] ** 2).sum(), (r[..., 1:] ** 2).sum()]
            slots[t] += r.shape[0] * spec.nnei
    slots = np.maximum(slots, 1)
    mean = sums[:, 0] / slots
    std_r = np.sqrt(np.maximum(sums[:, 1] / slots - mean**2, 0))
    std_a = np.sqrt(sums[:, 2] / (3 * slots))
    avg = np.zeros((nt, 4))
    avg[:, 0] = mean
    std = np.stack([std_r, std_a, std_a, std_a], axis=1)
    return avg, np.maximum(std, 1e-2)


@dataclass
class TrainBatch:
    """A model :class:`Batch` with its labels in the batch's sorted atom order."""

    batch: Batch
    energy: torch.Tensor        # (nf,) eV
    force: torch.Tensor         # (n, 3) eV/A, sorted order
    virial: torch.Tensor | None  # (nf, 3, 3) eV
    natoms: torch.Tensor        # (nf,) as float


def collate(frames: Sequence[LabeledFrame], spec: DeepPotSpec, dtype: torch.dtype,
            device: str | torch.device = "cpu") -> TrainBatch:
    """Concatenate frames (of any sizes) into one :class:`TrainBatch`."""
    batch = make_batch([f.nlist for f in frames], [f.atype for f in frames], spec.ntypes,
                       far=2.0 * spec.rcut, dtype=dtype, device=device)
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    force = batch.to_sorted_order(as_t(np.concatenate([f.force for f in frames])))
    virial = None
    if all(f.virial is not None for f in frames):
        virial = as_t(np.stack([f.virial for f in frames]))
    return TrainBatch(batch=batch, energy=as_t([f.energy for f in frames]), force=force,
                      virial=virial, natoms=batch.natoms.to(dtype))
