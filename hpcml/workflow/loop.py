"""The concurrent-learning loop (``hpcml run``): init -> (train -> explore -> label)* -> check.

Every stage runs on all ranks of the job's Context (training splits them by
ensemble member, exploration by walker, labeling by CP2K task) and is
recorded in the run journal (:mod:`hpcml.workflow.journal`) only after its
outputs are complete on disk.  Re-running the same command after a kill (any
signal, at any moment) skips finished stages and resumes the unfinished one
from its own checkpoints, so no frame is labeled, added or lost twice: each
stage writes its own files (atomically) and the training set of iteration
``i`` is the initial data plus the labeled stores of iterations ``< i``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpcml.errors import ConfigError
from hpcml.parallel import root_call
from hpcml.workflow.journal import Journal
from hpcml.workflow.rundir import RunDir, claim

if TYPE_CHECKING:
    from hpcml.config.model import HpcmlConfig
    from hpcml.io import Frames
    from hpcml.parallel import Context

_log = logging.getLogger(__name__)


@dataclass
class LoopResult:
    """How the loop ended (the same on every rank)."""

    iterations: int          # iterations whose exploration ran
    converged: bool
    accurate: list[float]    # accurate fraction of each iteration
    check: dict              # final check (may be empty)


class Loop:
    """One run directory driven by one config; see the module docstring.

    Parameters
    ----------
    ctx
        The job's Context.
    config
        The validated config (``data``/``loop.init``, ``model``, ``train``,
        ``md``, ``label``, ``loop`` sections).
    spec
        DeepPot hyper-parameters (``model`` section and type map).
    workdir
        Run directory (default ``config.run.workdir``).
    source
        Where the config came from (for messages and ``run.json``).
    continue_changed
        Accept a run directory made by a different config.
    """

    def __init__(self, ctx: Context, config: HpcmlConfig, spec: object,
                 workdir: str | Path | None = None, source: str = "<config>",
                 continue_changed: bool = False):
        self.ctx, self.config, self.spec = ctx, config, spec
        self.dirs = RunDir(Path(workdir or config.run.workdir))
        _check_config(config)
        dump = config.model_dump(mode="json")
        root_call(ctx, claim, self.dirs, dump, source, continue_changed)
        self.journal = Journal(self.dirs.root, writable=ctx.is_root)

    # -- driver ------------------------------------------------------------------
    def run(self) -> LoopResult:
        """Run (or resume) the loop until it converges or reaches max_iterations.

        Rank 0 holds the run directory's lock throughout: a second job in the
        same directory stops at once, naming the one that holds it.
        """
        from hpcml.io.lock import DirLock

        lock = DirLock(self.dirs.root, "run directory",
                       hint="give each job its own run.workdir (--workdir DIR)")
        root_call(self.ctx, lambda: lock.acquire() and None)
        try:
            return self._run()
        finally:
            if self.ctx.is_root:
                lock.release()

    def _run(self) -> LoopResult:
        """:meth:`run` under the run directory's lock."""
        loop = self.config.loop
        if self.ctx.is_root:
            self.journal.note("run-start", ranks=self.ctx.size)
        self._stage("init", self._init)
        accurate: list[float] = []
        converged = False
        last = -1
        for i in range(loop.max_iterations):
            _log.info("== iteration %d/%d (stage %d) ==", i + 1, loop.max_iterations,
                      loop.stage_index(accurate))
            trained = self._stage(f"iter.{i:03d}/train", lambda i=i: self._train(i))
            _log_trained(i, trained)
            explored = self._stage(f"iter.{i:03d}/explore",
                                   lambda i=i, a=list(accurate): self._explore(i, a))
            last = i
            accurate.append(explored["fractions"]["accurate"])
            _log.info("iteration %d: accurate %.1f %%, candidates %.1f %%, failed %.1f %% of %d "
                      "frames (trust levels %.3f / %.3f eV/A)", i,
                      100 * explored["fractions"]["accurate"],
                      100 * explored["fractions"]["candidate"],
                      100 * explored["fractions"]["failed"], explored["frames_checked"],
                      explored["trust_lo"], explored["trust_hi"])
            if self._converged(accurate):
                converged = True
                _log.info("converged: accurate fraction >= %.3f in the last %d iteration(s) of "
                          "the last stage", loop.converge_fraction, loop.converge_iterations)
                break
            if i + 1 < loop.max_iterations:
                self._stage(f"iter.{i:03d}/label", lambda i=i: self._label(i))
        check = {}
        if loop.check_frames and last >= 0:
            # keyed by iteration: a run continued with more iterations checks again
            check = self._stage(f"iter.{last:03d}/check", lambda: self._check(last))
        if self.ctx.is_root:
            self.journal.note("run-end", converged=converged, iterations=last + 1)
        return LoopResult(iterations=last + 1, converged=converged, accurate=accurate,
                          check=check)

    def _converged(self, accurate: list[float]) -> bool:
        """True when the last ``converge_iterations`` ran the last stage and passed."""
        loop = self.config.loop
        n, last_stage = loop.converge_iterations, len(loop.schedule) - 1
        if len(accurate) < n:
            return False
        stages = [loop.stage_index(accurate[:j]) for j in range(len(accurate) - n,
                                                                len(accurate))]
        return all(k == last_stage for k in stages) and \
            min(accurate[-n:]) >= loop.converge_fraction

    def _stage(self, name: str, body: object) -> dict:
        """Run stage ``name`` unless the journal says it finished; returns its summary."""
        if self.journal.is_done(name):
            _log.info("%s: done earlier (journal), skipped", name)
            return self.journal.summary(name)
        attempt = self.journal.stages.get(name)
        if attempt is not None and attempt.attempts:
            _log.info("%s: resuming an interrupted attempt", name)
        started = self.journal.start(name) if self.ctx.is_root else time.time()
        summary = body()
        summary = self.ctx.comm.bcast(summary, root=0)
        self.ctx.comm.barrier()
        self.journal.done(name, started, summary)
        return summary

    # -- stages ------------------------------------------------------------------
    def _label_section(self, out: Path, workdir: Path):  # noqa: ANN202
        """The ``label`` section with this stage's output and task directories."""
        return self.config.label.model_copy(update={"out": out, "workdir": workdir,
                                                    "append": False})

    def _init(self) -> dict:
        """Initial data: the given systems, plus CP2K MD or perturbed structures (+ held-out)."""
        from hpcml.workflow.init import md_init, perturb_init

        given = [str(p) for p in (self.config.data.systems if self.config.data else [])]
        summary = {"given": given, "n_labeled": 0, "n_heldout": 0}
        init = self.config.loop.init
        if init is None:
            return summary
        make = md_init if init.mode == "md" else perturb_init
        summary.update(make(self.ctx, init, self.config.label, list(self.spec.type_map),
                            self.config.run.seed, self.dirs.init))
        if not summary["n_heldout"]:
            _log.warning("init: the held-out set is empty (loop.init.heldout_steps = 0 or every "
                         "held-out frame failed); iterations are not tested on unseen frames")
        return summary

    @property
    def heldout(self) -> Path | None:
        """The held-out store, when init made one."""
        return self.dirs.init / "heldout.h5" if self.journal.summary("init").get(
            "n_heldout", 0) else None

    def training_systems(self, i: int) -> list[str]:
        """Data of iteration ``i``: given systems, init labels, labels of iterations < i."""
        systems = list(self.journal.summary("init").get("given", []))
        if self.journal.summary("init").get("n_labeled", 0):
            systems.append(str(self.dirs.init / "labeled.h5"))
        for j in range(i):
            if self.journal.summary(f"iter.{j:03d}/label").get("n_labeled", 0):
                systems.append(str(self.dirs.label(j) / "labeled.h5"))
        return systems

    def _train(self, i: int) -> dict:
        """Train the ensemble of iteration ``i``; test it on the held-out set; trust levels."""
        from hpcml.molecular.committee import Committee
        from hpcml.train.ensemble import train_ensemble

        loop, cfg = self.config.loop, self.config.train
        init, old = None, None
        # members differ in seed and data order, and so do iterations
        cfg = cfg.model_copy(update={"seed": cfg.seed + 1000 * i})
        if i > 0 and loop.retrain == "finetune":
            cfg = cfg.model_copy(update={
                "steps": loop.finetune_steps, "start_lr": loop.finetune_start_lr,
                "start_pref_e": loop.finetune_start_pref_e,
                "start_pref_f": loop.finetune_start_pref_f})
            init = Committee.load(self.dirs.train(i - 1) / "ensemble.pt")
            old = loop.old_ratio
        systems = self.training_systems(i)
        if not systems:
            raise ConfigError("no training data: give data.systems or loop.init.structures")
        result = train_ensemble(self.ctx, self.spec, cfg, systems, "auto",
                                out=self.dirs.train(i), init=init,
                                old_ratio=None if old is None else (old, self.new_systems(i)))
        if not self.ctx.is_root:
            return {}
        valid_f = float(np.mean([m.get("rmse_f", np.nan) for m in result["metrics"]]))
        md = self.config.md
        before = self.journal.summary(f"iter.{i - 1:03d}/train") if i > 0 else {}
        previous = (before["trust_lo"], before["trust_hi"]) if "trust_lo" in before else None
        lo, hi = loop.trust.levels(valid_f, (md.trust_lo, md.trust_hi), previous)
        if loop.trust.mode == "absolute" and np.isfinite(valid_f) and md.trust_lo < valid_f:
            _log.warning("iteration %d: md.trust_lo (%.3g eV/A) is below the ensemble's "
                         "validation force RMSE (%.3g eV/A): few frames can be accurate; raise "
                         "it or use loop.trust.mode: error", i, md.trust_lo, valid_f)
        summary = {"systems": systems, "steps": cfg.steps, "n_train": result["n_train"],
                   "n_valid": result["n_valid"], "metrics": result["metrics"],
                   "seconds_per_step": result["seconds_per_step"],
                   "finetune": init is not None, "valid_force_rmse": valid_f,
                   "trust_lo": lo, "trust_hi": hi}
        if self.heldout is not None:
            summary["heldout"] = _test(self.dirs.train(i) / "ensemble.pt", self.heldout)
        return summary

    def new_systems(self, i: int) -> list[str]:
        """Systems of iteration ``i`` that iteration ``i - 1`` did not train on."""
        before = set(self.training_systems(i - 1)) if i > 0 else set()
        return [s for s in self.training_systems(i) if s not in before]

    def walker_sections(self, i: int, k: int) -> list:
        """Walkers of iteration ``i`` (stage ``k``): structures x temperatures x pressures."""
        from hpcml.config.md import WalkerSection

        stage, md = self.config.loop.schedule[k], self.config.md
        init = self.config.loop.init
        structures = list(stage.structures) or (list(init.structures) if init else []) or \
            ([md.structure] if md.structure else [])
        if not structures:
            raise ConfigError("loop.schedule: no start structure; set loop.schedule[].structures, "
                              "loop.init.structures or md.structure")
        walkers = []
        for path in structures:
            for temp in stage.temperatures:
                for press in stage.pressures:
                    walkers.append(WalkerSection(
                        structure=path, temperature=temp, pressure=press,
                        seed=md.seed + 1000 * i + len(walkers)))
        return walkers

    def _explore(self, i: int, accurate: list[float]) -> dict:
        """DPMD walkers of the current stage; candidates in the trust window, capped."""
        from hpcml.explore.job import run_md
        from hpcml.io.store import read_frames, write_frames
        from hpcml.molecular.committee import Committee

        loop = self.config.loop
        k = loop.stage_index(accurate)
        stage = loop.schedule[k]
        trained = self.journal.summary(f"iter.{i:03d}/train")
        lo = trained.get("trust_lo", self.config.md.trust_lo)
        hi = trained.get("trust_hi", self.config.md.trust_hi)
        md = self.config.md.model_copy(update={
            "walkers": self.walker_sections(i, k), "steps": stage.steps,
            "ensemble": stage.ensemble or self.config.md.ensemble,
            "trust_lo": lo, "trust_hi": hi})
        committee = Committee.load(self.dirs.train(i) / "ensemble.pt")
        out = self.dirs.explore(i)
        summary = run_md(self.ctx, committee, md, out=out)

        def select() -> int:
            frames = read_frames(out / "candidates.h5")
            keep = spread_selection(frames["deviation"], loop.max_candidates)
            write_frames(out / "selected.h5", _with_iteration(frames.select(keep), i))
            return len(keep)

        summary = dict(summary)
        summary["selected"] = root_call(self.ctx, select)
        summary.update(steps=stage.steps, stage=k, trust_lo=lo, trust_hi=hi)
        summary["walker_settings"] = [
            {"structure": str(w.structure), "temperature": w.temperature,
             "pressure": w.pressure} for w in md.walkers]
        stopped = [w["walker"] for w in summary["walkers"] if w.get("stopped_at") is not None]
        if stopped:
            _log.warning("iteration %d: walker(s) %s stopped early (deviation above trust_hi)",
                         i, stopped)
        if summary["candidates"] == 0:
            _log.warning("iteration %d: no candidates (accurate %.1f %%, failed %.1f %%); the "
                         "loop continues", i, 100 * summary["fractions"]["accurate"],
                         100 * summary["fractions"]["failed"])
        return summary

    def _label(self, i: int) -> dict:
        """Label the selected candidates of iteration ``i`` with CP2K."""
        from hpcml.io.store import read_frames
        from hpcml.label import label_frames

        path = self.dirs.explore(i) / "selected.h5"
        frames = read_frames(path)
        if len(frames) == 0:
            _log.warning("iteration %d: nothing to label", i)
            return {"n_candidates": 0, "n_labeled": 0, "n_failed": 0}
        _log.info("iteration %d: labeling %d candidate(s)", i, len(frames))
        result = label_frames(self.ctx, self._label_section(self.dirs.label(i) / "labeled.h5",
                                                            self.dirs.label(i) / "work"),
                              frames, candidates=str(path))
        return result.as_dict()

    def _check(self, last: int) -> dict:
        """Label a random sample of the last iteration's trajectory; test the ensemble on it."""
        import json

        from hpcml.io.store import read_frames, write_frames
        from hpcml.label import label_frames

        loop, out = self.config.loop, self.dirs.check(last)

        def sample() -> int:
            frames = _trajectory_sample(self.dirs.explore(last), loop.check_frames,
                                        np.random.default_rng([loop.check_seed, last]),
                                        self.journal.summary(f"iter.{last:03d}/explore").get(
                                            "trust_hi", self.config.md.trust_hi))
            if frames is None:
                return 0
            out.mkdir(parents=True, exist_ok=True)
            write_frames(out / "sample.h5", frames)
            return len(frames)

        n = root_call(self.ctx, sample)
        if n == 0:
            _log.warning("check: the last iteration wrote no trajectory frames below trust_hi")
            return {}
        frames = read_frames(out / "sample.h5")
        # a check frame CP2K cannot label is reported, not fatal
        section = self._label_section(out / "labeled.h5", out / "work").model_copy(
            update={"ratio_failed": 1.0})
        result = label_frames(self.ctx, section, frames, candidates=str(out / "sample.h5"))
        check = {"iteration": last, "sampled": n, "n_labeled": result.n_labeled,
                 "n_failed": result.n_failed}
        if self.ctx.is_root and result.n_labeled:
            check.update(_test(self.dirs.train(last) / "ensemble.pt", out / "labeled.h5"))
            (out / "result.json").write_text(json.dumps(check, indent=1) + "\n")
            _log.info("check: final ensemble on %d unseen explored frame(s): energy %.2f "
                      "meV/atom, force %.3f eV/A", result.n_labeled,
                      check["energy_rmse_per_atom_meV"], check["force_rmse_eV_per_A"])
        return check


