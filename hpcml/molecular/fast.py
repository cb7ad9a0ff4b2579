"""Explicit first derivatives of the DeepPot-SE energy (the model's fast path).

The autograd path of :class:`hpcml.molecular.model.DeepPot` gets forces by
``autograd.grad(E, r_ij, create_graph=True)``, so training on forces needs a
double backward through every layer.  Here the derivative ``dE/dr_ij`` is
written out as an ordinary forward computation instead:

* the embedding net carries a tangent: its input is the scalar ``s~``, so
  ``G' = dG/ds~`` comes from one forward-mode sweep (:class:`_EmbedTangent`,
  a custom autograd function with a hand-written backward that reuses the
  saved ``tanh`` values and avoids ``torch.cat``);
* ``dE/dD`` comes from an explicit backward sweep through the fitting net
  (plain torch ops, so autograd can differentiate it once more);
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
  ``s`` as ``ji``, so about 35 % fewer rows for water; results are gathered
  back to the slots (:class:`_Gather`, ``index_add`` backward);
* the embedding kernels run feature-major, (width, N), and form ``tanh``
  from ``sigmoid`` (see :func:`_embed_forward`);
* batched products keep the embedding width as their contiguous dimension
  (``T^T = R~^T G`` rather than ``G^T R~``);
* ``HPCML_DEEPPOT_COMPILE=1`` (or :func:`set_compile`) runs the embedding
  kernels through ``torch.compile``; off by default (small gain against a
  compile time of tens of seconds with an empty inductor cache).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from hpcml.molecular.nets import FittingNet

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
# the N rows contiguous.  MKL's float64 products of these shapes run about
# twice as fast as the row-major (N, width) ones (tall, 25-100 wide).

def _add_res(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` plus the residual of ``x``: ``x`` (same width) or ``[x; x]`` (double)."""
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


