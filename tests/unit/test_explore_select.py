"""Selection boundaries of the trust levels."""

import numpy as np
import pytest

from hpcml.explore.select import (
    ACCURATE,
    CANDIDATE,
    FAILED,
    TrustLevels,
    classify,
    fractions,
    select_candidates,
)


def test_boundaries_are_half_open():
    trust = TrustLevels(0.1, 0.3)
    eps = np.array([0.0, 0.0999, 0.1, 0.2999, 0.3, 5.0, np.nan])
    assert classify(eps, trust).tolist() == [ACCURATE, ACCURATE, CANDIDATE, CANDIDATE,
                                             FAILED, FAILED, FAILED]


def test_cap_keeps_evenly_spread_candidates():
    eps = np.full(100, 0.2)
    eps[::2] = 0.0
    idx = select_candidates(eps, TrustLevels(0.1, 0.3), cap=5)
    assert idx.tolist() == [1, 25, 49, 75, 99]
    assert select_candidates(eps, TrustLevels(0.1, 0.3), cap=0).size == 0
    assert select_candidates(eps, TrustLevels(0.1, 0.3)).size == 50


def test_fractions_and_empty():
    assert fractions(np.array([0.0, 0.2, 0.2, 1.0]), TrustLevels(0.1, 0.3)) == \
        {"accurate": 0.25, "candidate": 0.5, "failed": 0.25}
    assert fractions(np.array([]), TrustLevels(0.1, 0.3))["accurate"] == 0.0


def test_bad_trust_levels():
    with pytest.raises(ValueError, match="trust_lo below trust_hi"):
        TrustLevels(0.3, 0.3)
