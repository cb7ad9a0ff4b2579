"""Integrators: energy conservation, thermostats, barostat, initial velocities."""

import numpy as np
import pytest

from hpcml.molecular import integrators as md
from hpcml.testing.potentials import fcc_lattice, lennard_jones

ARGON = 39.948


@pytest.fixture(scope="module")
def argon():
    pos, cell = fcc_lattice(3)                     # 108 atoms, 15.8 A box
    masses = np.full(len(pos), ARGON)
    return pos, cell, masses, lennard_jones(rcut=7.5)


def test_lj_forces_and_virial_are_derivatives(argon):
    pos, cell, _, f = argon
    x = pos + np.random.default_rng(0).normal(scale=0.1, size=pos.shape)
    e, forces, virial = f(x, cell)
    h = 1e-5
    for i, k in [(0, 0), (7, 2)]:
        xp, xm = x.copy(), x.copy()
        xp[i, k] += h
        xm[i, k] -= h
        assert abs(-(f(xp, cell)[0] - f(xm, cell)[0]) / (2 * h) - forces[i, k]) < 1e-7
    eps = 1e-6
    strained = [f(x * (1 + s), cell * (1 + s))[0] for s in (eps, -eps)]
    assert abs(-(strained[0] - strained[1]) / (2 * eps) - np.trace(virial)) < 1e-6


def test_maxwell_boltzmann_exact_temperature_zero_momentum(argon):
    masses = argon[2]
    v = md.maxwell_boltzmann(masses, 300.0, seed=5)
    state = md.MDState(argon[0], v, v * 0, masses, None, 0.0, np.zeros((3, 3)))
    assert abs(state.temperature() - 300.0) < 1e-9
    assert np.abs((masses[:, None] * v).sum(axis=0)).max() < 1e-12
    assert np.array_equal(v, md.maxwell_boltzmann(masses, 300.0, seed=5))


def test_nve_conserves_energy(argon):
    """Drift below 1e-4 eV/atom over 1 ps of 2 fs steps (liquid-like argon at 100 K)."""
    pos, cell, masses, f = argon
    state = md.init_state(pos, masses, cell, f, md.maxwell_boltzmann(masses, 100.0, 1))
    e0 = state.energy + state.kinetic_energy
    worst = 0.0
    for _ in range(500):
        state = md.nve_step(state, f, 2.0)
        worst = max(worst, abs(state.energy + state.kinetic_energy - e0))
    assert worst / len(masses) < 1e-4


def test_langevin_reaches_target_temperature(argon):
    pos, cell, masses, f = argon
    state = md.init_state(pos, masses, cell, f, md.maxwell_boltzmann(masses, 20.0, 2))
    rng = np.random.default_rng(3)
    temps = []
    for k in range(600):
        state = md.langevin_step(state, f, 2.0, 80.0, gamma=0.02, rng=rng)
        if k >= 200:
            temps.append(state.temperature())
    assert abs(np.mean(temps) - 80.0) < 8.0


def test_nose_hoover_chain_conserves_extended_energy_and_thermostats(argon):
    pos, cell, masses, f = argon
    state = md.init_state(pos, masses, cell, f, md.maxwell_boltzmann(masses, 40.0, 4), chain=3)
    h0 = md.conserved_nhc(state, 80.0, tau=50.0)
    temps, worst = [], 0.0
    for k in range(600):
        state = md.nhc_step(state, f, 2.0, 80.0, tau=50.0)
        worst = max(worst, abs(md.conserved_nhc(state, 80.0, tau=50.0) - h0))
        if k >= 200:
            temps.append(state.temperature())
    assert worst / len(masses) < 2e-4
    assert abs(np.mean(temps) - 80.0) < 10.0


def test_berendsen_barostat_moves_toward_target(argon):
    pos, cell, masses, f = argon
    state = md.init_state(pos * 0.97, masses, cell * 0.97, f, md.maxwell_boltzmann(masses, 80, 6))
    p0 = state.pressure()
    for _ in range(100):
        state = md.nve_step(state, f, 2.0)
        state = md.berendsen_barostat(state, f, 2.0, pressure=1.0, tau_p=200.0,
                                      compressibility=1e-4)
    assert p0 > 1000 and abs(state.pressure() - 1.0) < 0.5 * abs(p0 - 1.0)
    assert np.linalg.det(state.cell) > np.linalg.det(cell * 0.97)
