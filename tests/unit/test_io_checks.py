"""Readers refuse NaN/inf in coordinates, cells and labels, and zero or singular cells."""

import numpy as np
import pytest

from hpcml.errors import DataError
from hpcml.io import Frames, read_any
from hpcml.io.extxyz import write_extxyz
from hpcml.io.store import write_frames


def frames(n=3, **bad):
    arrays = {"natoms": [2] * n, "cell": np.tile(np.eye(3) * 10, (n, 1, 1)),
              "coord": np.arange(6.0 * n).reshape(-1, 3), "atype": [0, 1] * n,
              "energy": -np.arange(1.0, n + 1), "force": np.zeros((2 * n, 3))}
    for key, (index, value) in bad.items():
        arrays[key] = np.array(arrays[key], dtype=float)
        arrays[key][index] = value
    return Frames(["O", "H"], arrays)


@pytest.mark.parametrize("bad,words", [
    ({"coord": ((3, 1), np.nan)}, "frame 1: coord (positions) has NaN or inf values (atom 1)"),
    ({"energy": (2, np.inf)}, "frame 2: energy has NaN or inf values"),
    ({"force": ((4, 0), np.nan)}, "frame 2: force has NaN or inf values (atom 0)"),
    ({"cell": ((1, 0, 0), np.nan)}, "frame 1: cell has NaN or inf values"),
    ({"cell": (1, 0.0)}, "frame 1: the cell is zero"),
    ({"cell": ((2, 2), 0.0)}, "frame 2: the cell is singular"),
])
@pytest.mark.parametrize("suffix", [".h5", ".xyz"])
def test_bad_values_name_file_and_frame(tmp_path, bad, words, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".h5":
        write_frames(path, frames(**bad))
    else:
        write_extxyz(frames(**bad), path)
    with pytest.raises(DataError) as exc:
        read_any(path)
    assert str(exc.value).startswith(f"{path}: {words}")


def test_good_frames_read(tmp_path):
    write_frames(tmp_path / "ok.h5", frames())
    assert read_any(tmp_path / "ok.h5").n_frames == 3
