"""The cell-list pair search equals the all-images search exactly."""

import numpy as np
import pytest

from hpcml.molecular import neighbors as nb


@pytest.mark.parametrize("case", ["water-192", "skewed-small", "dense-random", "open-cluster"])
def test_cell_list_pairs_identical(water_frames, case):
    f = water_frames.frame(0)
    rng = np.random.default_rng(4)
    coord, cell = f["coord"].astype(float), f["cell"].astype(float)
    if case == "skewed-small":
        coord, cell = coord[:24], cell * 0.5
        cell[1, 0], cell[2, 1] = 1.3, -0.8
    elif case == "dense-random":
        coord, cell = rng.random((60, 3)) * 3.0, np.array([[3.1, 0, 0], [0.4, 3.0, 0], [0, 0, 2.9]])
    elif case == "open-cluster":
        coord = coord[:30]
        cell = np.diag(np.ptp(coord, axis=0) + 4 * 6.0 + 1.0)
    fast, ref = nb._pairs(coord, cell, 6.0), nb._pairs_all(coord, cell, 6.0)
    for a, b in zip(fast, ref):
        assert np.array_equal(a, b)
