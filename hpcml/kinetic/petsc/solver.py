"""DMDA twin of :class:`hpcml.kinetic.solver.KineticSolver` (PetClaw style).

x is distributed by a 1D PETSc DMDA with ``dof = layout.dof`` unknowns per
cell and stencil width 2; each rank holds the block ``[xs, xe)``.  Only
storage and reductions change: state arrays are views of DMDA global
vectors, ghost cells come from ``globalToLocal`` (periodic wrap included),
the ranks that own a physical end fill its ghosts, and totals are summed
over ``ctx.comm``.  The kernels, the time loop and the collision step are the
serial solver's, applied to the local block.
"""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions
from hpcml.kinetic.transport import GHOSTS
from hpcml.parallel import Context


def petsc_comm(ctx: Context) -> object:
    """The communicator PETSc objects get: ``ctx.comm``, or COMM_SELF without MPI."""
    return ctx.comm if ctx.has_mpi else PETSc.COMM_SELF


class PetscKineticSolver(KineticSolver):
    """The kinetic solver on a PETSc DMDA over ``ctx.comm``."""

    def __init__(self, problem: Problem, options: TimeOptions | None, ctx: Context):
        self.ctx = ctx
        super().__init__(problem, options)

    def _setup_storage(self) -> None:
        """Create the DMDA and find this rank's block."""
        p = self.problem
        size = self.ctx.size
        if p.nx // size < GHOSTS:  # checked on every rank before PETSc would fail on some
            raise ValueError(f"{p.nx} cells on {size} ranks leaves a rank with fewer than "
                             f"{GHOSTS} cells: use fewer ranks or more cells")
        bt = PETSc.DM.BoundaryType.PERIODIC if p.periodic else PETSc.DM.BoundaryType.GHOSTED
        self.da = PETSc.DMDA().create([p.nx], dof=self.layout.dof, stencil_width=GHOSTS,
                                      boundary_type=(bt,), comm=petsc_comm(self.ctx))
        ((xs, xe),) = self.da.getRanges()
        self.offset, self.n_local = xs, xe - xs
        self._lvec = self.da.createLocalVec()
        self._vecs: dict[int, PETSc.Vec] = {}

    def _alloc(self, shape: tuple) -> np.ndarray:
        """A view of a new DMDA global vector, ``(n_local, *cell)``."""
        vec = self.da.createGlobalVec()
        vec.set(0.0)
        a = vec.getArray().reshape(shape)
        self._vecs[id(a)] = vec
        return a

    def _ghosted(self, a: np.ndarray) -> np.ndarray:
        """Scatter ``a``'s vector to the local (ghosted) vector; fill physical ends."""
        self.da.globalToLocal(self._vecs[id(a)], self._lvec)
        fg = self._lvec.getArray().reshape((self.n_local + 2 * GHOSTS, *self.layout.shape))
        if not self.problem.periodic:
            self._fill_ends(fg, left=self.owns_left, right=self.owns_right)
        return fg

    def _allsum(self, a: np.ndarray) -> np.ndarray:
        """Sum over the ranks of ``ctx.comm``."""
        return np.asarray(self.ctx.comm.allreduce(np.asarray(a, dtype=float)), dtype=float)

    def gather(self, a: np.ndarray) -> np.ndarray | None:
        """Concatenate the ranks' blocks of ``a`` on rank 0 (None elsewhere); for tests."""
        parts = self.ctx.comm.gather(np.asarray(a), root=0)
        return np.concatenate(parts) if self.ctx.is_root else None

    def destroy(self) -> None:
        """Free the PETSc objects."""
        for vec in self._vecs.values():
            vec.destroy()
        self._lvec.destroy()
        self.da.destroy()
