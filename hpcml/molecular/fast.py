"""Explicit first derivatives of the DeepPot-SE energy (the model's fast path).

The autograd path of :class:`hpcml.molecular.model.DeepPot` gets forces by
``autograd.grad(E, r_ij, create_graph=True)``, so training on forces needs a
double backward through every layer.  Here the derivative ``dE/dr_ij`` is
written out as an ordinary forward computation instead:

* the embedding net carries a tangent: its input is the scalar ``s~``, so
  ``G' = dG/ds~`` comes from one forward-mode sweep (:class:`_EmbedTangent`,
  a custom autograd function with a hand-written backward that reuses the
  saved ``tanh`` values and avoids ``torch.cat``);
* ``dE/dD`` comes from an explicit backward sweep through the fitting net;
  the energies and that sweep are one custom autograd function
  (:class:`_Fitting`) whose backward differentiates both at once;
* ``dE/dT``, ``dE/dR~`` and the analytic derivative of the environment rows
  with respect to ``r_ij`` finish the chain.

The result is a plain forward graph in the parameters: training needs one
backward pass.  Inputs ``r_ij`` are data here (no gradient flows to them);
the model falls back to the autograd path when they require a gradient.

Speed (float64 CPU, where time goes to memory passes over (rows, 25-100)
tensors and to thin matrix products):

* the embedding nets run once per *distinct* ``s`` of a (centre type,
  neighbour type) section (:func:`distinct_s`, cached on the batch): all
  empty slots share ``s = 0`` and a same-type pair ``ij`` has the same
  ``s`` as ``ji``, so about 35 % fewer rows for water; the slots read
  their rows from that table (:mod:`hpcml.molecular.slots`: C kernels that
  read the rows in place, or a torch gather);
* the embedding nets' products run feature-major, (width, N) (MKL's fast
  layout for these shapes); ``tanh`` is formed from ``sigmoid``.  With the
  C kernels (:func:`_embed_forward_native`) all elementwise work of a layer
  is one pass, which also writes the last layer's table as (N, M) rows;
  the torch kernels (:func:`_embed_forward`, any device) compute the last
  layer row-major instead, so the table needs no transposing copy either;
* each neighbour-type section is one set of operations for all centre
  atoms (:func:`energy_and_grad`): with ``type_one_side`` one embedding
  call per neighbour type, one product for ``T`` and one for ``dE/dR``;
  the empty slots up to ``sel`` take one extra table row instead of
  separate net calls.  At 2 threads a training step is a few hundred
  small parallel regions, and their number is what makes the step
  sensitive to load;
* ``HPCML_DEEPPOT_KERNELS`` chooses C kernels or torch
  (:func:`hpcml.molecular.slots.set_kernels`; default: C on the CPU when
  they build);
* ``HPCML_DEEPPOT_COMPILE=1`` (or :func:`set_compile`) runs the torch
  embedding kernels through ``torch.compile`` (then used instead of the C
  ones); off by default (small gain against a compile time of tens of
  seconds with an empty inductor cache).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.autograd.function import once_differentiable

from hpcml.molecular import slots
from hpcml.molecular.nets import FittingNet
from hpcml.molecular.slots import SlotIndex

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from hpcml.molecular.batch import Batch
    from hpcml.molecular.model import DeepPot

#: (unit vector, s, ds/dr, s/r), each (n, w, 3 or 1)
Aux = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
Opt = torch.Tensor | None


def env_with_derivative(rij: torch.Tensor, rcut_smth: float,
                        rcut: float) -> tuple[torch.Tensor, Aux]:
    """Environment rows ``(n, w, 4)`` plus what :func:`env_backward` needs.

    Returns
    -------
    env, aux
        ``env = s (1, x/r, y/r, z/r)``; ``aux = (unit, s, ds, s_over_r)``
        with ``unit = r_ij / r`` and ``ds = d s / d r``.
    """
    r = torch.linalg.vector_norm(rij, dim=-1, keepdim=True)
    inv_r = 1.0 / r
    span = rcut - rcut_smth
    u = ((r - rcut_smth) / span).clamp(0.0, 1.0)
    u2 = u * u
    sw = u2 * u * (-6.0 * u2 + 15.0 * u - 10.0) + 1.0
    # d sw / d r = -30 u^2 (1 - u)^2 / span: zero at both ends, so the clamp is exact
    dsw = (-30.0 / span) * u2 * (1.0 - u) ** 2
    s = sw * inv_r
    ds = (dsw - s) * inv_r
    unit = rij * inv_r
    env = torch.cat([s, s * unit], dim=-1)
    return env, (unit, s, ds, s * inv_r)


def env_backward(g_env: torch.Tensor, aux: Aux) -> torch.Tensor:
    """``dE/dr_ij`` (n, w, 3) from ``dE/dR`` (n, w, 4) (rows not normalised)."""
    unit, s, ds, s_over_r = aux
    g0, gv = g_env[..., :1], g_env[..., 1:]
    radial = g0 * ds + (gv * unit).sum(-1, keepdim=True) * (ds - s_over_r)
    return unit * radial + s_over_r * gv


# The embedding kernels work feature-major: activations are (width, N) with
# the N rows contiguous.  MKL's float64 products of these shapes run up to
# twice as fast as the row-major (N, width) ones (tall, 25-100 wide).  The
# last layer alone is row-major, (N, M): the table the slots read is then
# ready without a transposing copy (two per net and direction, each slower
# than the product it would save).

def _add_res(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` plus the residual of ``x``: ``x`` (same width) or ``[x; x]`` (double).

    Feature-major: ``t`` (H, N), ``x`` (K, N).
    """
    if x.shape[0] == t.shape[0]:
        return t + x
    if 2 * x.shape[0] == t.shape[0]:
        h, n = x.shape
        return torch.add(t.view(2, h, n), x).view(2 * h, n)
    return t


