"""``hpcml md``: many walkers in one job, candidates merged at the end.

The ranks are split into ``G = min(W, N)`` groups; group g runs walkers g,
g + G, ...  (each domain-decomposed over its ranks), like DP-GEN's
``model_devi_jobs`` but as one parallel job.  Rank 0 then merges the
walkers' ``candidates.h5`` into ``out/candidates.h5`` and writes
``out/summary.json``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpcml.explore.md import STORE_KEYS, Walker, WalkerResult
from hpcml.explore.system import Structure, load_structure, replicas_for
from hpcml.io import Frames

if TYPE_CHECKING:
    from hpcml.config.md import MdSection
    from hpcml.molecular.committee import Committee
    from hpcml.parallel import Context
    from hpcml.parallel.memory import Estimate

_log = logging.getLogger(__name__)


def walker_structure(cfg: MdSection, k: int, type_map: list[str],
                     atoms: int | None = None) -> Structure:
    """Start structure of walker ``k`` (replicated by ``md.replicate`` or to ``atoms``)."""
    from hpcml.errors import ConfigError

    walker = cfg.walkers[k]
    path = walker.structure or cfg.structure
    if path is None:
        raise ConfigError(f"md.walkers[{k}]: no start structure; set md.structure or "
                          f"md.walkers[{k}].structure")
    base = load_structure(path, walker.frame, type_map)
    reps = replicas_for(atoms, base.n_atoms) if atoms else tuple(cfg.replicate)
    return base.replicate(reps)


def memory_estimate(cfg: MdSection, committee: Committee, atoms: int | None = None,
                    ranks: int = 1) -> tuple[Estimate, int, int]:
    """Bytes one of ``ranks`` ranks will hold for the walkers of ``cfg``.

    Computed from the start cells before replication: nothing large is allocated.

    Returns
    -------
    tuple
        The :class:`~hpcml.parallel.memory.Estimate`, the atoms of the largest
        walker and those of its start cell.
    """
    from hpcml.parallel.memory import Estimate, md_estimate

    sizes = []
    for walker in cfg.walkers:
        path = walker.structure or cfg.structure
        if path is None:
            continue                 # walker_structure names it
        base = load_structure(path, walker.frame, committee.type_map)
        reps = replicas_for(atoms, base.n_atoms) if atoms else tuple(cfg.replicate)
        volume = abs(float(np.linalg.det(base.cell)))
        sizes.append((base.n_atoms * int(np.prod(reps)), base.n_atoms / volume, base.n_atoms))
    if not sizes:
        return Estimate({}), 0, 0
    n, density, base_atoms = max(sizes)
    per_group = max(1, ranks // min(len(cfg.walkers), ranks))
    estimate = md_estimate(n, density, committee.spec.rcut + cfg.skin, ranks=per_group,
                           walkers=len(sizes), members=len(committee.models),
                           rank_atoms=sum(size[0] for size in sizes))
    return estimate, n, base_atoms


def check_md_memory(ctx: Context, cfg: MdSection, committee: Committee,
                    atoms: int | None = None, option: str | None = None) -> None:
    """Stop (collectively, exit 2) when the walkers would not fit in a rank's memory.

    ``option`` names what set the size (default ``--atoms`` or ``md.replicate``).

    Raises
    ------
    MemoryLimitError
        With the estimate, the limit, the largest system that fits on these
        ranks and the ranks this one needs.
    """
    from hpcml.parallel.memory import check_memory, largest, smallest

    estimate, n, base = memory_estimate(cfg, committee, atoms, ctx.size)
    if not n:
        return
    option = option or ("--atoms" if atoms else "md.replicate")
    size = f"{atoms}" if atoms else f"{list(cfg.replicate)} ({n} atoms)"

    def fix(limit: float) -> str:
        def fits_reps(r: int) -> bool:
            return memory_estimate(cfg, committee, base * r**3, ctx.size)[0].total <= limit

        def fits_ranks(r: int) -> bool:
            return memory_estimate(cfg, committee, atoms, r)[0].total <= limit

        r, need = largest(fits_reps, max(1, round((n / base) ** (1 / 3)))), smallest(fits_ranks)
        ways = [f"use --atoms {base * r**3} or fewer ({base} x {r}^3) on {ctx.size} rank(s)"
                if r else f"use a start cell of fewer than {base} atoms"]
        if need is not None:
            ways.append(f"run {need} ranks or more with this much memory each (more nodes; "
                        "each walker's atoms are spread over its ranks)")
        text = ", or ".join(ways)
        if need is None:
            text += "; more ranks do not help: every rank holds all atoms of every walker"
        return text

    check_memory(ctx, estimate, f"hpcml md: {option} {size} ({len(cfg.walkers)} walker(s), "
                 f"{len(committee.models)} models, rcut + skin = "
                 f"{committee.spec.rcut + cfg.skin:g} A) on {ctx.size} rank(s)", fix)


def walker_groups(size: int, structures: list[Structure], ghost_cutoff: float,
                  grid: list[int] | None = None) -> int:
    """Number of rank groups for the walkers: ``min(W, N)``, or more when cells are small.

    A walker's cell may be too small to split over ``N / W`` ranks (every
    sub-domain must be ``ghost_cutoff`` thick); then the ranks form more,
    smaller groups, and the groups without a walker wait.
    """
    from hpcml.parallel.domain import rank_counts

    n_groups = min(len(structures), size)
    if grid is not None:
        return n_groups
    allowed = set(range(1, size + 1))
    for s in structures:
        allowed &= set(rank_counts(s.cell, ghost_cutoff, size))
    if not allowed:
        return n_groups           # the Domain reports the too-thin cell with its fix
    for g in range(n_groups, size + 1):
        if {size // g, -(-size // g)} <= allowed:
            if g > n_groups:
                _log.warning("the walkers' cells can be split over at most %d rank(s); "
                             "%d of %d rank groups have no walker and wait", max(allowed),
                             g - len(structures), g)
            return g
    return size


def run_md(ctx: Context, committee: Committee, cfg: MdSection,
           atoms: int | None = None, out: str | os.PathLike | None = None) -> dict:
    """Run every walker; returns the summary (on every rank)."""
    from hpcml.io.store import read_frames, write_frames

    out = Path(cfg.out if out is None else out)
    check_md_memory(ctx, cfg, committee, atoms)
    structures = [walker_structure(cfg, k, committee.type_map, atoms)
                  for k in range(len(cfg.walkers))]
    n_groups = walker_groups(ctx.size, structures, committee.spec.rcut + cfg.skin, cfg.grid)
    group = ctx.split(n_groups)
    results: list[WalkerResult] = []
    for k in range(group.group, len(cfg.walkers), n_groups):
        structure = structures[k]
        _log.info("walker %d: %d atoms, %.0f K, %d rank(s)", k, structure.n_atoms,
                  cfg.walkers[k].temperature, group.size)
        walker = Walker(group, committee, structure, cfg.walkers[k], cfg, k, out / f"walker_{k}")
        results.append(walker.run())
    gathered = ctx.comm.gather([vars(r) | {"us_per_atom_step": r.us_per_atom_step,
                                           "ns_per_day": r.ns_per_day(cfg.dt)}
                                for r in results] if group.is_root else [], root=0)
    summary = None
    merged = Frames.empty(committee.type_map, STORE_KEYS)
    if ctx.is_root:
        walkers = sorted((w for part in gathered for w in part), key=lambda w: w["walker"])
        parts = [read_frames(out / f"walker_{w['walker']}" / "candidates.h5") for w in walkers]
        parts = [p for p in parts if len(p)]
        if parts:
            merged = Frames.concat(parts)
        checked = sum(w["frames_checked"] for w in walkers)
        counts = {c: sum(w["counts"][c] for w in walkers) for c in ("accurate", "candidate",
                                                                     "failed")}
        summary = {"walkers": walkers, "frames_checked": checked, "counts": counts,
                   "fractions": {c: n / max(checked, 1) for c, n in counts.items()},
                   "candidates": len(merged), "atoms": walkers[0]["atoms"],
                   "ranks": ctx.size, "us_per_atom_step": walkers[0]["us_per_atom_step"],
                   "ns_per_day": walkers[0]["ns_per_day"]}
        (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_frames(out / "candidates.h5", merged, ctx)
    return ctx.comm.bcast(summary, root=0)
