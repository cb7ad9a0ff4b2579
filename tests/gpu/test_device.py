"""On a GPU node each rank's Context picks a CUDA device (marked ``gpu``)."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_context_device_is_cuda():
    from hpcml.parallel import Context

    ctx = Context.create(serial=True)
    assert ctx.device == f"cuda:{ctx.local_rank % torch.cuda.device_count()}"
    x = torch.ones(4, device=ctx.device)
    assert float(x.sum().cpu()) == 4.0
