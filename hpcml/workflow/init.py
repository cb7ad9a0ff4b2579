"""The loop's initial data and held-out set (``loop.init``), as DP-GEN's init_bulk makes them.

``mode: md``: per structure and temperature, one CP2K NVT MD whose sampled
frames are training data and one independent MD (another seed) whose frames
are the held-out set (:mod:`hpcml.label.aimd`; all runs dealt over the
ranks at once).  ``mode: perturb``: strained and displaced copies of the
structures labeled by CP2K; a quarter as many further copies (another
random stream) form the held-out set.

Outputs in ``init/``: ``labeled.h5`` (training data), ``heldout.h5``
(never trained on), ``md/<task>/`` (CP2K runs) or ``label-work/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpcml.parallel import root_call

if TYPE_CHECKING:
    from hpcml.config.label import LabelSection
    from hpcml.config.loop import InitSection
    from hpcml.explore.system import Structure
    from hpcml.io import Frames
    from hpcml.parallel import Context

_log = logging.getLogger(__name__)

#: Seed offset of the held-out MD runs (their velocities and noise differ from training's).
HELDOUT_SEED = 7919


def init_structures(init: InitSection, type_map: list[str],
                    paths: list | None = None) -> list[Structure]:
    """The replicated start structures of ``init`` (or of ``paths``)."""
    from hpcml.explore.system import load_structure

    return [load_structure(p, 0, type_map).replicate(tuple(init.replicate))
            for p in (init.structures if paths is None else paths)]


def md_tasks(init: InitSection, n_structures: int, seed: int,
             n_heldout: int | None = None) -> list[tuple[int, object, str]]:
    """(structure index, AimdTask, role) of every init MD run; role is train or heldout.

    Held-out runs start from structure ``s`` of the held-out list
    (``n_heldout`` of them; None: the training structures).
    """
    from hpcml.label.aimd import AimdTask

    tasks = []
    for s in range(n_structures):
        for k, temp in enumerate(init.temperatures):
            tasks.append((s, AimdTask(name=f"train_{s}_{temp:g}K", steps=init.steps,
                                      skip=init.skip, seed=1 + seed * 1000 + 100 * s + k,
                                      **_md_common(init, temp)), "train"))
    if not init.heldout_steps:
        return tasks
    for s in range(n_structures if n_heldout is None else n_heldout):
        for k, temp in enumerate(init.temperatures):
            tasks.append((s, AimdTask(name=f"heldout_{s}_{temp:g}K", steps=init.heldout_steps,
                                      skip=min(init.skip, init.heldout_steps),
                                      seed=1 + seed * 1000 + 100 * s + k + HELDOUT_SEED,
                                      **_md_common(init, temp)), "heldout"))
    return tasks


def _md_common(init: InitSection, temp: float) -> dict:
    return {"temperature": temp, "dt": init.dt, "every": init.every, "tau": init.tau,
            "start_temperature": init.start_factor * temp}


def md_init(ctx: Context, init: InitSection, label: LabelSection, type_map: list[str],
            seed: int, out: Path) -> dict:
    """CP2K MD initial data and held-out set (collective); the stage summary."""
    from hpcml.io import Frames
    from hpcml.io.store import write_frames
    from hpcml.label.aimd import run_aimd_tasks
    from hpcml.label.driver import check_labeler, load_labeler
    from hpcml.label.profiles import load_profile
    from hpcml.label.runner import RunSettings

    structures = init_structures(init, type_map)
    heldout = init_structures(init, type_map, init.heldout_structures) \
        if init.heldout_structures else structures
    tasks = md_tasks(init, len(structures), seed, len(heldout))
    used = sorted({type_map[t] for s in structures + heldout for t in np.unique(s.types)})
    program, template = root_call(ctx, load_labeler, label, used, init.template_patch)
    check_labeler(ctx, program)
    launch = RunSettings(program.path, load_profile(label.profile), label.ranks_per_task,
                         label.threads_per_task, label.timeout)
    _log.info("init: %d CP2K MD run(s) (%s) of %d step(s) at %s K on %d rank(s)", len(tasks),
              template.method, init.steps, init.temperatures, ctx.size)
    pick = {"train": structures, "heldout": heldout}
    starts = [(pick[role][s].cell, pick[role][s].positions, pick[role][s].types)
              for s, _, role in tasks]
    results = run_aimd_tasks(ctx, launch, template, [t for _, t, _ in tasks], out / "md",
                             starts, type_map)
    frames: dict[str, list[Frames]] = {"train": [], "heldout": []}
    for (_, _, role), part in zip(tasks, results):
        frames[role].append(part)

    def write() -> dict:
        summary = {}
        for role, name in (("train", "labeled.h5"), ("heldout", "heldout.h5")):
            if frames[role]:
                part = Frames.concat(frames[role])
                write_frames(out / name, part)
                summary[role] = _describe(part)
        return summary

    described = root_call(ctx, write)
    return {"mode": "md", "n_labeled": described["train"]["frames"],
            "n_heldout": described.get("heldout", {}).get("frames", 0),
            "method": template.method, "data": described}


def perturb_init(ctx: Context, init: InitSection, label: LabelSection, type_map: list[str],
                 seed: int, out: Path) -> dict:
    """Perturbed-structure initial data and held-out set, labeled by CP2K (collective)."""
    from hpcml.explore.perturb import perturbed_frames
    from hpcml.io import Frames
    from hpcml.io.store import read_frames, write_frames
    from hpcml.label import label_frames

    rng = np.random.default_rng([seed, 1])
    held_rng = np.random.default_rng([seed, 2])
    parts, held = [], []
    for base in init_structures(init, type_map):
        parts.append(perturbed_frames(base, init.n_perturbed, init.cell_perturb,
                                      init.atom_perturb, rng))
        held.append(perturbed_frames(base, max(2, init.n_perturbed // 4), init.cell_perturb,
                                     init.atom_perturb, held_rng))
    train, heldout = Frames.concat(parts), Frames.concat(held)
    _log.info("init: labeling %d perturbed frame(s) and %d held-out frame(s) of %d "
              "structure(s)", len(train), len(heldout), len(parts))
    section = label.model_copy(update={"out": out / "all.h5", "workdir": out / "label-work",
                                       "append": False})
    result = label_frames(ctx, section, Frames.concat([train, heldout]),
                          candidates="perturbed structures")

    def split() -> dict:
        labeled = read_frames(out / "all.h5")
        n_train = len(train)
        ids = labeled["frame_id"]       # the index in the labeled input (train, then heldout)
        first = np.flatnonzero(ids < n_train)
        rest = np.flatnonzero(ids >= n_train)
        write_frames(out / "labeled.h5", labeled.select(first))
        if rest.size:
            write_frames(out / "heldout.h5", labeled.select(rest))
        return {"n_labeled": int(first.size), "n_heldout": int(rest.size)}

    counts = root_call(ctx, split)
    return {"mode": "perturb", **result.as_dict(), **counts}


def _describe(frames: Frames) -> dict:
    """Frames, atoms and the force RMS (eV/A) of labeled ``frames``."""
    force = np.asarray(frames["force"])
    return {"frames": len(frames), "atoms": int(frames.n_atoms),
            "force_rms": float(np.sqrt(np.mean(force**2))) if force.size else 0.0}
