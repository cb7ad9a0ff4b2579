"""The HDF5 frame store, serial paths (hpcml.io.store)."""

import subprocess
import sys

import h5py
import numpy as np
import pytest

from hpcml.errors import DataError
from hpcml.io.frames import assert_frames_equal
from hpcml.io.hdf5 import layout
from hpcml.io.hdf5.writers import get_writer, resolve_writer
from hpcml.io.keys import KEYS
from hpcml.io.store import (
    append_frames,
    create_store,
    read_frames,
    store_info,
    write_frames,
)
from hpcml.io.synthetic import synthetic_frames
from hpcml.parallel import Context

KEYSET = ["energy", "force", "virial", "frame_id"]


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "frames.h5"
    create_store(path, ["O", "H"], KEYSET)
    return path


def frames(indices):
    return synthetic_frames(indices, keys=KEYSET)


def test_create_writes_the_documented_layout(store):
    with h5py.File(store) as f:
        assert f.attrs["format"] == "hpcml-frames"
        assert f.attrs["schema_version"] == 1 and f.attrs["n_committed"] == 0
        assert list(f.attrs["type_map"]) == ["O", "H"]
        for name in ("natoms", "cell", "coord", "atype", "energy", "force", "virial",
                     "frame_id"):
            dset = f[name]
            assert dset.attrs["unit"] == KEYS[name].unit
            assert dset.attrs["doc"] == KEYS[name].doc
            assert dset.dtype == KEYS[name].np_dtype
            assert dset.shape == KEYS[name].full_shape(0)
            assert dset.maxshape[0] is None and dset.chunks is not None
        assert f["atom_start"].dtype == np.int64
        assert "deviation" not in f
    info = store_info(store)
    assert info.keys == ("natoms", "cell", "energy", "virial", "coord", "atype",
                         "force", "frame_id")
    assert (info.n_committed, info.n_atoms, info.type_map) == (0, 0, ["O", "H"])
    assert not store.with_name("frames.h5.tmp").exists()


def test_append_and_read_back(store):
    assert append_frames(store, frames(range(0, 5))) == 5
    assert append_frames(store, frames([])) == 5
    assert append_frames(store, frames(range(5, 12))) == 12
    assert_frames_equal(read_frames(store), frames(range(12)))
    info = store_info(store)
    assert (info.n_committed, info.n_atoms) == (12, frames(range(12)).n_atoms)
    with h5py.File(store) as f:
        np.testing.assert_array_equal(f["atom_start"][:12], frames(range(12)).atom_start)


def test_read_selected_frames(store):
    append_frames(store, frames(range(20)))
    for idx in ([3, 17, 4, 4, 0], slice(5, 9), [-1], np.arange(20) % 3 == 0, []):
        assert_frames_equal(read_frames(store, idx), frames(range(20)).select(idx))
    with pytest.raises(IndexError, match="20 committed frames"):
        read_frames(store, [20])


def test_append_reindexes_types_and_checks_keys(store):
    fr = frames(range(4))
    append_frames(store, fr.with_type_map(["H", "O"]))
    assert_frames_equal(read_frames(store), fr)
    with pytest.raises(ValueError, match="store holds keys"):
        append_frames(store, synthetic_frames(2, keys=["energy"]))
    with pytest.raises(ValueError, match=r"\['C'\] are not in type_map"):
        append_frames(store, synthetic_frames(2, keys=KEYSET, type_map=["O", "C"]))
    assert store_info(store).n_committed == 4


def test_capacity_grows_ahead_and_tail_is_ignored(store):
    append_frames(store, frames(range(10)))
    append_frames(store, frames(range(10, 11)))
    with h5py.File(store) as f:
        assert f["natoms"].shape[0] == 15  # grown by 1.5x, not to 11
    assert read_frames(store).n_frames == 11


def _write_stale_tail(path, n_extra):
    """Write garbage rows after the committed frames without committing them."""
    info = store_info(path)
    with h5py.File(path, "r+") as f:
        for name in f:
            dset = f[name]
            per_atom = name != "atom_start" and KEYS[name].per == "atom"
            n = info.n_atoms if per_atom else info.n_committed
            dset.resize(dset.shape[0] + n_extra * 8, axis=0)
            dset[n:] = 7 if dset.dtype.kind != "f" else np.nan


def test_stale_half_written_tail_is_ignored_and_overwritten(store):
    append_frames(store, frames(range(6)))
    _write_stale_tail(store, 5)
    with h5py.File(store) as f:
        assert f["natoms"][6] == 7 and np.isnan(f["coord"][-1]).all()
    assert_frames_equal(read_frames(store), frames(range(6)))
    assert store_info(store).n_committed == 6
    append_frames(store, frames(range(6, 9)))
    assert_frames_equal(read_frames(store), frames(range(9)))


