"""The velocity grid follows the Knudsen number (issue 15 item 7: with the old default n = 64,
``hpcml kinetic`` was off by 0.02 in density at Kn >= 1)."""

import numpy as np
import pytest

from hpcml.config.kinetic import KineticSection
from hpcml.kinetic.resolution import MEASURED, MEASURED_N, TARGET, auto_points, density_error

pytest.importorskip("petsc4py")

from hpcml.cli.main import main  # noqa: E402
from hpcml.io.hdf5.kinetic import read_moments  # noqa: E402
from hpcml.kinetic.petsc.job import velocity_points  # noqa: E402


def test_rule_and_measured_errors_agree():
    assert [auto_points(kn) for kn in (1e-4, 0.049, 0.05, 0.19, 0.2, 1.0, 1e3)] == \
        [64, 64, 128, 128, 256, 256, 256]
    assert auto_points(1.0, "full") == 64                   # n**3 values per cell: capped
    for kn, errors in MEASURED.items():                     # the rule meets its target
        assert errors[MEASURED_N.index(auto_points(kn))] <= TARGET, kn
        for n, err in zip(MEASURED_N, errors):
            assert density_error(kn, n) == pytest.approx(err, rel=1e-9)
    assert density_error(1e3, 64) == density_error(10.0, 64)
    assert density_error(1.0, 512) < density_error(1.0, 256) < density_error(1.0, 200)
    assert density_error(1.0, 16) > density_error(1.0, 32)


def test_config_leaves_n_to_the_knudsen_number():
    assert KineticSection().velocity.n is None
    assert velocity_points(KineticSection(knudsen=1.0)) == 256
    assert velocity_points(KineticSection(knudsen=1e-4)) == 64
    assert velocity_points(KineticSection(knudsen=1.0, velocity={"n": 48})) == 48


def sod_config(tmp_path, velocity=""):
    path = tmp_path / "k.yaml"
    path.write_text(f"kinetic:\n  knudsen: 1.0\n  nx: 100\n  t_end: 0.2\n  outputs: 1\n"
                    f"  out: {tmp_path / 'm.h5'}\n{velocity}"
                    "  petsc_options: {kinetic_ts_cfl: 0.45}\n")
    return path


def test_default_grid_at_kn_1_agrees_with_a_fine_reference(tmp_path, capsys):
    """Sod at Kn = 1 with velocity.n unset, against n = 512: within 2e-3 in density
    (the old default n = 64 was off by 8e-3 here, 1.5e-2 at nx 200)."""
    from hpcml.kinetic.grid import CellLayout
    from hpcml.kinetic.initial import sod
    from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions

    assert main(["kinetic", str(sod_config(tmp_path)), "--json"]) == 0
    out, err = capsys.readouterr()
    rho = read_moments(tmp_path / "m.h5")["rho"][-1]
    ref = KineticSolver(Problem(CellLayout.make("chu", 512, 6.5), 100, eps=1.0),
                        TimeOptions(cfl=0.45))
    ref.set_state(*sod(ref.x))
    ref.run(0.2)
    error = np.abs(rho - ref.moments()["rho"]).max()
    assert error < 2e-3, error
    assert "nv=256" in out and "is coarse" not in err


def test_explicit_coarse_grid_warns_with_the_expected_error(tmp_path, capsys):
    cfg = sod_config(tmp_path)
    assert main(["kinetic", str(cfg), "--nv", "64", "--t-end", "0.002", "--force"]) == 0
    err = capsys.readouterr().err
    assert ("kinetic.velocity.n = 64 is coarse for Kn = 1: the density may be off by about "
            "0.015") in err and "n = 256 keeps it below 0.002" in err
    assert main(["kinetic", str(cfg), "--nv", "256", "--t-end", "0.002", "--force"]) == 0
    assert "is coarse" not in capsys.readouterr().err
    full = sod_config(tmp_path, "  velocity: {mode: full, n: 8}\n")
    assert main(["kinetic", str(full), "--t-end", "0.001", "--nx", "20", "--force"]) == 0
    assert "(256**3 values per cell in full mode; for BGK, mode: chu is exact" in \
        capsys.readouterr().err
