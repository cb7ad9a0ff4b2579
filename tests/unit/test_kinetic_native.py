"""The fused C kernels (hpcml.kinetic.native) against the numpy reference kernels."""

import logging
import threading

import numpy as np
import pytest

from hpcml.kinetic import native
from hpcml.kinetic.bgk import bgk_step, maxwellian_from_state
from hpcml.kinetic.grid import CellLayout
from hpcml.kinetic.initial import sod
from hpcml.kinetic.moments import conserved
from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions
from hpcml.kinetic.transport import CFL_LIMIT, transport_step

LAYOUTS = [("full", 10), ("chu", 48), ("chu", 33)]


@pytest.fixture(scope="module")
def lib():
    got = native.load()
    if got is None:
        pytest.skip(f"native kernels unavailable here: {native.last_error()}")
    return got


def perturbed_sod(layout, nx, seed=0, amplitude=0.05):
    """Sod Maxwellians on nx cells plus two ghosts per side, perturbed off equilibrium."""
    x = (np.arange(-2, nx + 2) + 0.5) / nx
    f = maxwellian_from_state(*sod(x), layout)
    f *= 1.0 + amplitude * np.random.default_rng(seed).random(f.shape)
    return f


@pytest.mark.parametrize("mode,n", LAYOUTS)
@pytest.mark.parametrize("limiter", ["mc", "minmod"])
def test_transport_is_bit_identical(lib, mode, n, limiter):
    lay = CellLayout.make(mode, n, 7.0)
    fg = perturbed_sod(lay, 30)
    nu = 0.9 * CFL_LIMIT[limiter] / np.abs(lay.grid.v).max()
    e_ref, e_nat = np.zeros((2, *lay.shape)), np.full((2, *lay.shape), np.nan)
    ref = transport_step(fg, lay.vx, nu, limiter, edge_flux=e_ref)
    out = lib.transport_step(fg, lay, nu, limiter, edge_flux=e_nat)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(e_nat, e_ref)


@pytest.mark.parametrize("limiter", ["mc", "minmod"])
def test_transport_keeps_positivity_at_the_cfl_limit(lib, limiter):
    """Rough data with zeros and jumps: the stage stays >= 0 just under the positivity bound."""
    lay = CellLayout.make("chu", 32, 5.0)
    rng = np.random.default_rng(1)
    fg = rng.random((44, *lay.shape)) * (rng.random((44, *lay.shape)) > 0.3)
    nu = 0.99 * CFL_LIMIT[limiter] / np.abs(lay.grid.v).max()
    out = lib.transport_step(fg, lay, nu, limiter)
    assert out.min() >= 0.0
    np.testing.assert_array_equal(out, transport_step(fg, lay.vx, nu, limiter))


@pytest.mark.parametrize("mode,n", LAYOUTS)
@pytest.mark.parametrize("relax", ["implicit", "exponential"])
def test_bgk_matches_numpy_and_conserves(lib, mode, n, relax):
    lay = CellLayout.make(mode, n, 7.0)
    f = np.ascontiguousarray(perturbed_sod(lay, 40, seed=2, amplitude=0.3)[2:-2])
    ref = bgk_step(f, lay, 1e-3, 2e-3, relax=relax)
    out = lib.bgk_step(f, lay, 1e-3, 2e-3, relax=relax)
    assert np.abs(out - ref).max() <= 1e-13 * np.abs(ref).max()
    assert out.min() > 0.0
    before, after = conserved(f, lay), conserved(out, lay)
    scale = before[:, :1] * (1.0 + np.abs(before[:, 4:]))      # rho (1 + E): momentum, energy
    assert (np.abs(after - before) / scale).max() < 1e-13
    # in place (out is f), as the solver does not use it but callers may
    g = f.copy()
    lib.bgk_step(g, lay, 1e-3, 2e-3, relax=relax, out=g)
    np.testing.assert_array_equal(g, out)


def test_bgk_bad_cell_is_named(lib):
    lay = CellLayout.make("chu", 16, 5.0)
    f = maxwellian_from_state(np.ones(4), 0.0, 1.0, lay)
    f[2] *= -1.0
    with pytest.raises(ValueError, match="non-positive density or temperature.*flat cell 2"):
        lib.bgk_step(f, lay, 1e-2, 1e-3)


def sod_solver(mode, nv, kernels, nx=40, collision="bgk", boundary=("outflow", "outflow")):
    lay = CellLayout.make(mode, nv, 6.0)
    s = KineticSolver(Problem(lay, nx, eps=1e-2, collision=collision, boundary=boundary),
                      TimeOptions(kernels=kernels))
    s.set_state(*sod(s.x))
    return s


