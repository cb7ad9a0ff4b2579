"""Train an ensemble of K DeepPot models as one parallel job.

With N ranks the job is split into ``G = min(K, N)`` groups
(:meth:`~hpcml.parallel.Context.split`); group ``g`` trains members
``g, g + G, ...`` one after the other, data-parallel over its ranks.  Members
differ in their seed (initial parameters and frame order).  At the end the
members are gathered on rank 0 and written to ``out/ensemble.pt``.

Rank 0 locks ``out`` while the job runs (:class:`~hpcml.io.lock.DirLock`):
a second job training into the same directory stops with an error naming
the holder instead of mixing checkpoints and learning curves.

Re-running the same command continues: a member whose ``checkpoint.pt``
exists restarts from it, and a finished member is not trained again.  With
``init`` (a previous ensemble, as in DP-GEN's later iterations) member k
starts from the parameters and statistics of ``init`` member ``k mod K'``
instead of a fresh network.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from hpcml.io.lock import DirLock
from hpcml.molecular.committee import Committee
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.parallel import root_call
from hpcml.parallel.threads import rank_threads
from hpcml.train.data import load_frames, n_validation, split_validation
from hpcml.train.loss import ExpDecay, Prefactors
from hpcml.train.trainer import Trainer, TrainOptions

if TYPE_CHECKING:
    from hpcml.config.train import TrainSection
    from hpcml.parallel import Context

_log = logging.getLogger(__name__)


def options_from_config(cfg: TrainSection, member: int, n_workers: int) -> TrainOptions:
    """:class:`TrainOptions` of ensemble member ``member``."""
    from hpcml.train.distributed import scaled_lr

    return TrainOptions(
        steps=cfg.steps, batch_size=cfg.batch_size,
        schedule=ExpDecay(cfg.start_lr, cfg.stop_lr, cfg.steps, cfg.decay_steps),
        prefactors=Prefactors(cfg.start_pref_e, cfg.limit_pref_e, cfg.start_pref_f,
                              cfg.limit_pref_f, cfg.start_pref_v, cfg.limit_pref_v),
        lr_factor=scaled_lr(1.0, n_workers, cfg.lr_scaling),
        disp_freq=cfg.disp_freq, save_freq=cfg.save_freq, seed=cfg.seed + member)


def train_ensemble(ctx: Context, spec: DeepPotSpec, cfg: TrainSection,
                   systems: list[str | os.PathLike], fmt: str = "auto",
                   out: str | os.PathLike | None = None,
                   init: Committee | None = None,
                   old_ratio: tuple[float, list[str]] | None = None) -> dict:
    """Train ``cfg.n_models`` members; rank 0 writes ``out/ensemble.pt``.

    ``init``, when given, is the ensemble whose members the new ones start
    from (fine-tuning); its hyper-parameters must equal ``spec``.
    ``old_ratio = (ratio, new_systems)`` draws a training frame of the
    systems not in ``new_systems`` with probability ``ratio`` (DP-GEN's
    ``training_reuse_old_ratio``).

    Returns
    -------
    dict
        On rank 0: ``path``, per-member validation ``metrics`` and
        ``seconds_per_step``; on the other ranks an empty dict.

    Raises
    ------
    LockedError
        When another job holds the lock of ``out``.
    """
    out = Path(cfg.out if out is None else out)
    lock = DirLock(out, "training output directory",
                   hint="give each training job its own --out (train.out)")
    root_call(ctx, _acquire, lock)
    try:
        return _train_all(ctx, spec, cfg, systems, fmt, out, init, old_ratio)
    finally:
        if ctx.is_root:
            lock.release()


def _acquire(lock: DirLock) -> None:
    """Rank 0: take the output directory's lock."""
    lock.acquire()


