"""Initial data of hpcml.kinetic.initial: Sod/Riemann, smooth waves, random mixtures."""

import json

import numpy as np
import pytest

from hpcml.errors import UserError
from hpcml.kinetic.initial import (
    InitialDataError,
    from_meta,
    periodic_domain,
    random_mixture,
    riemann,
    smooth_wave,
    sod,
)


def centres(nx, lo=0.0, hi=1.0):
    dx = (hi - lo) / nx
    return lo + (np.arange(nx) + 0.5) * dx


def test_sod_is_the_design_data():
    x = centres(100)
    rho, u, temp = sod(x)
    left = x < 0.5
    assert np.array_equal(rho, np.where(left, 1.0, 0.125))
    assert np.array_equal(u, np.zeros(100))
    assert np.allclose(rho * temp, np.where(left, 1.0, 0.1), rtol=1e-15)
    assert left.sum() == 50


def test_riemann_general_states_and_bad_states():
    x = centres(10, -1.0, 1.0)
    rho, u, temp = riemann(x, (2.0, 0.5, 1.0), (1.0, -0.25, 3.0), x0=0.0)
    assert rho.tolist() == [2.0] * 5 + [1.0] * 5
    assert u.tolist() == [0.5] * 5 + [-0.25] * 5
    assert temp.tolist() == [0.5] * 5 + [3.0] * 5
    for bad in [(0.0, 0, 1), (1, 0, -1), (1, np.nan, 1)]:
        with pytest.raises(InitialDataError, match="right state"):
            riemann(x, (1, 0, 1), bad)
    with pytest.raises(UserError, match=r"three numbers \(rho, u, p\)"):
        riemann(x, (1, 0), (1, 0, 1))
    with pytest.raises(ValueError, match="increasing cell centres"):
        sod(x[::-1])


def test_smooth_wave_reproducible_from_seed_and_meta():
    x = centres(64)
    a = smooth_wave(x, seed=11)
    b = smooth_wave(x, seed=11)
    c = smooth_wave(x, seed=12)
    for fa, fb in zip(a[:3], b[:3]):
        assert np.array_equal(fa, fb)
    assert a[3] == b[3] and a[3]["seed"] == 11
    assert not np.allclose(a[0], c[0])
    meta = json.loads(json.dumps(a[3]))                  # survives a JSON/HDF5 attribute trip
    for fa, fr in zip(a[:3], from_meta(x, meta)):
        assert np.array_equal(fa, fr)
    rng_made = smooth_wave(x, np.random.default_rng(5))
    assert rng_made[3]["seed"] is None
    assert np.array_equal(rng_made[0], from_meta(x, rng_made[3])[0])


def test_smooth_wave_is_periodic_smooth_and_positive():
    x = centres(200, 0.0, 2.0)
    for seed in range(50):
        rho, u, temp, meta = smooth_wave(x, seed, amplitude=0.9, n_modes=4, k_max=6)
        assert meta["length"] == pytest.approx(2.0) and meta["x_lo"] == pytest.approx(0.0)
        assert rho.min() >= 0.1 - 1e-12 and temp.min() >= 0.1 - 1e-12
        shifted = from_meta(x + 2.0, meta)                # one period further
        for f, g in zip((rho, u, temp), shifted):
            assert np.allclose(f, g, atol=1e-12)
        for f in (rho, u, temp):                         # no jump across the periodic seam
            steps = np.abs(np.diff(np.concatenate([f, f[:1]])))
            assert steps.max() < 2 * np.pi * 6 * 0.9 * 0.01 * 1.01
    rho, *_ = smooth_wave(x, 3, amplitude=0.5)
    assert rho.max() - rho.min() > 0.1                  # it is a wave, not a constant


def test_random_mixture_reproducible_and_independent_of_resolution():
    coarse, fine = centres(100), centres(800)
    a = random_mixture(coarse, seed=4, n_jumps=3)
    b = random_mixture(coarse, seed=4, n_jumps=3)
    f = random_mixture(fine, seed=4, n_jumps=3)
    assert a[3] == b[3] == f[3]
    for fa, fb in zip(a[:3], b[:3]):
        assert np.array_equal(fa, fb)
    meta = json.loads(json.dumps(a[3]))
    for ff, fr in zip(f[:3], from_meta(fine, meta)):
        assert np.array_equal(ff, fr)
    assert not np.allclose(a[0], random_mixture(coarse, seed=5, n_jumps=3)[0])


def test_random_mixture_discontinuities_where_promised():
    nx = 400
    x = centres(nx)
    dx = 1.0 / nx
    seen = set()
    for seed in range(40):
        rho, u, temp, meta = random_mixture(x, seed)
        seen.add(meta["n_jumps"])
        assert meta["n_jumps"] == len(meta["jumps"]) != 1
        jumps_log = np.abs(np.diff(np.log(np.concatenate([rho, rho[:1]]))))
        # smooth part changes log rho by at most ~ 2 pi k_max amplitude dx / (1 - amplitude)
        smooth_bound = 2 * np.pi * 4 * 0.2 * dx / 0.8 * 1.1
        big = np.flatnonzero(jumps_log > np.log(1.5) - 2 * smooth_bound)
        assert np.all(np.delete(jumps_log, big) < smooth_bound)
        faces = (x[big] + 0.5 * dx) % 1.0                   # face between cell i and i+1
        expected = np.sort(np.asarray(meta["jumps"]) % 1.0)
        assert len(big) == len(expected)
        assert np.allclose(np.sort(faces), expected, atol=0.5 * dx + 1e-12)
        gaps = np.diff(np.concatenate([expected, expected[:1] + 1.0]))
        assert len(expected) < 2 or gaps.min() >= meta["min_gap"]
    assert 0 in seen and max(seen) == 3


def test_random_mixture_positive_and_periodic():
    x = centres(128, -1.0, 1.0)
    for seed in range(100):
        rho, u, temp, meta = random_mixture(x, seed, amplitude=0.5, rho_range=(0.1, 5.0))
        assert rho.min() >= 0.1 * 0.5 - 1e-12 and temp.min() >= 0.3 * 0.5 - 1e-12
        assert np.all(np.abs(u) <= 0.5 + 0.2 + 1e-12)
        shifted = from_meta(x - 2.0, meta)
        for f, g in zip((rho, u, temp), shifted):
            assert np.allclose(f, g, atol=1e-12)


def test_random_mixture_bad_parameters_raise_clear_errors():
    x = centres(50)
    with pytest.raises(InitialDataError, match="amplitude"):
        random_mixture(x, 0, amplitude=1.0)
    with pytest.raises(InitialDataError, match="do not fit"):
        random_mixture(x, 0, n_jumps=8, min_gap=0.1)
    with pytest.raises(InitialDataError, match="min_ratio"):
        random_mixture(x, 0, n_jumps=2, rho_range=(1.0, 1.2))
    with pytest.raises(InitialDataError, match="widen rho_range"):
        random_mixture(x, 0, n_jumps=5, rho_range=(1.0, 1.6), min_ratio=1.5)
    with pytest.raises(ValueError, match="seed"):
        random_mixture(x, -3)
    with pytest.raises(ValueError, match="domain"):
        random_mixture(np.array([0.1, 0.2, 0.5]), 0)
    lo, length = periodic_domain(np.array([0.1, 0.2, 0.5]), domain=(0.0, 1.0))
    assert (lo, length) == (0.0, 1.0)
