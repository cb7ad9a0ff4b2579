"""``hpcml test``: dp-test figures, per-member rows, --member, --detail files, JSON."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpcml.cli.main import main
from hpcml.io import read_any
from hpcml.io.deepmd import write_deepmd_npy
from hpcml.io.dptest import COLUMNS
from hpcml.testing.data import embedded_water
from hpcml.testing.deepmd import read_detail
from hpcml.testing.models import small_committee

WATER = embedded_water()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An ensemble of 2, and a 3-frame system labeled with virials (member 0 + noise)."""
    root = tmp_path_factory.mktemp("test")
    ens = small_committee()
    ens.save(root / "ens.pt")
    frames = read_any(WATER).select([0, 1, 2])
    rng = np.random.default_rng(0)
    virials = []
    for i in range(3):
        f = frames.frame(i)
        out = ens.models[0].evaluate(f["coord"], f["cell"], f["atype"])
        virials.append(out["virial"] + rng.normal(0, 0.1, (3, 3)))
    arrays = dict(frames.arrays, virial=np.array(virials))
    (system,) = write_deepmd_npy(type(frames)(frames.type_map, arrays), root / "vir")
    return root, ens, system


def run_json(capsys, *args):
    assert main(["test", *map(str, args), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return out, json.loads(out[-1])


def test_figures_per_member_and_frames(setup, capsys):
    root, ens, system = setup
    lines, fig = run_json(capsys, root / "ens.pt", WATER, system)
    assert fig["frames"] == 23 and [s["frames"] for s in fig["systems"]] == [20, 3]
    assert [m["system"] for m in fig["members"]] == ["member 0", "member 1"]
    for key in ("energy_mae_eV", "energy_rmse_eV", "energy_mae_per_atom_meV",
                "energy_rmse_per_atom_meV", "force_mae_eV_per_A", "force_rmse_eV_per_A",
                "virial_mae_per_atom_meV", "virial_rmse_per_atom_meV"):
        assert fig[key] > 0, key
    assert fig["energy_rmse_eV"] >= fig["energy_mae_eV"]
    assert "virial_rmse_per_atom_meV" not in fig["systems"][0]      # no virial labels there
    assert sum("member " in ln for ln in lines[:-1]) == 2
    # member 0 labeled the virials: its virial error is the noise, 0.1 eV / 192 atoms
    v = fig["members"][0]["virial_rmse_per_atom_meV"]
    assert 0.2 < v < 0.9
    _, one = run_json(capsys, root / "ens.pt", system, "--member", "0")
    assert one["member"] == 0 and [m["system"] for m in one["members"]] == ["member 0"]
    assert one["virial_rmse_per_atom_meV"] == pytest.approx(v)


def test_detail_files_as_dp_test_writes_them(setup, tmp_path, capsys):
    root, ens, system = setup
    prefix = tmp_path / "out.detail"            # dp test: with_suffix replaces ".detail"
    assert main(["test", str(root / "ens.pt"), str(WATER), str(system), "--member", "1",
                 "--detail", str(prefix)]) == 0
    assert "wrote" in capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out.e.out", "out.e_peratom.out", "out.f.out", "out.v.out",
                     "out.v_peratom.out"]
    for suffix, columns in COLUMNS.items():
        text = (tmp_path / f"out{suffix}").read_text().splitlines()
        first = str(WATER) if suffix in (".e.out", ".e_peratom.out", ".f.out") else str(system)
        assert text[0] == f"# {first}: {columns}"
        assert sum(ln.startswith("#") for ln in text) == 1          # header once, as dp
    d = read_detail(tmp_path / "out")
    assert d["e"].shape == (23, 2) and d["f"].shape == (23 * 192, 6) and d["v"].shape == (3, 18)
    assert np.allclose(d["e_peratom"], d["e"] / 192)
    f = read_any(WATER).frame(0)
    out = ens.models[1].evaluate(f["coord"], f["cell"], f["atype"])
    assert d["e"][0, 0] == pytest.approx(float(f["energy"]))
    assert np.abs(d["e"][0, 1] - out["energy"]) < 1e-9
    assert np.array_equal(d["f"][:192, 3:], out["force"])           # %.18e: exact


def test_type_map_mismatch_and_bad_member(setup, tmp_path, capsys):
    root, ens, _ = setup
    frames = read_any(WATER).select([0])
    odd = type(frames)(["C", "H"], frames.arrays)
    (system,) = write_deepmd_npy(odd, tmp_path / "c")
    assert main(["test", str(root / "ens.pt"), str(system)]) == 2
    err = capsys.readouterr().err
    assert "elements ['C'] are not in type_map ['O', 'H']" in err and str(system) in err
    assert main(["test", str(root / "ens.pt"), str(WATER), "--member", "2"]) == 2
    assert "--member 2: the model has members 0..1" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_under_mpirun_prints_and_writes_once(setup, tmp_path):
    root, _, system = setup
    env = {k: v for k, v in os.environ.items() if k != "HPCML_NO_MPI"}
    env.update(OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    hpcml = Path(sys.executable).with_name("hpcml")
    proc = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", str(hpcml), "test",
                           str(root / "ens.pt"), str(system), "--detail", "d", "--json"],
                          cwd=tmp_path, env=env, text=True, capture_output=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("E rmse (meV/atom)") == 1, proc.stdout
    assert json.loads(proc.stdout.splitlines()[-1])["frames"] == 3
    assert len((tmp_path / "d.e.out").read_text().splitlines()) == 4
