"""DMDA twin of :class:`hpcml.moments.solver.MomentSolver` (PetClaw style).

x is distributed by a 1D PETSc DMDA with ``dof = closure.n_vars`` and stencil
width 2, on ``ctx.comm``.  Only storage and reductions change: the state and
stage arrays are views of DMDA global vectors, ghost cells come from
``globalToLocal`` (periodic wrap included), the ranks that own a physical end
fill its ghosts, and totals, the largest wave speed and the viscous limit are
reduced over ``ctx.comm``.  The fluxes, the time loop and the source step are
the serial solver's, applied to the local block, so the time steps (global
maxima) and every cell's arithmetic are those of one rank.
"""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from hpcml.kinetic.petsc.solver import petsc_comm
from hpcml.kinetic.transport import GHOSTS
from hpcml.moments.solver import MomentProblem, MomentSolver, TimeOptions
from hpcml.parallel import Context


class PetscMomentSolver(MomentSolver):
    """The moment solver on a PETSc DMDA over ``ctx.comm``."""

    def __init__(self, problem: MomentProblem, options: TimeOptions | None, ctx: Context):
        self.ctx = ctx
        super().__init__(problem, options)

    def _setup_storage(self) -> None:
        """Create the DMDA and find this rank's block."""
        p = self.problem
        if p.nx // self.ctx.size < GHOSTS:   # on every rank, before PETSc fails on some
            raise ValueError(f"{p.nx} cells on {self.ctx.size} ranks leaves a rank with fewer "
                             f"than {GHOSTS} cells: use fewer ranks or more cells")
        bt = PETSc.DM.BoundaryType.PERIODIC if p.periodic else PETSc.DM.BoundaryType.GHOSTED
        self.da = PETSc.DMDA().create([p.nx], dof=self.n_vars, stencil_width=GHOSTS,
                                      boundary_type=(bt,), comm=petsc_comm(self.ctx))
        ((xs, xe),) = self.da.getRanges()
        self.offset, self.n_local = xs, xe - xs
        self._lvec = self.da.createLocalVec()
        self._vecs: dict[int, PETSc.Vec] = {}

    def _alloc(self, shape: tuple) -> np.ndarray:
        """A view of a new DMDA global vector, ``(n_local, n_vars)``."""
        vec = self.da.createGlobalVec()
        vec.set(0.0)
        a = vec.getArray().reshape(shape)
        self._vecs[id(a)] = vec
        return a

    def _ghosted(self, a: np.ndarray) -> np.ndarray:
        """Scatter ``a``'s vector to the local (ghosted) vector; fill physical ends."""
        self.da.globalToLocal(self._vecs[id(a)], self._lvec)
        g = self._lvec.getArray().reshape((self.n_local + 2 * GHOSTS, self.n_vars))
        if not self.problem.periodic:
            self._fill_ends(g, left=self.owns_left, right=self.owns_right)
        return g

    def _allsum(self, a: np.ndarray) -> np.ndarray:
        """Sum over the ranks of ``ctx.comm``."""
        return np.asarray(self.ctx.comm.allreduce(np.asarray(a, dtype=float)), dtype=float)

    def _allmax(self, a: np.ndarray) -> np.ndarray:
        """Elementwise largest value over the ranks of ``ctx.comm``."""
        return np.max(self.ctx.comm.allgather(np.asarray(a, dtype=float)), axis=0)

    def _allgather(self, obj: object) -> list:
        """``obj`` of every rank, in rank order."""
        return self.ctx.comm.allgather(obj)

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
