"""Macroscopic initial data for the kinetic solvers: Riemann/Sod, smooth waves, random mixtures.

Every generator takes cell centres ``x`` (nx,) and returns the density
``rho``, the x-velocity ``u`` and the temperature ``T`` (R = 1, so ``p = rho
T``), each of shape (nx,); there is no transverse flow.  The solver turns them
into Maxwellians.  ``rho`` and ``T`` are positive by construction.

The random generators (:func:`smooth_wave`, :func:`random_mixture`) also
return a metadata dict holding the seed and every drawn parameter in plain
Python types (JSON- and HDF5-attribute-friendly).  :func:`from_meta` rebuilds
the fields from it on any grid of the same domain -- the draws never depend on
``nx``, so one sample can be resolved at several resolutions.  The Knudsen
number of a training sample is drawn by the loop, not here.

Periodic data live on ``[x_lo, x_lo + length)``; by default that interval is
inferred from uniform cell centres (``x_lo = x[0] - dx/2``, ``length = nx dx``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpcml.errors import UserError

State = tuple[float, float, float]

SOD_LEFT: State = (1.0, 0.0, 1.0)
SOD_RIGHT: State = (0.125, 0.0, 0.1)


class InitialDataError(UserError, ValueError):
    """Initial-data parameters that cannot give a positive density and temperature."""


def _state(state: Any, name: str) -> State:
    try:
        rho, u, p = (float(s) for s in state)
    except (TypeError, ValueError):
        raise InitialDataError(f"{name} state must be three numbers (rho, u, p), "
                               f"got {state!r}") from None
    if not (rho > 0 and p > 0 and math.isfinite(u)):
        raise InitialDataError(f"{name} state (rho, u, p) = ({rho:g}, {u:g}, {p:g}): density "
                               "and pressure must be positive and finite")
    return rho, u, p


def _centres(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2 or not np.all(np.diff(x) > 0):
        raise ValueError(f"x must be increasing cell centres of shape (nx,), nx >= 2; "
                         f"got shape {x.shape}")
    return x


def riemann(x: np.ndarray, left: State, right: State,
            x0: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Riemann data: the ``left`` state for ``x < x0``, ``right`` elsewhere.

    Parameters
    ----------
    x
        Cell centres, shape (nx,).
    left, right
        ``(rho, u, p)``: density, x-velocity, pressure (``T = p / rho``).
    x0
        Position of the discontinuity.

    Returns
    -------
    rho, u, T
        Arrays of shape (nx,).
    """
    x = _centres(x)
    left, right = _state(left, "left"), _state(right, "right")
    is_left = x < x0
    rho = np.where(is_left, left[0], right[0])
    u = np.where(is_left, left[1], right[1])
    temp = np.where(is_left, left[2] / left[0], right[2] / right[0])
    return rho, u, temp


