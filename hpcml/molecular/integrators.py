"""Molecular-dynamics integrators as functions of a force function (numpy).

Units: Angstrom, fs, amu, eV, K.  A *force function* maps
``(positions (n, 3), cell (3, 3) or None)`` to ``(energy eV, forces (n, 3)
eV/A, virial (3, 3) eV)``; the integrators never know what computes it (a
DeepPot committee, a domain-decomposed twin, or a test potential).  Each
``*_step`` takes an :class:`MDState` and returns the next one.

- :func:`nve_step`: velocity Verlet.
- :func:`langevin_step`: BAOAB Langevin thermostat (friction ``gamma`` 1/fs).
- :func:`nhc_step`: Nose-Hoover chain thermostat (Martyna-Klein-Tuckerman,
  one Trotter step per half step).
- :func:`berendsen_barostat`: isotropic Berendsen pressure coupling using the
  virial, applied after a thermostatted step (NPT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

#: eV / (amu * A) in A / fs^2: acceleration of a force on a mass
ACC = 9.648533212331e-3
#: Boltzmann constant, eV/K
KB = 8.617333262e-5
#: eV/A^3 in bar
EV_A3_TO_BAR = 1.602176634e6

ForceFn = Callable[[np.ndarray, "np.ndarray | None"], tuple[float, np.ndarray, np.ndarray]]
#: Sum of a rank-local value over the ranks that share one system (identity on one rank).
Reduce = Callable[[float], float]


def _local(x: float) -> float:
    """The identity reduction: the whole system is on this process."""
    return x


@dataclass(frozen=True)
class MDState:
    """Positions, velocities and forces of one system.

    Attributes
    ----------
    positions, velocities, forces
        (n, 3) in A, A/fs, eV/A.
    masses
        (n,) amu.
    cell
        (3, 3) A (rows are lattice vectors) or None.
    energy
        Potential energy, eV.
    virial
        (3, 3) eV.
    step
        Steps taken.
    xi, v_xi
        Nose-Hoover chain positions and velocities (chain length,).
    """

    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    masses: np.ndarray
    cell: np.ndarray | None
    energy: float
    virial: np.ndarray
    step: int = 0
    xi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    v_xi: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def kinetic_energy(self) -> float:
        """Kinetic energy, eV."""
        return float(0.5 * np.sum(self.masses[:, None] * self.velocities**2) / ACC)

    def temperature(self, n_constraints: int = 3, reduce: Reduce = _local) -> float:
        """Instantaneous temperature, K (``3n - n_constraints`` degrees of freedom).

        ``reduce`` sums over the ranks of a domain-decomposed system.
        """
        dof = reduce(3 * len(self.masses)) - n_constraints
        return 2.0 * reduce(self.kinetic_energy) / (dof * KB)

    def pressure(self, reduce: Reduce = _local) -> float:
        """Instantaneous pressure ``(2 KE + tr W) / (3 V)``, bar (``virial`` is global)."""
        volume = abs(np.linalg.det(self.cell))
        return float((2 * reduce(self.kinetic_energy) + np.trace(self.virial)) / (3 * volume)
                     * EV_A3_TO_BAR)


def maxwell_boltzmann(masses: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """Velocities (n, 3) A/fs at exactly ``temperature`` K, zero total momentum.

    Drawn in atom order from ``seed``, so every rank layout gets the same
    velocities for the same atoms.
    """
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(len(masses), 3)) * np.sqrt(KB * temperature * ACC / masses)[:, None]
    v -= (masses[:, None] * v).sum(axis=0) / masses.sum()
    state_t = MDState(np.zeros_like(v), v, np.zeros_like(v), masses, None, 0.0,
                      np.zeros((3, 3))).temperature()
    return v * np.sqrt(temperature / state_t) if state_t > 0 else v


def init_state(positions: np.ndarray, masses: np.ndarray, cell: np.ndarray | None,
               force_fn: ForceFn, velocities: np.ndarray | None = None,
               chain: int = 0) -> MDState:
    """Evaluate the forces of the initial configuration; ``chain`` sets the NHC length."""
    energy, forces, virial = force_fn(positions, cell)
    velocities = np.zeros_like(positions) if velocities is None else velocities
    return MDState(positions, velocities, forces, masses, cell, energy, virial,
                   xi=np.zeros(chain), v_xi=np.zeros(chain))


def _kick(state: MDState, dt: float) -> np.ndarray:
    """Velocities after a kick of ``dt`` fs by the current forces."""
    return state.velocities + dt * ACC * state.forces / state.masses[:, None]


def _evaluate(state: MDState, positions: np.ndarray, force_fn: ForceFn) -> MDState:
    energy, forces, virial = force_fn(positions, state.cell)
    return replace(state, positions=positions, forces=forces, energy=energy, virial=virial)


def nve_step(state: MDState, force_fn: ForceFn, dt: float) -> MDState:
    """One velocity-Verlet step of ``dt`` fs."""
    v = _kick(state, 0.5 * dt)
    new = _evaluate(replace(state, velocities=v), state.positions + dt * v, force_fn)
    return replace(new, velocities=_kick(new, 0.5 * dt), step=state.step + 1)


def langevin_step(state: MDState, force_fn: ForceFn, dt: float, temperature: float,
                  gamma: float, rng: np.random.Generator | None = None,
                  noise: np.ndarray | None = None) -> MDState:
    """One BAOAB Langevin step: friction ``gamma`` (1/fs) at ``temperature`` K.

    The standard normal ``noise`` (n, 3) is drawn from ``rng`` unless given
    (a domain-decomposed run draws it per atom id, so any rank layout gets the
    same trajectory).
    """
    v = _kick(state, 0.5 * dt)
    x = state.positions + 0.5 * dt * v
    c1 = np.exp(-gamma * dt)
    sigma = np.sqrt(KB * temperature * ACC / state.masses)[:, None]
    noise = rng.normal(size=v.shape) if noise is None else noise
    v = c1 * v + np.sqrt(1 - c1 * c1) * sigma * noise
    new = _evaluate(replace(state, velocities=v), x + 0.5 * dt * v, force_fn)
    return replace(new, velocities=_kick(new, 0.5 * dt), step=state.step + 1)


def _nhc_half(state: MDState, dt: float, temperature: float, tau: float,
              reduce: Reduce) -> MDState:
    """Propagate the thermostat chain and scale velocities over ``dt / 2``."""
    n_dof = reduce(3 * len(state.masses)) - 3
    kt = KB * temperature
    q = np.full(len(state.xi), kt * tau**2)
    q[0] *= n_dof
    xi, v_xi = state.xi.copy(), state.v_xi.copy()
    ke2 = 2 * reduce(state.kinetic_energy)
    h = 0.5 * dt
    m = len(xi)

    def g(k: int, ke2: float) -> float:
        return ((ke2 - n_dof * kt) if k == 0 else (q[k - 1] * v_xi[k - 1] ** 2 - kt)) / q[k]

    v_xi[m - 1] += 0.5 * h * g(m - 1, ke2)
    for k in range(m - 2, -1, -1):
        v_xi[k] = v_xi[k] * np.exp(-0.25 * h * v_xi[k + 1]) + 0.5 * h * g(k, ke2)
        v_xi[k] *= np.exp(-0.25 * h * v_xi[k + 1])
    scale = np.exp(-h * v_xi[0])
    ke2 *= scale**2
    xi += h * v_xi
    for k in range(m - 1):
        v_xi[k] *= np.exp(-0.25 * h * v_xi[k + 1])
        v_xi[k] += 0.5 * h * g(k, ke2)
        v_xi[k] *= np.exp(-0.25 * h * v_xi[k + 1])
    v_xi[m - 1] += 0.5 * h * g(m - 1, ke2)
    return replace(state, velocities=state.velocities * scale, xi=xi, v_xi=v_xi)


def nhc_step(state: MDState, force_fn: ForceFn, dt: float, temperature: float,
             tau: float = 100.0, reduce: Reduce = _local) -> MDState:
    """One Nose-Hoover-chain step (chain length ``len(state.xi)``, period ``tau`` fs).

    ``reduce`` sums the kinetic energy and atom count over the ranks of a
    domain-decomposed system (every rank then holds the same chain).
    """
    if len(state.xi) == 0:
        raise ValueError("nhc_step needs a state made with init_state(..., chain >= 1)")
    state = _nhc_half(state, dt, temperature, tau, reduce)
    state = nve_step(state, force_fn, dt)
    return _nhc_half(state, dt, temperature, tau, reduce)


def conserved_nhc(state: MDState, temperature: float, tau: float = 100.0,
                  reduce: Reduce = _local) -> float:
    """The NHC extended energy (eV), conserved by :func:`nhc_step` (``energy`` is global)."""
    n_dof = reduce(3 * len(state.masses)) - 3
    kt = KB * temperature
    q = np.full(len(state.xi), kt * tau**2)
    q[0] *= n_dof
    return float(state.energy + reduce(state.kinetic_energy) + 0.5 * np.sum(q * state.v_xi**2)
                 + n_dof * kt * state.xi[0] + kt * np.sum(state.xi[1:]))


def berendsen_barostat(state: MDState, force_fn: ForceFn, dt: float, pressure: float,
                       tau_p: float = 1000.0, compressibility: float = 4.5e-5,
                       reduce: Reduce = _local) -> MDState:
    """Scale cell and positions isotropically toward ``pressure`` bar.

    ``compressibility`` in 1/bar (water: 4.5e-5), ``tau_p`` in fs.  Forces are
    re-evaluated in the scaled cell.
    """
    mu = berendsen_scale(state, dt, pressure, tau_p, compressibility, reduce)
    return _evaluate(replace(state, cell=state.cell * mu), state.positions * mu, force_fn)


def berendsen_scale(state: MDState, dt: float, pressure: float, tau_p: float = 1000.0,
                    compressibility: float = 4.5e-5, reduce: Reduce = _local) -> float:
    """Isotropic length scale factor of one Berendsen coupling step of ``dt`` fs."""
    return (1.0 - compressibility * dt / tau_p * (pressure - state.pressure(reduce))) ** (1 / 3)
