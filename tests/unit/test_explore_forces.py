"""Committee forces on owned + ghost atoms equal the periodic model (one rank)."""

import numpy as np
import pytest

from hpcml.explore.forces import CommitteeForces
from hpcml.parallel import Context
from hpcml.parallel.domain import Domain
from hpcml.testing.models import small_committee


@pytest.mark.parametrize("skin,sel,chunk", [(1.0, (30, 60), 1024), (2.5, (20, 40), 1024),
                                            (1.0, (30, 60), 50)])
def test_domain_forces_equal_periodic_model(water_frames, skin, sel, chunk):
    """Also with a Verlet list wider than sel (slots beyond rcut act as empty), in chunks."""
    f = water_frames.frame(0)
    comm = small_committee(sel=sel)
    ctx = Context.create(serial=True)
    domain = Domain(ctx, f["cell"].astype(float), 4.0 + skin)
    ids = np.arange(len(f["atype"]))
    local = domain.scatter(f["coord"].astype(float), ids, {"types": f["atype"]})
    forces = CommitteeForces(domain, comm, skin, chunk=chunk)
    forces.rebuild(local)
    forces.all_members = True
    energy, force, virial = forces(local.positions, domain.cell)
    for k, model in enumerate(comm.models):
        ref = model.evaluate(f["coord"], f["cell"], f["atype"])
        assert abs(forces.last["energies"][k] - ref["energy"]) < 1e-9
        np.testing.assert_allclose(forces.last["forces"][k], ref["force"][local.ids], atol=1e-10)
        np.testing.assert_allclose(forces.last["virials"][k], ref["virial"], atol=1e-9)
    assert forces.last["forces"].shape == (2, len(ids), 3)
