"""Data-parallel and ensemble training on N ranks (mpirun -n 2 and -n 4)."""

import numpy as np
import pytest
import torch

from hpcml.config.train import TrainSection
from hpcml.molecular.committee import Committee
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec
from hpcml.parallel import Context, parallel_assert
from hpcml.testing.data import embedded_water
from hpcml.train.data import load_frames, split_validation
from hpcml.train.distributed import available_backends, make_averager
from hpcml.train.ensemble import train_ensemble
from hpcml.train.loss import ExpDecay
from hpcml.train.trainer import Trainer, TrainOptions

SPEC = DeepPotSpec(rcut=4.0, sel=(30, 60), neuron=(8, 16), axis_neuron=4,
                   fitting_neuron=(16, 16))


def _trained(ctx, frames, batch_size, out, backend="mpi4py"):
    opts = TrainOptions(steps=6, batch_size=batch_size, schedule=ExpDecay(1e-3, 1e-4, 6, 2),
                        disp_freq=3, save_freq=3)
    averager = make_averager(ctx, backend)
    trainer = Trainer(DeepPot(SPEC), *frames, opts, ctx, averager, out)
    trainer.initialize_from_data()
    trainer.run()
    averager.close()
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


@pytest.mark.parametrize("backend", available_backends())
def test_data_parallel_equals_serial_large_batch(ctx, mpi_tmp_path, backend):
    """N ranks with one frame each step == one rank with N frames per step."""
    frames = split_validation(load_frames([embedded_water()], SPEC), 0.1)
    parallel = _trained(ctx, frames, 1, mpi_tmp_path / "par", backend)
    serial = _trained(Context.create(serial=True), frames, ctx.size,
                      mpi_tmp_path / f"ser{ctx.rank}")
    diff = (parallel - serial).abs().max().item()
    parallel_assert(ctx, diff < 1e-10, f"parameters differ by {diff}")
    same = ctx.comm.allgather(parallel.numpy().tobytes())
    parallel_assert(ctx, all(s == same[0] for s in same), "ranks hold different parameters")


def test_ensemble_split_writes_all_members(ctx, mpi_tmp_path):
    cfg = TrainSection(steps=4, n_models=3, disp_freq=2, save_freq=2, out=mpi_tmp_path / "ens")
    result = train_ensemble(ctx, SPEC, cfg, [embedded_water()])
    ok, msg = True, ""
    if ctx.is_root:
        committee = Committee.load(result["path"])
        seeds = [m.spec.seed for m in committee.models]
        ok, msg = len(committee) == 3 and seeds == [1, 2, 3], f"seeds {seeds}"
        ok = ok and all(np.isfinite(m["rmse_f"]) for m in result["metrics"])
    parallel_assert(ctx, ok, msg)
