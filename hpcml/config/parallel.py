"""``parallel``: how ranks share the work and write files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hpcml.config.base import Section


class ParallelSection(Section):
    """Threads, device and HDF5 writer of each rank."""

    hdf5_writer: Literal["auto", "mpio", "gather"] = Field(
        "auto", description="frame-store writer: collective parallel HDF5 (mpio), "
        "gather to rank 0, or auto (mpio when available on >1 rank)")
    threads_per_rank: int = Field(
        1, ge=1, description="OpenMP/torch threads per rank (ranks x threads <= cores)")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="torch device: auto picks cuda:<local rank> when GPUs are visible")