def _train_all(ctx: Context, spec: DeepPotSpec, cfg: TrainSection,
               systems: list[str | os.PathLike], fmt: str, out: Path,
               init: Committee | None,
               old_ratio: tuple[float, list[str]] | None = None) -> dict:
    """The body of :func:`train_ensemble`, under the output directory's lock."""
    from hpcml.train.distributed import make_averager

    torch.set_num_threads(rank_threads())        # hpcml.parallel.threads' precedence
    data = load_frames(systems, spec, fmt)
    train, valid = split_validation(data, cfg.validation_fraction)
    new, offset = [], 0           # training-frame indices of the new systems
    for path, frames in zip(systems, data):
        n_train = len(frames) - n_validation(len(frames), cfg.validation_fraction)
        if old_ratio is not None and str(path) in {str(p) for p in old_ratio[1]}:
            new += range(offset, offset + n_train)
        offset += n_train
    n_groups = min(cfg.n_models, ctx.size)
    group = ctx.split(n_groups)
    averager = make_averager(group, cfg.backend)
    _log.info("training %d model(s) on %d frame(s) (%d for validation), %d group(s) of "
              "%s rank(s), backend %s", cfg.n_models, len(train), len(valid), n_groups,
              group.size, averager.name)
    results = {}
    for member in range(group.group, cfg.n_models, n_groups):
        start = None if init is None else init.models[member % len(init.models)]
        results[member] = _train_member(member, spec, cfg, train, valid, group, averager, out,
                                        start, None if old_ratio is None else
                                        (old_ratio[0], tuple(new)))
    averager.close()
    gathered = ctx.comm.gather(results if group.is_root else {}, root=0)
    if not ctx.is_root:
        return {}
    merged = {k: v for part in gathered for k, v in part.items()}
    members = [DeepPot.deserialize(merged[k]["model"]) for k in range(cfg.n_models)]
    info = {"steps": cfg.steps, "systems": [str(s) for s in systems],
            "metrics": [merged[k]["metrics"] for k in range(cfg.n_models)]}
    path = Committee(members, info).save(out / "ensemble.pt")
    _log.info("wrote %s (%d member(s))", path, len(members))
    return {"path": path, "metrics": info["metrics"], "n_train": len(train), "n_valid": len(valid),
            "seconds_per_step": [merged[k]["seconds_per_step"] for k in range(cfg.n_models)]}


def _train_member(member: int, spec: DeepPotSpec, cfg: TrainSection, train: list,
                  valid: list, group: Context, averager: object, out: Path,
                  start: DeepPot | None = None,
                  mixing: tuple[float, tuple[int, ...]] | None = None) -> dict:
    """Train (or finish) one member on ``group``; returns its model and metrics."""
    model = DeepPot(dataclasses.replace(spec, seed=cfg.seed + member))
    if start is not None:
        if start.spec.to_dict() | {"seed": 0} != model.spec.to_dict() | {"seed": 0}:
            from hpcml.errors import ConfigError

            raise ConfigError("the ensemble to fine-tune has other hyper-parameters than the "
                              "`model` section; start a new run directory")
        model.load_state_dict(start.state_dict())
    options = options_from_config(cfg, member, group.size)
    if mixing is not None:
        options = dataclasses.replace(options, old_ratio=mixing[0], new_frames=mixing[1])
    trainer = Trainer(model, train, valid, options, group, averager, out / f"member_{member}")
    checkpoint = trainer.out / "checkpoint.pt"
    if checkpoint.exists():
        trainer.restore(checkpoint)
    elif start is None:
        trainer.initialize_from_data()
    _log.info("member %d: steps %d..%d", member, trainer.step, options.steps)
    t0, step0 = time.perf_counter(), trainer.step
    trainer.run()
    per_step = (time.perf_counter() - t0) / max(options.steps - step0, 1)
    metrics = trainer.validate()
    _log.info("member %d: validation rmse_e %.3e eV/atom, rmse_f %.4f eV/A", member,
              metrics.get("rmse_e", float("nan")), metrics.get("rmse_f", float("nan")))
    return {"model": model.serialize(), "metrics": metrics, "seconds_per_step": per_step}
