"""Small water boxes cut from the embedded water frames (tests, benchmarks, demos)."""

from __future__ import annotations

import numpy as np

from hpcml.io import Frames, read_any

#: O-O contact distance kept between a box's oxygens and their periodic images, A.
_CONTACT = 2.8


def _molecules(coord: np.ndarray, atype: np.ndarray, box: np.ndarray) -> list[np.ndarray]:
    """(3, 3) O, H, H coordinates of each molecule, H unwrapped next to their O."""
    oxygens, hydrogens = coord[atype == 0], coord[atype == 1]
    length = np.diag(box)
    shift = hydrogens[:, None, :] - oxygens[None, :, :]
    shift -= np.round(shift / length) * length
    owner = np.argmin((shift ** 2).sum(-1), axis=1)
    return [np.vstack([o, o + shift[owner == k, k]]) for k, o in enumerate(oxygens)
            if (owner == k).sum() == 2]


def water_box(n_molecules: int, frames: int | list[int] = 0) -> Frames:
    """Cubic boxes of ``n_molecules`` water molecules cut from embedded water frames.

    The molecules whose oxygen is nearest a corner of the 64-molecule frame
    (Chebyshev distance, periodic) are kept, whole, in a cube whose side is
    the extent of their oxygens plus an O-O contact distance (2.8 A), so no
    atom clashes with a periodic image.  The cut makes them a lower-density
    fragment, not an equilibrium liquid: they are test and benchmark
    structures.

    Parameters
    ----------
    n_molecules
        Molecules per box, 1 to 64.
    frames
        Index or indices of the embedded frames to cut from.

    Returns
    -------
    Frames
        type_map ``[O, H]``, atoms ordered O H H per molecule, cell (nf, 3, 3) Angstrom.
    """
    from hpcml.testing.data import embedded_water

    if not 1 <= n_molecules <= 64:
        raise ValueError(f"n_molecules must be 1..64, not {n_molecules}")
    source = read_any(embedded_water())
    source = source.with_type_map(["O", "H"])
    indices = [frames] if isinstance(frames, int) else list(frames)
    coords, sides = [], []
    for i in indices:
        f = source.frame(i)
        box = f["cell"]
        length = np.diag(box)
        mols = [m - np.floor(m[0] / length) * length
                for m in _molecules(f["coord"], f["atype"], box)]
        corner = np.array([np.max(m[0]) for m in mols])
        keep = [mols[k] for k in np.argsort(corner, kind="stable")[:n_molecules]]
        block = np.vstack(keep)
        low, high = block[::3].min(axis=0), block[::3].max(axis=0)
        sides.append(float(np.max(high - low)) + _CONTACT)
        coords.append(block - low)
    nf, na = len(indices), 3 * n_molecules
    return Frames(["O", "H"], {
        "natoms": np.full(nf, na), "cell": np.eye(3) * np.array(sides)[:, None, None],
        "coord": np.concatenate(coords), "atype": np.tile([0, 1, 1] * n_molecules, nf),
        "frame_id": np.asarray(indices, np.int64)})
