"""The closure interface of the moment solver, its registry and the gas law.

A closure turns cell states into what the finite-volume solver needs: the
physical fluxes ``F(U, W)`` and ``G(U, W)``, the source ``R(U, W)`` (applied
as ``R/eps``, implicitly), bounds of the wave speeds, and the conversions
between conserved and primitive variables (the MUSCL reconstruction limits
primitive variables).  States are arrays ``q`` of shape ``(n, n_vars)``: the
columns ``rho, rho u, E`` (``U``) followed by the closure's extra moments
``W``.  The learned closure of the ML moment method implements the same class.

Units (those of :mod:`hpcml.kinetic`): ``R = 1``, so ``p = rho T``; velocities
in ``sqrt(R T_ref)``; the gas is monatomic in 1D-3V, ``E = rho u**2/2 + 3/2 rho T``
(``gamma = 5/3``).  ``eps`` is the Knudsen number of the BGK operator
``(M - f)/eps``: the relaxation time is ``eps``, whatever the density.

Registered closures (:data:`CLOSURES`): ``euler`` (:mod:`hpcml.moments.euler`),
``ns`` (:mod:`hpcml.moments.navier_stokes`), ``grad``
(:mod:`hpcml.moments.grad`); :func:`make_closure` builds one by name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import numpy as np

#: ratio of specific heats of the monatomic gas of the 1D-3V kinetic equation
GAMMA = 5.0 / 3.0
#: names of the conserved columns of every state
CONSERVED = ("rho", "m", "E")
#: relaxation forms of :meth:`Closure.relax` (as ``-kinetic_ts_relax``)
RELAX = ("implicit", "exponential")

#: closure name -> class
CLOSURES: dict[str, type[Closure]] = {}


def register(name: str) -> Callable[[type[Closure]], type[Closure]]:
    """Add the decorated closure class to :data:`CLOSURES` under ``name``."""
    def add(cls: type[Closure]) -> type[Closure]:
        cls.name = name
        CLOSURES[name] = cls
        return cls
    return add


def make_closure(name: str, eps: float) -> Closure:
    """The closure ``name`` at Knudsen number ``eps``.

    Raises
    ------
    ValueError
        For an unknown name (with a "did you mean"), or ``eps <= 0``.
    """
    import hpcml.moments.euler  # noqa: F401  (registers the built-in closures)
    import hpcml.moments.grad  # noqa: F401
    import hpcml.moments.navier_stokes  # noqa: F401

    if name not in CLOSURES:
        close = difflib.get_close_matches(name, list(CLOSURES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown closure {name!r}{hint} (known: {', '.join(CLOSURES)})")
    if not eps > 0:
        raise ValueError(f"Knudsen number eps = {eps} must be > 0")
    return CLOSURES[name](eps)


def euler_primitive(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rho, u, T`` (each ``(n,)``) of the conserved columns of ``q`` ``(n, >= 3)``."""
    rho = q[:, 0]
    u = q[:, 1] / rho
    T = (2.0 * q[:, 2] / rho - u * u) / 3.0
    return rho, u, T


def euler_conserved(rho: np.ndarray, u: np.ndarray, T: np.ndarray,
                    out: np.ndarray) -> np.ndarray:
    """Fill columns 0-2 of ``out`` ``(n, >= 3)`` with ``rho, rho u, E`` of ``rho, u, T``."""
    out[:, 0] = rho
    out[:, 1] = rho * u
    out[:, 2] = 0.5 * rho * u * u + 1.5 * rho * T
    return out


