"""``hpcml moments solve``: JSON summary, the kinetic HDF5 layout, outputs and bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("petsc4py")

from hpcml.cli.main import EXIT_NOT_BUILT, EXIT_USER_ERROR, main  # noqa: E402
from hpcml.config import load_config  # noqa: E402
from hpcml.io.hdf5.kinetic import read_moments  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path, extra=""):
    path = tmp_path / "m.yaml"
    path.write_text(f"""
moments:
  closure: euler
  nx: 30
  t_end: 0.05
  outputs: 2
  out: {tmp_path / 'm.h5'}
{extra}""")
    return path


def test_json_and_the_kinetic_layout(tmp_path, capsys):
    cfg = write_config(tmp_path)
    rc = main(["moments", "solve", str(cfg), "--json", "-moments_flux", "hll", "--nx", "40",
               "--closure", "grad", "--knudsen", "1e-2", "--out", str(tmp_path / "o.h5"),
               "-moments_ts_cfl", "0.3"])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["closure"] == "grad" and summary["nx"] == 40 and summary["flux"] == "hll"
    assert summary["cfl"] == 0.3 and summary["wall_s"] > 0 and summary["t"] == 0.05
    assert max(summary["conservation"].values()) < 1e-13
    assert any(line.startswith("hpcml moments: t = 0.025") for line in lines)
    m = read_moments(tmp_path / "o.h5")
    np.testing.assert_allclose(m["t"], [0.0, 0.025, 0.05])
    for key in ("rho", "u", "T", "q", "P"):
        assert m[key].shape == (3, 40)
    assert m["attrs"]["closure"] == "grad" and m["attrs"]["knudsen"] == 1e-2
    np.testing.assert_allclose(m["rho"][0], np.where(m["x"] < 0.5, 1.0, 0.125))
    np.testing.assert_allclose(m["T"][0], np.where(m["x"] < 0.5, 1.0, 0.8), rtol=1e-12)
    np.testing.assert_allclose(m["P"][0], m["rho"][0] * m["T"][0], rtol=1e-12)
    assert not (tmp_path / "o.h5.partial").exists()
    kinetic = tmp_path / "k.yaml"
    kinetic.write_text(f"kinetic: {{nx: 40, velocity: {{n: 16}}, t_end: 0.05, outputs: 2, "
                       f"out: {tmp_path / 'k.h5'}}}\n")
    assert main(["kinetic", str(kinetic)]) == 0
    k = read_moments(tmp_path / "k.h5")
    assert set(k) == set(m) and all(k[n].shape == m[n].shape for n in set(k) - {"attrs"})
    np.testing.assert_array_equal(k["x"], m["x"])
    np.testing.assert_array_equal(k["t"], m["t"])


def test_existing_output_is_refused_unless_forced(tmp_path, capsys):
    cfg = write_config(tmp_path)
    out = tmp_path / "m.h5"
    out.write_bytes(b"precious")
    assert main(["moments", "solve", str(cfg)]) == EXIT_USER_ERROR
    assert "moments.out" in capsys.readouterr().err and out.read_bytes() == b"precious"
    assert main(["moments", "solve", str(cfg), "--force"]) == 0
    assert read_moments(out)["rho"].shape == (3, 30)


@pytest.mark.parametrize("words, named", [(["--nx", "0"], "--nx"),
                                          (["--knudsen", "-1"], "--knudsen"),
                                          (["--t-end", "1e30"], "--t-end"),
                                          (["-moments_ts_cfll", "0.3"], "did you mean"),
                                          (["-kinetic_ts_cfl", "0.3"], "only -moments_"),
                                          (["-moments_flux", "roe"], "rusanov"),
                                          (["--closure", "ns", "--knudsen", "1e30"],
                                           "--knudsen 1e+30 with closure ns")])
def test_bad_input_is_named(tmp_path, capsys, words, named):
    cfg = write_config(tmp_path)
    assert main(["moments", "solve", str(cfg), *words]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "m.h5.partial").exists()


def test_a_solve_that_blows_up_stops_and_keeps_its_outputs(tmp_path, capsys):
    cfg = write_config(tmp_path, "  initial: {type: riemann, left: [1.0, 2.0, 1.0], "
                       "right: [0.01, -2.0, 0.01]}")
    rc = main(["moments", "solve", str(cfg), "--closure", "grad", "--knudsen", "10",
               "--nx", "100", "--t-end", "0.1", "--json"])
    assert rc == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "at x = 0." in err and "at t = 0.00" in err and "m.h5.partial" in err
    assert not (tmp_path / "m.h5").exists()
    kept = read_moments(tmp_path / "m.h5.partial")
    assert kept["t"].tolist() == [0.0] and kept["rho"].shape == (1, 100)


def test_options_are_read_and_removed():
    from hpcml.moments.petsc.options import moment_options, time_options

    with moment_options({"ts_cfl": 0.3, "moments_ts_max_steps": 7, "flux": "hll",
                         "ts_relax": "exponential"}):
        opts = time_options()
    assert (opts.cfl, opts.max_steps, opts.flux, opts.relax) == (0.3, 7, "hll", "exponential")
    assert time_options().cfl is None and time_options().flux == "rusanov"


@pytest.mark.parametrize("closure", ["euler", "ns", "grad"])
def test_memory_estimate_covers_the_traced_peak(closure):
    """The job's estimate against the traced peak of a start, two steps and an output."""
    import tracemalloc

    from hpcml.kinetic.initial import sod
    from hpcml.moments.petsc.job import memory_estimate
    from hpcml.moments.solver import MomentProblem, MomentSolver

    nx = 50000
    tracemalloc.start()
    x = np.linspace(0, 1, nx + 1)
    s = MomentSolver(MomentProblem(closure, nx, eps=1e-2))
    s.set_state(*sod(0.5 * (x[1:] + x[:-1])))
    for _ in range(2):
        s.step(0.5 * s.max_dt())
    s.moments()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0.6 < peak / memory_estimate(nx, s.n_vars, 1).total < 1.1


def test_pending_actions_say_so(capsys):
    for action in ("train", "run"):
        assert main(["moments", action, "x.yaml"]) == EXIT_NOT_BUILT
        assert "issue 17" in capsys.readouterr().err


def test_sod_moments_is_the_sod_of_sod_bgk():
    moments = load_config(ROOT / "inputs" / "sod-moments.yaml").moments
    kinetic = load_config(ROOT / "inputs" / "sod-bgk.yaml").kinetic
    for key in ("x", "nx", "boundary", "initial", "t_end", "outputs", "limiter"):
        assert getattr(moments, key) == getattr(kinetic, key), key
