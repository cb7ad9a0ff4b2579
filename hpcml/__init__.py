"""hpcml: MPI-parallel concurrent learning of machine-learned physics models.

The package imports nothing heavy at start-up; subpackages are imported by
the CLI subcommand that needs them.
"""

__version__ = "0.1.0"
