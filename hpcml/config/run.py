"""``run``: where a job writes, its seed and its logging."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpcml.config.base import Section


class RunSection(Section):
    """Work directory, random seed and logging of a job."""

    workdir: Path = Field(
        "runs/hpcml", description="directory for the job's outputs (relative to the current dir)")
    seed: int = Field(0, ge=0, description="seed of every random choice of the job")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="log level on rank 0; other ranks log warnings and errors")
    log_per_rank: bool = Field(
        False, description="also write workdir/logs/hpcml_p<rank>.log on every rank")
