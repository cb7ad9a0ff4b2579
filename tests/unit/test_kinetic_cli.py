"""``hpcml kinetic``: JSON summary, HDF5 moments, overrides and bad input."""

import json

import numpy as np
import pytest

pytest.importorskip("petsc4py")

from hpcml.cli.main import EXIT_USER_ERROR, main  # noqa: E402
from hpcml.io.hdf5.kinetic import read_moments  # noqa: E402


def write_config(tmp_path, extra=""):
    path = tmp_path / "k.yaml"
    path.write_text(f"""
kinetic:
  nx: 30
  velocity: {{n: 24}}
  t_end: 0.05
  outputs: 2
  out: {tmp_path / 'm.h5'}
{extra}""")
    return path


def test_json_and_moments_file(tmp_path, capsys):
    cfg = write_config(tmp_path)
    rc = main(["kinetic", str(cfg), "--json", "-kinetic_ts_cfl", "0.3", "--nx", "40",
               "--knudsen", "1e-3", "--out", str(tmp_path / "o.h5")])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["cell_velocity_updates_per_s"] > 0
    assert max(summary["conservation"].values()) < 1e-13
    assert summary["nx"] == 40 and summary["dof"] == 48
    assert any(line.startswith("hpcml kinetic: t = 0.025") for line in lines)
    m = read_moments(tmp_path / "o.h5")
    np.testing.assert_allclose(m["t"], [0.0, 0.025, 0.05])
    assert m["rho"].shape == (3, 40) and m["x"].shape == (40,)
    for key in ("u", "T", "q", "P"):
        assert m[key].shape == (3, 40)
    assert m["attrs"]["knudsen"] == 1e-3
    np.testing.assert_allclose(m["rho"][0], np.where(m["x"] < 0.5, 1.0, 0.125))
    np.testing.assert_allclose(m["T"][0], np.where(m["x"] < 0.5, 1.0, 0.8), rtol=1e-12)


def test_snapshots_of_f(tmp_path):
    cfg = write_config(tmp_path, "  snapshots: true")
    assert main(["kinetic", str(cfg)]) == 0
    m = read_moments(tmp_path / "m.h5")
    assert m["f"].shape == (3, 30, 48)
    assert m["f"].min() >= 0


def test_unknown_petsc_option(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["kinetic", str(cfg), "-kinetic_ts_cfll", "0.3"]) == EXIT_USER_ERROR
    assert "did you mean -kinetic_ts_cfl" in capsys.readouterr().err
    assert main(["kinetic", str(cfg), "-snes_type", "newton"]) == EXIT_USER_ERROR
    assert "only -kinetic_" in capsys.readouterr().err


def test_negative_density(tmp_path, capsys):
    cfg = write_config(tmp_path, "  initial: {type: riemann, left: [-1.0, 0.0, 1.0]}")
    assert main(["kinetic", str(cfg)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "kinetic.initial" in err and "left" in err


def test_small_velocity_box_warns(tmp_path, capsys):
    cfg = write_config(tmp_path, "  velocity: {n: 24, vmax: 3.0}")
    cfg.write_text(cfg.read_text().replace("  velocity: {n: 24}\n", ""))
    assert main(["kinetic", str(cfg), "--t-end", "0.01"]) == 0
    err = capsys.readouterr().err
    assert "too small for the initial temperature" in err
    assert "raise vmax to at least" in err


def test_cfl_above_limit_is_reduced(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["kinetic", str(cfg), "-kinetic_ts_cfl", "2.0"]) == 0
    assert "exceeds the positivity limit 0.5" in capsys.readouterr().err


def test_boltzmann_not_available(tmp_path, capsys, monkeypatch):
    from hpcml.kinetic import collision

    monkeypatch.setattr(collision, "spectral_available", lambda: False)
    cfg = write_config(tmp_path, "  collision: boltzmann\n  velocity: {mode: full, n: 8}")
    cfg.write_text(cfg.read_text().replace("  velocity: {n: 24}\n", ""))
    assert main(["kinetic", str(cfg)]) == EXIT_USER_ERROR
    assert "not available" in capsys.readouterr().err


def test_coarse_velocity_grid_warns(tmp_path, capsys):
    cfg = write_config(tmp_path, "  velocity: {n: 8}")
    cfg.write_text(cfg.read_text().replace("  velocity: {n: 24}\n", ""))
    assert main(["kinetic", str(cfg), "--t-end", "0.01"]) == 0
    assert "the velocity grid is too coarse (raise n to at least" in capsys.readouterr().err


@pytest.mark.parametrize("kernels", ["numpy", "native"])
def test_json_reports_the_kernels(tmp_path, capsys, kernels):
    from hpcml.kinetic import native

    if kernels == "native" and native.load() is None:
        pytest.skip(f"native kernels unavailable: {native.last_error()}")
    cfg = write_config(tmp_path)
    assert main(["kinetic", str(cfg), "--json", "-kinetic_kernels", kernels]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["kernels"] == {"transport": kernels, "collision": kernels}
    assert f"kernels: transport {kernels}, collision {kernels}" in out


def test_native_kernels_unavailable_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("HPCML_CACHE", str(tmp_path / "cache"))
    cfg = write_config(tmp_path)
    assert main(["kinetic", str(cfg), "-kinetic_kernels", "native"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "-kinetic_kernels native" in err and "no-such-cc" in err
    assert main(["kinetic", str(cfg), "-kinetic_kernels", "auto"]) == 0   # numpy fallback
