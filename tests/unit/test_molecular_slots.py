"""The C table-slot kernels (hpcml.molecular.slots) against the torch reference path."""

import logging

import pytest
import torch

from hpcml.molecular import slots
from hpcml.molecular.slots import SlotIndex
from hpcml.testing import invariants as inv
from hpcml.testing.models import small_model

N, W, ROWS, M = 7, 5, 9, 6            # atoms, slots per atom, table rows, embedding width
UNUSED, SHARED = 7, 3                 # a row no slot reads, a row every atom's first slot reads
RTOL = {torch.float64: 1e-12, torch.float32: 1e-5}
SMALL = dict(rcut=4.0, rcut_smth=0.5, sel=(40, 80), neuron=(8, 16), axis_neuron=4,
             fitting_neuron=(16, 16))


@pytest.fixture(scope="module")
def lib():
    got = slots.load()
    if got is None:
        pytest.skip(f"slot kernels unavailable here: {slots.last_error()}")
    return got


@pytest.fixture(autouse=True)
def restore_kernels():
    """Every test leaves the choice as at import (``HPCML_DEEPPOT_KERNELS``, default auto)."""
    yield
    slots.set_kernels(None)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def make_inv(n=N, w=W, rows=ROWS, seed=0):
    """(n, w) rows of the slots: row SHARED read many times, UNUSED never, the last row once+."""
    gen = torch.Generator().manual_seed(seed)
    used = torch.tensor([u for u in range(rows) if u != UNUSED])
    inv_ = used[torch.randint(0, used.numel(), (n, w), generator=gen)]
    inv_[:, 0] = SHARED
    inv_[-1, -1] = rows - 1
    counts = torch.bincount(inv_.reshape(-1), minlength=rows)
    assert counts[UNUSED] == 0 and counts[SHARED] >= n and counts[rows - 1] >= 1
    return inv_


def section(dtype, n=N, w=W, rows=ROWS, m=M, seed=0):
    """Random inputs of one section: index, rows, inv_std (data) and table, g, dg, g_tt."""
    gen = torch.Generator().manual_seed(seed + 1)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)

    data = dict(index=SlotIndex(make_inv(n, w, rows, seed), rows), rows=rand(n, w, 4),
                inv_std=(0.5 + torch.rand(n, 1, 4, generator=gen, dtype=torch.float64)).to(dtype))
    diff = dict(table=rand(rows, m), g=rand(rows, m), dg=rand(rows, m), g_tt=rand(n, 4, m))
    return data, diff


def run_both(data, diff, upstream, choice):
    """Outputs of section_t and contract and the gradients of <upstream, outputs>."""
    slots.set_kernels(choice)
    x = {k: v.detach().clone().requires_grad_(True) for k, v in diff.items()}
    index = SlotIndex(data["index"].inv, data["index"].rows)       # its own csr
    tt = slots.section_t(x["table"], index, data["rows"])
    a = slots.contract(x["g"], x["dg"], index, data["rows"], x["g_tt"], data["inv_std"])
    native = choice == "native"
    assert ("Native" in type(tt.grad_fn).__name__) == native
    assert ("Native" in type(a.grad_fn).__name__) == native
    grads = torch.autograd.grad([tt, a], list(x.values()), [upstream["tt"], upstream["a"]])
    return [tt.detach(), a.detach(), *grads]


