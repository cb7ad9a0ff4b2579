"""Moment systems for the 1D-3V kinetic equation: closures, finite volumes, PETSc twin.

``dt U + dx F(U, W) = 0``, ``dt W + dx G(U, W) = R(U, W)/eps`` with ``U`` the
conserved moments (density, momentum, energy) and ``W`` the extra moments of a
closure (:mod:`hpcml.moments.closure`: Euler, Navier-Stokes, Grad; the learned
closure of the ML moment method plugs into the same interface).  The serial
solver is :mod:`hpcml.moments.solver`; :mod:`hpcml.moments.petsc` holds its
DMDA twin and the ``hpcml moments solve`` job.  No module here imports MPI.
"""
