"""Spatial domain decomposition for molecular dynamics (LAMMPS-style halo exchange).

The periodic cell (any triclinic cell; rows of ``cell`` are the lattice
vectors, Angstrom) is cut into ``px * py * pz`` slabs of equal width in
*fractional* coordinates, one sub-domain per rank.  Each rank owns the atoms
inside its sub-domain and receives as *ghosts* every periodic image of every
atom (owned elsewhere or by itself) that lies in its sub-domain extended by
``ghost_cutoff`` (``rcut + skin``) on each face.  A many-body model (DeepPot-SE)
evaluates the energy of the owned atoms on ``owned + ghost`` positions and
returns forces on both; :meth:`Domain.reverse` sends the ghost forces back to
their owners.

Typical MD loop (see ``docs/domain.md``)::

    domain = Domain(ctx, cell, rcut + skin)
    local = domain.scatter(positions, ids, {"velocities": v, "types": t})
    plan, ghost_x, ghost_ids, extra = domain.ghosts(local, ("types",))
    for step in ...:
        ...                                    # move local.positions
        if step % rebuild == 0:
            local = domain.migrate(local)
            plan, ghost_x, ghost_ids, extra = domain.ghosts(local, ("types",))
        else:
            ghost_x = domain.forward(plan, local.positions)
        e, f = model(np.concatenate([local.positions, ghost_x]), n_centres=len(local))
        f_local = f[:len(local)] + domain.reverse(plan, f[len(local):])

The exchange is staged: x, then y, then z, each stage forwarding the ghosts
received in earlier stages, so edges and corners need no diagonal messages.
Along an axis with one rank the "neighbour" is the rank itself and the
exchange is a local copy; a :class:`~hpcml.parallel.serial.SerialComm`
therefore runs every path.  Sub-domains must be at least ``ghost_cutoff``
thick (single hop), which :class:`Domain` checks when it is built.
"""

from hpcml.parallel.domain.atoms import GhostPlan, LocalAtoms
from hpcml.parallel.domain.decomposition import Domain
from hpcml.parallel.domain.geometry import (
    DomainError,
    cell_heights,
    check_grid,
    choose_grid,
    rank_counts,
)
from hpcml.parallel.domain.reference import brute_force_ghosts

__all__ = [
    "Domain",
    "DomainError",
    "GhostPlan",
    "LocalAtoms",
    "brute_force_ghosts",
    "cell_heights",
    "check_grid",
    "choose_grid",
    "rank_counts",
]