class Closure:
    """A moment closure: fluxes, source, wave speeds and variables of the moment system.

    Subclasses set :attr:`extra` and :attr:`parity`, and implement
    :meth:`primitive`, :meth:`conserved`, :meth:`flux` and :meth:`wave_speeds`;
    closures with extra moments give :meth:`source` (then :meth:`relax`
    solves the stiff step linearly implicitly, or they override it with the
    exact step), closures with parabolic terms set :attr:`viscous` and give
    :meth:`viscous_flux` and :meth:`diffusivity`.

    Attributes
    ----------
    name : str
        Registry name.
    eps : float
        Knudsen number (BGK relaxation time).
    extra : tuple of str
        Names of the extra moments ``W`` (columns 3 and on).
    parity : tuple of int
        Sign of each column under ``v_x -> -v_x`` (for the specular wall).
    viscous : bool
        True when the closure has parabolic flux terms.
    """

    name = ""
    extra: tuple[str, ...] = ()
    parity: tuple[int, ...] = (1, -1, 1)
    viscous = False

    def __init__(self, eps: float):
        self.eps = float(eps)

    @property
    def n_vars(self) -> int:
        """Columns of a state: 3 conserved plus the extra moments."""
        return len(CONSERVED) + len(self.extra)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the columns of a state."""
        return CONSERVED + self.extra

    # --- variables --------------------------------------------------------------------
    def primitive(self, q: np.ndarray) -> np.ndarray:
        """Primitive variables ``(n, n_vars)`` (``rho, u, T`` first) of states ``q``."""
        raise NotImplementedError

    def conserved(self, prim: np.ndarray) -> np.ndarray:
        """States ``(n, n_vars)`` of primitive variables ``prim`` (inverse of :meth:`primitive`)."""
        raise NotImplementedError

    def equilibrium(self, rho: np.ndarray, u: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The moments ``(n, n_vars)`` of local Maxwellians of ``rho, u, T`` (each ``(n,)``)."""
        prim = np.zeros((np.size(rho), self.n_vars))
        prim[:, 0], prim[:, 1], prim[:, 2] = rho, u, T
        return self.conserved(prim)

    # --- hyperbolic part --------------------------------------------------------------
    def flux(self, q: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """Physical fluxes ``(n, n_vars)``: ``F(U, W)`` then ``G(U, W)``; ``prim`` is of ``q``."""
        raise NotImplementedError

    def wave_speeds(self, q: np.ndarray, prim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds ``(n,)`` of the characteristic speeds at states ``q``."""
        raise NotImplementedError

    # --- source -----------------------------------------------------------------------
    def source(self, q: np.ndarray) -> np.ndarray:
        """``R(U, W)`` ``(n, n_vars)`` (zero in the conserved columns); the system has ``R/eps``."""
        return np.zeros_like(q)

    def relax(self, q: np.ndarray, dt: float, how: str = "implicit") -> np.ndarray:
        """Apply ``dW/dt = R(U, W)/eps`` over ``dt`` to ``q`` in place (``U`` is unchanged).

        The generic step is linearly implicit (one Newton step of backward
        Euler): ``W += (I - dt/eps J)^-1 dt/eps R`` with ``J = dR/dW`` by
        central differences; the backward-Euler step itself for a source
        linear in ``W``, stable for any ``dt/eps``.  ``how`` (:data:`RELAX`)
        matters to closures with an exact step (:class:`~hpcml.moments.grad.
        GradClosure`); the generic step is backward Euler whatever ``how``.
        """
        if not self.extra or dt <= 0:
            return q
        k = len(CONSERVED)
        r = self.source(q)[:, k:]
        jac = self._source_jacobian(q)
        a = np.eye(len(self.extra)) - (dt / self.eps) * jac
        q[:, k:] += np.linalg.solve(a, (dt / self.eps) * r[..., None])[..., 0]
        return q

    def _source_jacobian(self, q: np.ndarray) -> np.ndarray:
        """``dR_W/dW`` ``(n, m, m)`` by central differences (``m`` extra moments)."""
        k, m = len(CONSERVED), len(self.extra)
        jac = np.empty((q.shape[0], m, m))
        scale = np.maximum(np.abs(q[:, k:]).max(1), np.abs(q[:, 2]))
        for j in range(m):
            h = 1e-6 * scale
            hi, lo = q.copy(), q.copy()
            hi[:, k + j] += h
            lo[:, k + j] -= h
            jac[:, :, j] = (self.source(hi)[:, k:] - self.source(lo)[:, k:]) / (2 * h[:, None])
        return jac

    # --- parabolic part (Navier-Stokes) -----------------------------------------------
    def face_coefficients(self, prim_left: np.ndarray, prim_right: np.ndarray) -> np.ndarray:
        """Transport coefficients ``(n, k)`` at faces between cells of primitive states left/right.

        Computed once per step and held fixed through its parabolic stages
        (:meth:`viscous_flux` takes them), so the step's operator does not
        stiffen while it runs.
        """
        return np.zeros((prim_left.shape[0], 0))

    def viscous_flux(self, prim_left: np.ndarray, prim_right: np.ndarray, dx: float,
                     coefficients: np.ndarray | None = None) -> np.ndarray:
        """Parabolic face fluxes ``(n, n_vars)`` between cells of primitive states left/right.

        ``coefficients`` are :meth:`face_coefficients` (default: of these states).
        """
        return np.zeros_like(prim_left)

    def diffusivity(self, prim: np.ndarray) -> np.ndarray:
        """Largest diffusivity ``(n - 2,)`` of the interior cells of ``prim`` ``(n, n_vars)``.

        The explicit step of the parabolic part is stable for
        ``dt <= dx**2 / (2 D)`` (length**2 / time).
        """
        return np.zeros(prim.shape[0] - 2)

    # --- output -----------------------------------------------------------------------
    def macroscopic(self, prim: np.ndarray, dx: float) -> dict[str, np.ndarray]:
        """``rho, u, T, q, P`` (heat flux ``q_x``, stress ``P_xx``) of the interior cells.

        ``prim`` is ``(n + 2, n_vars)``: the cells with one neighbour on each
        side (gradients for the Navier-Stokes closure).  Each output is ``(n,)``.
        """
        p = prim[1:-1]
        return {"rho": p[:, 0].copy(), "u": p[:, 1].copy(), "T": p[:, 2].copy(),
                "q": self._heat_flux(prim, dx), "P": self._stress(prim, dx)}

    def _heat_flux(self, prim: np.ndarray, dx: float) -> np.ndarray:
        """Heat flux ``q_x`` ``(n,)`` at the interior cells (zero for Euler)."""
        return np.zeros(prim.shape[0] - 2)

    def _stress(self, prim: np.ndarray, dx: float) -> np.ndarray:
        """``P_xx`` ``(n,)`` at the interior cells (the pressure for Euler)."""
        p = prim[1:-1]
        return p[:, 0] * p[:, 2]
