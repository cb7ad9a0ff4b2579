"""``parallel``: how ranks share the work and write files.

Every key is read by ``hpcml.cli.common.parallel_job`` when a subcommand
starts: threads by :mod:`hpcml.parallel.threads`, device and HDF5 writer
into the job's :class:`~hpcml.parallel.Context`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hpcml.config.base import Section


class ParallelSection(Section):
    """Threads, device and HDF5 writer of each rank."""

    hdf5_writer: Literal["auto", "mpio", "gather"] = Field(
        "auto", description="how frame stores and kinetic moments are written on several "
        "ranks: collective parallel HDF5 (mpio), gathered to rank 0 (gather), or auto "
        "(mpio when h5py has MPI support); one rank always writes serially")
    threads_per_rank: int = Field(
        1, ge=1, description="OpenMP/torch threads per rank (ranks x threads <= cores); "
        "OMP_NUM_THREADS set in the environment wins (docs/parallel.md#threads)")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="torch device: auto picks cuda:<local rank mod GPUs> when GPUs "
        "are visible, else cpu; cuda stops when there is none; HPCML_DEVICE wins")
