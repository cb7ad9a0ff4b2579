"""Value checks of frames read from a file: finite numbers and invertible cells.

A NaN coordinate runs through MD as "accurate 100 %" and a NaN label turns
an RMSE into NaN or inf, so readers refuse them, naming the file and frame.

>>> import numpy as np
>>> from hpcml.io.frames import Frames
>>> fr = Frames(["H"], {"natoms": [1], "cell": np.eye(3)[None], "coord": [[0.0, 0, np.nan]],
...                    "atype": [0]})
>>> bad_values(fr)
'frame 0: coord (positions) has NaN or inf values (atom 0)'
"""

from __future__ import annotations

import numpy as np

from hpcml.io.frames import Frames

#: keys whose values must be finite, with words for messages
FINITE_KEYS = {"coord": "coord (positions)", "cell": "cell", "energy": "energy",
               "force": "force", "virial": "virial"}
#: smallest |det(cell)| (A^3) of a usable periodic cell
MIN_VOLUME = 1e-6


def _bad_frame(frames: Frames, key: str) -> tuple[int, int | None] | None:
    """``(frame, atom or None)`` of the first non-finite value of ``key``, or None."""
    arr = frames[key]
    rows = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    if not rows.any():
        return None
    row = int(np.argmax(rows))
    if len(arr) == frames.n_frames and key not in ("coord", "force"):
        return row, None
    frame = int(np.searchsorted(frames.atom_start, row, side="right") - 1)
    return frame, row - int(frames.atom_start[frame])


def bad_values(frames: Frames) -> str | None:
    """What is wrong with the first bad frame (non-finite values, singular cell), or None."""
    for key, words in FINITE_KEYS.items():
        if key not in frames:
            continue
        found = _bad_frame(frames, key)
        if found is not None:
            frame, atom = found
            where = "" if atom is None else f" (atom {atom})"
            return f"frame {frame}: {words} has NaN or inf values{where}"
    if frames.n_frames:
        volumes = np.abs(np.linalg.det(frames["cell"]))
        small = volumes < MIN_VOLUME
        if small.any():
            i = int(np.argmax(small))
            what = "zero" if not np.any(frames["cell"][i]) else "singular"
            return (f"frame {i}: the cell is {what} (|det| = {volumes[i]:.3g} A^3); hpcml needs "
                    "a periodic cell of three independent lattice vectors (A)")
    return None
