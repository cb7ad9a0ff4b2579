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

from hpcml.explore.md import STORE_KEYS, Walker, WalkerResult
from hpcml.explore.system import Structure, load_structure, replicas_for
from hpcml.io import Frames

if TYPE_CHECKING:
    from hpcml.config.md import MdSection
    from hpcml.molecular.committee import Committee
    from hpcml.parallel import Context

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
