"""DPMD exploration: domain-decomposed MD driven by an ensemble, candidates out.

One walker (start structure, temperature, pressure) runs on the ranks of a
Context with spatial domain decomposition (:mod:`hpcml.parallel.domain`).
Every ``model_devi_freq`` steps all committee members are evaluated; the
deviation goes to ``devi.out`` (DP-GEN's ``model_devi.out`` columns) and
frames with ``trust_lo <= max_devi_f < trust_hi`` are gathered on rank 0 and
appended to ``pool.h5``; at the end at most ``max_candidates`` of them,
evenly spread, form ``candidates.h5``.  A thinned trajectory goes to
``traj.h5``.  ``checkpoint.npz`` (written atomically) makes a killed run
restartable: re-running continues from the last checkpoint.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpcml.errors import UserError
from hpcml.explore.forces import CommitteeForces, committee_deviation
from hpcml.explore.select import CANDIDATE, FAILED, TrustLevels, classify, select_candidates
from hpcml.explore.system import Structure, atomic_masses
from hpcml.io import Frames
from hpcml.molecular import integrators as md
from hpcml.parallel import allreduce_max

if TYPE_CHECKING:
    from hpcml.config.md import MdSection, WalkerSection
    from hpcml.molecular.committee import Committee
    from hpcml.parallel import Context

_log = logging.getLogger(__name__)

DEVI_HEADER = ("#       step  max_devi_v  min_devi_v  avg_devi_v  max_devi_f  min_devi_f"
               "  avg_devi_f\n")
STORE_KEYS = ("deviation", "system", "frame_id")


#: Column of ``max_devi_f`` in ``devi.out`` (after the step column).
MAX_DEVI_F = 4


def read_devi(path: str | os.PathLike) -> np.ndarray:
    """Rows of a ``devi.out`` file, (n, 7): step, then DEVI_HEADER's deviations."""
    return np.loadtxt(path, comments="#", ndmin=2).reshape(-1, 7)


def drop_restart_repeats(frames: Frames) -> Frames:
    """The last copy of each ``frame_id``, in file order.

    A restarted walker writes the frames after its checkpoint again.
    """
    _, last = np.unique(frames["frame_id"][::-1], return_index=True)
    return frames.select(np.sort(len(frames) - 1 - last))


class AtomFlewError(UserError):
    """An atom moved further in one step than ``md.max_displacement`` allows."""


@dataclass
class WalkerResult:
    """Summary of one walker."""

    walker: int
    atoms: int
    ranks: int
    steps: int
    seconds: float
    frames_checked: int
    counts: dict[str, int]
    candidates: int
    timers: dict[str, float]
    stopped_at: int | None = None   # step where md.stop_failed stopped the walker

    @property
    def us_per_atom_step(self) -> float:
        """Wall time per atom per step, microseconds."""
        return 1e6 * self.seconds / max(self.steps * self.atoms, 1)

    def ns_per_day(self, dt_fs: float) -> float:
        """Simulated nanoseconds per day of wall time."""
        return self.steps * dt_fs * 1e-6 / max(self.seconds, 1e-12) * 86400