def sod(x: np.ndarray, x0: float = 0.5, left: State = SOD_LEFT,
        right: State = SOD_RIGHT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sod shock-tube data of DESIGN.md: ``(rho, u, p)`` 1/0/1 left, 0.125/0/0.1 right.

    Returns ``rho, u, T`` of shape (nx,) (T = 1 left, 0.8 right).

    Examples
    --------
    >>> rho, u, T = sod(np.array([0.25, 0.75]))
    >>> rho.tolist(), T.tolist()
    ([1.0, 0.125], [1.0, 0.8])
    """
    return riemann(x, left, right, x0)


def periodic_domain(x: np.ndarray, domain: tuple[float, float] | None = None) -> tuple[float,
                                                                                         float]:
    """``(x_lo, length)`` of the periodic interval holding cell centres ``x``.

    With ``domain = (x_lo, x_hi)`` given it is used as is; otherwise the
    centres must be uniform and the cells' outer faces bound the domain.
    """
    x = _centres(x)
    if domain is not None:
        lo, hi = (float(d) for d in domain)
        if not (hi > lo and lo <= x[0] and x[-1] <= hi):
            raise ValueError(f"domain {domain} must contain the cell centres "
                             f"[{x[0]:g}, {x[-1]:g}]")
        return lo, hi - lo
    dx = np.diff(x)
    if not np.allclose(dx, dx[0], rtol=1e-9):
        raise ValueError("non-uniform cell centres: pass domain=(x_lo, x_hi)")
    # snap away the round-off of the centres, so that every resolution of a
    # domain infers the same interval (and draws the same random sample)
    length = float(f"{x.size * dx.mean():.12g}")
    digits = 12 - math.floor(math.log10(length))
    return round(float(x[0] - 0.5 * dx.mean()), digits) + 0.0, length


def _draw_modes(rng: np.random.Generator, n_modes: int, k_max: int, amplitude: float) -> list:
    """``[[k, a, phase], ...]`` with distinct wavenumbers and ``sum |a| = amplitude``."""
    if not 1 <= n_modes <= k_max:
        raise InitialDataError(f"n_modes = {n_modes} must be in [1, k_max = {k_max}]")
    ks = np.sort(rng.choice(np.arange(1, k_max + 1), size=n_modes, replace=False))
    weights = rng.uniform(0.2, 1.0, size=n_modes) * rng.choice([-1.0, 1.0], size=n_modes)
    amps = amplitude * weights / np.abs(weights).sum()
    phases = rng.uniform(0.0, 2.0 * math.pi, size=n_modes)
    return [[int(k), float(a), float(ph)] for k, a, ph in zip(ks, amps, phases)]


def _wave(x: np.ndarray, modes: list, x_lo: float, length: float) -> np.ndarray:
    """``sum_k a_k sin(2 pi k (x - x_lo) / length + phase_k)``, shape (nx,)."""
    s = (x - x_lo) / length
    out = np.zeros_like(x)
    for k, a, ph in modes:
        out += a * np.sin(2.0 * math.pi * k * s + ph)
    return out


def _rng(seed: Any) -> tuple[np.random.Generator, int | None]:
    if isinstance(seed, np.random.Generator):
        return seed, None
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed)), int(seed)
    raise ValueError(f"seed must be a non-negative int or a numpy Generator, got {seed!r}")


def _wave_params(rng: np.random.Generator, n_modes: int, k_max: int, amplitude: float,
                 u_amplitude: float) -> dict:
    if not 0.0 <= amplitude < 1.0:
        raise InitialDataError(f"amplitude = {amplitude} must be in [0, 1) so that rho and T "
                               "stay positive")
    return {"rho": _draw_modes(rng, n_modes, k_max, amplitude),
            "u": _draw_modes(rng, n_modes, k_max, u_amplitude),
            "T": _draw_modes(rng, n_modes, k_max, amplitude)}


def smooth_wave(x: np.ndarray, seed: int | np.random.Generator = 0, n_modes: int = 3,
                k_max: int = 4, amplitude: float = 0.3, u_amplitude: float = 0.3,
                rho0: float = 1.0, u0: float = 0.0, T0: float = 1.0,
                domain: tuple[float, float] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Smooth periodic perturbations of a uniform state.

    ``rho = rho0 (1 + w_rho)``, ``T = T0 (1 + w_T)``, ``u = u0 + w_u`` where
    each ``w`` is a sum of ``n_modes`` sines with distinct wavenumbers in
    ``1..k_max`` (periods ``length / k``), random phases and absolute
    amplitudes summing to ``amplitude`` (``u_amplitude`` for ``u``).  Since
    ``amplitude < 1``, ``rho >= rho0 (1 - amplitude) > 0`` and likewise T.

    Parameters
    ----------
    x
        Cell centres (nx,) of a periodic domain.
    seed
        Non-negative int (recorded) or a numpy Generator (then ``meta["seed"]``
        is None; the drawn modes still regenerate the data).
    n_modes, k_max, amplitude, u_amplitude
        Shape of the perturbation (amplitudes relative for rho and T,
        absolute for u, in velocity units).
    rho0, u0, T0
        Background state.
    domain
        ``(x_lo, x_hi)``; default inferred from uniform ``x``.

    Returns
    -------
    rho, u, T, meta
        Fields of shape (nx,), and the metadata dict (``kind``, ``seed``,
        every parameter and the drawn ``modes``).
    """
    x = _centres(x)
    x_lo, length = periodic_domain(x, domain)
    rng, seed_value = _rng(seed)
    _state((rho0, u0, rho0 * T0), "background")
    meta = {"kind": "smooth_wave", "seed": seed_value, "x_lo": x_lo, "length": length,
            "n_modes": int(n_modes), "k_max": int(k_max), "amplitude": float(amplitude),
            "u_amplitude": float(u_amplitude), "rho0": float(rho0), "u0": float(u0),
            "T0": float(T0),
            "modes": _wave_params(rng, n_modes, k_max, amplitude, u_amplitude)}
    return (*from_meta(x, meta), meta)


def _draw_jumps(rng: np.random.Generator, n_jumps: int, min_gap: float) -> list[float]:
    """Sorted jump positions in [0, 1) (fractions of the length), pairwise >= min_gap apart."""
    if n_jumps * min_gap >= 0.5:
        raise InitialDataError(f"{n_jumps} jumps at least {min_gap} (of the length) apart do "
                               "not fit: lower max_jumps or min_gap")
    for _ in range(1000):
        s = np.sort(rng.uniform(0.0, 1.0, size=n_jumps))
        gaps = np.diff(np.concatenate([s, s[:1] + 1.0]))
        if n_jumps < 2 or gaps.min() >= min_gap:
            return [float(v) for v in s]
    raise RuntimeError("could not place the jumps")          # pragma: no cover


def _draw_states(rng: np.random.Generator, n: int, rho_range: tuple, T_range: tuple,
                 u_max: float, min_ratio: float) -> list[list[float]]:
    """``n`` states ``[rho, u, T]``; neighbours (cyclically) differ by >= ``min_ratio`` in rho."""
    def log_uniform(lo: float, hi: float) -> float:
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

    if rho_range[1] < min_ratio * rho_range[0] and n > 1:
        raise InitialDataError(f"rho_range {rho_range} is narrower than min_ratio {min_ratio}")
    states: list[list[float]] = []
    for _ in range(100 * (n + 10)):
        if len(states) == n:
            return states
        rho = log_uniform(*rho_range)
        neighbours = states[-1:] + (states[:1] if len(states) == n - 1 and n > 2 else [])
        if any(max(rho / s[0], s[0] / rho) < min_ratio for s in neighbours):
            if len(states) == n - 1 and n > 2 and rng.uniform() < 0.1:
                states = []                                 # last piece boxed in: start over
            continue
        states.append([rho, float(rng.uniform(-u_max, u_max)), log_uniform(*T_range)])
    if len(states) == n:
        return states
    raise InitialDataError(f"could not draw {n} states with densities in {rho_range} "
                           f"differing by >= {min_ratio} between neighbours: widen rho_range "
                           "or lower min_ratio")


def random_mixture(x: np.ndarray, seed: int = 0, max_jumps: int = 3,
                   n_jumps: int | None = None, rho_range: tuple = (0.2, 2.0),
                   T_range: tuple = (0.3, 2.0), u_max: float = 0.5, min_ratio: float = 1.5,
                   min_gap: float = 0.08, n_modes: int = 3, k_max: int = 4,
                   amplitude: float = 0.2, u_amplitude: float = 0.2,
                   domain: tuple[float, float] | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Random periodic mixture of constant states, jumps and smooth waves (training data).

    The periodic domain is cut at ``n_jumps`` random positions (drawn from
    ``{0, 2, 3, ..., max_jumps}`` unless given; one jump on a circle is no
    discontinuity, so 1 becomes 2), at least ``min_gap`` (fraction of the
    length) apart.  Each piece gets a state: rho and T log-uniform in their
    ranges, u uniform in ``[-u_max, u_max]``, neighbouring densities differing
    by a factor ``>= min_ratio`` so every jump is a genuine discontinuity.  A
    smooth wave (as :func:`smooth_wave`) multiplies rho and T and adds to u.

    Parameters
    ----------
    x
        Cell centres (nx,) of a periodic domain.
    seed
        Non-negative int, recorded in ``meta``.
    max_jumps, n_jumps, min_gap
        Number and spacing of discontinuities.
    rho_range, T_range, u_max, min_ratio
        Ranges of the piecewise-constant states.
    n_modes, k_max, amplitude, u_amplitude
        Smooth perturbation, as in :func:`smooth_wave`.
    domain
        ``(x_lo, x_hi)``; default inferred from uniform ``x``.

    Returns
    -------
    rho, u, T, meta
        Fields of shape (nx,) (rho >= rho_range[0] (1 - amplitude) > 0,
        likewise T) and the metadata: ``seed``, the parameters, the drawn
        ``jumps`` (positions in length units), ``states`` ([rho, u, T] of
        the piece starting at each jump) and ``modes``.
    """
    x = _centres(x)
    x_lo, length = periodic_domain(x, domain)
    rng, seed_value = _rng(seed)
    if n_jumps is None:
        n_jumps = int(rng.integers(0, max_jumps + 1))
    if n_jumps < 0:
        raise InitialDataError(f"n_jumps = {n_jumps} must be >= 0")
    n_jumps = 2 if n_jumps == 1 else n_jumps
    if min(rho_range) <= 0 or min(T_range) <= 0:
        raise InitialDataError(f"rho_range {rho_range} and T_range {T_range} must be positive")
    jumps = [x_lo + length * s for s in _draw_jumps(rng, n_jumps, min_gap)]
    states = _draw_states(rng, max(n_jumps, 1), rho_range, T_range, u_max, min_ratio)
    meta = {"kind": "random_mixture", "seed": seed_value, "x_lo": x_lo, "length": length,
            "max_jumps": int(max_jumps), "n_jumps": n_jumps, "min_gap": float(min_gap),
            "rho_range": [float(r) for r in rho_range], "T_range": [float(r) for r in T_range],
            "u_max": float(u_max), "min_ratio": float(min_ratio), "n_modes": int(n_modes),
            "k_max": int(k_max), "amplitude": float(amplitude),
            "u_amplitude": float(u_amplitude), "jumps": jumps, "states": states,
            "modes": _wave_params(rng, n_modes, k_max, amplitude, u_amplitude)}
    return (*from_meta(x, meta), meta)


def _pieces(x: np.ndarray, meta: dict) -> np.ndarray:
    """``(nx, 3)`` piecewise-constant [rho, u, T] of a mixture's jumps and states."""
    states = np.asarray(meta["states"], dtype=float)
    jumps = np.asarray(meta["jumps"], dtype=float)
    if jumps.size == 0:
        return np.broadcast_to(states[0], (x.size, 3))
    s = (x - meta["x_lo"]) % meta["length"] + meta["x_lo"]
    # piece i covers [jump_i, jump_{i+1}); before the first jump is the last piece (wrap)
    return states[(np.searchsorted(jumps, s, side="right") - 1) % len(states)]


def from_meta(x: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rebuild ``rho, u, T`` (nx,) from a generator's metadata on cell centres ``x``.

    ``x`` may be any grid of the same domain (another resolution).
    """
    x = _centres(x)
    lo, length, modes = meta["x_lo"], meta["length"], meta["modes"]
    if meta["kind"] == "smooth_wave":
        base = np.broadcast_to([meta["rho0"], meta["u0"], meta["T0"]], (x.size, 3))
    elif meta["kind"] == "random_mixture":
        base = _pieces(x, meta)
    else:
        raise ValueError(f"unknown initial-data kind {meta['kind']!r}")
    rho = base[:, 0] * (1.0 + _wave(x, modes["rho"], lo, length))
    u = base[:, 1] + _wave(x, modes["u"], lo, length)
    temp = base[:, 2] * (1.0 + _wave(x, modes["T"], lo, length))
    return rho, u, temp
