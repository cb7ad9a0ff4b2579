r"""Fast spectral Boltzmann collision operator for 3D Maxwell molecules.

The method is Mouhot & Pareschi's fast spectral method (Math. Comp. 75, 2006)
in the Carleman form of the collision operator,

.. math::

    Q(f)(v) = \int_{B_R}\int_{B_R} \tilde B(x, y)\, \delta(x\cdot y)
              \,[f(v + x) f(v + y) - f(v + x + y) f(v)]\, dx\, dy,

on the periodic box ``[-L, L)^3`` with the trigonometric interpolant of ``f``.
``x = v' - v`` and ``y = v'_* - v`` are orthogonal, ``|x + y| = |v - v_*|``.

Collision kernel
    Maxwell molecules (cross-section independent of the relative speed) with
    the angular kernel that makes the Carleman kernel separable in 3D:
    ``B~(x, y) = c / |x|``, i.e. ``B(|g|, cos theta) = c / (4 sin(theta/2))``
    in the sigma representation (symmetrised: ``c/8 [1/sin(theta/2) +
    1/cos(theta/2)]``), the kernel of Wu et al. (J. Comput. Phys. 250, 2013)
    for Maxwell molecules.  A constant angular kernel does *not* separate in
    3D (its Carleman kernel is ``1/|x + y|``), so it cannot be computed in
    ``O(M N^3 log N)`` (:mod:`hpcml.kinetic.spectral_sigma` does it with a
    radial quadrature, ``O(N_rho M N^3 log N)``).  Every Maxwell-molecule
    angular kernel has the BKW solution; its time scale is ``1/lambda`` with
    ``lambda = 1/4 int_{S^2} b(cos theta) sin^2 theta d sigma``.
    ``c = 5 / (8 pi)`` gives ``lambda = 1/6``, the BKW time scale
    ``K(t) = 1 - exp(-t/6)`` of DESIGN.md (the same as ``b = 1/(4 pi)``);
    a least-squares fit against BKW returns this ``c`` to 1e-8 (unit test).
    For Maxwell molecules the Navier-Stokes viscosity and heat conductivity
    depend on the kernel only through the same ``sin^2``-moment, so both
    kernels have the same hydrodynamic limit: stress relaxes at ``rho/2``,
    heat flux at ``rho/3`` (Prandtl number 2/3; unit test), i.e. the
    viscosity of ``Q/eps`` is ``mu = 2 eps p / rho``.

Accuracy (BKW at t = 6.5, ``S = 4``, ``L = (3 + sqrt 2)/2 S``, 16 directions):
    ``max |Q(f) - df/dt|`` = 3.8e-4, 1.6e-5, 1.4e-7, 3e-11 for N = 16, 24, 32,
    48 (DESIGN.md quotes about 3e-6 at N = 32 for the constant kernel; the
    sigma form gives 4.3e-6 there, 3.5e-8 at N = 40).  BKW is isotropic: for
    anisotropic data, 16 directions leave a relative error of ``Q`` near 4e-2,
    36 about 2e-3, 64 about 3e-4.  Keep ``f`` inside the ball of radius ``S``
    (``L >= 2.2 (|u| + 4 sqrt T)`` or so): the truncation ``R = 2 S`` then sees
    no periodic images and momentum and energy are conserved to spectral
    accuracy; mass always to round-off.

Algorithm
    Write ``x = r e`` with ``e`` on the unit sphere and ``r`` in ``[-R, R]``
    (pairing ``e`` with ``-e`` folds the sphere to a hemisphere), ``y`` in the
    plane orthogonal to ``e``.  For each of ``M`` quadrature directions
    ``e_j`` the two inner integrals are Fourier multipliers, exact for the
    interpolant:

    * ``a_j(v) = int_{-R}^{R} f(v + r e_j) dr``: multiplier
      ``2 sin(R xi.e_j) / (xi.e_j)``;
    * ``b_j(v) = int_{|y|<R, y.e_j=0} f(v + y) dy``: multiplier
      ``2 pi R^2 J_1(R |P_j xi|) / (R |P_j xi|)``, ``P_j`` the projection
      on the plane orthogonal to ``e_j``.

    Gain ``Q+ = c sum_j w_j a_j b_j``, loss ``Q- = f (D f)`` with the
    multiplier ``D = c sum_j w_j alpha_j alpha'_j`` built from the same
    quadrature, so that mass is conserved to round-off.  Cost per cell:
    ``2 M + 2`` real FFTs of size ``N^3``, i.e. ``O(M N^3 log N)``.
    Momentum and energy are conserved to spectral accuracy: each direction
    ``e_j`` is a conservative set of collisions (``x . y = 0``), what breaks
    conservation is the periodic interpolant seen by the truncation ``R``.

Grid
    Points exactly those of :class:`hpcml.kinetic.grid.VelocityGrid` ``(n,
    vmax, 3)``: ``-L + (j + 1/2) 2L/n``, ``L = vmax``.  Arrays are indexed
    ``f[..., ix, iy, iz]``; leading axes are cells.  The support radius is
    ``S = 2 L / (3 + sqrt 2)`` (``L = (3 + sqrt 2)/2 S``, Pareschi-Russo's
    anti-aliasing box) and the truncation ``R = 2 S`` unless given.

Units
    Velocities in units of ``sqrt(R_gas T_ref)``; time in the collision time
    of the kernel above (BKW: ``K(t) = 1 - exp(-t/6)``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable

import numpy as np

try:  # Debian's python3-scipy: threaded FFTs; numpy.fft otherwise
    import scipy.fft as _fft

    _HAVE_SCIPY_FFT = True
except ImportError:  # pragma: no cover - scipy is part of the Debian stack
    _fft = np.fft
    _HAVE_SCIPY_FFT = False

try:
    from scipy.special import j1 as _j1
except ImportError:  # pragma: no cover
    _j1 = None

log = logging.getLogger(__name__)

MAXWELL_C = 5.0 / (8.0 * math.pi)
"""Carleman kernel constant ``c`` of ``B~ = c/|x|`` giving the BKW rate 1/6."""

COLLISION_FREQUENCY = 2.0 * math.pi * MAXWELL_C
"""Loss frequency per unit density, ``int b d sigma = 2 pi c = 5/4`` (untruncated kernel)."""

_CHUNK_BYTES = 2**19  # cells per batched FFT: about this many bytes of f (cache)


# ---------------------------------------------------------------------------
# quadrature and special functions
# ---------------------------------------------------------------------------


def hemisphere_quadrature(n_angles: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss rule on the upper unit hemisphere with ``n_angles = 4 k^2`` nodes.

    ``k`` Gauss-Legendre nodes in ``mu = cos(theta)`` in ``(0, 1)`` (the
    positive half of the ``2k``-point rule on ``[-1, 1]``) times ``4k``
    equispaced azimuths.  For an even integrand on the sphere the rule is
    the full-sphere product rule of degree ``4k - 1`` folded in half.

    Parameters
    ----------
    n_angles
        Number of directions, ``4 k^2`` (4, 16, 36, 64, 100, ...).

    Returns
    -------
    directions : numpy.ndarray
        ``(n_angles, 3)`` unit vectors.
    weights : numpy.ndarray
        ``(n_angles,)`` positive weights summing to ``2 pi`` (the hemisphere area).
    """
    k = math.isqrt(max(int(n_angles), 0) // 4)
    if k < 1 or 4 * k * k != n_angles:
        valid = ", ".join(str(4 * i * i) for i in range(1, 7))
        raise ValueError(f"n_angles must be 4 k^2 ({valid}, ...), got {n_angles}")
    mu, wmu = np.polynomial.legendre.leggauss(2 * k)
    mu, wmu = mu[k:], wmu[k:]
    phi = (np.arange(4 * k) + 0.5) * (2.0 * math.pi / (4 * k))
    sin_t = np.sqrt(1.0 - mu**2)
    directions = np.stack(
        [np.outer(sin_t, np.cos(phi)), np.outer(sin_t, np.sin(phi)),
         np.outer(mu, np.ones_like(phi))], axis=-1).reshape(-1, 3)
    weights = np.outer(wmu, np.full(4 * k, 2.0 * math.pi / (4 * k))).ravel()
    return directions, weights


def bessel_j1(x: np.ndarray) -> np.ndarray:
    """Bessel ``J_1(x)`` for real ``x`` (same shape): scipy's, else :func:`j1_trapezoid`."""
    x = np.asarray(x, dtype=float)
    return _j1(x) if _j1 is not None else j1_trapezoid(x)


def j1_trapezoid(x: np.ndarray) -> np.ndarray:
    """``J_1(x)`` for real ``x`` (same shape) with numpy only.

    Uses ``J_1(x) = 1/pi int_0^pi cos(tau - x sin tau) d tau`` with the
    midpoint rule, which converges geometrically for this periodic integrand
    once the node count exceeds ``|x|`` (``|x| + 40`` nodes: round-off accuracy).
    """
    x = np.asarray(x, dtype=float)
    n_nodes = int(np.max(np.abs(x), initial=0.0)) + 40
    tau = (np.arange(n_nodes) + 0.5) * (math.pi / n_nodes)
    out = np.empty_like(x)
    flat, res = x.reshape(-1), out.reshape(-1)
    step = max(1, 2**20 // n_nodes)
    for start in range(0, flat.size, step):
        xs = flat[start:start + step, None]
        res[start:start + step] = np.cos(tau - xs * np.sin(tau)).mean(axis=1)
    return out


def _jinc(x: np.ndarray) -> np.ndarray:
    """``2 J_1(x) / x`` with the limit 1 at ``x = 0``."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x**2 / 8.0, 2.0 * bessel_j1(safe) / safe)


def line_multiplier(s: np.ndarray, radius: float) -> np.ndarray:
    """``int_{-R}^{R} exp(i r s) dr = 2 sin(R s)/s`` (same shape as ``s``, 1/velocity)."""
    return 2.0 * radius * np.sinc(radius * np.asarray(s, dtype=float) / math.pi)


def disk_multiplier(p: np.ndarray, radius: float) -> np.ndarray:
    """``int_{|y|<R} exp(i y.p) dy`` over a plane disk: ``pi R^2 2 J_1(R p)/(R p)``."""
    return math.pi * radius**2 * _jinc(radius * np.asarray(p, dtype=float))


# ---------------------------------------------------------------------------
# Fourier multipliers on the real-FFT layout
# ---------------------------------------------------------------------------


def _nyquist_symmetric(fun: Callable[[np.ndarray], np.ndarray], n: int, vmax: float,
                       half: bool = True) -> np.ndarray:
    """Evaluate an even multiplier ``fun(xi)`` on the rfft layout, Nyquist modes split.

    ``xi`` is passed as a ``(3, n, n, n//2 + 1)`` array of wave vectors
    ``pi k / L`` (``(3, n, n, n)``, the full FFT layout, if not ``half``).
    The Nyquist mode of an even ``n`` stands for both ``+n/2`` and
    ``-n/2``; averaging ``fun`` over both signs of each Nyquist component
    makes the multiplier Hermitian, so that real ``f`` gives a real result
    (the interpolant with the Nyquist coefficient split evenly).
    """
    full = np.fft.fftfreq(n, 1.0 / n)
    last = np.fft.rfftfreq(n, 1.0 / n) if half else full
    ks = np.stack(np.meshgrid(full, full, last, indexing="ij"))
    out = fun(ks * (math.pi / vmax))
    nyq = np.abs(ks) == n / 2                      # (3, n, n, n//2 + 1)
    edge = nyq.any(axis=0)
    sub, sub_nyq = ks[:, edge], nyq[:, edge]       # (3, K): modes with a Nyquist component
    total = np.zeros(sub.shape[1])
    for signs in np.array(np.meshgrid([1, -1], [1, -1], [1, -1])).reshape(3, -1).T:
        flipped = np.where(sub_nyq, signs[:, None] * sub, sub)
        total += fun(flipped * (math.pi / vmax))
    out[edge] = total / 8.0
    return out


def carleman_multipliers(n: int, vmax: float, directions: np.ndarray, radius: float,
                         half: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-direction multipliers ``alpha_j`` (line) and ``alpha'_j`` (plane disk).

    Parameters
    ----------
    n, vmax
        Grid points per direction and box half-width ``L`` (velocity units).
    directions
        ``(M, 3)`` unit vectors ``e_j``.
    radius
        Truncation ``R`` of ``|x|`` and ``|y|`` (velocity units).
    half
        The rfft layout ``(n, n, n//2 + 1)``, else the full ``(n, n, n)``.

    Returns
    -------
    alpha, alpha_perp : numpy.ndarray
        ``(M, n, n, n//2 + 1)`` real multipliers on the rfft layout
        (velocity units and velocity units squared).
    """
    alpha = np.empty((len(directions), n, n, n // 2 + 1 if half else n))
    alpha_perp = np.empty_like(alpha)
    for j, e in enumerate(np.asarray(directions, dtype=float)):
        def line(xi: np.ndarray, e: np.ndarray = e) -> np.ndarray:
            return line_multiplier(np.tensordot(e, xi, axes=1), radius)

        def plane(xi: np.ndarray, e: np.ndarray = e) -> np.ndarray:
            s = np.tensordot(e, xi, axes=1)
            return disk_multiplier(np.sqrt(np.maximum((xi**2).sum(0) - s**2, 0.0)), radius)

        alpha[j] = _nyquist_symmetric(line, n, vmax, half)
        alpha_perp[j] = _nyquist_symmetric(plane, n, vmax, half)
    return alpha, alpha_perp


# ---------------------------------------------------------------------------
# the operator
# ---------------------------------------------------------------------------


def support_radius(vmax: float) -> float:
    """Support radius ``S`` of the box ``[-L, L)^3``: ``L = (3 + sqrt 2)/2 S``."""
    return 2.0 * vmax / (3.0 + math.sqrt(2.0))


class SpectralOperatorBase:
    """Grid, FFTs, batching and moments shared by the spectral collision operators.

    A subclass sets ``loss_multiplier`` (the Fourier multiplier ``D`` of the
    loss term ``Q- = scale f (D f)``) and implements ``_gain_loss`` for a
    ``(B, n, n, n)`` batch.  Parameters as for :class:`SpectralBoltzmann`.
    """

    loss_multiplier: np.ndarray

    def __init__(self, n: int, vmax: float, n_angles: int, radius: float | None,
                 scale: float, workers: int):
        if int(n) < 2:
            raise ValueError(f"spectral Boltzmann operator needs n >= 2 points, got {n}")
        if not vmax > 0:
            raise ValueError(f"velocity box half-width vmax must be > 0, got {vmax}")
        self.n, self.vmax, self.n_angles = int(n), float(vmax), int(n_angles)
        self.h = 2.0 * self.vmax / self.n
        self.v = -self.vmax + (np.arange(self.n) + 0.5) * self.h
        self.support = support_radius(self.vmax)
        self.radius = 2.0 * self.support if radius is None else float(radius)
        if not self.radius > 0:
            raise ValueError(f"truncation radius must be > 0, got {radius}")
        self.scale, self.workers = float(scale), int(workers)
        self.directions, self.weights = hemisphere_quadrature(self.n_angles)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={self.n}, vmax={self.vmax}, "
                f"n_angles={self.n_angles}, radius={self.radius:.6g})")

    def _gain_loss(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- FFT helpers ---------------------------------------------------------

    def _rfft(self, f: np.ndarray) -> np.ndarray:
        kw = {"workers": self.workers} if _HAVE_SCIPY_FFT else {}
        return _fft.rfftn(f, axes=(-3, -2, -1), **kw)

    def _irfft(self, fh: np.ndarray, overwrite: bool = False) -> np.ndarray:
        kw = {"workers": self.workers, "overwrite_x": overwrite} if _HAVE_SCIPY_FFT else {}
        return _fft.irfftn(fh, s=(self.n,) * 3, axes=(-3, -2, -1), **kw)

    def _check(self, f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=float)
        if f.ndim < 3 or f.shape[-3:] != (self.n,) * 3:
            raise ValueError(f"f must have shape (..., {self.n}, {self.n}, {self.n}), "
                             f"got {f.shape}")
        return f

    # -- the operator --------------------------------------------------------

    def gain_loss(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gain and loss parts ``(Q+, Q-)`` of :meth:`collide`, each shaped like ``f``."""
        f = self._check(f)
        batch = f.reshape((-1,) + (self.n,) * 3)
        gain, loss = np.empty_like(batch), np.empty_like(batch)
        cells = max(1, _CHUNK_BYTES // (8 * self.n**3))
        for c0 in range(0, len(batch), cells):
            gain[c0:c0 + cells], loss[c0:c0 + cells] = self._gain_loss(batch[c0:c0 + cells])
        return gain.reshape(f.shape), loss.reshape(f.shape)

    def collide(self, f: np.ndarray) -> np.ndarray:
        """Collision operator ``Q(f, f)``.

        Parameters
        ----------
        f
            ``(..., n, n, n)`` distribution on the grid (density per velocity
            volume); leading axes are cells, computed as one batch.

        Returns
        -------
        numpy.ndarray
            ``Q(f)``, same shape (density per velocity volume per unit time).
        """
        gain, loss = self.gain_loss(f)
        return gain - loss

    def loss_frequency(self, f: np.ndarray) -> np.ndarray:
        """Collision frequency ``nu(v)`` of the loss term, ``Q- = nu f`` (same shape as ``f``).

        For Maxwell molecules ``nu = COLLISION_FREQUENCY * rho`` where the
        truncation at ``R`` does not bite; the bound ``max nu`` is the
        natural penalisation rate of an implicit-explicit scheme (Filbet-Jin).
        """
        f = self._check(f)
        return self.scale * self._irfft(self._rfft(f) * self.loss_multiplier)

    def invariants(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mass, momentum and energy of ``q`` (e.g. of ``Q(f)``: their rates of change).

        Parameters
        ----------
        q
            ``(..., n, n, n)`` values on the grid.

        Returns
        -------
        mass : numpy.ndarray
            ``(...)``, ``sum q h^3``.
        momentum : numpy.ndarray
            ``(..., 3)``, ``sum v q h^3``.
        energy : numpy.ndarray
            ``(...)``, ``sum |v|^2/2 q h^3``.
        """
        q = self._check(q)
        w, v = self.h**3, self.v
        mx = q.sum(axis=(-2, -1))
        my = q.sum(axis=(-3, -1))
        mz = q.sum(axis=(-3, -2))
        mass = mx.sum(-1) * w
        momentum = np.stack([mx @ v, my @ v, mz @ v], axis=-1) * w
        energy = 0.5 * (mx @ v**2 + my @ v**2 + mz @ v**2) * w
        return mass, momentum, energy



@functools.lru_cache(maxsize=4)
def _kernel_modes(n: int, vmax: float, n_angles: int, radius: float) -> tuple[np.ndarray, ...]:
    """Multipliers of :class:`SpectralBoltzmann`, computed once per parameters (read-only).

    Returns ``alpha``, ``alpha_perp``, ``w_j alpha_j`` and the loss multiplier.
    """
    directions, weights = hemisphere_quadrature(n_angles)
    alpha, alpha_perp = carleman_multipliers(n, vmax, directions, radius)
    loss = np.einsum("j,j...,j...->...", weights, alpha, alpha_perp)
    out = (alpha, alpha_perp, alpha * weights[:, None, None, None], loss)
    for array in out:
        array.flags.writeable = False
    return out


class SpectralBoltzmann(SpectralOperatorBase):
    """Fast spectral (Mouhot-Pareschi) Boltzmann operator for 3D Maxwell molecules.

    Works on the grid of :class:`hpcml.kinetic.grid.VelocityGrid` ``(n, vmax,
    3)``; see the module docstring for the kernel and the algorithm.  The
    multipliers are computed once per ``(n, vmax, n_angles, radius)`` and
    shared (read-only) by all operators with these parameters.

    Parameters
    ----------
    n
        Velocity points per direction (even numbers are FFT-friendly).
    vmax
        Half-width ``L`` of the periodic box ``[-L, L)^3`` (velocity units).
    n_angles
        Directions ``M`` of the hemisphere rule, ``4 k^2`` (4, 16, 36, 64...).
        16 suffice for isotropic data (BKW); anisotropic data need 36-64
        (relative error of ``Q`` about 2e-3 and 3e-4 against 4e-2 with 16).
    radius
        Truncation ``R`` of the collision integrals; default ``2 S`` with
        ``S = 2 L / (3 + sqrt 2)``.
    scale
        Kernel constant ``c``; the default :data:`MAXWELL_C` gives the BKW
        time scale ``K(t) = 1 - exp(-t/6)``.
    workers
        Threads of ``scipy.fft`` (ignored with ``numpy.fft``).

    Examples
    --------
    >>> op = SpectralBoltzmann(8, 4.0, n_angles=4)
    >>> op.collide(np.ones((2, 8, 8, 8))).shape
    (2, 8, 8, 8)
    """

    def __init__(self, n: int, vmax: float, n_angles: int = 16, *, radius: float | None = None,
                 scale: float = MAXWELL_C, workers: int = 1):
        super().__init__(n, vmax, n_angles, radius, scale, workers)
        self.alpha, self.alpha_perp, self._alpha_weighted, self.loss_multiplier = (
            _kernel_modes(self.n, self.vmax, self.n_angles, self.radius))
        log.debug("%r", self)

    def _gain_loss(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gain and loss of a ``(B, n, n, n)`` batch, one direction at a time."""
        fh = self._rfft(f)
        spectrum = fh * self.loss_multiplier
        loss = f * self._irfft(spectrum, overwrite=True)
        gain = np.zeros_like(f)
        for j in range(self.n_angles):
            np.multiply(fh, self._alpha_weighted[j], out=spectrum)
            a = self._irfft(spectrum, overwrite=True)
            np.multiply(fh, self.alpha_perp[j], out=spectrum)
            a *= self._irfft(spectrum, overwrite=True)
            gain += a
        return self.scale * gain, self.scale * loss

# ---------------------------------------------------------------------------
# the classical spectral method: direct convolution sums, for testing
# ---------------------------------------------------------------------------


def classical_collide(f: np.ndarray, vmax: float, n_angles: int = 256, *,
                      radius: float | None = None, scale: float = MAXWELL_C) -> np.ndarray:
    """Classical spectral evaluation ``Q^_k = sum_{l+m=k} beta(l, m) f^_l f^_m``, O(N^6).

    The reference for :class:`SpectralBoltzmann`: the same Galerkin
    truncation (products of trigonometric interpolants, so ``l + m = k``
    modulo ``n``), with the kernel ``beta(l, m) = c sum_j w_j alpha_j(l)
    alpha'_j(m) - c sum_j w_j alpha_j(m) alpha'_j(m)`` tabulated for all
    pairs of modes and summed directly, no FFT products.  With many angles
    (the default 256) it is the classical method with a converged kernel;
    with the fast operator's ``n_angles`` it must equal the fast result to
    round-off.  Memory ``O(n^6)``: meant for ``n <= 12``.

    Parameters
    ----------
    f
        ``(n, n, n)`` distribution on the grid of :class:`SpectralBoltzmann`.
    vmax, n_angles, radius, scale
        As for :class:`SpectralBoltzmann`.

    Returns
    -------
    numpy.ndarray
        ``(n, n, n)`` ``Q(f)``.
    """
    f = np.asarray(f, dtype=float)
    n = f.shape[0]
    if f.shape != (n, n, n) or n > 16:
        raise ValueError(f"classical_collide takes one cell (n, n, n) with n <= 16, got {f.shape}")
    radius = 2.0 * support_radius(vmax) if radius is None else float(radius)
    directions, weights = hemisphere_quadrature(n_angles)
    alpha, alpha_perp = carleman_multipliers(n, vmax, directions, radius, half=False)
    alpha = alpha.reshape(len(weights), -1)
    alpha_perp = alpha_perp.reshape(len(weights), -1)
    beta = (weights[:, None] * alpha).T @ alpha_perp             # (n^3 l, n^3 m)
    fh = np.fft.fftn(f).ravel() / f.size
    modes = np.array(np.unravel_index(np.arange(f.size), f.shape))   # (3, n^3)
    l_idx = np.arange(f.size)[None, :]
    m_idx = np.ravel_multi_index((modes[:, :, None] - modes[:, None, :]) % n, f.shape)
    pair = fh[l_idx] * fh[m_idx]                                 # (k, l): f^_l f^_{k-l}
    q_hat = (pair * (beta[l_idx, m_idx] - np.diag(beta)[m_idx])).sum(axis=1)
    return scale * np.fft.ifftn(q_hat.reshape(f.shape) * f.size).real
