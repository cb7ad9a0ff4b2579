"""Data interop: deepmd/hdf5, DP-GEN globs, ASE formats with stress, hpcml convert."""

import numpy as np
import pytest

from hpcml.cli.main import main
from hpcml.errors import DataError
from hpcml.io import read_any
from hpcml.io.deepmd import write_deepmd_npy
from hpcml.io.deepmd_hdf5 import read_deepmd_hdf5, system_groups, write_deepmd_hdf5
from hpcml.io.extxyz import read_extxyz
from hpcml.io.formats import detect_format
from hpcml.io.frames import assert_frames_equal
from hpcml.io.synthetic import synthetic_frames
from hpcml.testing.data import embedded_water

ase_io = pytest.importorskip("ase.io")


@pytest.fixture(scope="module")
def water():
    return read_any(embedded_water())


def test_deepmd_hdf5_round_trip_per_system(tmp_path):
    fr = synthetic_frames(12, max_atoms=3, keys=("energy", "force", "virial"),
                          type_map=["O", "H"])
    systems = write_deepmd_hdf5(fr, tmp_path / "d.h5")
    assert len(systems) > 1 and system_groups(tmp_path / "d.h5") == [
        "/" + s.split("#/")[1] for s in systems]
    npy = write_deepmd_npy(fr, tmp_path / "npy")               # same grouping, same order
    for system, directory in zip(systems, npy):
        assert detect_format(system) == "deepmd/hdf5"
        assert_frames_equal(read_any(system), read_any(directory))
    everything = read_any(tmp_path / "d.h5")
    assert everything.n_frames == fr.n_frames
    with pytest.raises(DataError, match="no group '/nope'"):
        read_deepmd_hdf5(f"{tmp_path / 'd.h5'}#/nope")
    with pytest.raises(DataError, match="already exists"):
        write_deepmd_hdf5(fr, tmp_path / "d.h5")


def test_dpgen_data_folders_by_glob(tmp_path, water):
    for it, frames in enumerate((water.select([0, 1, 2]), water.select([3, 4]))):
        write_deepmd_npy(frames, tmp_path / f"iter.{it:06d}" / "02.fp" / f"data.{it:03d}")
    pattern = str(tmp_path / "iter.*" / "02.fp" / "data.*" / "*")
    both = read_any(pattern)
    assert both.n_frames == 5
    np.testing.assert_array_equal(both["energy"], water["energy"][:5])
    with pytest.raises(DataError, match="matches no file"):
        read_any(str(tmp_path / "iter.*" / "03.fp" / "*"))


def test_ase_formats_and_stress(tmp_path, water):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    f = water.frame(0)
    symbols = [water.type_map[t] for t in f["atype"]]
    atoms = Atoms(symbols, positions=f["coord"], cell=f["cell"], pbc=True)
    stress = np.array([0.01, 0.02, 0.03, 0.004, 0.005, 0.006])          # eV/A^3, Voigt
    atoms.calc = SinglePointCalculator(atoms, energy=float(f["energy"]), forces=f["force"],
                                       stress=stress)
    for name, fmt in (("POSCAR", "vasp"), ("w.cif", "cif")):
        ase_io.write(tmp_path / name, atoms, format=fmt)
    start = read_any(tmp_path / "POSCAR", type_map=["O", "H"])           # a start structure
    assert detect_format(tmp_path / "POSCAR") == "ase"
    np.testing.assert_allclose(start["coord"], f["coord"], atol=1e-6)
    np.testing.assert_allclose(read_any(tmp_path / "w.cif")["cell"][0], f["cell"], atol=1e-4)
    ase_io.write(tmp_path / "s.xyz", atoms, format="extxyz")
    fast = read_extxyz(tmp_path / "s.xyz")                      # hand-written fast path
    slow = read_any(tmp_path / "s.xyz", fmt="ase")              # through ASE
    volume = abs(np.linalg.det(f["cell"]))
    xx, yy, zz, yz, xz, xy = stress
    want = -np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]) * volume
    for frames in (fast, slow):
        np.testing.assert_allclose(frames["virial"][0], want, rtol=1e-7)
        np.testing.assert_allclose(frames["force"], f["force"], atol=1e-7)   # ASE: 8 digits
        assert frames["energy"][0] == pytest.approx(float(f["energy"]))


def test_cli_convert_between_formats(tmp_path, water, capsys):
    w = str(embedded_water())
    assert main(["convert", w, str(tmp_path / "d.h5"), "--to", "deepmd/hdf5"]) == 0
    assert main(["convert", str(tmp_path / "d.h5"), str(tmp_path / "w.xyz")]) == 0
    assert main(["convert", str(tmp_path / "w.xyz"), str(tmp_path / "store.h5"),
                 "--type-map", "H,O"]) == 0
    assert main(["convert", str(tmp_path / "store.h5"), str(tmp_path / "npy")]) == 0
    out = capsys.readouterr().out
    assert "20 frame(s), type_map ['H', 'O'], as deepmd/npy" in out
    back = read_any(tmp_path / "npy" / "000_H128O64", type_map=["O", "H"])
    np.testing.assert_allclose(back["coord"], water["coord"], atol=1e-8)
    np.testing.assert_allclose(back["force"], water["force"], atol=1e-8)
    np.testing.assert_array_equal(back["atype"], water["atype"])
    assert main(["convert", str(tmp_path / "w.xyz"), str(tmp_path / "w.xyz"), "--force"]) == 2
    assert main(["convert", w, str(tmp_path / "w.xyz")]) == 2
    err = capsys.readouterr().err
    assert "is also an input" in err and "pass --force" in err


def test_config_takes_hdf5_systems_and_globs(tmp_path, water):
    from hpcml.config.load import load_config
    from hpcml.errors import ConfigError

    write_deepmd_hdf5(water.select([0]), tmp_path / "w.h5")
    write_deepmd_npy(water.select([1]), tmp_path / "iter.000000" / "02.fp" / "data.000")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {type_map: [O, H], systems: ['w.h5#/000_O64H128', "
                   "'iter.*/02.fp/data.*/*']}\n")
    systems = load_config(cfg).data.systems
    assert [read_any(s).n_frames for s in systems] == [1, 1]
    cfg.write_text("data: {type_map: [O, H], systems: ['iter.*/03.fp/*']}\n")
    with pytest.raises(ConfigError, match=r"data.systems\[0\]: no such file or directory"):
        load_config(cfg)
