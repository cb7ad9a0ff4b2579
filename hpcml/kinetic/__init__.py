"""Kinetic (Boltzmann/BGK) physics and the ML moment method; PETSc twins in petsc/."""
