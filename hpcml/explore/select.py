"""Candidate selection by model deviation and trust levels (DP-GEN's rule).

A frame with force deviation ``eps`` (``max_devi_f``, eV/A) is *accurate*
when ``eps < trust_lo``, a *candidate* when ``trust_lo <= eps < trust_hi``
and *failed* (unphysical, not worth labeling) when ``eps >= trust_hi``.
Candidates beyond a per-run cap are thinned evenly in time, keeping the
selection reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACCURATE, CANDIDATE, FAILED = 0, 1, 2


@dataclass(frozen=True)
class TrustLevels:
    """Force-deviation trust levels, eV/A: ``0 <= lo < hi``."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not 0 <= self.lo < self.hi:
            raise ValueError(f"trust levels need 0 <= trust_lo < trust_hi, got lo={self.lo}, "
                             f"hi={self.hi}; set trust_lo below trust_hi")


def classify(max_devi_f: np.ndarray, trust: TrustLevels) -> np.ndarray:
    """Class of each frame (nf,) int8: ACCURATE, CANDIDATE or FAILED."""
    eps = np.asarray(max_devi_f, np.float64)
    out = np.full(eps.shape, CANDIDATE, np.int8)
    out[eps < trust.lo] = ACCURATE
    out[(eps >= trust.hi) | ~np.isfinite(eps)] = FAILED
    return out


def select_candidates(max_devi_f: np.ndarray, trust: TrustLevels,
                      cap: int | None = None) -> np.ndarray:
    """Indices of candidate frames, at most ``cap`` of them, evenly spread.

    Parameters
    ----------
    max_devi_f
        (nf,) force deviation of each frame, eV/A.
    trust
        Trust levels.
    cap
        Largest number of candidates to keep (None: all).
    """
    idx = np.flatnonzero(classify(max_devi_f, trust) == CANDIDATE)
    return idx if cap is None else evenly_spread(idx, cap)


def evenly_spread(indices: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` of ``indices`` (1-D), evenly spread, first and last kept."""
    if indices.size <= cap:
        return indices
    if cap <= 0:
        return indices[:0]
    return indices[np.linspace(0, indices.size - 1, cap).round().astype(int)]


def fractions(max_devi_f: np.ndarray, trust: TrustLevels) -> dict[str, float]:
    """Fractions of accurate, candidate and failed frames (0 frames: all zero)."""
    cls = classify(max_devi_f, trust)
    n = max(cls.size, 1)
    return {"accurate": float(np.sum(cls == ACCURATE) / n),
            "candidate": float(np.sum(cls == CANDIDATE) / n),
            "failed": float(np.sum(cls == FAILED) / n)}
