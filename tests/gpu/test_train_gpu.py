"""Training on a CUDA device gives the CPU result (marked ``gpu``)."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_training_matches_cpu(tmp_path, monkeypatch):
    from hpcml.molecular.model import DeepPot
    from hpcml.molecular.spec import DeepPotSpec
    from hpcml.parallel import Context
    from hpcml.testing.data import embedded_water
    from hpcml.train.data import load_frames, split_validation
    from hpcml.train.distributed import make_averager
    from hpcml.train.loss import ExpDecay
    from hpcml.train.trainer import Trainer, TrainOptions

    spec = DeepPotSpec(rcut=4.0, sel=(30, 60), neuron=(8, 16), axis_neuron=4,
                       fitting_neuron=(16, 16))
    frames = split_validation(load_frames([embedded_water()], spec), 0.1)
    params = {}
    for device in ("cpu", "cuda:0"):
        monkeypatch.setenv("HPCML_DEVICE", device)
        ctx = Context.create(serial=True)
        opts = TrainOptions(steps=5, schedule=ExpDecay(1e-3, 1e-4, 5, 2), disp_freq=5)
        trainer = Trainer(DeepPot(spec), *frames, opts, ctx, make_averager(ctx),
                          tmp_path / device)
        trainer.initialize_from_data()
        trainer.run()
        params[device] = torch.cat([p.detach().cpu().flatten()
                                    for p in trainer.model.parameters()])
    assert torch.allclose(params["cpu"], params["cuda:0"], atol=1e-8)
