"""PETSc twins of the kinetic solver: DMDA storage, ghost exchange, global reductions."""
