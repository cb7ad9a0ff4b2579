"""The fast path's section layouts: inference per centre type, training all at once."""

import numpy as np
import pytest
import torch

from hpcml.testing.models import small_model


@pytest.fixture(scope="module")
def frames(water_frames):
    """Two small periodic frames with both types."""
    f = water_frames.frame(0)
    pick = np.r_[0:8, 64:80]
    cell = f["cell"].astype(float) * 0.5
    coord, atype = f["coord"][pick].astype(float), f["atype"][pick].copy()
    return [coord, coord + 0.05], [cell, cell * 0.9], [atype, atype]


@pytest.mark.parametrize("one_side", [True, False])
def test_inference_per_type_equals_autograd_and_graph_path(frames, one_side):
    model = small_model(3, sel=(40, 80), bias=(-2.0, -1.0), type_one_side=one_side)
    batch = model.make_batch(*frames)
    assert sum(b > a for a, b in batch.blocks) == 2
    model.fast = False
    ref = model(batch, virial=True)
    model.fast = True
    with torch.no_grad():                     # per centre type (no graph)
        out = model(batch, virial=True)
    graph = model(batch, virial=True, create_graph=True)   # all centres at once
    for key in ("energy", "atom_energy", "force", "virial"):
        torch.testing.assert_close(out[key], ref[key].detach(), rtol=0, atol=1e-10)
        torch.testing.assert_close(graph[key].detach(), ref[key].detach(), rtol=0, atol=1e-10)
    assert not out["force"].requires_grad and graph["force"].requires_grad
