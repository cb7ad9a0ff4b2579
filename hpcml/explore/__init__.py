"""Exploration: run MD or kinetic solves, compute indicators, select candidates."""
