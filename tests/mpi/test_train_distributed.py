"""Gradient averaging backends on N ranks (run under mpirun -n 2 and -n 4).

Each rank builds the same tiny model (same seed), feeds it its own data and
back-propagates; after ``average`` every rank must hold the mean of the
per-rank gradients, gathered independently with ``comm.allgather``.
"""

import numpy as np
import pytest
import torch

from hpcml.parallel import parallel_assert
from hpcml.train.distributed import BACKENDS, available_backends, make_averager

TOL = {torch.float64: 1e-12, torch.float32: 1e-6}


@pytest.fixture(params=BACKENDS)
def backend(request, ctx):
    name = request.param
    if not all(ctx.comm.allgather(name in available_backends())):
        pytest.skip(f"backend {name} not installed on every rank")
    return name


class Tiny(torch.nn.Module):
    """Two layers (float64 or float32, or one of each), a branch only rank 0 uses, a frozen bias."""

    def __init__(self, dtypes):
        super().__init__()
        self.a = torch.nn.Linear(3, 8).to(dtypes[0])
        self.b = torch.nn.Linear(8, 2).to(dtypes[1])
        self.branch = torch.nn.Parameter(torch.ones(4, dtype=dtypes[1]))
        self.frozen = torch.nn.Parameter(torch.zeros(2, dtype=dtypes[1]), requires_grad=False)
        self.register_buffer("scale", torch.ones(2, dtype=dtypes[1]))

    def forward(self, x, use_branch):
        y = self.b(torch.tanh(self.a(x)).to(self.b.weight.dtype)) * self.scale + self.frozen
        return y.pow(2).sum() + (self.branch.pow(3).sum() if use_branch else 0.0)


def make_model(dtypes, seed=0):
    torch.manual_seed(seed)
    return Tiny(dtypes)


def backward(model, rank):
    gen = torch.Generator().manual_seed(1000 + rank)
    x = torch.randn(5, 3, generator=gen, dtype=model.a.weight.dtype)
    model(x, use_branch=rank == 0).backward()


def local_grads(model, zero_fill):
    """Gradients as float64 arrays; None grads as zeros when ``zero_fill``, else None."""
    return {n: (None if not p.requires_grad or (p.grad is None and not zero_fill) else
                np.zeros(p.shape) if p.grad is None else p.grad.double().numpy().copy())
            for n, p in model.named_parameters()}


def expected_mean(comm, grads):
    """Mean over the ranks of comm of each entry of ``grads``."""
    per_rank = comm.allgather(grads)
    return {name: None if grads[name] is None else sum(g[name] for g in per_rank) / len(per_rank)
            for name in grads}


def max_error(model, expected):
    err = 0.0
    for name, p in model.named_parameters():
        want = expected[name]
        if want is None or p.grad is None:
            if (want is None) != (p.grad is None):
                return float("inf")
            continue
        err = max(err, float(np.max(np.abs(p.grad.double().numpy() - want))))
    return err


def check_average(group, backend, dtypes):
    """Run one averaged step on ``group``; return (error, message) for this rank."""
    averager = make_averager(group, backend)
    try:
        errors = []
        for _ in range(2):  # the second step reuses the flat buffers
            model = make_model(dtypes)
            backward(model, group.rank if group.parent is None else group.parent.rank)
            # one rank: averaging is the identity, None grads stay None
            expected = expected_mean(group.comm, local_grads(model, zero_fill=group.size > 1))
            averager.average(list(model.parameters()))
            errors.append(max_error(model, expected))
        return max(errors), model
    finally:
        averager.close()


DTYPES = {
    "float64": (torch.float64, torch.float64),
    "float32": (torch.float32, torch.float32),
    "mixed": (torch.float32, torch.float64),
}


@pytest.mark.parametrize("kind", list(DTYPES))
def test_average_equals_mean_of_rank_gradients(ctx, backend, kind):
    dtypes = DTYPES[kind]
    err, model = check_average(ctx, backend, dtypes)
    tol = max(TOL[d] for d in dtypes)
    parallel_assert(ctx, err <= tol, f"{backend}/{kind}: max |grad - mean| = {err:.3g}")
    parallel_assert(ctx, model.frozen.grad is None, "frozen parameter got a gradient")
    # every rank ends with the same gradients
    flat = np.concatenate([p.grad.double().numpy().ravel()
                           for p in model.parameters() if p.grad is not None])
    ref = ctx.comm.bcast(flat, root=0)
    parallel_assert(ctx, np.array_equal(flat, ref), f"{backend}: ranks disagree")


def test_average_within_split_groups(ctx, backend):
    group = ctx.split(2)
    err, model = check_average(group, backend, DTYPES["float64"])
    parallel_assert(ctx, err <= 1e-12, f"{backend} group {group.group}: error {err:.3g}")
    # groups average different data: their gradients differ
    firsts = ctx.comm.allgather((group.group, float(model.a.weight.grad[0, 0])))
    by_group = {g: v for g, v in firsts}
    parallel_assert(ctx, by_group[0] != by_group[1], f"groups averaged together: {firsts}")


def test_broadcast_parameters_from_root(ctx, backend):
    averager = make_averager(ctx, backend)
    try:
        root = ctx.size - 1
        model = make_model(DTYPES["mixed"], seed=ctx.rank)  # different on every rank
        model.scale.fill_(ctx.rank)
        averager.broadcast_parameters(model, root=root)
        state = np.concatenate([t.detach().double().numpy().ravel()
                                for t in model.state_dict().values()])
        want = ctx.comm.bcast(state, root=root)
        parallel_assert(ctx, np.array_equal(state, want), f"{backend}: parameters differ from root")
        parallel_assert(ctx, float(model.scale[0]) == root, "buffer not broadcast")
    finally:
        averager.close()


def test_allreduce_mean(ctx, backend):
    averager = make_averager(ctx, backend)
    try:
        mean = averager.allreduce_mean(float(ctx.rank))
        want = (ctx.size - 1) / 2
        parallel_assert(ctx, abs(mean - want) < 1e-12, f"{backend}: {mean} != {want}")
    finally:
        averager.close()