@pytest.mark.parametrize("mode,nv", [("chu", 32), ("full", 8)])
def test_solver_with_native_kernels_equals_numpy(lib, mode, nv):
    runs = {}
    for kernels in ("native", "numpy"):
        s = sod_solver(mode, nv, kernels)
        runs[kernels] = (s, s.run(0.05, n_outputs=1))
    (fast, summary), (ref, ref_summary) = runs["native"], runs["numpy"]
    assert summary["kernels"] == {"transport": "native", "collision": "native"}
    assert ref_summary["kernels"] == {"transport": "numpy", "collision": "numpy"}
    assert summary["steps"] == ref_summary["steps"] > 5
    assert np.abs(fast.f - ref.f).max() <= 1e-12 * np.abs(ref.f).max()
    assert max(summary["conservation"].values()) < 1e-13, summary["conservation"]
    assert fast.f.min() >= 0.0


def test_missing_compiler_falls_back_to_numpy(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CC", str(tmp_path / "nonexistent-cc"))
    monkeypatch.setenv("HPCML_CACHE", str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING, logger="hpcml.native"):
        s = sod_solver("chu", 24, "auto", nx=20)
        again = sod_solver("chu", 24, "auto", nx=20)
    warnings = [r for r in caplog.records if "numpy kernels" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "nonexistent-cc" in warnings[0].getMessage()
    assert s.kernels == again.kernels == {"transport": "numpy", "collision": "numpy"}
    s.run(0.02)
    ref = sod_solver("chu", 24, "numpy", nx=20)
    ref.run(0.02)
    np.testing.assert_array_equal(s.f, ref.f)
    with pytest.raises(native.NativeKernelsUnavailable, match="-kinetic_kernels native.*auto"):
        sod_solver("chu", 24, "native", nx=20)
    with pytest.raises(ValueError, match="choose one of"):
        sod_solver("chu", 24, "fortran", nx=20)


def test_failed_build_falls_back(tmp_path, caplog):
    """A compiler that exists but fails (``false``) gives None, a warning and the reason."""
    with caplog.at_level(logging.WARNING, logger="hpcml.native"):
        assert native.load(cc="false", directory=tmp_path) is None
    assert "failed" in native.last_error(cc="false", directory=tmp_path)
    assert any("numpy kernels" in r.getMessage() for r in caplog.records)
    assert not list(tmp_path.iterdir())          # no partial library left behind


def test_concurrent_builds_share_one_library(lib, tmp_path):
    """Builds racing into one empty cache (as MPI ranks do) all get the same complete file."""
    paths, errors = [], []

    def build():
        try:
            paths.append(native.build(directory=tmp_path))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(paths)) == 1, (errors, paths)
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]   # no temporaries left
    assert native.load(directory=tmp_path) is not None


def test_petsc_option_chooses_kernels():
    pytest.importorskip("petsc4py")
    from hpcml.kinetic.petsc.options import PetscOptionError, kinetic_options, time_options

    with kinetic_options({"kinetic_kernels": "numpy"}):
        assert time_options().kernels == "numpy"
    with kinetic_options({}):
        assert time_options().kernels == "auto"
    with kinetic_options({"kinetic_kernels": "cuda"}), \
            pytest.raises(PetscOptionError, match="-kinetic_kernels cuda: choose one of"):
        time_options()


def test_fallback_flags_when_march_native_fails(lib, tmp_path):
    """A compiler that rejects -march=native still builds, with FALLBACK_FLAGS."""
    import shutil

    wrapper = tmp_path / "picky-cc"
    wrapper.write_text("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -march=native ] && "
                       f"{{ echo 'no -march=native here' >&2; exit 1; }}; done\n"
                       f"exec {shutil.which('cc')} \"$@\"\n")
    wrapper.chmod(0o755)
    got = native.load(cc=str(wrapper), directory=tmp_path / "cache")
    assert got is not None, native.last_error(cc=str(wrapper), directory=tmp_path / "cache")
    lay = CellLayout.make("chu", 16, 5.0)
    fg = perturbed_sod(lay, 10)
    np.testing.assert_array_equal(got.transport_step(fg, lay, 0.02),
                                  transport_step(fg, lay.vx, 0.02, "mc"))
    assert len(list((tmp_path / "cache").glob("*.so"))) == 1