class Walker:
    """One MD run on the ranks of ``ctx``; see the module docstring."""

    def __init__(self, ctx: Context, committee: Committee, structure: Structure,
                 walker: WalkerSection, cfg: MdSection, index: int, out: Path):
        from hpcml.parallel.domain import Domain

        self.ctx, self.committee, self.cfg, self.index = ctx, committee, cfg, index
        self.structure, self.walker, self.out = structure, walker, out
        self.seed = walker.seed if walker.seed is not None else cfg.seed + index
        self.trust = TrustLevels(
            cfg.trust_lo if walker.trust_lo is None else walker.trust_lo,
            cfg.trust_hi if walker.trust_hi is None else walker.trust_hi)
        self.masses = atomic_masses([structure.type_map[t] for t in structure.types])
        self.domain_cls = Domain
        self.devi_lines: list[str] = []
        self.stores: set[str] = set()
        self.counts = {"accurate": 0, "candidate": 0, "failed": 0}
        self.failed_run = 0       # consecutive checks at or above trust_hi

    # -- set-up ----------------------------------------------------------------
    def _domain(self, cell: np.ndarray) -> object:
        return self.domain_cls(self.ctx, cell, self.committee.spec.rcut + self.cfg.skin,
                               grid=tuple(self.cfg.grid) if self.cfg.grid else None)

    def _start(self) -> tuple[md.MDState, np.ndarray, int]:
        """Initial (or checkpointed) state of the owned atoms, their ids, first step."""
        s = self.structure
        ids = np.arange(s.n_atoms, dtype=np.int64)
        ckpt = self.out / "checkpoint.npz"
        if ckpt.exists():
            data = np.load(ckpt)
            pos, vel, cell, step = data["positions"], data["velocities"], data["cell"], int(
                data["step"])
            xi, v_xi = data["xi"], data["v_xi"]
            _log.info("walker %d: restarting from %s at step %d", self.index, ckpt, step)
        else:
            pos, cell, step = s.positions, s.cell, 0
            vel = md.maxwell_boltzmann(self.masses, self.walker.temperature, self.seed)
            chain = self.cfg.nhc_chain if self.cfg.thermostat == "nhc" else 0
            xi, v_xi = np.zeros(chain), np.zeros(chain)
        self.domain = self._domain(cell)
        local = self.domain.scatter(pos, ids, {"types": s.types, "masses": self.masses,
                                               "velocities": vel})
        self.forces = CommitteeForces(self.domain, self.committee, self.cfg.skin)
        # an overlapping start structure is an input error; a checkpoint is what the model made
        self.forces.rebuild(local, min_distance=0.0 if ckpt.exists() else 0.4)
        self.forces.all_members = True
        self.local = local
        state = md.init_state(local.positions, local.arrays["masses"], cell, self.forces,
                              local.arrays["velocities"])
        state = replace(state, xi=xi, v_xi=v_xi, step=step)
        self.local_types = local.arrays["types"]
        return state, local.ids, step

    # -- the loop --------------------------------------------------------------
    def run(self) -> WalkerResult:
        """Run the walker to ``md.steps``; collective over ``ctx``."""
        cfg = self.cfg
        if self.ctx.is_root:
            self.out.mkdir(parents=True, exist_ok=True)
        self.ctx.comm.barrier()
        state, ids, first = self._start()
        self._open_devi(first)
        if first == 0:
            self._sample(state, ids)
        t0, last_log = time.perf_counter(), time.perf_counter()
        stopped = self._stopped_at()
        for step in range(first, cfg.steps if stopped is None else first):
            state, ids = self._maybe_rebuild(state, ids)
            self.forces.all_members = (step + 1) % cfg.model_devi_freq == 0
            before = state.positions
            state = self._step(state, ids)
            self._check_flight(state.positions - before, ids, state, step)
            if (step + 1) % 10 == 0 and cfg.ensemble == "npt":
                state, ids = self._barostat(state, ids)
            if self.forces.all_members:
                self._sample(state, ids)
                if cfg.stop_failed and self.failed_run >= cfg.stop_failed:
                    stopped = self._stop(state, ids)
                    break
            if (step + 1) % cfg.traj_freq == 0:
                self._write_frames("traj.h5", state, ids, [("frame_id", state.step)])
            if (step + 1) % cfg.checkpoint_freq == 0 or step + 1 == cfg.steps:
                self._checkpoint(state, ids)
            if time.perf_counter() - last_log > 30 or step + 1 == cfg.steps:
                last_log = time.perf_counter()
                self._progress(state, step + 1, last_log - t0, first)
        seconds = time.perf_counter() - t0
        candidates = self._finish()
        self.counts = self.ctx.comm.bcast(self._devi_counts() if self.ctx.is_root else None,
                                          root=0)
        timers = {k: allreduce_max(self.ctx, v) for k, v in self.forces.timers.items()}
        done = (cfg.steps if stopped is None else stopped) - first
        return WalkerResult(self.index, self.structure.n_atoms, self.ctx.size,
                            max(done, 0), seconds, sum(self.counts.values()),
                            dict(self.counts), candidates, timers, stopped)

    def _stopped_at(self) -> int | None:
        """Step where an earlier attempt of this walker was stopped (``stopped.txt``)."""
        path = self.out / "stopped.txt"
        return int(path.read_text().split()[0]) if path.exists() else None

    def _stop(self, state: md.MDState, ids: np.ndarray) -> int:
        """Stop the walker after ``md.stop_failed`` failed checks in a row (collective)."""
        self._checkpoint(state, ids)
        if self.ctx.is_root:
            (self.out / "stopped.txt").write_text(f"{state.step} failed checks in a row: "
                                                  f"{self.failed_run}\n")
        _log.warning("walker %d: stopped at step %d: deviation >= trust_hi (%.3g eV/A) in %d "
                     "consecutive checks (md.stop_failed); the model is lost there",
                     self.index, state.step, self.trust.hi, self.failed_run)
        return int(state.step)

    def _step(self, state: md.MDState, ids: np.ndarray) -> md.MDState:
        """One integrator step of the configured ensemble."""
        cfg, temp = self.cfg, self.walker.temperature
        if cfg.ensemble == "nve":
            return md.nve_step(state, self.forces, cfg.dt)
        if cfg.thermostat == "nhc":
            return md.nhc_step(state, self.forces, cfg.dt, temp, cfg.tau_t, self.domain.allsum)
        noise = np.random.default_rng([self.seed, state.step]).normal(
            size=(self.structure.n_atoms, 3))[ids]
        return md.langevin_step(state, self.forces, cfg.dt, temp, 1.0 / cfg.tau_t, noise=noise)

    def _check_flight(self, moved: np.ndarray, ids: np.ndarray, state: md.MDState,
                      step: int) -> None:
        """Stop (collectively) when an atom moved too far in one step."""
        worst = float(np.sqrt((moved**2).sum(axis=1).max())) if len(moved) else 0.0
        worst_all = allreduce_max(self.ctx, worst)
        if worst_all > self.cfg.max_displacement:
            raise AtomFlewError(
                f"walker {self.index}: an atom moved {worst_all:.2f} A in step {step + 1} "
                f"(md.max_displacement = {self.cfg.max_displacement} A): the model is outside "
                f"its training data or md.dt ({self.cfg.dt} fs) is too large; frames up to the "
                f"last checkpoint are in {self.out}")

    def _maybe_rebuild(self, state: md.MDState,
                       ids: np.ndarray) -> tuple[md.MDState, np.ndarray]:
        """Migrate atoms and rebuild ghosts + Verlet lists when needed (collective)."""
        if not self.forces.needs_rebuild(state.positions):
            return state, ids
        return self._migrate(state, ids)

    def _migrate(self, state: md.MDState, ids: np.ndarray) -> tuple[md.MDState, np.ndarray]:
        # ``replace`` keeps the positions of the last migration, which lets the
        # domain detect atoms that jumped further than a sub-domain
        local = replace(self.local, positions=state.positions, ids=ids, arrays={
            "types": self.local_types, "masses": state.masses,
            "velocities": state.velocities, "forces": state.forces})
        t0 = time.perf_counter()
        local = self.domain.migrate(local)
        self.forces.timers["halo"] += time.perf_counter() - t0
        self.local = local
        self.forces.rebuild(local)
        self.local_types = local.arrays["types"]
        return replace(state, positions=local.positions, velocities=local.arrays["velocities"],
                       forces=local.arrays["forces"], masses=local.arrays["masses"]), local.ids

    def _barostat(self, state: md.MDState, ids: np.ndarray) -> tuple[md.MDState, np.ndarray]:
        """Berendsen coupling every 10 steps, then a new decomposition of the new cell."""
        cfg = self.cfg
        mu = md.berendsen_scale(state, 10 * cfg.dt, self.walker.pressure, cfg.tau_p,
                                cfg.compressibility, self.domain.allsum)
        state = replace(state, positions=state.positions * mu, cell=state.cell * mu)
        self.domain = self._domain(state.cell)
        self.forces.domain = self.domain
        state, ids = self._migrate(state, ids)
        energy, forces, virial = self.forces(state.positions, state.cell)
        return replace(state, energy=energy, forces=forces, virial=virial), ids

    # -- outputs ---------------------------------------------------------------
    def _sample(self, state: md.MDState, ids: np.ndarray) -> None:
        """Deviation of the current frame; keep it when it is a candidate."""
        last = self.forces.last
        dev = committee_deviation(self.ctx, last["forces"], last["virials"],
                                  self.structure.n_atoms)
        cls = int(classify(np.array([dev["max_devi_f"]]), self.trust)[0])
        self.counts[("accurate", "candidate", "failed")[cls]] += 1
        self.failed_run = self.failed_run + 1 if cls == FAILED else 0
        self.devi_lines.append(
            f"{state.step:12d} " + " ".join(f"{dev[k]:11.4e}" for k in (
                "max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f", "min_devi_f",
                "avg_devi_f")) + "\n")
        if cls == CANDIDATE:
            self._write_frames("pool.h5", state, ids, [
                ("deviation", dev["max_devi_f"]), ("system", self.index),
                ("frame_id", state.step)])
        if self.ctx.is_root and len(self.devi_lines) >= 20:
            self._flush_devi()

    def _gather(self, state: md.MDState, ids: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """Positions and velocities of all atoms in id order, on rank 0 (else None)."""
        parts = self.ctx.comm.gather((ids, state.positions, state.velocities), root=0)
        if not self.ctx.is_root:
            return None
        all_ids = np.concatenate([p[0] for p in parts])
        order = np.argsort(all_ids)
        return (np.concatenate([p[1] for p in parts])[order],
                np.concatenate([p[2] for p in parts])[order])

    def _write_frames(self, name: str, state: md.MDState, ids: np.ndarray,
                      meta: list[tuple[str, float]]) -> None:
        """Append the current frame to ``out/name`` (collective; rank 0 holds it)."""
        from hpcml.io.store import append_frames, create_store

        gathered = self._gather(state, ids)
        s = self.structure
        path = self.out / name
        keys = [k for k, _ in meta]
        if gathered is None:
            frames = Frames.empty(s.type_map, keys)
        else:
            arrays = {"natoms": [s.n_atoms], "cell": state.cell[None], "coord": gathered[0],
                      "atype": s.types}
            arrays.update({k: [v] for k, v in meta})
            frames = Frames(s.type_map, arrays)
        if name not in self.stores:                 # once per run; accepts a restart's file
            create_store(path, s.type_map, keys, self.ctx, exist_ok=True)
            self.stores.add(name)
        append_frames(path, frames, self.ctx)

    def _open_devi(self, first: int) -> None:
        """Start ``devi.out``, or cut it back to the checkpoint step on restart."""
        if not self.ctx.is_root:
            return
        path = self.out / "devi.out"
        if first == 0 or not path.exists():
            path.write_text(DEVI_HEADER)
            return
        kept = [ln for ln in path.read_text().splitlines(keepends=True)
                if ln.startswith("#") or int(ln.split()[0]) <= first]
        path.write_text("".join(kept))

    def _flush_devi(self) -> None:
        with (self.out / "devi.out").open("a") as handle:
            handle.writelines(self.devi_lines)
        self.devi_lines = []

    def _checkpoint(self, state: md.MDState, ids: np.ndarray) -> None:
        """Write ``checkpoint.npz`` atomically on rank 0 (after flushing devi.out)."""
        gathered = self._gather(state, ids)
        if gathered is None:
            return
        self._flush_devi()
        tmp = self.out / "checkpoint.tmp.npz"
        np.savez(tmp, positions=gathered[0], velocities=gathered[1], cell=state.cell,
                 step=state.step, xi=state.xi, v_xi=state.v_xi)
        os.replace(tmp, self.out / "checkpoint.npz")

    def _progress(self, state: md.MDState, step: int, seconds: float, first: int) -> None:
        temp = state.temperature(reduce=self.domain.allsum)
        done = max(step - first, 1)
        _log.info("walker %d: step %d/%d  T %.1f K  E %.4f eV  %.3f ns/day  %.1f us/atom/step",
                  self.index, step, self.cfg.steps, temp, state.energy,
                  done * self.cfg.dt * 1e-6 / max(seconds, 1e-9) * 86400,
                  1e6 * seconds / (done * self.structure.n_atoms))

    def _devi_counts(self) -> dict[str, int]:
        """Accurate/candidate/failed counts of the whole run from ``devi.out``.

        ``devi.out`` is cut back to the checkpoint on restart, so these counts
        cover every checked frame exactly once, however often the run restarted.
        """
        self._flush_devi()
        cls = classify(read_devi(self.out / "devi.out")[:, MAX_DEVI_F], self.trust)
        return {name: int((cls == k).sum())
                for k, name in enumerate(("accurate", "candidate", "failed"))}

    def _finish(self) -> int:
        """Keep at most ``max_candidates`` pool frames in ``candidates.h5``; their count."""
        from hpcml.io.store import read_frames, write_frames

        pool = self.out / "pool.h5"
        chosen = Frames.empty(self.structure.type_map, STORE_KEYS)
        if self.ctx.is_root and pool.exists():
            frames = drop_restart_repeats(read_frames(pool))
            keep = select_candidates(frames["deviation"], self.trust, self.cfg.max_candidates)
            chosen = frames.select(keep)
        n = self.ctx.comm.bcast(len(chosen), root=0)
        write_frames(self.out / "candidates.h5", chosen, self.ctx)
        return n
