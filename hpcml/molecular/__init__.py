"""Deep Potential physics (descriptor, fitting, MD integrators); no MPI here."""
