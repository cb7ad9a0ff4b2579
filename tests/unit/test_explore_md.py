"""hpcml md on one rank: energy conservation, outputs, restart, bad input."""

import json

import numpy as np
import pytest

from hpcml.cli.main import main
from hpcml.config.md import MdSection
from hpcml.errors import DataError
from hpcml.explore.job import run_md
from hpcml.io.store import read_frames
from hpcml.parallel import Context
from hpcml.testing.data import embedded_water
from hpcml.testing.models import small_committee as committee

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def md_section(tmp_path, **kw):
    base = dict(structure=embedded_water(), ensemble="nve", dt=0.5, steps=40, skin=1.0,
                model_devi_freq=5, trust_lo=0.0, trust_hi=10.0, traj_freq=10,
                checkpoint_freq=20, out=tmp_path / "md")
    base.update(kw)
    return MdSection(**base)


def test_nve_conserves_energy_and_writes_outputs(tmp_path):
    ctx = Context.create(serial=True)
    comm = committee()
    summary = run_md(ctx, comm, md_section(tmp_path))
    out = tmp_path / "md" / "walker_0"
    devi = np.loadtxt(out / "devi.out")
    assert devi.shape == (9, 7) and devi[0, 0] == 0 and devi[-1, 0] == 40
    assert np.all(devi[:, 4] > 0)                   # members differ
    # every sampled frame is a candidate with these trust levels; all kept
    assert summary["candidates"] == 9 and summary["fractions"]["candidate"] == 1.0
    assert len(read_frames(out / "traj.h5")) == 4
    cands = read_frames(tmp_path / "md" / "candidates.h5")
    assert cands["frame_id"].tolist() == list(range(0, 41, 5))
    assert json.loads((tmp_path / "md" / "summary.json").read_text())["atoms"] == 192


def test_restart_continues_from_checkpoint(tmp_path):
    ctx = Context.create(serial=True)
    comm = committee()
    run_md(ctx, comm, md_section(tmp_path, steps=40))
    straight = read_frames(tmp_path / "md" / "walker_0" / "traj.h5")
    run_md(ctx, comm, md_section(tmp_path / "b", steps=20))
    again = run_md(ctx, comm, md_section(tmp_path / "b", steps=40))
    resumed = read_frames(tmp_path / "b" / "md" / "walker_0" / "traj.h5")
    assert again["walkers"][0]["steps"] == 20
    box = np.diag(straight["cell"][0])
    diff = resumed["coord"] - straight["coord"]
    np.testing.assert_allclose(diff - box * np.round(diff / box), 0.0, atol=1e-9)  # images
    devi = np.loadtxt(tmp_path / "b" / "md" / "walker_0" / "devi.out")
    assert devi[:, 0].tolist() == list(range(0, 41, 5))


def test_nve_energy_drift(tmp_path):
    """NVE with the domain-decomposed force path: the total energy stays within
    2e-4 eV/atom over 100 steps of 0.5 fs (a drift bound of 4e-3 eV/atom/ps), with
    Verlet-list rebuilds and atom migration along the way."""
    from hpcml.explore.job import walker_structure
    from hpcml.explore.md import Walker

    ctx = Context.create(serial=True)
    comm = committee()
    cfg = md_section(tmp_path, steps=100, model_devi_freq=100)
    walker = Walker(ctx, comm, walker_structure(cfg, 0, comm.type_map), cfg.walkers[0], cfg,
                    0, tmp_path / "w")
    state, ids, _ = walker._start()
    e0 = state.energy + state.kinetic_energy
    from hpcml.molecular import integrators as md

    worst = 0.0
    for _ in range(100):
        state, ids = walker._maybe_rebuild(state, ids)
        state = md.nve_step(state, walker.forces, 0.5)
        worst = max(worst, abs(state.energy + state.kinetic_energy - e0))
    assert worst / 192 < 2e-4


def test_cli_md_json_and_bad_input(tmp_path, capsys):
    comm = committee()
    model = comm.save(tmp_path / "ensemble.pt")
    cfg = tmp_path / "md.yaml"
    cfg.write_text(f"md: {{structure: '{embedded_water()}', steps: 10, model_devi_freq: 5, "
                   f"out: '{tmp_path / 'out'}'}}\n")
    assert main(["md", str(cfg), "--model", str(model), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["atoms"] == 192 and result["ranks"] == 1 and result["us_per_atom_step"] > 0
    assert main(["md", str(cfg), "--model", str(model), "--atoms", "1000"]) == 2
    assert "use one of [192, 1536" in capsys.readouterr().err
    with pytest.raises(DataError, match="not an hpcml ensemble|not a model file"):
        from hpcml.molecular.committee import Committee

        (tmp_path / "x.pt").write_text("x")
        Committee.load(tmp_path / "x.pt")


def test_overlapping_atoms_and_identical_members(tmp_path):
    from hpcml.explore.job import walker_structure
    from hpcml.explore.md import Walker
    from hpcml.molecular.committee import Committee
    from hpcml.testing.models import small_model

    ctx = Context.create(serial=True)
    same = Committee([small_model(1), small_model(1)])
    cfg = md_section(tmp_path, steps=10, trust_lo=0.05, trust_hi=0.15)
    summary = run_md(ctx, same, cfg)
    devi = np.loadtxt(tmp_path / "md" / "walker_0" / "devi.out")
    assert np.all(devi[:, 1:] == 0.0) and summary["fractions"]["accurate"] == 1.0
    structure = walker_structure(cfg, 0, same.type_map)
    structure.positions[1] = structure.positions[0] + [0.1, 0.0, 0.0]
    walker = Walker(ctx, same, structure, cfg.walkers[0], cfg, 0, tmp_path / "o")
    with pytest.raises(DataError, match="overlapping atoms: .* 0.100 A apart"):
        walker._start()


def test_npt_changes_the_cell_and_keeps_atoms(tmp_path):
    """Berendsen coupling every 10 steps rebuilds the decomposition of the new cell."""
    ctx = Context.create(serial=True)
    comm = committee()
    cfg = md_section(tmp_path, steps=20, ensemble="npt", thermostat="nhc", tau_p=50.0,
                     compressibility=1e-3, walkers=[{"temperature": 330.0, "pressure": 1.0}])
    run_md(ctx, comm, cfg)
    traj = read_frames(tmp_path / "md" / "walker_0" / "traj.h5")
    from hpcml.io import read_any

    start = read_any(embedded_water())
    assert not np.allclose(traj["cell"][-1], start["cell"][0])
    assert traj["natoms"].tolist() == [192, 192]
