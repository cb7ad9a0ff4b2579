"""Context, collectives and logging on one process (SerialComm and size-1 MPI)."""

import io
import logging

import numpy as np
import pytest

from hpcml.parallel import (
    Context,
    ParallelAssertionError,
    SerialComm,
    abort_on_error,
    parallel_assert,
    setup_logging,
    slab_offsets,
)


def test_context_layout(ctx):
    assert (ctx.rank, ctx.size, ctx.is_root) == (0, 1, True)
    assert ctx.local_rank == 0
    assert ctx.group == 0 and ctx.n_groups == 1
    assert ctx.device in ("cpu",) or ctx.device.startswith("cuda:")
    assert "1 rank(s)" in ctx.describe()


def test_serial_fallback_flags():
    ctx = Context.create(serial=True)
    assert isinstance(ctx.comm, SerialComm)
    assert not ctx.has_mpi


def test_env_forces_serial(monkeypatch):
    monkeypatch.setenv("HPCML_NO_MPI", "1")
    assert isinstance(Context.create().comm, SerialComm)


def test_device_override(monkeypatch, ctx):
    monkeypatch.setenv("HPCML_DEVICE", "cpu")
    assert ctx.device == "cpu"


def test_split_one_group(ctx):
    sub = ctx.split(1)
    assert (sub.group, sub.n_groups, sub.size, sub.rank) == (0, 1, 1, 0)
    assert sub.parent is ctx


@pytest.mark.parametrize("n_groups", [0, 2, -1])
def test_split_rejects_impossible_groups(ctx, n_groups):
    with pytest.raises(ValueError, match="cannot split 1 rank"):
        ctx.split(n_groups)


def test_serial_comm_collectives():
    comm = SerialComm()
    assert comm.allgather(5) == [5]
    assert comm.gather("a") == ["a"]
    assert comm.allreduce(3.5) == 3.5
    assert comm.scatter([7]) == 7
    assert comm.bcast({"k": 1}) == {"k": 1}
    out = np.zeros(3)
    comm.Allreduce(np.arange(3.0), out)
    np.testing.assert_array_equal(out, [0.0, 1.0, 2.0])
    with pytest.raises(SystemExit) as exc:
        comm.Abort(4)
    assert exc.value.code == 4


def test_parallel_assert_one_rank(ctx):
    parallel_assert(ctx, True)
    with pytest.raises(ParallelAssertionError, match="rank 0: values differ"):
        parallel_assert(ctx, False, "values differ")


def test_slab_offsets_one_rank(ctx):
    assert slab_offsets(ctx, 7) == (0, 7)


def test_abort_on_error_reraises_on_one_rank(ctx):
    with pytest.raises(KeyError), abort_on_error(ctx):
        raise KeyError("x")


def test_logging_format_and_level(ctx):
    stream = io.StringIO()
    logger = setup_logging(ctx, level="INFO", stream=stream)
    logging.getLogger("hpcml.test").info("hello")
    logging.getLogger("hpcml.test").debug("hidden")
    text = stream.getvalue()
    assert "[0/1] INFO hpcml.test: hello" in text
    assert "hidden" not in text
    assert logger.propagate is False


def test_logging_per_rank_file(ctx, tmp_path):
    setup_logging(ctx, stream=io.StringIO(), logdir=tmp_path)
    logging.getLogger("hpcml.test").warning("to file")
    for handler in logging.getLogger("hpcml").handlers:
        handler.flush()
    assert "to file" in (tmp_path / "hpcml_p0.log").read_text()
