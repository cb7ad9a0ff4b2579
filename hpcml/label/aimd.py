"""Initial data by CP2K molecular dynamics (DP-GEN's ``init_bulk`` MD step).

Each :class:`AimdTask` is one NVT run of CP2K (the labeler's own template,
``RUN_TYPE MD``, CSVR thermostat) from a start structure at one
temperature.  The MD's own energies and forces label the frames: every
``every``-th step from step ``skip`` on is kept, except steps whose
SCF did not converge (CP2K prints steps 0, every, 2 every, ...).  A task
writes ``frames.h5`` (labeled frames) and then ``done.json`` in its own
directory, so a killed job re-runs only the unfinished tasks; tasks are
dealt round-robin over the ranks.

Units: CP2K writes positions in Angstrom, the potential energy in Hartree
(the ``E =`` field of the ``-pos-1.xyz`` comment lines) and forces in
Hartree/Bohr (``-frc-1.xyz``); frames are stored in eV and eV/Angstrom.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpcml.errors import DataError
from hpcml.io import Frames
from hpcml.label.cp2k.input import CP2KTemplate, render_input
from hpcml.label.cp2k.parse import HARTREE_BOHR_EV_ANG, HARTREE_EV
from hpcml.label.process import describe_exit, run_child

if TYPE_CHECKING:
    from hpcml.label.runner import RunSettings
    from hpcml.parallel import Context

_log = logging.getLogger(__name__)

PROJECT = "aimd"
#: One bohr per atomic unit of time in Angstrom/fs (CP2K's &VELOCITY unit).
BOHR_PER_AUT_ANG_FS = 0.529177210903 / 2.4188843265857e-2
_COMMENT = re.compile(r"i\s*=\s*(\d+).*E\s*=\s*(\S+)")
_SCF = re.compile(r"SCF run (NOT )?converged")
_ABORT = re.compile(r"\[ABORT\]\s*\n(?:.*\n)*?\s*\*\s*(.*?)\s*\*", re.M)
#: An atom pulled harder than this (eV/A) means the MD blew up (liquid water at
#: 300 K stays below about 5 eV/A).
EXPLODED_FORCE = 25.0


class AimdError(DataError):
    """A CP2K MD run failed or produced unusable frames."""


@dataclass(frozen=True)
class AimdTask:
    """One CP2K NVT run and how its frames are sampled.

    Attributes
    ----------
    name
        Directory name of the task (``train_300K_0``).
    temperature
        Thermostat and initial-velocity temperature, K.
    steps
        MD steps.
    dt
        Time step, fs.
    every
        Steps between kept frames.
    skip
        Equilibration steps whose frames are not kept.
    seed
        CP2K's ``GLOBAL/SEED`` (initial velocities and thermostat noise).
    tau
        CSVR time constant, fs.
    start_temperature
        Temperature of the initial velocities, K (Maxwell-Boltzmann from
        ``seed``; 0: CP2K draws them at ``temperature``).  A relaxed start
        structure turns about half the kinetic energy into potential energy,
        so twice the target reaches it at once.
    """

    name: str
    temperature: float
    steps: int
    dt: float
    every: int
    skip: int
    seed: int
    tau: float
    start_temperature: float = 0.0

    @property
    def n_kept(self) -> int:
        """Frames the task keeps when every SCF converges."""
        return sum(1 for s in range(0, self.steps + 1, self.every) if s >= self.skip)


def aimd_tree(template: CP2KTemplate, task: AimdTask, cell: np.ndarray, coord: np.ndarray,
              symbols: list[str]) -> dict:
    """The template turned into a CP2K NVT MD input of ``task`` (nested dict)."""
    tree = template.fill(cell, coord, symbols)
    tree["global"].update(project_name=PROJECT, run_type="md", seed=int(task.seed))
    tree["force_eval"].get("print", {}).pop("forces", None)
    if task.start_temperature > 0:
        from hpcml.explore.system import atomic_masses
        from hpcml.molecular.integrators import maxwell_boltzmann

        v = maxwell_boltzmann(atomic_masses(symbols), task.start_temperature, task.seed)
        tree["force_eval"]["subsys"]["velocity"] = {
            "*": [[f"{x:.10e}" for x in row] for row in v / BOHR_PER_AUT_ANG_FS]}
    every = {"each": {"md": int(task.every)}}
    tree["motion"] = {
        "md": {"ensemble": "nvt", "steps": int(task.steps), "timestep": float(task.dt),
               "temperature": float(task.temperature),
               "thermostat": {"type": "csvr", "csvr": {"timecon": float(task.tau)}}},
        "print": {"trajectory": every, "forces": every,
                  "restart": {"_": "off"}, "restart_history": {"_": "off"}}}
    return tree


def _xyz_blocks(path: Path, natoms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps (n,), ``E`` (n,) and xyz values (n, natoms, 3) of a CP2K xyz trajectory."""
    lines = path.read_text().splitlines() if path.exists() else []
    size = natoms + 2
    n = len(lines) // size
    steps, energies, values = [], [], np.empty((n, natoms, 3))
    for k in range(n):
        block = lines[k * size:(k + 1) * size]
        match = _COMMENT.search(block[1])
        if int(block[0]) != natoms or match is None:
            raise AimdError(f"{path}: frame {k} is not a CP2K xyz block of {natoms} atoms")
        steps.append(int(match.group(1)))
        energies.append(float(match.group(2)))
        values[k] = np.array([row.split()[1:4] for row in block[2:]], dtype=float)
    return np.array(steps, int), np.array(energies), values


def scf_unconverged(log_text: str) -> set[int]:
    """MD steps (0 = the start) whose SCF did not converge, from the CP2K log."""
    return {step for step, m in enumerate(_SCF.finditer(log_text)) if m.group(1)}