def assert_rel_close(out, ref, rtol):
    for got, want in zip(out, ref, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        scale = want.abs().max().item()
        assert (got - want).abs().max().item() <= rtol * scale, (got, want)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("strided", [False, True], ids=["contiguous", "strided"])
def test_native_equals_torch_values_and_gradients(lib, dtype, strided):
    data, diff = section(dtype)
    if strided:             # non-contiguous views: the native path makes them contiguous
        diff = {k: v.transpose(0, -1).contiguous().transpose(0, -1) for k, v in diff.items()}
        data["rows"] = torch.cat([data["rows"], data["rows"]], dim=-1)[..., ::2]
        assert not diff["table"].is_contiguous() and not data["rows"].is_contiguous()
    gen = torch.Generator().manual_seed(7)
    upstream = {"tt": torch.randn(N, 4, M, generator=gen, dtype=torch.float64).to(dtype),
                "a": torch.randn(N, W, 4, generator=gen, dtype=torch.float64).to(dtype)}
    ref = run_both(data, diff, upstream, "torch")
    out = run_both(data, diff, upstream, "native")
    assert_rel_close(out, ref, RTOL[dtype])
    # the row no slot reads gets an exact zero gradient (not left uninitialised)
    for grad in out[2:5]:
        assert torch.all(grad[UNUSED] == 0)
    # section_t really is R~^T G[inv]
    want = torch.einsum("iwc,iwm->icm", data["rows"], diff["table"][data["index"].inv])
    assert_rel_close([out[0]], [want], RTOL[dtype])


@pytest.mark.parametrize("wrt", ["all", "g_tt", "tables", "g"])
def test_native_gradcheck(lib, wrt):
    slots.set_kernels("native")
    data, diff = section(torch.float64, seed=3)
    index, rows, inv_std = data["index"], data["rows"], data["inv_std"]
    need = {"all": ("g", "dg", "g_tt"), "g_tt": ("g_tt",), "tables": ("g", "dg"),
            "g": ("g",)}[wrt]
    args = tuple(diff[k].requires_grad_(k in need) for k in ("g", "dg", "g_tt"))
    assert torch.autograd.gradcheck(
        lambda g, dg, g_tt: slots.contract(g, dg, index, rows, g_tt, inv_std), args)
    table = diff["table"].requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: slots.section_t(t, index, rows), (table,))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_native_bitwise_independent_of_threads(lib, restore_threads, dtype):
    n, w, rows, m = 64, 24, 300, 16
    data, diff = section(dtype, n, w, rows, m, seed=5)
    gen = torch.Generator().manual_seed(11)
    upstream = {"tt": torch.randn(n, 4, m, generator=gen, dtype=torch.float64).to(dtype),
                "a": torch.randn(n, w, 4, generator=gen, dtype=torch.float64).to(dtype)}
    runs = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        runs[threads] = run_both(data, diff, upstream, "native")
    for one, two in zip(runs[1], runs[2], strict=True):
        assert torch.equal(one, two)


def test_native_threads_follow_torch(lib, restore_threads):
    """The library's OpenMP runtime is torch's (libgomp.so.1 resolves to torch's copy)."""
    for threads in (1, 2, 1):
        torch.set_num_threads(threads)
        assert lib.lib.omp_get_max_threads() == threads


@pytest.mark.parametrize("n,w,rows", [(N, W, ROWS), (40, 13, 60), (3, 2, 9)])
def test_slot_index_csr(n, w, rows):
    index = SlotIndex(make_inv(n, w, rows, seed=n).t().contiguous().t(), rows)  # strided input
    assert index.inv.is_contiguous()
    ptr, order = index.csr
    assert index.csr[0] is ptr and index.csr[1] is order                     # made once
    assert ptr.dtype == order.dtype == torch.int64
    assert ptr.shape == (rows + 1,) and order.shape == (n * w,)
    assert torch.equal(torch.sort(order).values, torch.arange(n * w))    # every slot once
    counts = torch.bincount(index.inv.reshape(-1), minlength=rows)
    assert ptr[0] == 0 and ptr[-1] == n * w
    assert torch.equal(ptr.diff(), counts)
    assert ptr[UNUSED + 1] == ptr[UNUSED]
    flat = index.inv.reshape(-1)
    for u in range(rows):
        mine = order[ptr[u]:ptr[u + 1]]
        assert torch.all(flat[mine] == u)
        assert torch.all(mine.diff() > 0)                                  # ascending


@pytest.fixture(scope="module")
def water(small_water):
    """8 O + 16 H in a skewed half cell (periodic, with images)."""
    return small_water


def model_run(model, batch, choice):
    slots.set_kernels(choice)
    out = model(batch, virial=True, create_graph=True)
    loss = ((out["energy"] + 40.0) ** 2).sum() + 100 * (out["force"] ** 2).sum()
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    return [out[k].detach() for k in ("energy", "atom_energy", "force", "virial")], grads


