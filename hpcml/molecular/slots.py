"""Products of embedding tables with neighbour slots (the DeepPot-SE fast path's gathers).

A section of the environment matrix is ``n`` centre atoms times ``w``
neighbour slots of one neighbour type.  The fast path evaluates the
embedding nets once per distinct ``s~`` into a table ``G`` (rows, M) with
its tangent ``dG`` (:mod:`hpcml.molecular.fast`); slot ``(i, j)`` reads row
``inv[i, j]``.  Two products follow, each with its gradients:

* :func:`section_t`: ``T^T[i] = R~[i]^T G[inv[i]]`` (n, 4, M);
* :func:`contract`: ``dE/dR~`` of the section (n, w, 4) from
  ``gT^T`` (n, 4, M) (:func:`hpcml.molecular.fast.energy_and_grad`).

Two implementations give the same values to round-off:

* ``native`` (C, ``deeppot_kernels.c``, compiled at first use by
  :mod:`hpcml.native`, OpenMP threads shared with torch): reads the table
  rows in place.  Gathering them first writes and reads back four
  (n, w, M) arrays per section, and the gathered products have an inner
  dimension of 4 where MKL runs at a tenth of its speed.  With the fused
  embedding activations that the same library holds (:class:`SlotKernels`)
  a float64 water training step takes about 0.7 of the torch kernels' time
  (``bench/bench_model.py --kernels``, docs/benchmarks.md);
* ``torch`` (gather, then batched products): any device, and the reference
  the native kernels are tested against.

``HPCML_DEEPPOT_KERNELS`` (or :func:`set_kernels`) chooses: ``auto``
(default: native on the CPU when the library builds, else torch),
``native`` (an error when it cannot be built) or ``torch``.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from hpcml.native import Loader, NativeUnavailable

SOURCE = Path(__file__).with_name("deeppot_kernels.c")
#: compiler flags; -fopenmp links libgomp.so.1, which resolves to torch's copy once torch is loaded
FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared")
#: flags tried when :data:`FLAGS` fail (a compiler without -march=native)
FALLBACK_FLAGS = ("-O3", "-fopenmp", "-fPIC", "-shared")
#: the values of ``HPCML_DEEPPOT_KERNELS``
CHOICES = ("auto", "native", "torch")
Opt = torch.Tensor | None


class SlotKernelsUnavailable(NativeUnavailable):
    """``HPCML_DEEPPOT_KERNELS=native`` was asked for but the C kernels could not be built."""


class SlotIndex:
    """Where the slots of one section read their table rows.

    Attributes
    ----------
    inv
        (n, w) int64 table row of each slot (contiguous).
    rows
        Rows of the table.
    """

    def __init__(self, inv: torch.Tensor, rows: int):
        self.inv, self.rows = inv.contiguous(), int(rows)
        self._csr: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def csr(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ptr (rows + 1,), slots (n * w,))``, int64: the slots sorted by table row.

        The flat slots of row ``u`` are ``slots[ptr[u]:ptr[u + 1]]``,
        ascending.  Made at first use: only the gradients of the tables need it.
        """
        if self._csr is None:
            flat = self.inv.reshape(-1)
            ptr = torch.zeros(self.rows + 1, dtype=torch.int64, device=flat.device)
            ptr[1:] = torch.bincount(flat, minlength=self.rows).cumsum(0)
            self._csr = ptr, torch.argsort(flat, stable=True)
        return self._csr


def _ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


