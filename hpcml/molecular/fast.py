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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from hpcml.molecular.nets import FittingNet

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


def _add_res(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` plus the residual of ``x``: ``x`` (same width) or ``[x, x]`` (double)."""
    if x.shape[-1] == t.shape[-1]:
        return t + x
    if 2 * x.shape[-1] == t.shape[-1]:
        n, h = x.shape
        return torch.add(t.view(n, 2, h), x.unsqueeze(1)).view(n, 2 * h)
    return t


def _addcmul_res(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a * b`` plus the residual of ``x`` (see :func:`_add_res`)."""
    if x.shape[-1] == a.shape[-1]:
        return torch.addcmul(x, a, b)
    if 2 * x.shape[-1] == a.shape[-1]:
        n, h = x.shape
        return torch.addcmul(x.unsqueeze(1), a.view(n, 2, h), b.view(n, 2, h)).view(n, 2 * h)
    return a * b


def _addmm_res(g: torch.Tensor, g_z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``g_z W^T`` plus the adjoint of the residual applied to ``g``."""
    width_in = w.shape[0]
    if g.shape[-1] == width_in:
        return torch.addmm(g, g_z, w.t())
    if g.shape[-1] == 2 * width_in:
        return torch.addmm(g.view(g.shape[0], 2, width_in).sum(1), g_z, w.t())
    return torch.mm(g_z, w.t())


def _embed_forward(s: torch.Tensor, weights: Sequence[torch.Tensor],
                   biases: Sequence[torch.Tensor], train: bool,
                   ) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Embedding net and its tangent at ``s`` (N, 1): ``(G, dG/ds, saved)``."""
    saved = []
    x = dx = None
    for k, (w, b) in enumerate(zip(weights, biases)):
        if k == 0:
            if w.shape[0] != 1:
                raise ValueError("the embedding net's input is the scalar s")
            z = torch.addcmul(b, s, w)
            dz = w.expand_as(z)
            x, dx = s, torch.ones_like(s)
        else:
            z = torch.addmm(b, x, w)
            dz = torch.mm(dx, w)
        t = z.tanh_()
        deriv = torch.addcmul(torch.ones((), dtype=t.dtype), t, t, value=-1.0)
        y = _add_res(t, x)
        dy = _addcmul_res(dx, deriv, dz)
        if train:
            saved.append((x, dx, deriv, t * dz))
        x, dx = y, dy
    return x, dx, saved


class _EmbedTangent(torch.autograd.Function):
    """Rows ``R~`` (n, w, 4) -> ``(G^T R~ (n, M, 4), G, dG/ds~)`` of one net.

    ``G`` and ``dG/ds~`` are (n, w, M): the embedding net at ``s~ = R~[..., 0]``
    and its derivative.  Gradients flow to the weights and biases only (the
    rows are data).  The backward pass is hand-written: it reuses the saved
    ``1 - tanh^2`` and folds the gradient of ``G^T R~`` into the one of ``G``
    with one ``baddbmm``.
    """

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, n_layers: int,
                *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        weights, biases = params[:n_layers], params[n_layers:]
        train = any(ctx.needs_input_grad[2:])
        n, w = rows.shape[:2]
        s = rows[..., 0].reshape(n * w, 1)
        g, dg, saved = _embed_forward(s, weights, biases, train)
        g, dg = g.view(n, w, -1), dg.view(n, w, -1)
        t_part = torch.bmm(g.transpose(1, 2), rows)
        if train:
            ctx.n_layers = n_layers
            ctx.layers = saved
            ctx.save_for_backward(rows, *weights)
        return t_part, g, dg

    @staticmethod
    def backward(ctx: Any, g_tpart: Opt, g_g: Opt, g_dg: Opt) -> tuple[Opt, ...]:
        rows, *weights = ctx.saved_tensors
        n_layers = ctx.n_layers
        n, w = rows.shape[:2]
        m = weights[-1].shape[1]
        if g_g is None:
            g_g = rows.new_zeros(n, w, m)
        if g_tpart is not None:
            g_g = torch.baddbmm(g_g, rows, g_tpart.transpose(1, 2))
        g_y = g_g.reshape(n * w, m)
        g_dy = (g_dg if g_dg is not None else rows.new_zeros(n, w, m)).reshape(n * w, m)
        gw, gb = [None] * n_layers, [None] * n_layers
        for k in range(n_layers - 1, -1, -1):
            x, dx, deriv, tdz = ctx.layers[k]
            wk = weights[k]
            g_dz = g_dy * deriv
            g_z = torch.addcmul(g_y, tdz, g_dy, value=-2.0).mul_(deriv)
            gb[k] = g_z.sum(0)
            if k == 0:
                gw[k] = (torch.mm(x.t(), g_z) + g_dz.sum(0)).view_as(wk)
                break
            gw[k] = torch.mm(x.t(), g_z).addmm_(dx.t(), g_dz)
            g_y = _addmm_res(g_y, g_z, wk)
            g_dy = _addmm_res(g_dy, g_dz, wk)
        ctx.layers = None
        return (None, None, *gw, *gb)


class _Contract(torch.autograd.Function):
    """``dE/dR`` of one section: ``(G gT + e0 ((dG gT) . R~)) / std``.

    Inputs ``G, dG`` (n, w, M), rows ``R~`` (n, w, 4) (data), ``gT`` (n, M, 4)
    and ``inv_std`` (4,) (data); output (n, w, 4).
    """

    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, dg: torch.Tensor, rows: torch.Tensor,
                g_t: torch.Tensor, inv_std: torch.Tensor) -> torch.Tensor:
        a = torch.bmm(g, g_t)
        b = torch.bmm(dg, g_t)
        a[..., 0] += (b * rows).sum(-1)
        ctx.save_for_backward(g, dg, rows, g_t, inv_std)
        return a * inv_std

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Opt, ...]:
        g, dg, rows, g_t, inv_std = ctx.saved_tensors
        q = grad * inv_std                                   # d/d a
        q0r = q[..., :1] * rows                              # d/d b
        g_t_t = g_t.transpose(1, 2)
        g_g = torch.bmm(q, g_t_t) if ctx.needs_input_grad[0] else None
        g_dg = torch.bmm(q0r, g_t_t) if ctx.needs_input_grad[1] else None
        g_gt = None
        if ctx.needs_input_grad[3]:
            g_gt = torch.bmm(g.transpose(1, 2), q).add_(torch.bmm(dg.transpose(1, 2), q0r))
        return g_g, g_dg, None, g_gt, None


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


def energy_and_grad(model: DeepPot, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Atomic energies (n,) in sorted order and ``dE/dr_ij`` (n, width, 3)."""
    desc = model.descriptor
    spec = desc.spec
    env, aux = env_with_derivative(batch.rij, spec.rcut_smth, spec.rcut)
    e_parts, g_parts = [], []
    axis, nnei = spec.axis_neuron, spec.nnei
    for ti, (a, b) in enumerate(batch.blocks):
        if b == a:
            continue
        avg, std = desc.avg[ti], desc.std[ti]
        envn = (env[a:b] - avg) / std
        t_mat = desc._virtual_pads(ti, batch.widths)
        sections, col = [], 0
        for tj, w in enumerate(batch.widths):
            if w:
                net = desc.nets[ti][tj]
                rows = envn[:, col:col + w].contiguous()
                t_part, g, dg = _EmbedTangent.apply(rows, len(net.weight), *net.weight,
                                                    *net.bias)
                t_mat = t_mat + t_part
                sections.append((w, rows, g, dg))
            else:
                sections.append((0, None, None, None))
            col += w
        t_mat = (t_mat / nnei).expand(b - a, -1, -1)
        t_axis = t_mat[:, :axis]
        d = torch.matmul(t_mat, t_axis.transpose(1, 2))
        e, g_d = fitting_with_grad(model.fitting[ti], d.reshape(b - a, spec.dim_descrpt))
        e_parts.append(e + model.bias_atom_e[ti])
        g_d = g_d.view(b - a, spec.neuron[-1], axis)
        g_t = torch.matmul(g_d, t_axis)                                  # (n_t, M, 4)
        g_t = torch.cat([g_t[:, :axis] + torch.matmul(g_d.transpose(1, 2), t_mat),
                         g_t[:, axis:]], dim=1) / nnei
        inv_std = 1.0 / std
        g_env = torch.cat([
            _Contract.apply(g, dg, rows, g_t, inv_std) if w
            else env.new_zeros(b - a, 0, 4) for w, rows, g, dg in sections], dim=1)
        g_parts.append(env_backward(g_env, tuple(x[a:b] for x in aux)))
    return torch.cat(e_parts), torch.cat(g_parts)
