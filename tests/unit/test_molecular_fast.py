"""The explicit-derivative fast path of DeepPot equals the autograd path."""

import pytest
import torch

from hpcml.testing.models import small_model

SMALL = dict(rcut=4.0, rcut_smth=0.5, sel=(40, 80), neuron=(8, 16), axis_neuron=4,
             fitting_neuron=(16, 16))


def make_model(precision="float64", seed=5, **kw):
    return small_model(seed, precision=precision, bias=(-2.0, -1.0), **{**SMALL, **kw})


@pytest.fixture(scope="module")
def frames(small_water):
    """Two small periodic frames with both types, of different section widths."""
    coord, cell, atype = small_water
    return [coord, coord + 0.05], [cell, cell * 0.9], [atype, atype]


def run(model, batch, fast):
    model.fast = fast
    out = model(batch, virial=True, create_graph=True)
    loss = ((out["energy"] + 40.0) ** 2).sum() + 100 * (out["force"] ** 2).sum() \
        + (out["virial"] ** 2).sum()
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    return {k: v.detach() for k, v in out.items()}, grads


@pytest.mark.parametrize("kw", [{}, {"neuron": (6, 6, 12)}, {"neuron": (1, 2, 4)}],
                         ids=["double", "equal+double", "residual-first-layer"])
def test_fast_equals_autograd_with_parameter_gradients(frames, kw):
    model = make_model(**kw)
    batch = model.make_batch(*frames)
    assert batch.widths[0] < 40 and batch.widths[1] < 80      # virtual pads in play
    ref, g_ref = run(model, batch, fast=False)
    out, g_out = run(model, batch, fast=True)
    for key in ("energy", "atom_energy", "force", "virial"):
        torch.testing.assert_close(out[key], ref[key], rtol=0, atol=1e-10)
    scale = max(g.abs().max().item() for g in g_ref)
    worst = max((a - b).abs().max().item() for a, b in zip(g_out, g_ref))
    assert worst < 1e-11 * scale


def test_fast_single_type_frame_and_no_grad(water_frames):
    # only oxygen atoms: the hydrogen block is empty
    f = water_frames.frame(0)
    coord, atype = f["coord"][:24].astype(float), f["atype"][:24].copy()
    assert set(atype.tolist()) == {0}
    model = make_model()
    batch = model.make_batch([coord], [f["cell"] * 0.5], [atype])
    model.fast = False
    ref = model(batch, virial=True)
    model.fast = True
    with torch.no_grad():
        out = model(batch, virial=True)
    for key in ("energy", "force", "virial"):
        torch.testing.assert_close(out[key], ref[key].detach(), rtol=0, atol=1e-10)
    assert not out["force"].requires_grad


def test_fast_float32_close(frames):
    m32, m64 = make_model("float32"), make_model("float64")
    b32, b64 = m32.make_batch(*frames), m64.make_batch(*frames)
    out32, out64 = m32(b32, virial=True), m64(b64, virial=True)
    torch.testing.assert_close(out32["force"].double(), out64["force"], rtol=0, atol=1e-4)
    m32.fast = False
    ref32 = m32(b32, virial=True)
    torch.testing.assert_close(out32["force"], ref32["force"], rtol=0, atol=1e-5)


def test_fast_switch_from_environment(monkeypatch):
    monkeypatch.setenv("HPCML_DEEPPOT_FAST", "0")
    assert make_model().fast is False
    monkeypatch.setenv("HPCML_DEEPPOT_FAST", "1")
    assert make_model().fast is True


def test_distinct_s_cached_and_invalidated(frames):
    """Embeddings run once per distinct s; the cache follows in-place changes of rij."""
    from hpcml.molecular import fast

    model = make_model()
    batch = model.make_batch(*frames)
    s = fast.env_with_derivative(batch.rij, model.spec.rcut_smth, model.spec.rcut)[1][1]
    uniq = fast.distinct_s(batch, s.squeeze(-1))
    assert fast.distinct_s(batch, s.squeeze(-1)) is uniq                 # cached
    n_rows = sum(inv.numel() for row in uniq for _, inv in row)
    n_distinct = sum(u.shape[0] for row in uniq for u, _ in row)
    assert n_distinct < 0.75 * n_rows       # empty slots and ij/ji pairs share rows
    for (a, b), row in zip(batch.blocks, uniq):
        col = 0
        for w, (u, inv) in zip(batch.widths, row):
            assert torch.equal(u[inv, 0], s[a:b, col:col + w, 0])
            col += w
    with torch.no_grad():
        batch.rij.mul_(1.01)                                             # in place
    ref, g_ref = run(model, batch, fast=False)
    out, g_out = run(model, batch, fast=True)
    for key in ("energy", "force", "virial"):
        torch.testing.assert_close(out[key], ref[key], rtol=0, atol=1e-10)


def test_compile_failure_falls_back_to_eager(frames, monkeypatch, caplog):
    from hpcml.molecular import fast

    def broken(*args):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(fast, "_COMPILED", {"forward": broken, "backward": broken})
    monkeypatch.setattr(fast, "_KERNELS", {"forward": broken, "backward": broken})
    model = make_model()
    batch = model.make_batch(*frames)
    ref, g_ref = run(model, batch, fast=False)
    with caplog.at_level("WARNING", logger="hpcml.molecular.fast"):
        out, g_out = run(model, batch, fast=True)
    assert "torch.compile" in caplog.text
    assert fast._KERNELS["forward"] is fast._embed_forward
    torch.testing.assert_close(out["force"], ref["force"], rtol=0, atol=1e-10)


def test_compile_switch_from_environment(monkeypatch):
    from hpcml.molecular import fast

    monkeypatch.setenv("HPCML_DEEPPOT_COMPILE", "0")
    assert fast.set_compile() is False
    assert fast._KERNELS["forward"] is fast._embed_forward


@pytest.mark.slow
def test_compiled_kernels_equal_autograd(frames):
    """torch.compile (inductor) of the embedding kernels: same numbers (slow: compiles)."""
    from hpcml.molecular import fast

    try:
        fast.set_compile(True)
        model = make_model()
        batch = model.make_batch(*frames)
        ref, g_ref = run(model, batch, fast=False)
        out, g_out = run(model, batch, fast=True)
    finally:
        fast.set_compile(False)
    for key in ("energy", "force", "virial"):
        torch.testing.assert_close(out[key], ref[key], rtol=0, atol=1e-10)
    scale = max(g.abs().max().item() for g in g_ref)
    assert max((a - b).abs().max().item() for a, b in zip(g_out, g_ref)) < 1e-11 * scale