class SlotKernels:
    """The loaded C library (``deeppot_kernels.c``); methods take contiguous CPU tensors.

    Besides the slot products it holds the fused activations of the
    embedding layers (:meth:`act`, :meth:`act_grad`, used by
    :mod:`hpcml.molecular.fast`).
    """

    name = "native"

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        p, i, c = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
        for suffix in ("f64", "f32"):
            for name, args in (("section_t", [i, i, i, p, p, p, p]),
                               ("section_t_grad", [i, i, i, p, p, p, p, p]),
                               ("contract", [i, i, i, p, p, p, p, p, p, p]),
                               ("contract_grad_gtt", [i, i, i, p, p, p, p, p, p, p]),
                               ("contract_grad_tab", [i, i, i, p, p, p, p, p, p, p, p])):
                fn = getattr(lib, f"hpcml_dp_{name}_{suffix}")
                fn.argtypes, fn.restype = args, None
            fn = getattr(lib, f"hpcml_dp_act_{suffix}")
            fn.argtypes, fn.restype = [i, i, p, p, c, p, p, i, i, i, i, i, p, p, i, i, p, p], None
            fn = getattr(lib, f"hpcml_dp_act_grad_{suffix}")
            fn.argtypes, fn.restype = [i, i, p, p, i, i, p, p, i, p, p], None

    def _fn(self, name: str, dtype: torch.dtype) -> Any:
        return getattr(self.lib, f"hpcml_dp_{name}_{'f64' if dtype == torch.float64 else 'f32'}")

    def section_t(self, table: torch.Tensor, index: SlotIndex, rows: torch.Tensor) -> torch.Tensor:
        """``T^T`` (n, 4, M) from ``table`` (rows, M) and ``rows`` (n, w, 4)."""
        n, w, m = index.inv.shape[0], index.inv.shape[1], table.shape[1]
        out = table.new_empty(n, 4, m)
        self._fn("section_t", table.dtype)(n, w, m, _ptr(table), _ptr(index.inv), _ptr(rows),
                                           _ptr(out))
        return out

    def section_t_grad(self, index: SlotIndex, rows: torch.Tensor,
                       d_tt: torch.Tensor) -> torch.Tensor:
        """Gradient (rows, M) of the table from that of ``T^T`` (n, 4, M)."""
        ptr, slots = index.csr
        w, m = index.inv.shape[1], d_tt.shape[2]
        out = d_tt.new_empty(index.rows, m)
        self._fn("section_t_grad", d_tt.dtype)(index.rows, w, m, _ptr(ptr), _ptr(slots),
                                               _ptr(rows), _ptr(d_tt), _ptr(out))
        return out

    def contract(self, g: torch.Tensor, dg: torch.Tensor, index: SlotIndex, rows: torch.Tensor,
                 g_tt: torch.Tensor, inv_std: torch.Tensor) -> torch.Tensor:
        """``dE/dR~`` (n, w, 4) of the section (see :func:`contract`)."""
        n, w, m = index.inv.shape[0], index.inv.shape[1], g.shape[1]
        out = g.new_empty(n, w, 4)
        self._fn("contract", g.dtype)(n, w, m, _ptr(g), _ptr(dg), _ptr(index.inv), _ptr(rows),
                                      _ptr(g_tt), _ptr(inv_std), _ptr(out))
        return out

    def contract_grad_gtt(self, g: torch.Tensor, dg: torch.Tensor, index: SlotIndex,
                          rows: torch.Tensor, inv_std: torch.Tensor,
                          grad: torch.Tensor) -> torch.Tensor:
        """Gradient (n, 4, M) of ``gT^T`` from that of the output (n, w, 4)."""
        n, w, m = index.inv.shape[0], index.inv.shape[1], g.shape[1]
        out = g.new_empty(n, 4, m)
        self._fn("contract_grad_gtt", g.dtype)(n, w, m, _ptr(g), _ptr(dg), _ptr(index.inv),
                                               _ptr(rows), _ptr(inv_std), _ptr(grad), _ptr(out))
        return out

    def contract_grad_tables(self, index: SlotIndex, rows: torch.Tensor, g_tt: torch.Tensor,
                             inv_std: torch.Tensor,
                             grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients (rows, M) of ``G`` and ``dG`` from that of the output (n, w, 4)."""
        ptr, slots = index.csr
        w, m = index.inv.shape[1], g_tt.shape[2]
        g_g, g_dg = g_tt.new_empty(index.rows, m), g_tt.new_empty(index.rows, m)
        self._fn("contract_grad_tab", g_tt.dtype)(index.rows, w, m, _ptr(ptr), _ptr(slots),
                                                  _ptr(rows), _ptr(g_tt), _ptr(inv_std),
                                                  _ptr(grad), _ptr(g_g), _ptr(g_dg))
        return g_g, g_dg


    def act(self, z2: torch.Tensor, dz4: torch.Tensor, x: torch.Tensor, dx: torch.Tensor,
            rows_out: bool) -> tuple[torch.Tensor, ...]:
        """Activations of one embedding layer: ``(y, dy, q, t dz4)``.

        ``z2 = 2 z`` and ``dz4 = 4 dz/ds`` are (H, N) contiguous (``dz4`` may
        be (H, 1): one value per feature); ``x, dx`` (K, N) are the layer's
        inputs (residual when ``K == H`` or ``2 K == H``).  ``y, dy`` are
        (H, N), or (N, H) rows with ``rows_out``; ``q = (1 - tanh^2) / 4``
        and ``t dz4`` are (H, N), written over ``z2`` and ``dz4`` (a new
        tensor for a per-feature ``dz4``).
        """
        h, n = z2.shape
        per_feature = dz4.shape[1] == 1 and n != 1
        tdz4 = z2.new_empty(h, n) if per_feature else dz4
        y, dy = (z2.new_empty(n, h), z2.new_empty(n, h)) if rows_out else \
            (z2.new_empty(h, n), z2.new_empty(h, n))
        y_f, y_s = (1, h) if rows_out else (n, 1)
        self._fn("act", z2.dtype)(h, n, _ptr(z2), _ptr(dz4), int(per_feature), _ptr(x),
                                     _ptr(dx), x.shape[0], x.stride(0), x.stride(1),
                                     dx.stride(0), dx.stride(1), _ptr(y), _ptr(dy), y_f, y_s,
                                     _ptr(z2), _ptr(tdz4))
        return y, dy, z2, tdz4

    def act_grad(self, g_y: torch.Tensor, g_dy: torch.Tensor, q: torch.Tensor,
                 tdz4: torch.Tensor, k: int, rows_in: bool) -> tuple[torch.Tensor, ...]:
        """Backward of :meth:`act`: ``(g_z / 4, g_dz / 4, res_y, res_dy)``.

        ``g_y, g_dy`` are the gradients of ``y, dy``, (H, N), or (N, H) rows
        with ``rows_in``; ``q, tdz4`` the saved (H, N) tensors, which are
        overwritten with ``g_dz / 4`` and ``g_z / 4``.  ``res_y, res_dy``
        (k, N) are the adjoints of the residual (None when the layer has
        none).
        """
        h, n = q.shape
        g_y, g_dy = g_y.contiguous(), g_dy.contiguous()
        res = k == h or 2 * k == h
        res_y, res_dy = (q.new_empty(k, n), q.new_empty(k, n)) if res else (None, None)
        g_f, g_s = (1, h) if rows_in else (n, 1)
        self._fn("act_grad", q.dtype)(h, n, _ptr(g_y), _ptr(g_dy), g_f, g_s, _ptr(q),
                                         _ptr(tdz4), k, None if res_y is None else _ptr(res_y),
                                         None if res_dy is None else _ptr(res_dy))
        return tdz4, q, res_y, res_dy


_LOADER = Loader(SOURCE, (FLAGS, FALLBACK_FLAGS), SlotKernels, "the torch slot products",
                 SlotKernelsUnavailable)
_CHOICE = {"value": "auto"}


def load(cc: str | None = None, directory: Path | None = None) -> SlotKernels | None:
    """The C kernels, built and loaded once per (compiler, cache directory); None if not."""
    return _LOADER.load(cc, directory)


def last_error(cc: str | None = None, directory: Path | None = None) -> str | None:
    """Why :func:`load` returned None (None if it did not)."""
    return _LOADER.last_error(cc, directory)


def set_kernels(choice: str | None = None) -> str:
    """Choose the implementation (``None`` reads ``HPCML_DEEPPOT_KERNELS``); returns it.

    Raises
    ------
    ValueError
        For a choice outside :data:`CHOICES`.
    SlotKernelsUnavailable
        For ``native`` when the C kernels cannot be built.
    """
    if choice is None:
        choice = os.environ.get("HPCML_DEEPPOT_KERNELS", "auto") or "auto"
    if choice not in CHOICES:
        raise ValueError(f"HPCML_DEEPPOT_KERNELS={choice!r}: choose one of {CHOICES}")
    if choice == "native" and load() is None:
        raise SlotKernelsUnavailable(
            f"HPCML_DEEPPOT_KERNELS=native: the C kernels cannot be built ({last_error()}); "
            "install a C compiler or set CC, or use auto (falls back to torch) or torch")
    _CHOICE["value"] = choice
    return choice


def kernels_for(t: torch.Tensor) -> SlotKernels | None:
    """The C kernels for tensors like ``t`` (CPU, float32/64), or None for torch."""
    if (_CHOICE["value"] == "torch" or t.device.type != "cpu"
            or t.dtype not in (torch.float64, torch.float32)):
        return None
    return load()


class _Gather(torch.autograd.Function):
    """Rows ``src[index]`` (index any shape) with a summing ``index_add`` backward."""

    @staticmethod
    def forward(ctx: Any, src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.n = src.shape[0]
        return torch.nn.functional.embedding(index, src)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Opt, ...]:
        (index,) = ctx.saved_tensors
        m = grad.shape[-1]
        out = grad.new_zeros(ctx.n, m).index_add_(0, index.reshape(-1), grad.reshape(-1, m))
        return out, None


class _TorchContract(torch.autograd.Function):
    """``dE/dR~`` of one section from gathered rows: ``(G gT + e0 ((dG gT) . R~)) / std``.

    Inputs ``G, dG`` (n, w, M), rows ``R~`` (n, w, 4) (data), ``gT^T``
    (n, 4, M) and ``1 / std`` of each centre atom (n, 1, 4) (data); output
    (n, w, 4).  Every batched product keeps ``M`` as the contiguous dimension.
    """

    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, dg: torch.Tensor, rows: torch.Tensor,
                g_tt: torch.Tensor, inv_std: torch.Tensor) -> torch.Tensor:
        g_t = g_tt.transpose(1, 2)
        a = torch.bmm(g, g_t)
        b = torch.bmm(dg, g_t)
        a[..., 0] += (b * rows).sum(-1)
        ctx.save_for_backward(g, dg, rows, g_tt, inv_std)
        return a.mul_(inv_std)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Opt, ...]:
        g, dg, rows, g_tt, inv_std = ctx.saved_tensors
        q = grad * inv_std                                   # d/d a
        q0r = q[..., :1] * rows                              # d/d b
        g_g = torch.bmm(q, g_tt) if ctx.needs_input_grad[0] else None
        g_dg = torch.bmm(q0r, g_tt) if ctx.needs_input_grad[1] else None
        g_gtt = None
        if ctx.needs_input_grad[3]:
            g_gtt = torch.bmm(q.transpose(1, 2).contiguous(), g).add_(
                torch.bmm(q0r.transpose(1, 2).contiguous(), dg))
        return g_g, g_dg, None, g_gtt, None


class _NativeSectionT(torch.autograd.Function):
    """:func:`section_t` by the C kernels (gradient to the table only)."""

    @staticmethod
    def forward(ctx: Any, table: torch.Tensor, index: SlotIndex, rows: torch.Tensor,
                lib: SlotKernels) -> torch.Tensor:
        ctx.index, ctx.lib = index, lib
        ctx.save_for_backward(rows)
        return lib.section_t(table, index, rows)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_tt: torch.Tensor) -> tuple[Opt, ...]:
        (rows,) = ctx.saved_tensors
        d_table = (ctx.lib.section_t_grad(ctx.index, rows, d_tt.contiguous())
                   if ctx.needs_input_grad[0] else None)
        return d_table, None, None, None


class _NativeContract(torch.autograd.Function):
    """:func:`contract` by the C kernels (gradients to the tables and ``gT^T``)."""

    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, dg: torch.Tensor, index: SlotIndex,
                rows: torch.Tensor, g_tt: torch.Tensor, inv_std: torch.Tensor,
                lib: SlotKernels) -> torch.Tensor:
        ctx.index, ctx.lib = index, lib
        ctx.save_for_backward(g, dg, rows, g_tt, inv_std)
        return lib.contract(g, dg, index, rows, g_tt, inv_std)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Opt, ...]:
        g, dg, rows, g_tt, inv_std = ctx.saved_tensors
        grad = grad.contiguous()
        g_g = g_dg = g_gtt = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            g_g, g_dg = ctx.lib.contract_grad_tables(ctx.index, rows, g_tt, inv_std, grad)
        if ctx.needs_input_grad[4]:
            g_gtt = ctx.lib.contract_grad_gtt(g, dg, ctx.index, rows, inv_std, grad)
        return g_g, g_dg, None, None, g_gtt, None, None


def section_t(table: torch.Tensor, index: SlotIndex, rows: torch.Tensor) -> torch.Tensor:
    """``T^T[i] = R~[i]^T table[inv[i]]`` (n, 4, M) of one section.

    ``table`` (rows, M) may require a gradient; ``rows`` (n, w, 4) is data.
    """
    lib = kernels_for(table)
    if lib is not None:
        return _NativeSectionT.apply(table.contiguous(), index, rows.contiguous(), lib)
    return torch.bmm(rows.transpose(1, 2).contiguous(), _Gather.apply(table, index.inv))


def contract(g: torch.Tensor, dg: torch.Tensor, index: SlotIndex, rows: torch.Tensor,
             g_tt: torch.Tensor, inv_std: torch.Tensor) -> torch.Tensor:
    """``dE/dR~`` (n, w, 4) of one section.

    ``(G gT + e0 ((dG gT) . R~)) / std`` with ``G, dG`` the table rows of
    the slots, ``gT^T = g_tt`` (n, 4, M) the derivative of the energy by
    ``T^T``, ``R~ = rows`` (n, w, 4) and ``1 / std = inv_std`` (n, 1, 4)
    (data).  Gradients flow to ``g``, ``dg`` (rows, M) and ``g_tt``.
    """
    lib = kernels_for(g)
    if lib is not None:
        return _NativeContract.apply(g.contiguous(), dg.contiguous(), index, rows.contiguous(),
                                     g_tt.contiguous(), inv_std.contiguous(), lib)
    return _TorchContract.apply(_Gather.apply(g, index.inv), _Gather.apply(dg, index.inv),
                                rows, g_tt.contiguous(), inv_std)


set_kernels()