def spread_selection(deviation: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` candidate indices spread over the deviation range, in input order.

    The candidates come spread over each walker's trajectory already; this
    keeps frames evenly spaced in deviation rank, so the low and the high end
    of the trust window are both labeled.
    """
    from hpcml.explore.select import evenly_spread

    order = np.argsort(np.asarray(deviation), kind="stable")
    return np.sort(evenly_spread(order, cap))


def _test(ensemble: Path, data: Path) -> dict:
    """Energy/force errors of ``ensemble`` on labeled ``data`` (meV/atom, eV/A)."""
    from hpcml.train.evaluate import test_model

    _, overall = test_model(ensemble, [data])
    return {k: overall[k] for k in ("frames", "energy_rmse_per_atom_meV",
                                    "force_rmse_eV_per_A", "force_mae_eV_per_A")}


def _log_trained(i: int, trained: dict) -> None:
    """One line on the trained ensemble of iteration ``i``."""
    held = trained.get("heldout")
    text = (f"; held-out {held['energy_rmse_per_atom_meV']:.2f} meV/atom, "
            f"{held['force_rmse_eV_per_A']:.3f} eV/A on {held['frames']} frames" if held else "")
    _log.info("iteration %d: %d training frames, validation force RMSE %.3f eV/A%s; trust "
              "levels %.3f / %.3f eV/A", i, trained.get("n_train", 0),
              trained.get("valid_force_rmse", float("nan")), text,
              trained.get("trust_lo", float("nan")), trained.get("trust_hi", float("nan")))


def _with_iteration(frames: Frames, i: int) -> Frames:
    """``frames`` tagged with the iteration that found them (``iteration`` key)."""
    from hpcml.io import Frames

    return Frames(frames.type_map, {**frames.arrays,
                                    "iteration": np.full(len(frames), i, dtype=np.int64)})


def _trajectory_sample(explore: Path, n: int, rng: np.random.Generator,
                       trust_hi: float) -> Frames | None:
    """Up to ``n`` random frames of the walkers' ``traj.h5`` files in ``explore``.

    Frames whose deviation (``devi.out`` at the same step) is at or above
    ``trust_hi`` are left out: they are unphysical, as the loop treats them.
    """
    from hpcml.explore.md import MAX_DEVI_F, drop_restart_repeats, read_devi
    from hpcml.io import Frames
    from hpcml.io.store import read_frames

    parts = []
    for path in sorted(explore.glob("walker_*/traj.h5")):
        frames = read_frames(path)
        if not len(frames):
            continue
        frames = drop_restart_repeats(frames)
        devi = read_devi(path.with_name("devi.out"))
        failed = set(devi[devi[:, MAX_DEVI_F] >= trust_hi, 0].astype(int))
        keep = [k for k, step in enumerate(frames["frame_id"]) if int(step) not in failed]
        if keep:
            parts.append(frames.select(keep))
    if not parts:
        return None
    frames = Frames.concat(parts)
    pick = np.sort(rng.choice(len(frames), size=min(n, len(frames)), replace=False))
    return frames.select(pick)


def _check_config(config: HpcmlConfig) -> None:
    """Loop-level checks that no single section can make."""
    md = config.md
    if md.trust_lo >= md.trust_hi:
        raise ConfigError(f"md.trust_lo ({md.trust_lo}) must be below md.trust_hi "
                          f"({md.trust_hi})")
    if config.data is None:
        raise ConfigError("the loop needs a `data` section with type_map (and the given "
                          "labeled systems, if any)")
    if not config.data.systems and config.loop.init is None:
        raise ConfigError("no initial data: give data.systems (labeled) or "
                          "loop.init.structures (perturbed and labeled by CP2K)")
    if config.loop.init is not None and not config.loop.init.structures:
        raise ConfigError("loop.init.structures is empty; list the structures to perturb")
