r"""Spectral Boltzmann operator for Maxwell molecules with a constant kernel, ``b = 1/(4 pi)``.

The sigma representation of the collision operator,

.. math::

    Q(f)(v) = b \int_{B_R}\int_{S^2} [f(v') f(v'_*) - f(v) f(v_*)]\, d\sigma\, dg,
    \quad v_* = v - g,\ v' = v - \tfrac{g - |g|\sigma}{2},\ v'_* = v - \tfrac{g + |g|\sigma}{2},

evaluated by the weighted-convolution method of Gamba, Haack, Hauck & Hu
(SIAM J. Sci. Comput. 39, 2017) on the grid and box of
:class:`hpcml.kinetic.spectral.SpectralBoltzmann`.  With ``g = rho g^``,

* the gain is ``b int_0^R rho^2 int_{S^2} [int_{S^2} h(v - rho g^/2) dg^] d sigma``
  with ``h(w) = f(w + rho sigma/2) f(w - rho sigma/2)``; the ``g^`` average is
  the Fourier multiplier ``4 pi sinc(rho |xi|/2)``, the shifts are phase
  factors (separable per axis), ``rho`` takes ``n_radial`` Gauss-Legendre
  nodes on ``[0, R]`` and ``sigma`` the hemisphere rule (``h`` is even in
  ``sigma``);
* the loss is ``4 pi b f (f * 1_{B_R})`` with the exact ball multiplier
  ``4 pi (sin(R k) - R k cos(R k)) / k^3``, ``k = |xi|``; the gain, whose
  integral differs from the loss's by the angular quadrature error (1e-8
  relative at N = 32 with 16 directions), is rescaled per cell so that mass
  is conserved to round-off (``mass_fix``; off, or with the loss taken on
  the gain's nodes instead, 16 directions give 2e-4 on BKW, not 4e-6).

Trade-off against the Carleman operator: on anisotropic data its ``Q`` is
closer to the converged one at equal ``M`` (1.3e-3 relative with 16
directions against 4e-2), but momentum and energy drift at the level of the
angular quadrature (2e-4 and 4e-4 of the loss's energy rate with 16
directions, 6e-5 and 2e-5 with 64, whatever N), where each Carleman
direction conserves them by itself.  Prefer the Carleman operator in
solvers; this one is the constant-kernel reference.

Cost per cell ``n_radial (2 M + 1) + 2`` real FFTs: ``O(N_rho M N^3 log N)``,
``N_rho`` times the Carleman method of
:class:`~hpcml.kinetic.spectral.SpectralBoltzmann`, whose angular kernel is
chosen to make the Carleman form separable.  The constant kernel cannot be
separated in 3D, hence the radial quadrature.  ``b = 1/(4 pi)`` is the BKW
normalisation of DESIGN.md (``K(t) = 1 - exp(-t/6)``); both kernels have the
same BKW rate, total cross-section ``5/4`` against ``1`` differs.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from hpcml.kinetic.spectral import SpectralOperatorBase, _nyquist_symmetric

log = logging.getLogger(__name__)

CONSTANT_B = 1.0 / (4.0 * math.pi)
"""Constant angular kernel ``b`` with the BKW rate 1/6 (``int b d sigma = 1``)."""


def shift_factors(n: int, vmax: float, shift: np.ndarray) -> list[np.ndarray]:
    """Per-axis phase factors of the translation ``f(w) -> f(w + shift)`` on the rfft layout.

    Parameters
    ----------
    n, vmax
        Grid points per direction and box half-width ``L`` (velocity units).
    shift
        ``(3,)`` translation (velocity units).

    Returns
    -------
    list of numpy.ndarray
        ``exp(i xi_d s_d)`` of shapes ``(n,)``, ``(n,)``, ``(n//2 + 1,)``;
        at the Nyquist mode the average over ``+-n/2``, ``cos(xi s)``, so
        that a real ``f`` stays real (the product over axes is the factor).
    """
    out = []
    for axis, s in enumerate(np.asarray(shift, dtype=float)):
        k = np.fft.rfftfreq(n, 1.0 / n) if axis == 2 else np.fft.fftfreq(n, 1.0 / n)
        phase = k * (math.pi / vmax) * s
        factor = np.exp(1j * phase)
        factor[np.abs(k) == n / 2] = np.cos(phase[np.abs(k) == n / 2])
        out.append(factor)
    return out


def ball_multiplier(k: np.ndarray, radius: float) -> np.ndarray:
    """``int_{|g|<R} exp(-i xi.g) dg = 4 pi (sin(R k) - R k cos(R k)) / k^3``, ``k = |xi|``."""
    x = radius * np.asarray(k, dtype=float)
    small = x < 1e-2
    safe = np.where(small, 1.0, x)
    exact = (np.sin(safe) - safe * np.cos(safe)) / safe**3
    series = 1.0 / 3.0 - x**2 / 30.0 + x**4 / 840.0
    return 4.0 * math.pi * radius**3 * np.where(small, series, exact)


def _outer(factors: list[np.ndarray]) -> np.ndarray:
    fx, fy, fz = factors
    return fx[:, None, None] * fy[None, :, None] * fz[None, None, :]


class SigmaSpectralBoltzmann(SpectralOperatorBase):
    """Spectral Boltzmann operator for Maxwell molecules with a constant kernel (sigma form).

    Same grid, box, truncation ``R = 2 S`` and interface as
    :class:`~hpcml.kinetic.spectral.SpectralBoltzmann`; ``n_radial``
    Gauss-Legendre nodes in ``|g|`` (default ``n // 2``); ``mass_fix``
    rescales the gain per cell to the loss's mass (see the module docstring).

    Examples
    --------
    >>> op = SigmaSpectralBoltzmann(8, 4.0, n_angles=4)
    >>> op.collide(np.ones((2, 8, 8, 8))).shape
    (2, 8, 8, 8)
    """

    def __init__(self, n: int, vmax: float, n_angles: int = 16, *, n_radial: int | None = None,
                 radius: float | None = None, scale: float = CONSTANT_B, workers: int = 1,
                 mass_fix: bool = True):
        super().__init__(n, vmax, n_angles, radius, scale, workers)
        self.mass_fix = bool(mass_fix)
        self.n_radial = max(1, self.n // 2) if n_radial is None else int(n_radial)
        x, w = np.polynomial.legendre.leggauss(self.n_radial)
        self.rho = self.radius * (x + 1.0) / 2.0
        self.rho_weights = w * self.radius / 2.0 * self.rho**2     # includes the rho^2 of dg
        self.shell = np.stack([_nyquist_symmetric(
            lambda xi, r=r: 4.0 * math.pi * np.sinc(r * np.sqrt((xi**2).sum(0)) / (2 * math.pi)),
            self.n, self.vmax) for r in self.rho])
        self.loss_multiplier = 4.0 * math.pi * _nyquist_symmetric(
            lambda xi: ball_multiplier(np.sqrt((xi**2).sum(0)), self.radius), self.n, self.vmax)
        log.debug("%r n_radial=%d", self, self.n_radial)

    def _shifts(self, i: int, j: int) -> np.ndarray:
        """Phase multiplier of ``f(w + rho_i sigma_j / 2)`` on the rfft layout."""
        return _outer(shift_factors(self.n, self.vmax, self.rho[i] * self.directions[j] / 2))

    def _gain_loss(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gain and loss of a ``(B, n, n, n)`` batch."""
        fh = self._rfft(f)
        spectrum = fh * self.loss_multiplier
        loss = f * self._irfft(spectrum, overwrite=True)
        total = np.zeros_like(fh)
        for i in range(self.n_radial):
            pairs = np.zeros_like(f)
            for j, weight in enumerate(self.weights):
                phase = self._shifts(i, j)
                np.multiply(fh, phase, out=spectrum)
                a = self._irfft(spectrum, overwrite=True)
                np.multiply(fh, phase.conj(), out=spectrum)
                a *= self._irfft(spectrum, overwrite=True)
                pairs += (2.0 * weight) * a
            total += self._rfft(pairs) * (self.rho_weights[i] * self.shell[i])
        gain = self._irfft(total, overwrite=True)
        if self.mass_fix:
            gain_mass = gain.sum(axis=(1, 2, 3), keepdims=True)
            ratio = np.divide(loss.sum(axis=(1, 2, 3), keepdims=True), gain_mass,
                              out=np.ones_like(gain_mass), where=gain_mass != 0)
            gain *= ratio
        return self.scale * gain, self.scale * loss
