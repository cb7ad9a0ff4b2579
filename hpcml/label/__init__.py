"""Labeling: CP2K batches (atomistic) and reference kinetic solves."""