@pytest.mark.parametrize("precision,rtol", [("float64", 1e-10), ("float32", 1e-4)])
def test_model_native_equals_torch(lib, water, monkeypatch, precision, rtol):
    coord, cell, atype = water
    model = small_model(5, precision=precision, bias=(-2.0, -1.0), **SMALL)
    model.fast = True
    batch = model.make_batch([coord, coord + 0.05], [cell, cell * 0.9], [atype, atype])
    calls = {"section_t": 0, "contract": 0}

    def counting(name):
        fn = getattr(slots.SlotKernels, name)

        def counted(self, *args):
            calls[name] += 1
            return fn(self, *args)
        return counted

    for name in calls:
        monkeypatch.setattr(slots.SlotKernels, name, counting(name))
    ref, g_ref = model_run(model, batch, "torch")
    assert calls == {"section_t": 0, "contract": 0}
    out, g_out = model_run(model, batch, "native")
    assert calls["section_t"] >= 2 and calls["contract"] >= 2                # both types
    assert_rel_close(out, ref, rtol)
    scale = max(g.abs().max().item() for g in g_ref)
    assert scale > 0
    worst = max((a - b).abs().max().item() for a, b in zip(g_out, g_ref, strict=True))
    assert worst <= rtol * scale


def test_model_native_forces_are_minus_energy_gradient(lib, water):
    slots.set_kernels("native")
    model = small_model(3, bias=(-2.0, -1.0), **SMALL)
    model.fast = True
    err = inv.force_vs_finite_difference(lambda c, b, t: model.evaluate(c, b, t), *water,
                                         atoms=[0, 5, 23])
    assert err < 1e-7


def test_kernels_for_follows_the_choice(lib):
    x = torch.zeros(2, 3, dtype=torch.float64)
    assert slots.set_kernels("torch") == "torch" and slots.kernels_for(x) is None
    assert slots.set_kernels("native") == "native" and slots.kernels_for(x) is lib
    assert slots.kernels_for(x.float()) is lib
    assert slots.kernels_for(x.half()) is None and slots.kernels_for(x.bfloat16()) is None
    assert slots.set_kernels("auto") == "auto" and slots.kernels_for(x) is lib


def test_bad_choice_names_the_choices(monkeypatch):
    with pytest.raises(ValueError, match=r"'bogus'.*auto.*native.*torch"):
        slots.set_kernels("bogus")
    monkeypatch.setenv("HPCML_DEEPPOT_KERNELS", "Native")
    with pytest.raises(ValueError, match="'Native'"):
        slots.set_kernels()
    monkeypatch.setenv("HPCML_DEEPPOT_KERNELS", "torch")
    assert slots.set_kernels() == "torch"
    monkeypatch.setenv("HPCML_DEEPPOT_KERNELS", "")
    assert slots.set_kernels() == "auto"


def test_failing_compiler_returns_none_and_leaves_nothing(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="hpcml.native"):
        assert slots.load(cc="false", directory=tmp_path) is None
        assert slots.load(cc="false", directory=tmp_path) is None         # tried once
    why = slots.last_error(cc="false", directory=tmp_path)
    assert why is not None and "failed" in why and slots.SOURCE.name in why
    assert list(tmp_path.iterdir()) == []                                 # no temporary left
    warnings = [r for r in caplog.records if slots.SOURCE.name in r.getMessage()]
    assert len(warnings) == 1


def test_failing_compiler_auto_falls_back_to_torch(tmp_path, monkeypatch):
    """With $CC failing: native is an error, auto computes with torch."""
    monkeypatch.setenv("CC", "false")
    monkeypatch.setenv("HPCML_CACHE", str(tmp_path))
    with pytest.raises(slots.SlotKernelsUnavailable, match="failed"):
        slots.set_kernels("native")
    assert slots.set_kernels("auto") == "auto"
    data, diff = section(torch.float64)
    assert slots.kernels_for(diff["table"]) is None
    tt = slots.section_t(diff["table"], data["index"], data["rows"])
    want = torch.einsum("iwc,iwm->icm", data["rows"], diff["table"][data["index"].inv])
    torch.testing.assert_close(tt, want, rtol=1e-12, atol=0)
    assert not any(p.suffix == ".so" for p in tmp_path.rglob("*"))