def _abort_reason(log_text: str) -> str:
    match = _ABORT.search(log_text)
    return match.group(1) if match else ""


def read_aimd(directory: Path, task: AimdTask, cell: np.ndarray, types: np.ndarray,
              type_map: list[str]) -> Frames:
    """Labeled frames of a finished task in ``directory`` (sampled as the task says).

    Raises
    ------
    AimdError
        For missing or cut trajectories and runs that exploded.
    """
    natoms = len(types)
    log_text = (directory / "cp2k.log").read_text(errors="replace")
    steps, energies, coords = _xyz_blocks(directory / f"{PROJECT}-pos-1.xyz", natoms)
    fsteps, _, forces = _xyz_blocks(directory / f"{PROJECT}-frc-1.xyz", natoms)
    if steps.size == 0 or not np.array_equal(steps, fsteps[:steps.size]):
        raise AimdError(f"{directory}: CP2K wrote no matching positions and forces "
                        f"({steps.size} / {fsteps.size} frames); see cp2k.log")
    forces = forces[:steps.size] * HARTREE_BOHR_EV_ANG
    bad = scf_unconverged(log_text)
    keep = [k for k, s in enumerate(steps) if s >= task.skip and s not in bad
            and s % task.every == 0]
    if not keep:
        raise AimdError(f"{directory}: no frame at step >= {task.skip} with a converged SCF "
                        f"({len(bad)} unconverged step(s)); make the MD longer "
                        "(loop.init.steps) or the SCF more robust (label.template)")
    largest = float(np.abs(forces[keep]).max())
    if largest > EXPLODED_FORCE or not np.all(np.isfinite(forces[keep])):
        raise AimdError(f"{directory}: the MD exploded (force up to {largest:.1f} eV/A); "
                        "lower loop.init.dt or the temperature, or relax the start structure")
    nf = len(keep)
    return Frames(type_map, {
        "natoms": np.full(nf, natoms), "cell": np.repeat(cell[None], nf, 0),
        "coord": coords[keep].reshape(-1, 3), "atype": np.tile(types, nf),
        "energy": energies[keep] * HARTREE_EV, "force": forces[keep].reshape(-1, 3),
        "frame_id": steps[keep]})


def run_aimd(launch: RunSettings, template: CP2KTemplate, task: AimdTask, directory: Path,
             cell: np.ndarray, coord: np.ndarray, types: np.ndarray,
             type_map: list[str]) -> Frames:
    """Run one task in a fresh ``directory`` (unless done there); its labeled frames.

    ``launch`` gives the binary, launch profile, ranks, threads and timeout
    (the label section's; its retry and scratch settings do not apply).
    """
    from hpcml.io.store import read_frames, write_frames

    done = directory / "done.json"
    if done.exists() and json.loads(done.read_text()).get("task") == asdict(task):
        return read_frames(directory / "frames.h5")
    if directory.exists():
        shutil.rmtree(directory)      # CP2K appends to its outputs: start clean
    directory.mkdir(parents=True)
    symbols = [type_map[t] for t in types]
    (directory / "cp2k.inp").write_text(
        render_input(aimd_tree(template, task, cell, coord, symbols), template.xmlspec,
                     template.source))
    argv = launch.profile.argv(launch.cp2k, "cp2k.inp", "cp2k.log", launch.ranks,
                               launch.threads)
    env = launch.profile.environment(launch.ranks, launch.threads)
    start = time.perf_counter()
    try:
        status = run_child(argv, directory, env, directory / "stdout.txt", launch.timeout)
    except subprocess.TimeoutExpired:
        raise AimdError(f"{directory}: CP2K MD timed out after {launch.timeout:g} s "
                        f"(label.timeout applies to each init MD run; {task.steps} "
                        "steps)") from None
    except OSError as exc:
        raise AimdError(f"{directory}: cannot start {argv[0]!r}: {exc}") from None
    log = directory / "cp2k.log"
    if status != 0:
        text = log.read_text(errors="replace") if log.exists() else ""
        reason = _abort_reason(text) or describe_exit(status)
        raise AimdError(f"{directory}: CP2K MD failed: {reason} (input cp2k.inp, log cp2k.log)")
    frames = read_aimd(directory, task, cell, types, type_map)
    write_frames(directory / "frames.h5", frames)
    done.write_text(json.dumps({"task": asdict(task), "frames": len(frames),
                                "seconds": time.perf_counter() - start}) + "\n")
    _log.info("init MD %s: %d steps at %.0f K, %d frame(s) kept, %.0f s", task.name,
              task.steps, task.temperature, len(frames), time.perf_counter() - start)
    return frames


def run_aimd_tasks(ctx: Context, launch: RunSettings, template: CP2KTemplate,
                   tasks: list[AimdTask], workdir: Path,
                   starts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                   type_map: list[str]) -> list[Frames]:
    """Run ``tasks`` dealt round-robin over the ranks (collective); frames of each, in order.

    ``starts[k]`` is task k's start structure: cell (3, 3) A, coord (n, 3) A,
    types (n,).  Every rank returns the full list (rank ``r`` runs tasks
    ``r, r + N, ...``); an error on any rank is raised on all.
    """
    from hpcml.io.store import read_frames
    from hpcml.parallel import collective_call

    def mine() -> None:
        for k in range(ctx.rank, len(tasks), ctx.size):
            run_aimd(launch, template, tasks[k], workdir / tasks[k].name, *starts[k], type_map)

    collective_call(ctx, mine)
    ctx.comm.barrier()
    return [read_frames(workdir / t.name / "frames.h5") for t in tasks]
