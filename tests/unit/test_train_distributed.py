"""Gradient averagers on one process (SerialComm and size-1 MPI), factory errors, scaled_lr."""

import math

import pytest
import torch

from hpcml.errors import UserError
from hpcml.parallel import Context
from hpcml.train import distributed
from hpcml.train.distributed import (
    BACKENDS,
    GradientAverager,
    Mpi4pyAverager,
    TorchDistributedAverager,
    available_backends,
    make_averager,
    scaled_lr,
)


@pytest.fixture(params=BACKENDS)
def averager(request, ctx):
    if request.param not in available_backends():
        pytest.skip(f"{request.param} not installed")
    avg = make_averager(ctx, request.param)
    yield avg
    avg.close()


def model_with_grads(dtype=torch.float64):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    model = model.to(dtype)
    model(torch.randn(6, 3, dtype=dtype)).sum().backward()
    return model


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_rank_average_is_identity(averager, dtype):
    model = model_with_grads(dtype)
    before = [p.grad.clone() for p in model.parameters()]
    for _ in range(2):
        averager.average(list(model.parameters()))
    for p, g in zip(model.parameters(), before):
        assert torch.equal(p.grad, g)
        assert p.grad.dtype == dtype


def test_one_rank_broadcast_and_mean(averager):
    model = model_with_grads()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    averager.broadcast_parameters(model)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert averager.allreduce_mean(2.5) == 2.5
    assert isinstance(averager, GradientAverager) and averager.name in BACKENDS


def test_mpi4py_is_a_noop_on_one_rank(ctx):
    avg = make_averager(ctx)
    assert isinstance(avg, Mpi4pyAverager) and avg.name == "mpi4py"
    assert not avg.active
    model = model_with_grads()
    grads = [p.grad for p in model.parameters()]
    avg.average(list(model.parameters()))
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))


def test_torch_distributed_one_rank_group(ctx):
    if "torch.distributed" not in available_backends():
        pytest.skip("torch.distributed not available")
    avg = make_averager(ctx, "torch")
    try:
        assert isinstance(avg, TorchDistributedAverager) and avg.backend == "gloo"
        extra = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        avg.average([extra])
        assert extra.grad is None  # one rank: the identity, no zero fill
        buf = torch.arange(4.0, dtype=torch.float64)
        avg._allreduce_mean_(buf)  # the group exists and reduces over its one rank
        assert torch.equal(buf, torch.arange(4.0, dtype=torch.float64))
    finally:
        avg.close()
    assert not avg.active


def test_available_backends_default_first():
    found = available_backends()
    assert found[0] == "mpi4py"
    assert set(found) <= set(BACKENDS)


@pytest.mark.parametrize("typo, suggestion", [("horovd", "horovod"), ("mpi4p", "mpi4py"),
                                              ("torch.distrib", "torch.distributed")])
def test_unknown_backend_did_you_mean(typo, suggestion):
    with pytest.raises(UserError, match=f"did you mean '{suggestion}'") as info:
        make_averager(Context.create(serial=True), typo)
    assert "valid backends: mpi4py, torch.distributed, horovod" in str(info.value)


def test_unknown_backend_without_close_match():
    with pytest.raises(UserError, match="unknown distributed training backend 'zzz'; valid"):
        make_averager(Context.create(serial=True), "zzz")


def test_horovod_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setattr(distributed, "_horovod_missing",
                        lambda: "horovod.torch does not import (No module named 'horovod')")
    with pytest.raises(UserError) as info:
        make_averager(Context.create(serial=True), "hvd")
    text = str(info.value)
    assert "No module named 'horovod'" in text
    assert "pip install -e .[horovod]" in text and "HPCML_EXTRAS=test,horovod make test" in text
    assert "launch/build-horovod.sh" in text


def test_torch_distributed_missing_is_explained(monkeypatch):
    monkeypatch.setattr(distributed, "_torch_distributed_missing",
                        lambda: "this torch build has no Gloo backend")
    with pytest.raises(UserError, match="'torch.distributed' is not usable: this torch build"):
        make_averager(Context.create(serial=True), "torch.distributed")


def test_scaled_lr():
    assert scaled_lr(1e-3, 4, "none") == 1e-3
    assert scaled_lr(1e-3, 4, "linear") == pytest.approx(4e-3)
    assert scaled_lr(1e-3, 4, "sqrt") == pytest.approx(2e-3)
    assert scaled_lr(1e-3, 1, "sqrt") == 1e-3
    assert scaled_lr(2.0, 3) == pytest.approx(6.0)
    assert math.isclose(scaled_lr(1.0, 2, "sqrt"), math.sqrt(2))


@pytest.mark.parametrize("lr_args, message", [((1e-3, 0, "linear"), "n_workers must be >= 1"),
                                              ((1e-3, 2, "cubic"), "unknown learning-rate")])
def test_scaled_lr_rejects_bad_input(lr_args, message):
    with pytest.raises(ValueError, match=message):
        scaled_lr(*lr_args)
