"""``label``: CP2K labeling of candidate frames (``hpcml label CONFIG``).

The template is a CP2K input file; the driver fills in the cell, the
coordinates, the project name and force (and stress) printing for each frame.
Each entry of ``retries`` is a nested mapping of CP2K sections/keywords
(lower-case, as cp2k-input-tools writes them) merged over the template for
the next attempt of a failed frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpcml.config.base import InputPath, Section

#: Default retry ladder: more SCF steps, then gentler Broyden mixing.
DEFAULT_RETRIES = (
    {"force_eval": {"dft": {"scf": {"max_scf": 300}}}},
    {"force_eval": {"dft": {"scf": {"max_scf": 500, "mixing": {
        "method": "broyden_mixing", "alpha": 0.1, "nbroyden": 8}}}}},
)


class LabelSection(Section):
    """Candidate file, CP2K template and program, launch profile, failure handling."""

    candidates: InputPath | None = Field(
        None, description="candidate frames (HDF5 store, extxyz or deepmd/npy), "
        "relative to the config file")
    format: Literal["auto", "deepmd/npy", "hdf5", "extxyz"] = Field(
        "auto", description="format of the candidate file")
    template: InputPath | None = Field(
        None, description="CP2K input template (relative to the config file); "
        "default: the built-in GFN1-xTB template (inputs/cp2k/xtb.inp)")
    virial: bool = Field(False, description="also label the virial (analytical stress tensor)")
    out: Path = Field(Path("labeled.h5"), description="labeled HDF5 frame store to write")
    append: bool = Field(
        False, description="append to `out` when it exists (a batch already appended "
        "is skipped) instead of replacing it atomically")
    workdir: Path = Field(Path("label-work"),
                          description="task directories and per-task completion markers")
    reuse_workdir: bool = Field(
        False, description="use a `workdir` made for other candidates, template or virial "
        "flag (tasks whose frame and input are unchanged keep their labels; the others run "
        "again); without it such a workdir is refused")
    keep_failed: bool = Field(
        False, description="count failed tasks of an earlier run as done (their frames stay "
        "failed); without it a rerun retries them")
    group_size: int = Field(100, ge=1, description="tasks per group directory")
    scratch: Literal["archive", "delete", "keep"] = Field(
        "archive", description="after parsing: keep only the gzipped CP2K log (archive), "
        "remove the task directory (delete), or leave it (keep)")
    cp2k: str = Field("cp2k.psmp", description="CP2K binary: a name on PATH or a path")
    profile: str = Field(
        "local", description="launch profile: a name in launch/profiles (local, slurm, "
        "pbs, mpirun) or a path to a profile YAML file")
    ranks_per_task: int = Field(1, ge=1, description="MPI ranks of each CP2K run ({ranks})")
    threads_per_task: int = Field(1, ge=1, description="OMP_NUM_THREADS of each CP2K run")
    tasks_per_rank: int = Field(
        1, ge=1, description="CP2K runs each hpcml rank keeps going at once")
    timeout: float = Field(3600.0, gt=0, description="seconds before a CP2K run is killed")
    retries: list[dict] = Field(
        default_factory=lambda: [dict(r) for r in DEFAULT_RETRIES],
        description="settings merged over the template for retry 1, 2, ... of a failed frame")
    ratio_failed: float = Field(
        0.2, ge=0, le=1, description="failure budget: stop with a summary when more than "
        "this fraction of frames fails")
    method: str | None = Field(
        None, description="name of the level of theory for provenance; default derived "
        "from the template (e.g. GFN1-xTB, PBE-D3/DZVP-MOLOPT-SR-GTH)")
    export_deepmd: Path | None = Field(
        None, description="also write the labeled frames as DeePMD-kit npy systems here")
    export_extxyz: Path | None = Field(
        None, description="also write the labeled frames as extended XYZ here")
