"""PETSc twin of the moment solver (DMDA storage, global reductions), its options and job."""
