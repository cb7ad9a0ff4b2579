"""Training of model ensembles, serial or data-parallel."""
