"""Shipped test kit: MPI helpers, tolerance table, physics-invariant checks."""