def test_write_frames_is_one_shot_and_atomic(tmp_path):
    path = tmp_path / "one.h5"
    path.with_name("one.h5.tmp").write_text("stale temporary file")
    info = write_frames(path, frames(range(7)))
    assert info.n_committed == 7
    assert_frames_equal(read_frames(path), frames(range(7)))
    write_frames(path, frames(range(3)))
    assert_frames_equal(read_frames(path), frames(range(3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.h5"]


def test_create_store_existing_file(store):
    with pytest.raises(DataError, match="already exists; pass exist_ok=True"):
        create_store(store, ["O", "H"], KEYSET)
    append_frames(store, frames(range(2)))
    assert create_store(store, ["O", "H"], KEYSET, exist_ok=True).n_committed == 2
    with pytest.raises(DataError, match="exists with type_map"):
        create_store(store, ["O", "H"], ["energy"], exist_ok=True)
    with pytest.raises(ValueError, match="distinct element names"):
        create_store(store.with_name("x.h5"), [], [])


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("hello")
    with pytest.raises(DataError, match=f"{path}: cannot open as HDF5"):
        read_frames(path)
    with pytest.raises(DataError, match="no such frame store"):
        store_info(tmp_path / "missing.h5")


def test_hdf5_file_of_another_kind(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["coord"] = np.zeros((3, 3))
    with pytest.raises(DataError, match=f"{path}: not an hpcml frame file"):
        read_frames(path)


def test_newer_schema_version(store):
    with h5py.File(store, "r+") as f:
        f.attrs["schema_version"] = 2
    with pytest.raises(DataError, match=f"{store}: schema_version 2 is newer.*upgrade"):
        store_info(store)


def test_missing_dataset(store):
    with h5py.File(store, "r+") as f:
        del f["force"]
    with pytest.raises(DataError, match=f"{store}: missing dataset '/force'"):
        read_frames(store)


def test_damaged_atom_start_is_detected(store):
    append_frames(store, frames(range(4)))
    with h5py.File(store, "r+") as f:
        f["atom_start"][2] += 1
    with pytest.raises(DataError, match="'/atom_start' disagrees"):
        read_frames(store)


def test_truncated_dataset_is_detected(store):
    append_frames(store, frames(range(4)))
    with h5py.File(store, "r+") as f:
        f["energy"].resize(2, axis=0)
    with pytest.raises(DataError, match="'/energy' has 2 rows but 4"):
        read_frames(store)
    n_atoms = frames(range(4)).n_atoms
    with h5py.File(store, "r+") as f:
        f["energy"].resize(4, axis=0)
        f["coord"].resize(n_atoms - 1, axis=0)
    with pytest.raises(DataError, match=f"'/coord' has {n_atoms - 1} rows but {n_atoms}"):
        store_info(store)
    with h5py.File(store, "r+") as f:
        f["atom_start"].resize(3, axis=0)
    with pytest.raises(DataError, match="'/atom_start' has 3 rows but 4"):
        store_info(store)


def test_writer_registry():
    ctx = Context.create(serial=True)
    assert resolve_writer(ctx, "auto") == "serial"
    assert resolve_writer(ctx, "gather") == "gather"
    with pytest.raises(ValueError, match="did you mean 'gather'"):
        get_writer("gathr")
    with pytest.raises(ValueError, match="did you mean 'mpio'"):
        append_frames("unused.h5", frames([]), writer="mpi")


@pytest.mark.parametrize("writer", ["serial", "gather"])
def test_one_rank_writers_agree(tmp_path, writer):
    path = tmp_path / f"{writer}.h5"
    create_store(path, ["O", "H"], KEYSET)
    append_frames(path, frames(range(3)), writer=writer)
    append_frames(path, frames(range(3, 8)), writer=writer)
    assert_frames_equal(read_frames(path), frames(range(8)))


def test_mpio_writer_refuses_a_serial_context(store):
    with pytest.raises(ValueError, match="needs an MPI Context"):
        append_frames(store, frames(range(2)), writer="mpio")


def _run(code):
    env_code = "import os; os.environ.pop('H5PY_ALWAYS_USE_MPI', None); " + code
    return subprocess.run([sys.executable, "-c", env_code], capture_output=True,
                          text=True, timeout=60)


def test_require_mpio_loads_the_mpi_build_and_restores_the_environment():
    out = _run("import os; from hpcml.io.hdf5._h5 import require_mpio; "
               "h = require_mpio(); "
               "print(h.get_config().mpi, 'H5PY_ALWAYS_USE_MPI' in os.environ)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_require_mpio_after_serial_import_is_a_clear_error():
    out = _run("import h5py; from hpcml.io.hdf5._h5 import require_mpio; require_mpio()")
    assert out.returncode != 0
    assert "HDF5SetupError" in out.stderr and "serial build" in out.stderr


def test_layout_constants():
    assert layout.FORMAT == "hpcml-frames" and layout.SCHEMA_VERSION == 1