def _addcmul_res(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a * b`` plus the residual of ``x`` (see :func:`_add_res`)."""
    if x.shape[0] == a.shape[0]:
        return torch.addcmul(x, a, b)
    if 2 * x.shape[0] == a.shape[0]:
        h, n = x.shape
        return torch.addcmul(x, a.view(2, h, n), b.view(2, h, n)).view(2 * h, n)
    return a * b


def _add_res_rows_(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Row-major :func:`_add_res`, in place: ``t`` (N, H) += residual of ``x`` (K, N)."""
    k, n = x.shape
    if k == t.shape[1]:
        t.add_(x.t())
    elif 2 * k == t.shape[1]:
        t.view(n, 2, k).add_(x.t().unsqueeze(1))
    return t


def _addmm_res(g: torch.Tensor, g_z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``W g_z`` plus the adjoint of the residual applied to ``g`` (feature-major)."""
    width_in = w.shape[0]
    if g.shape[0] == width_in:
        return torch.addmm(g, w, g_z)
    if g.shape[0] == 2 * width_in:
        return torch.addmm(g.view(2, width_in, g.shape[1]).sum(0), w, g_z)
    return torch.mm(w, g_z)


def _addmm_res_rows(g: torch.Tensor, g_z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:func:`_addmm_res` from row-major ``g``, ``g_z`` (N, H) to feature-major (K, N)."""
    k = w.shape[0]
    out = torch.mm(w, g_z.t())
    if g.shape[1] == k:
        out.add_(g.t())
    elif g.shape[1] == 2 * k:
        out.add_(g.view(-1, 2, k).sum(1).t())
    return out


def _embed_forward(s: torch.Tensor, weights: Sequence[torch.Tensor],
                   biases: Sequence[torch.Tensor], train: bool,
                   ) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Embedding net and its tangent at ``s`` (1, N): ``(G, dG/ds, saved)`` (N, M).

    Hidden layers are feature-major, the last layer row-major (see above).
    ``tanh(z) = 2 p - 1`` with ``p = sigmoid(2 z)`` (PyTorch's float64
    ``sigmoid`` is several times faster than its ``tanh`` on CPU; the two
    differ by a few ulp of 1), and ``1 - tanh^2 = 4 q`` with
    ``q = p - p^2`` (one pass).  The factor 4 is carried by the tangent
    ``dz4 = 4 dz`` (exact: a power of two).  Saved per layer for the
    backward: ``(x, dx, q, tanh * dz4)``, the last two in the layer's layout.
    """
    saved = []
    x = dx = None
    last = len(weights) - 1
    for k, (w, b) in enumerate(zip(weights, biases)):
        rows = k == last
        if k == 0:
            if w.shape[0] != 1:
                raise ValueError("the embedding net's input is the scalar s")
            if rows:
                z2 = torch.addcmul(b * 2.0, s.t(), w * 2.0)
                dz4 = (w * 4.0).expand(s.shape[1], w.shape[1])
            else:
                wt = w.t()                                               # (H, 1)
                z2 = torch.addcmul(b.unsqueeze(1) * 2.0, wt * 2.0, s)
                dz4 = (wt * 4.0).expand(w.shape[1], s.shape[1])
            x, dx = s, torch.ones_like(s)
        elif rows:
            z2 = torch.addmm(b, x.t(), w, beta=2.0, alpha=2.0)           # (N, H)
            dz4 = torch.mm(dx.t(), w * 4.0)
        else:
            wt = w.t().contiguous()                                      # (H, K)
            z2 = torch.addmm(b.unsqueeze(1), wt, x, beta=2.0, alpha=2.0)
            dz4 = torch.mm(wt * 4.0, dx)
        p = z2.sigmoid_()
        q = torch.addcmul(p, p, p, value=-1.0)                           # (1 - t^2) / 4
        t = p.mul_(2.0).sub_(1.0)
        if rows:
            tdz4 = t * dz4 if train else None
            y = _add_res_rows_(t, x)
            dy = _add_res_rows_(q * dz4, dx)
        else:
            y = _add_res(t, x)
            dy = _addcmul_res(dx, q, dz4)
            tdz4 = (t * dz4 if y is t else t.mul_(dz4)) if train else None
        if train:
            saved.append((x, dx, q, tdz4))
        x, dx = y, dy
    return x, dx, saved


def _embed_backward(weights: Sequence[torch.Tensor], layers: list, g_y: torch.Tensor,
                    g_dy: torch.Tensor) -> tuple[list, list]:
    """Gradients of the weights and biases from those of ``G`` and ``dG/ds`` (N, M).

    With ``deriv = 1 - t^2 = 4 q`` and ``tdz4 = 4 t dz`` as saved by
    :func:`_embed_forward`: ``g_dz = g_dy deriv`` and
    ``g_z = (g_y - 2 t dz g_dy) deriv``; both are formed without the
    factor 4, which is applied to the small results (and to ``W``).
    """
    n_layers = len(weights)
    gw, gb = [None] * n_layers, [None] * n_layers
    for k in range(n_layers - 1, -1, -1):
        rows = k == n_layers - 1            # g_y, g_dy, q, tdz4: (N, H), else (H, N)
        x, dx, q, tdz4 = layers[k]
        wk = weights[k]
        g_dz = g_dy * q                                                  # g_dz / 4
        g_z = torch.addcmul(g_y, tdz4, g_dy, value=-0.5).mul_(q)         # g_z / 4
        gb[k] = g_z.sum(0 if rows else 1).mul_(4.0)
        if k == 0:
            gw[k] = (torch.mm(x, g_z if rows else g_z.t())
                     + g_dz.sum(0 if rows else 1)).mul_(4.0).view_as(wk)
            break
        w4 = wk * 4.0
        if rows:
            gw[k] = torch.mm(x, g_z).addmm_(dx, g_dz).mul_(4.0)
            g_y, g_dy = _addmm_res_rows(g_y, g_z, w4), _addmm_res_rows(g_dy, g_dz, w4)
        else:
            gw[k] = torch.mm(x, g_z.t()).addmm_(dx, g_dz.t()).mul_(4.0)
            g_y, g_dy = _addmm_res(g_y, g_z, w4), _addmm_res(g_dy, g_dz, w4)
    return gw, gb


def _embed_forward_native(lib: slots.SlotKernels, s: torch.Tensor,
                          weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor],
                          train: bool) -> tuple[torch.Tensor, torch.Tensor, list]:
    """:func:`_embed_forward` with the activations of each layer fused in C (``act``).

    Every layer is feature-major (H, N), the fast layout of MKL's products;
    the last layer's ``G, dG/ds`` are written as (N, M) rows by the kernel
    itself.  Saved per layer: ``(x, dx, q, tanh * dz4)``, all feature-major.
    """
    saved = []
    x, dx = s, torch.ones_like(s)
    last = len(weights) - 1
    for k, (w, b) in enumerate(zip(weights, biases)):
        if k == 0:
            if w.shape[0] != 1:
                raise ValueError("the embedding net's input is the scalar s")
            wt = w.t()                                                   # (H, 1)
            z2 = torch.addcmul(b.unsqueeze(1) * 2.0, wt * 2.0, s)
            dz4 = (wt * 4.0).contiguous()                                # one per feature
        else:
            wt = w.t().contiguous()                                      # (H, K)
            z2 = torch.addmm(b.unsqueeze(1), wt, x, beta=2.0, alpha=2.0)
            dz4 = torch.mm(wt * 4.0, dx)
        y, dy, q, tdz4 = lib.act(z2, dz4, x, dx, rows_out=k == last)
        if train:
            saved.append((x, dx, q, tdz4))
        x, dx = y, dy
    return x, dx, saved


def _embed_backward_native(lib: slots.SlotKernels, weights: Sequence[torch.Tensor],
                           layers: list, g_y: torch.Tensor,
                           g_dy: torch.Tensor) -> tuple[list, list]:
    """:func:`_embed_backward` for :func:`_embed_forward_native` (``g_y, g_dy`` (N, M) rows)."""
    n_layers = len(weights)
    gw, gb = [None] * n_layers, [None] * n_layers
    rows_in = True
    for k in range(n_layers - 1, -1, -1):
        x, dx, q, tdz4 = layers[k]
        wk = weights[k]
        g_z, g_dz, res_y, res_dy = lib.act_grad(g_y, g_dy, q, tdz4, x.shape[0] if k else 0,
                                                rows_in)                 # g_z / 4, g_dz / 4
        gb[k] = g_z.sum(1).mul_(4.0)
        if k == 0:
            gw[k] = (torch.mm(x, g_z.t()) + g_dz.sum(1)).mul_(4.0).view_as(wk)
            break
        gw[k] = torch.mm(x, g_z.t()).addmm_(dx, g_dz.t()).mul_(4.0)
        w4 = wk * 4.0
        g_y = torch.mm(w4, g_z) if res_y is None else res_y.addmm_(w4, g_z)
        g_dy = torch.mm(w4, g_dz) if res_dy is None else res_dy.addmm_(w4, g_dz)
        rows_in = False
    return gw, gb


#: the embedding kernels in use: eager, or compiled by :func:`set_compile`
_KERNELS = {"forward": _embed_forward, "backward": _embed_backward}
_COMPILED: dict = {}


def set_compile(flag: bool | None = None) -> bool:
    """Use ``torch.compile`` (inductor) for the embedding-net kernels.

    ``flag=None`` reads ``HPCML_DEEPPOT_COMPILE`` (``1`` on, default off).
    Compilation happens at the first call; if it fails the eager kernels
    are restored and the error is logged.  Returns the setting.
    """
    if flag is None:
        flag = os.environ.get("HPCML_DEEPPOT_COMPILE", "0") == "1"
    if flag:
        if not _COMPILED:
            _COMPILED["forward"] = torch.compile(_embed_forward, dynamic=True)
            _COMPILED["backward"] = torch.compile(_embed_backward, dynamic=True)
        _KERNELS.update(_COMPILED)
    else:
        _KERNELS.update(forward=_embed_forward, backward=_embed_backward)
    return flag


def _kernel(name: str, *args: Any) -> Any:
    """Run embedding kernel ``name``; a failing compiled kernel falls back to eager."""
    fn = _KERNELS[name]
    if fn is _COMPILED.get(name):
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: run eagerly
            log.warning("torch.compile of the DeepPot embedding kernels failed (%s: %s); "
                        "using eager kernels", type(exc).__name__, exc)
            set_compile(False)
            fn = _KERNELS[name]
    return fn(*args)


class _EmbedTangent(torch.autograd.Function):
    """``s~`` (N, 1) -> ``(G, dG/ds~)``, each (N, M), of one embedding net.

    Gradients flow to the weights and biases only (``s~`` is data).  The
    backward pass is hand-written (:func:`_embed_backward`): it reuses the
    saved ``(1 - tanh^2) / 4`` and ``4 tanh dz`` and avoids ``torch.cat``.
    """

    @staticmethod
    def forward(ctx: Any, s: torch.Tensor, n_layers: int,
                *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights, biases = list(params[:n_layers]), list(params[n_layers:])
        train = any(ctx.needs_input_grad[2:])
        s = s.reshape(1, -1)
        lib = slots.kernels_for(s) if _KERNELS["forward"] is _embed_forward else None
        if lib is not None:
            g, dg, saved = _embed_forward_native(lib, s, weights, biases, train)
        else:
            g, dg, saved = _kernel("forward", s, weights, biases, train)
        if train:
            ctx.layers, ctx.lib = saved, lib
            ctx.save_for_backward(*weights)
        return g, dg

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_y: Opt, g_dy: Opt) -> tuple[Opt, ...]:
        weights = list(ctx.saved_tensors)
        x0 = ctx.layers[0][0]
        shape = (x0.shape[1], weights[-1].shape[1])
        g_y = x0.new_zeros(shape) if g_y is None else g_y.contiguous()
        g_dy = x0.new_zeros(shape) if g_dy is None else g_dy.contiguous()
        if ctx.lib is not None:
            gw, gb = _embed_backward_native(ctx.lib, weights, ctx.layers, g_y, g_dy)
        else:
            gw, gb = _kernel("backward", weights, ctx.layers, g_y, g_dy)
        ctx.layers = None
        return (None, None, *gw, *gb)


class _Fitting(torch.autograd.Function):
    """Fitting net energies (n,) and ``dE/dD`` (n, dim) with a hand-written backward.

    Inputs ``d`` (n, dim), the number of hidden layers ``L``, a tuple of
    flags (which layers are residual with an ``idt``), then the ``L``
    weights, ``L`` biases, the ``idt`` of the residual layers, the output
    weight (H, 1) and bias (1,).  The backward differentiates both outputs
    (the energies and the explicit backward sweep) in one pass: about a
    third of the operations autograd records for the same graph.
    """

    @staticmethod
    def forward(ctx: Any, d: torch.Tensor, n_layers: int, residual: tuple[bool, ...],
                *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights, biases = params[:n_layers], params[n_layers:2 * n_layers]
        idts = iter(params[2 * n_layers:-2])
        w_out, b_out = params[-2], params[-1]
        scales = [next(idts) if res else None for res in residual]
        xs, ts, us = [d], [], []
        x = d
        for w, b, c in zip(weights, biases, scales):
            t = torch.tanh(torch.addmm(b, x, w))
            ts.append(t)
            us.append(torch.addcmul(torch.ones_like(t), t, t, value=-1.0))
            x = torch.addcmul(x, c, t) if c is not None else t
            xs.append(x)
        e = torch.addmm(b_out, x, w_out).squeeze(-1)
        g = w_out[:, 0].expand(x.shape)
        gs, hs = [None] * n_layers, [None] * n_layers
        for k in range(n_layers - 1, -1, -1):
            gs[k] = g
            c = scales[k]
            h = g * us[k] if c is None else g * c * us[k]
            hs[k] = h
            g = torch.mm(h, weights[k].t()) if c is None else torch.addmm(g, h, weights[k].t())
        ctx.n_layers, ctx.residual = n_layers, residual
        ctx.save_for_backward(*weights, *[c for c in scales if c is not None], w_out,
                              *xs, *ts, *us, *gs, *hs)
        return e, g

    @staticmethod
    def backward(ctx: Any, g_e: Opt, g_g: Opt) -> tuple[Opt, ...]:
        n_layers, residual = ctx.n_layers, ctx.residual
        saved = list(ctx.saved_tensors)
        weights = saved[:n_layers]
        n_idt = sum(residual)
        idt_list = saved[n_layers:n_layers + n_idt]
        w_out = saved[n_layers + n_idt]
        rest = saved[n_layers + n_idt + 1:]
        xs = rest[:n_layers + 1]
        ts, us, gs, hs = (rest[n_layers + 1 + i * n_layers:n_layers + 1 + (i + 1) * n_layers]
                          for i in range(4))
        idts = iter(idt_list)
        scales = [next(idts) if res else None for res in residual]
        x0 = xs[0]
        if g_e is None:
            g_e = x0.new_zeros(x0.shape[0])
        gw, gb = [None] * n_layers, [None] * n_layers
        gc = [None] * n_layers
        t_bar = [None] * n_layers
        # reverse of the explicit backward sweep (it ran from layer L down to 1)
        g_prev = g_g
        for k in range(n_layers):
            if g_prev is None:
                break
            c = scales[k]
            h_bar = torch.mm(g_prev, weights[k])
            gw[k] = torch.mm(g_prev.t(), hs[k])
            hu = h_bar * us[k]
            u_bar = h_bar * gs[k]
            if c is None:
                g_next = hu
            else:
                g_next = torch.addcmul(g_prev, hu, c)
                gc[k] = (u_bar * us[k]).sum(0)
                u_bar = u_bar * c
            t_bar[k] = u_bar.mul_(ts[k]).mul_(-2.0)
            g_prev = g_next
        g_wout = g_prev.sum(0).unsqueeze(1) if g_prev is not None else torch.zeros_like(w_out)
        # reverse of the forward pass
        g_wout = g_wout.addmm_(xs[-1].t(), g_e.unsqueeze(1))
        g_bout = g_e.sum(0, keepdim=True)
        x_bar = g_e.unsqueeze(1) * w_out[:, 0]
        for k in range(n_layers - 1, -1, -1):
            c = scales[k]
            tb = x_bar if c is None else x_bar * c
            if c is not None:
                s = (x_bar * ts[k]).sum(0)
                gc[k] = s if gc[k] is None else gc[k] + s
            if t_bar[k] is not None:
                tb = tb + t_bar[k]
            z_bar = tb * us[k]
            gb[k] = z_bar.sum(0)
            gw[k] = torch.mm(xs[k].t(), z_bar) if gw[k] is None else gw[k].addmm_(xs[k].t(), z_bar)
            x_new = torch.mm(z_bar, weights[k].t())
            x_bar = x_new if c is None else x_new.add_(x_bar)
        g_idt = [gc[k] for k in range(n_layers) if residual[k]]
        return (x_bar, None, None, *gw, *gb, *g_idt, g_wout, g_bout)


def fitting_with_grad(net: FittingNet, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Atomic energies (n,) and ``dE/dD`` (n, dim) of fitting net ``net`` (:class:`_Fitting`)."""
    residual = tuple(w.shape[0] == w.shape[1] for w in net.weight)
    return _Fitting.apply(d, len(net.weight), residual, *net.weight, *net.bias, *net.idt,
                          net.out_weight, net.out_bias)


def distinct_s(batch: Batch, s: torch.Tensor) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Distinct values of ``s`` (n, width) per (centre type, neighbour type) section.

    Returns ``out[ti][tj] = (values (N_u, 1), inverse (n_t, w))``.  Equal
    ``s`` give equal embeddings, so the nets run once per distinct value:
    all empty slots of a section share ``s = 0``, and a same-type pair
    ``ij`` has the same ``s`` as ``ji``.  Cached on the batch (``s`` depends
    on the batch and the cutoffs only).
    """
    key = ("distinct_s", s.shape, s.dtype, batch.rij.data_ptr(), batch.rij._version)
    hit = batch.cache.get(key)
    if hit is not None:
        return hit
    out = []
    for a, b in batch.blocks:
        row, col = [], 0
        for w in batch.widths:
            sec = s[a:b, col:col + w]
            u, inv = torch.unique(sec, sorted=True, return_inverse=True)
            row.append((u.unsqueeze(-1), inv))
            col += w
        out.append(row)
    batch.cache.clear()
    batch.cache[key] = out
    return out


def _sections(batch: Batch, s: torch.Tensor) -> list[tuple[list[torch.Tensor], SlotIndex,
                                                             torch.Tensor]]:
    """Per neighbour type: distinct ``s`` of each centre type and one slot index.

    Returns ``out[tj] = (values, index, pad_rows)``: ``values[ti]``
    (N_ti, 1) are the distinct ``s`` of section (ti, tj)
    (:func:`distinct_s`).  The embedding table of a section stacks, for each
    centre type in turn, the rows of ``values[ti]`` and one row for the
    virtual empty slots beyond the section width (``pad_rows[ti]``, int64);
    ``index`` (:class:`~hpcml.molecular.slots.SlotIndex`, (n, w_tj)) gives
    the table row of every slot of every centre atom.  Cached on the batch
    with :func:`distinct_s`.
    """
    uniq = distinct_s(batch, s)
    hit = batch.cache.get("slot_sections")
    if hit is not None and hit[0] is uniq:
        return hit[1]
    out = []
    for tj in range(len(batch.widths)):
        values, parts, pads, offset = [], [], [], 0
        for ti in range(len(batch.blocks)):
            u, inv = uniq[ti][tj]
            values.append(u)
            parts.append(inv + offset)
            pads.append(offset + u.shape[0])
            offset += u.shape[0] + 1
        out.append((values, SlotIndex(torch.cat(parts), offset),
                    torch.tensor(pads, device=s.device)))
    batch.cache["slot_sections"] = (uniq, out)
    return out


def _atom_types(batch: Batch, device: torch.device) -> torch.Tensor:
    """Type of each centre atom (n,) int64, in sorted order (cached on the batch)."""
    hit = batch.cache.get("atom_types")
    if hit is None:
        counts = torch.tensor([b - a for a, b in batch.blocks], device=device)
        hit = torch.arange(len(batch.blocks), device=device).repeat_interleave(
            counts, output_size=batch.n_atoms)
        batch.cache["atom_types"] = hit
    return hit


def _embed_section(desc: Any, tj: int, values: list[torch.Tensor],
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Embedding table ``(G, dG/ds~)`` (rows, M) of neighbour type ``tj`` (see :func:`_sections`).

    With ``type_one_side`` the nets of all centre types are one module: one
    call on the stacked ``s~`` of every centre type.
    """
    pad_s = (0.0 - desc.avg[:, :1]) / desc.std[:, :1]                   # (ntypes, 1)
    s_in = [torch.cat([(u - desc.avg[ti, 0]) / desc.std[ti, 0], pad_s[ti:ti + 1]])
            for ti, u in enumerate(values)]
    nets = [desc.nets[ti][tj] for ti in range(len(values))]
    if all(net is nets[0] for net in nets):
        net = nets[0]
        return _EmbedTangent.apply(torch.cat(s_in), len(net.weight), *net.weight, *net.bias)
    outs = [_EmbedTangent.apply(x, len(net.weight), *net.weight, *net.bias)
            for x, net in zip(s_in, nets)]
    return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])


