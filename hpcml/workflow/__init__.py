"""The concurrent-learning loop: stages, journal, resume, reports."""
