"""Deterministic synthetic frames for tests, examples and benchmarks.

Frame ``k`` depends only on ``(seed, k)``, so any subset of frames can be
regenerated independently (e.g. to check what a killed writer committed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from hpcml.io.frames import Frames
from hpcml.io.keys import ATOM, KEYS


def _one_frame(k: int, keys: Sequence[str], ntypes: int, seed: int,
               max_atoms: int) -> dict[str, np.ndarray]:
    """Arrays of synthetic frame ``k`` (random values, ``frame_id = k``)."""
    rng = np.random.default_rng([seed, k])
    natoms = 1 + int(rng.integers(max_atoms))
    out = {"natoms": np.array([natoms]), "atype": rng.integers(0, ntypes, natoms)}
    for key in keys:
        spec = KEYS[key]
        if key not in out:
            rows = natoms if spec.per == ATOM else 1
            out[key] = rng.normal(size=spec.full_shape(rows)) * 10
    if "frame_id" in keys:
        out["frame_id"] = np.array([k])
    if "iteration" in keys:
        out["iteration"] = np.array([k % 5])
    if "system" in keys:
        out["system"] = np.array([k % 3])
    return out


def synthetic_frames(frames: int | Iterable[int], keys: Sequence[str] = tuple(KEYS),
                     type_map: Sequence[str] = ("O", "H"), seed: int = 0,
                     max_atoms: int = 7) -> Frames:
    """Random frames whose contents depend only on ``(seed, frame index)``.

    Parameters
    ----------
    frames
        Frame indices, or a count ``n`` for ``range(n)``.
    keys
        Keys to fill (the required ones are always present).
    type_map
        Element names.
    seed
        Seed shared by all frames.
    max_atoms
        Frames have 1..max_atoms atoms.

    Returns
    -------
    Frames
        Frames with normal random values (scale 10) in every float key and
        ``frame_id`` equal to the frame index.
    """
    indices = range(frames) if isinstance(frames, int) else list(frames)
    keys = tuple(dict.fromkeys(("natoms", "cell", "coord", "atype", *keys)))
    parts = [_one_frame(k, keys, len(type_map), seed, max_atoms) for k in indices]
    if not parts:
        return Frames.empty(type_map, keys)
    arrays = {key: np.concatenate([p[key] for p in parts]) for key in keys}
    return Frames(list(type_map), arrays)