def _block_batch(batch: Batch, ti: int) -> Batch:
    """The centre atoms of type ``ti`` of ``batch`` alone (for :func:`energy_and_grad`).

    Only the fields the fast path reads are meaningful (``rij``, ``widths``,
    ``blocks``, ``cache``); the others are those of ``batch``.
    """
    a, b = batch.blocks[ti]
    blocks = tuple((0, b - a) if t == ti else ((0, 0) if t < ti else (b - a, b - a))
                   for t in range(len(batch.blocks)))
    return dataclasses.replace(batch, rij=batch.rij[a:b], blocks=blocks, cache={})


def energy_and_grad(model: DeepPot, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Atomic energies (n,) in sorted order and ``dE/dr_ij`` (n, width, 3).

    Each neighbour-type section is handled for all centre atoms at once:
    one embedding call per net (with ``type_one_side`` one per neighbour
    type, on the distinct ``s~`` of every centre type stacked, plus the
    value of the empty slots), one gather, one batched product for ``T``
    and one for ``dE/dR``.  Empty slots beyond the section width (up to
    ``sel``) enter ``T`` in closed form, ``(sel - w) G(s~_0) R~_0``.
    """
    if not torch.is_grad_enabled() and sum(b > a for a, b in batch.blocks) > 1:
        # no graph (inference): one centre type at a time keeps the tables
        # half as large; freed at once, large buffers go back to the OS and
        # page-fault again on the next call (+20-28 % per inference call here)
        parts = [energy_and_grad(model, _block_batch(batch, ti))
                 for ti, (a, b) in enumerate(batch.blocks) if b > a]
        return torch.cat([e for e, _ in parts]), torch.cat([g for _, g in parts])
    desc = model.descriptor
    spec = desc.spec
    n = batch.n_atoms
    axis, nnei, width_m = spec.axis_neuron, spec.nnei, spec.neuron[-1]
    env, aux = env_with_derivative(batch.rij, spec.rcut_smth, spec.rcut)
    sections = _sections(batch, aux[1].squeeze(-1).detach())
    atom_types = _atom_types(batch, env.device)
    avg, std = desc.avg[atom_types].unsqueeze(1), desc.std[atom_types].unsqueeze(1)
    envn = (env - avg) / std
    inv_std = 1.0 / std
    pad_env = (0.0 - desc.avg) / desc.std                               # (ntypes, 4)
    pads_t = None                                                        # (ntypes, 4, M)
    used, t_tr, col = [], None, 0
    for tj, (w, cap) in enumerate(zip(batch.widths, spec.sel)):
        values, index, pad_rows = sections[tj]
        g_u, dg_u = _embed_section(desc, tj, values)
        if cap != w:            # a Verlet list may be wider than sel (slots beyond rcut)
            part = ((cap - w) * pad_env).unsqueeze(2) * g_u[pad_rows].unsqueeze(1)
            pads_t = part if pads_t is None else pads_t + part
        if not w:
            used.append(None)
            continue
        rows = envn[:, col:col + w].contiguous()                         # (n, w, 4)
        part = slots.section_t(g_u, index, rows)                         # (n, 4, M)
        t_tr = part if t_tr is None else t_tr + part
        used.append((g_u, dg_u, index, rows))
        col += w
    if t_tr is None:
        t_tr = env.new_zeros(n, 4, width_m)
    if pads_t is not None:
        t_tr = t_tr + pads_t[atom_types]                                 # T^T (n, 4, M)
    t_mat = (t_tr / nnei).transpose(1, 2)                                # T (n, M, 4)
    t_axis = t_mat[:, :axis]
    d = torch.matmul(t_mat, t_axis.transpose(1, 2)).reshape(n, spec.dim_descrpt)
    e_parts, gd_parts = [], []
    for ti, (a, b) in enumerate(batch.blocks):
        if b == a:
            continue
        e, g_d = fitting_with_grad(model.fitting[ti], d[a:b])
        e_parts.append(e + model.bias_atom_e[ti])
        gd_parts.append(g_d)
    g_d = torch.cat(gd_parts).view(n, width_m, axis)
    g_t = torch.matmul(g_d, t_axis)                                      # (n, M, 4)
    g_t = torch.cat([g_t[:, :axis] + torch.matmul(g_d.transpose(1, 2), t_mat),
                     g_t[:, axis:]], dim=1) / nnei
    g_tt = g_t.transpose(1, 2).contiguous()                             # (n, 4, M)
    g_env = torch.cat([slots.contract(*sec, g_tt, inv_std) if sec is not None
                       else env.new_zeros(n, 0, 4) for sec in used], dim=1)
    return torch.cat(e_parts), env_backward(g_env, aux)


set_compile()
