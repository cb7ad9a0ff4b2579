"""DeePMD-kit npy systems (hpcml.io.deepmd)."""

import shutil

import numpy as np
import pytest

from hpcml.errors import DataError
from hpcml.io.deepmd import read_deepmd_npy, write_deepmd_npy
from hpcml.io.frames import Frames, assert_frames_equal
from hpcml.io.synthetic import synthetic_frames
from hpcml.testing.data import water_dir

WATER = water_dir()
needs_water = pytest.mark.skipif(not WATER.exists(), reason="water data not present")


@needs_water
def test_read_water_data_0():
    fr = read_deepmd_npy(WATER / "data_0")
    assert (fr.n_frames, fr.n_atoms) == (80, 80 * 192)
    assert fr.type_map == ["O", "H"]
    assert fr.keys == ("natoms", "cell", "energy", "coord", "atype", "force")
    raw = WATER / "data_0" / "set.000"
    coord = np.load(raw / "coord.npy")
    np.testing.assert_array_equal(fr["coord"], coord.reshape(-1, 3).astype(np.float64))
    np.testing.assert_array_equal(fr["cell"], np.load(raw / "box.npy").reshape(80, 3, 3))
    np.testing.assert_array_equal(fr["energy"], np.load(raw / "energy.npy"))
    np.testing.assert_array_equal(fr.frame(5)["force"],
                                  np.load(raw / "force.npy")[5].reshape(192, 3))
    atype = np.loadtxt(WATER / "data_0" / "type.raw", dtype=int)
    np.testing.assert_array_equal(fr.frame(79)["atype"], atype)
    assert np.bincount(fr.frame(0)["atype"]).tolist() == [64, 128]


@needs_water
def test_read_water_data_1_concatenates_sets_in_order():
    fr = read_deepmd_npy(WATER / "data_1")
    assert fr.n_frames == 160
    second = np.load(WATER / "data_1" / "set.001" / "energy.npy")
    np.testing.assert_array_equal(fr["energy"][80:], second)


@needs_water
def test_type_map_argument_reindexes():
    fr = read_deepmd_npy(WATER / "data_0", type_map=["H", "O"])
    assert fr.type_map == ["H", "O"]
    assert np.bincount(fr.frame(0)["atype"]).tolist() == [128, 64]


def test_round_trip_groups_frames_by_composition(tmp_path):
    fr = synthetic_frames(12, max_atoms=2)  # few compositions, repeated
    paths = write_deepmd_npy(fr, tmp_path / "out", set_size=2)
    seen = []
    for path in paths:
        back = read_deepmd_npy(path)
        ids = back["frame_id"]
        seen += ids.tolist()
        assert_frames_equal(back, fr.select(ids))
        first = back.frame(0)["atype"]
        assert all(np.array_equal(back.frame(i)["atype"], first) for i in range(len(back)))
        assert len(list(path.glob("set.*"))) == -(-back.n_frames // 2)
    assert sorted(seen) == list(range(12))
    assert len(paths) == len({(int(n), fr["atype"][s].tobytes())
                              for n, s in zip(fr["natoms"], fr.atom_slices)})


@needs_water
def test_round_trip_water(tmp_path):
    fr = read_deepmd_npy(WATER / "data_0")
    (path,) = write_deepmd_npy(fr, tmp_path)
    assert path.name == "000_O64H128"
    assert_frames_equal(read_deepmd_npy(path), fr)


def test_write_refuses_to_overwrite(tmp_path):
    fr = synthetic_frames(2, max_atoms=1)
    write_deepmd_npy(fr, tmp_path)
    with pytest.raises(DataError, match="already exists"):
        write_deepmd_npy(fr, tmp_path)


@pytest.fixture
def system(tmp_path):
    fr = Frames(["O", "H"], {"natoms": [3, 3], "cell": np.tile(np.eye(3), (2, 1, 1)),
                             "coord": np.zeros((6, 3)), "atype": [0, 1, 1] * 2,
                             "energy": [1.0, 2.0], "force": np.ones((6, 3))})
    (path,) = write_deepmd_npy(fr, tmp_path, set_size=1)
    return path


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "type.raw").unlink(), r"type.raw: missing"),
        (lambda p: (p / "type.raw").write_text("0\nx\n"), r"type.raw: malformed"),
        (lambda p: (p / "type.raw").write_text("0 1 5\n"), r"type.raw: type indices"),
        (lambda p: (p / "set.000" / "coord.npy").unlink(), r"set.000/coord.npy: missing"),
        (lambda p: (p / "set.001" / "box.npy").unlink(), r"set.001/box.npy: missing"),
        (lambda p: np.save(p / "set.000" / "force.npy", np.zeros((1, 6))),
         r"set.000/force.npy: array 'force' has shape \(1, 6\); expected \(1, 9\)"),
        (lambda p: np.save(p / "set.001" / "energy.npy", np.zeros(2)),
         r"set.001/energy.npy: array 'energy' has shape \(2,\)"),
        (lambda p: (p / "set.001" / "energy.npy").unlink(),
         r"set.001: arrays \['energy'\] are in some sets but not all"),
        (lambda p: (p / "set.000" / "box.npy").write_text("garbage"),
         r"set.000/box.npy: cannot read array"),
        (lambda p: [shutil.rmtree(s) for s in p.glob("set.*")], "no set.* directories"),
    ],
)
def test_bad_systems_raise_data_error_naming_file_and_array(system, damage, message):
    damage(system)
    with pytest.raises(DataError, match=message):
        read_deepmd_npy(system)


def test_missing_type_map_raw_needs_a_type_map(system):
    (system / "type_map.raw").unlink()
    with pytest.raises(DataError, match="type_map.raw: missing"):
        read_deepmd_npy(system)
    assert read_deepmd_npy(system, type_map=["O", "H"]).n_frames == 2
