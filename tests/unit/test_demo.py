"""``hpcml demo`` on one process (the MPI runs are in tests/mpi/test_demo_mpi.py)."""

from hpcml.cli.main import main
from hpcml.io.store import read_frames, store_info


def test_demo_serial_writes_identical_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HPCML_NO_MPI", "1")
    assert main(["demo", "--output", str(tmp_path), "--frames-per-rank", "7"]) == 0
    out = capsys.readouterr().out
    assert "OK: 21 frames (4032 atoms" in out and "not built yet (issue 7)" in out
    info = store_info(tmp_path / "frames.h5")
    assert info.n_committed == 21 and info.type_map == ["O", "H"]
    frames = read_frames(tmp_path / "frames.h5")
    assert frames.equals(read_frames(tmp_path / "frames_serial.h5"))
    assert list(frames["iteration"]) == [0] * 7 + [1] * 7 + [2] * 7