def _addmm_res(g: torch.Tensor, g_z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``W g_z`` plus the adjoint of the residual applied to ``g``."""
    width_in = w.shape[0]
    if g.shape[0] == width_in:
        return torch.addmm(g, w, g_z)
    if g.shape[0] == 2 * width_in:
        return torch.addmm(g.view(2, width_in, g.shape[1]).sum(0), w, g_z)
    return torch.mm(w, g_z)


def _embed_forward(s: torch.Tensor, weights: Sequence[torch.Tensor],
                   biases: Sequence[torch.Tensor], train: bool,
                   ) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Embedding net and its tangent at ``s`` (1, N): ``(G^T, dG^T/ds, saved)`` (M, N).

    ``tanh(z) = 2 p - 1`` with ``p = sigmoid(2 z)`` (PyTorch's float64
    ``sigmoid`` is several times faster than its ``tanh`` on CPU; the two
    differ by a few ulp of 1), and ``1 - tanh^2 = 4 q`` with
    ``q = p - p^2`` (one pass).  The factor 4 is carried by the tangent
    ``dz4 = 4 dz`` (exact: a power of two).  Saved per layer for the
    backward: ``(x, dx, q, tanh * dz4)``.
    """
    saved = []
    x = dx = None
    for k, (w, b) in enumerate(zip(weights, biases)):
        wt = w.t()                                                       # (H, K)
        if k == 0:
            if w.shape[0] != 1:
                raise ValueError("the embedding net's input is the scalar s")
            z2 = torch.addcmul(b.unsqueeze(1) * 2.0, wt * 2.0, s)
            dz4 = (wt * 4.0).expand(w.shape[1], s.shape[1])
            x, dx = s, torch.ones_like(s)
        else:
            z2 = torch.addmm(b.unsqueeze(1), wt, x, beta=2.0, alpha=2.0)
            dz4 = torch.mm(wt * 4.0, dx)
        p = z2.sigmoid_()
        q = torch.addcmul(p, p, p, value=-1.0)                           # (1 - t^2) / 4
        t = p.mul_(2.0).sub_(1.0)
        y = _add_res(t, x)
        dy = _addcmul_res(dx, q, dz4)
        if train:
            saved.append((x, dx, q, t * dz4 if y is t else t.mul_(dz4)))
        x, dx = y, dy
    return x, dx, saved


def _embed_backward(weights: Sequence[torch.Tensor], layers: list, g_y: torch.Tensor,
                    g_dy: torch.Tensor) -> tuple[list, list]:
    """Gradients of the weights and biases from those of ``G^T`` and ``dG^T/ds`` (M, N).

    With ``deriv = 1 - t^2 = 4 q`` and ``tdz4 = 4 t dz`` as saved by
    :func:`_embed_forward`: ``g_dz = g_dy deriv`` and
    ``g_z = (g_y - 2 t dz g_dy) deriv``; both are formed without the
    factor 4, which is applied to the small results (and to ``W``).
    """
    n_layers = len(weights)
    gw, gb = [None] * n_layers, [None] * n_layers
    for k in range(n_layers - 1, -1, -1):
        x, dx, q, tdz4 = layers[k]
        wk = weights[k]
        g_dz = g_dy * q                                                  # g_dz / 4
        g_z = torch.addcmul(g_y, tdz4, g_dy, value=-0.5).mul_(q)         # g_z / 4
        gb[k] = g_z.sum(1).mul_(4.0)
        if k == 0:
            gw[k] = (torch.mm(x, g_z.t()) + g_dz.sum(1)).mul_(4.0).view_as(wk)
            break
        gw[k] = torch.mm(x, g_z.t()).addmm_(dx, g_dz.t()).mul_(4.0)
        w4 = wk * 4.0
        g_y = _addmm_res(g_y, g_z, w4)
        g_dy = _addmm_res(g_dy, g_dz, w4)
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
    The kernels work on (width, N) tensors; inputs and outputs are
    transposed here.
    """

    @staticmethod
    def forward(ctx: Any, s: torch.Tensor, n_layers: int,
                *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights, biases = params[:n_layers], params[n_layers:]
        train = any(ctx.needs_input_grad[2:])
        g, dg, saved = _kernel("forward", s.reshape(1, -1), list(weights), list(biases), train)
        if train:
            ctx.layers = saved
            ctx.save_for_backward(*weights)
        return g.t().contiguous(), dg.t().contiguous()

    @staticmethod
    def backward(ctx: Any, g_y: Opt, g_dy: Opt) -> tuple[Opt, ...]:
        weights = ctx.saved_tensors
        x0 = ctx.layers[0][0]
        shape = (weights[-1].shape[1], x0.shape[1])
        g_y = x0.new_zeros(shape) if g_y is None else g_y.t().contiguous()
        g_dy = x0.new_zeros(shape) if g_dy is None else g_dy.t().contiguous()
        gw, gb = _kernel("backward", list(weights), ctx.layers, g_y, g_dy)
        ctx.layers = None
        return (None, None, *gw, *gb)


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
        out = grad.new_zeros(ctx.n, m)
        return out.index_add_(0, index.reshape(-1), grad.reshape(-1, m)), None


class _Contract(torch.autograd.Function):
    """``dE/dR`` of one section: ``(G gT + e0 ((dG gT) . R~)) / std``.

    Inputs ``G, dG`` (n, w, M), rows ``R~`` (n, w, 4) (data), ``gT``
    transposed, ``gT^T`` (n, 4, M) contiguous, and ``inv_std`` (4,) (data);
    output (n, w, 4).  Every batched product keeps ``M`` as the contiguous
    dimension (several times faster than products with 4 output columns).
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


def fitting_with_grad(net: FittingNet, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Atomic energies (n,) and ``dE/dD`` (n, dim) of fitting net ``net``."""
    x, k_idt, saved = d, 0, []
    for w, b in zip(net.weight, net.bias):
        t = torch.tanh(torch.addmm(b, x, w))
        if w.shape[0] == w.shape[1]:
            idt = net.idt[k_idt]
            k_idt += 1
            saved.append((w, t, idt))
            x = torch.addcmul(x, idt, t)
        else:
            saved.append((w, t, None))
            x = t
    e = torch.addmm(net.out_bias, x, net.out_weight).squeeze(-1)
    g = net.out_weight[:, 0].expand(x.shape)
    for w, t, idt in reversed(saved):
        deriv = 1.0 - t * t
        if idt is None:
            g = torch.mm(g * deriv, w.t())
        else:
            g = torch.addmm(g, g * idt * deriv, w.t())
    return e, g


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


def energy_and_grad(model: DeepPot, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Atomic energies (n,) in sorted order and ``dE/dr_ij`` (n, width, 3)."""
    desc = model.descriptor
    spec = desc.spec
    env, aux = env_with_derivative(batch.rij, spec.rcut_smth, spec.rcut)
    uniq = distinct_s(batch, aux[1].squeeze(-1).detach())
    e_parts, g_parts = [], []
    axis, nnei = spec.axis_neuron, spec.nnei
    for ti, (a, b) in enumerate(batch.blocks):
        if b == a:
            continue
        avg, std = desc.avg[ti], desc.std[ti]
        envn = (env[a:b] - avg) / std
        t_tr = desc._virtual_pads(ti, batch.widths)
        if t_tr.dim():
            t_tr = t_tr.t()                                              # (4, M)
        sections, col = [], 0
        for tj, w in enumerate(batch.widths):
            if w:
                net = desc.nets[ti][tj]
                rows = envn[:, col:col + w].contiguous()
                s_u, inv = uniq[ti][tj]
                g_u, dg_u = _EmbedTangent.apply((s_u - avg[0]) / std[0], len(net.weight),
                                                *net.weight, *net.bias)
                g, dg = _Gather.apply(g_u, inv), _Gather.apply(dg_u, inv)
                rows_t = rows.transpose(1, 2).contiguous()
                t_tr = t_tr + torch.bmm(rows_t, g)                       # T^T (n_t, 4, M)
                sections.append((w, rows, g, dg))
            else:
                sections.append((0, None, None, None))
            col += w
        t_mat = (t_tr / nnei).expand(b - a, -1, -1).transpose(1, 2)      # (n_t, M, 4)
        t_axis = t_mat[:, :axis]
        d = torch.matmul(t_mat, t_axis.transpose(1, 2))
        e, g_d = fitting_with_grad(model.fitting[ti], d.reshape(b - a, spec.dim_descrpt))
        e_parts.append(e + model.bias_atom_e[ti])
        g_d = g_d.view(b - a, spec.neuron[-1], axis)
        g_t = torch.matmul(g_d, t_axis)                                  # (n_t, M, 4)
        g_t = torch.cat([g_t[:, :axis] + torch.matmul(g_d.transpose(1, 2), t_mat),
                         g_t[:, axis:]], dim=1) / nnei
        g_tt = g_t.transpose(1, 2).contiguous()                         # (n_t, 4, M)
        inv_std = 1.0 / std
        g_env = torch.cat([
            _Contract.apply(g, dg, rows, g_tt, inv_std) if w
            else env.new_zeros(b - a, 0, 4) for w, rows, g, dg in sections], dim=1)
        g_parts.append(env_backward(g_env, tuple(x[a:b] for x in aux)))
    return torch.cat(e_parts), torch.cat(g_parts)


set_compile()
