"""``demo``: the MPI smoke job that ``hpcml demo`` runs until the loop exists."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hpcml.config.base import Section


class DemoSection(Section):
    """Size and output of the demo job."""

    frames_per_rank: int = Field(20, ge=1, description="frames each rank appends per repeat")
    repeats: int = Field(3, ge=1, description="number of collective appends")
    output: Path = Field(
        "demo-out", description="demo's HDF5 files (relative to the current dir)")
