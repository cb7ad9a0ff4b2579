"""The read_any format registry (hpcml.io.formats)."""

from pathlib import Path

import pytest

from hpcml.errors import DataError
from hpcml.io import read_any
from hpcml.io.deepmd import write_deepmd_npy
from hpcml.io.deepmd_hdf5 import write_deepmd_hdf5
from hpcml.io.extxyz import write_extxyz
from hpcml.io.formats import READERS, detect_format
from hpcml.io.frames import assert_frames_equal
from hpcml.io.store import write_frames
from hpcml.io.synthetic import synthetic_frames


@pytest.fixture
def written(tmp_path):
    # one composition (1 O atom), so the deepmd/npy copy is a single system
    fr = synthetic_frames(5, max_atoms=1, keys=("energy", "force"), type_map=["O"])
    (npy,) = write_deepmd_npy(fr, tmp_path / "npy")
    write_extxyz(fr, tmp_path / "f.xyz")
    write_frames(tmp_path / "f.h5", fr)
    write_frames(tmp_path / "store.bin", fr)
    (system,) = write_deepmd_hdf5(fr, tmp_path / "dp.h5")
    return fr, {"deepmd/npy": npy, "extxyz": tmp_path / "f.xyz",
                "hdf5": tmp_path / "f.h5", "hdf5 signature": tmp_path / "store.bin",
                "deepmd/hdf5": tmp_path / "dp.h5", "deepmd/hdf5 group": system}


def test_every_format_is_detected_and_read(written):
    fr, paths = written
    assert set(READERS) == {"deepmd/npy", "deepmd/hdf5", "extxyz", "hdf5", "ase"}
    for fmt, path in paths.items():
        assert detect_format(path) == fmt.split()[0]
        assert_frames_equal(read_any(path), fr)
        assert_frames_equal(read_any(path, fmt=fmt.split()[0]), fr)


def test_type_map_reindexes_every_format(written):
    fr, paths = written
    for path in paths.values():
        assert_frames_equal(read_any(path, type_map=["H", "C", "O"]),
                            fr.with_type_map(["H", "C", "O"]))
    with pytest.raises(DataError, match="not in type_map"):
        read_any(paths["hdf5"], type_map=["H"])


def test_unknown_format_name_suggests(written):
    _, paths = written
    with pytest.raises(ValueError, match="did you mean 'extxyz'"):
        read_any(paths["extxyz"], fmt="exyz")


def test_undetectable_paths(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_any(tmp_path / "nothing.xyz2")
    (tmp_path / "notes.txt").write_text("hello")
    assert detect_format(Path(tmp_path / "notes.txt")) == "ase"      # ASE is installed here
    with pytest.raises(DataError, match="notes.txt: ASE cannot read it"):
        read_any(tmp_path / "notes.txt")
