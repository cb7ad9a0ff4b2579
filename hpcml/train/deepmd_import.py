"""A DeePMD-kit ``se_e2_a`` energy model (``.dp`` dict) as an hpcml DeepPot.

The inverse of :mod:`hpcml.train.deepmd_export`, for models trained by
DeePMD-kit too: ``dp convert-backend frozen_model.pth model.dp`` (or
``graph.pb model.dp`` from the TensorFlow backend) gives the file.  Only
what hpcml's DeepPot computes is accepted; anything else is refused with
:class:`ImportModelError` naming the feature and what is supported:

- model ``standard`` with descriptor ``se_e2_a`` and fitting ``ener``;
- tanh activations, no excluded types, no frame/atomic parameters, no case
  embedding, no spin, environment normalisation equal over the neighbour
  slots (DeePMD-kit's own statistics always are);
- embedding layers with DeePMD-kit's residual rule and no timestep;
- fitting layers: equal-width layers residual (a missing timestep is
  imported as ``idt = 1``, which computes the same), no residual where the
  width doubles, a linear last layer of one output.

The per-type energy shift is the fitting's ``bias_atom_e`` plus the model's
``out_bias`` (eV).  A compressed model's tables are ignored: the embedding
nets it still carries are used.
"""

from __future__ import annotations

import numpy as np
import torch

from hpcml.errors import DataError
from hpcml.molecular.model import DeepPot
from hpcml.molecular.spec import DeepPotSpec

SUPPORTED = ("a DeePMD-kit 'standard' energy model with the se_e2_a (DeepPot-SE) "
             "descriptor and the ener fitting")


class ImportModelError(DataError):
    """A DeePMD-kit model that hpcml's DeepPot cannot represent."""


def _refuse(source: str, what: str) -> ImportModelError:
    """The error for one unsupported feature."""
    return ImportModelError(f"{source}: {what}; hpcml imports only {SUPPORTED}")


def _check_layer(source: str, where: str, layer: dict, last: bool = False) -> None:
    """Refuse a layer whose computation hpcml's nets do not do."""
    act = str(layer.get("activation_function", "none")).lower()
    want = ("none", "linear") if last else ("tanh",)
    if act not in want:
        raise _refuse(source, f"{where}: activation {act!r} (hpcml uses {want[0]})")


def _embedding_params(source: str, where: str, net: dict, neuron: list) -> list:
    """(w, b) of each layer of one embedding network, checked."""
    out = []
    for k, layer in enumerate(net["layers"]):
        var = layer["@variables"]
        w = np.asarray(var["w"])
        b = np.zeros(w.shape[1], w.dtype) if var.get("b") is None else np.asarray(var["b"])
        _check_layer(source, f"{where} layer {k}", layer)
        if var.get("idt") is not None:
            raise _refuse(source, f"{where} layer {k}: a timestep (descriptor resnet_dt: true)")
        if not layer.get("resnet", True) and w.shape[1] in (w.shape[0], 2 * w.shape[0]):
            raise _refuse(source, f"{where} layer {k}: no residual at width {w.shape[0]} -> "
                          f"{w.shape[1]} (hpcml adds one there, as DeePMD-kit does)")
        out.append((w, b.ravel()))
    if [w.shape[1] for w, _ in out] != list(neuron):
        raise _refuse(source, f"{where}: layer widths differ from the descriptor's neuron "
                      f"{list(neuron)}")
    return out


def _fitting_params(source: str, where: str, net: dict) -> tuple[list, tuple]:
    """(w, b, idt) of the hidden layers and (w, b) of the output layer, checked."""
    *hidden, last = net["layers"]
    out = []
    for k, layer in enumerate(hidden):
        var = layer["@variables"]
        w = np.asarray(var["w"])
        b = np.zeros(w.shape[1], w.dtype) if var.get("b") is None else np.asarray(var["b"])
        _check_layer(source, f"{where} layer {k}", layer)
        resnet = bool(layer.get("resnet", True))
        idt = var.get("idt")
        if w.shape[0] == w.shape[1]:
            if not resnet:
                raise _refuse(source, f"{where} layer {k}: no residual at equal width "
                              f"{w.shape[0]}")
            idt = np.ones(w.shape[1], w.dtype) if idt is None else np.asarray(idt).ravel()
        elif w.shape[1] == 2 * w.shape[0] and resnet:
            raise _refuse(source, f"{where} layer {k}: a residual [x, x] where the width "
                          f"doubles ({w.shape[0]} -> {w.shape[1]})")
        elif idt is not None:
            raise _refuse(source, f"{where} layer {k}: a timestep without a residual")
        out.append((w, b.ravel(), idt))
    _check_layer(source, f"{where} output layer", last, last=True)
    var = last["@variables"]
    w = np.asarray(var["w"])
    b = np.zeros(1, w.dtype) if var.get("b") is None else np.asarray(var["b"]).ravel()
    if w.shape[1] != 1 or var.get("idt") is not None:
        raise _refuse(source, f"{where}: an output layer of {w.shape[1]} values or with a "
                      "timestep (hpcml fits one atomic energy)")
    return out, (w, b)


def _check_model(source: str, model: dict) -> tuple[dict, dict]:
    """The descriptor and fitting dicts of a supported model, else a named refusal."""
    kind = model.get("type", "standard")
    if kind != "standard":
        raise _refuse(source, f"model type {kind!r}")
    desc, fit = model.get("descriptor") or {}, model.get("fitting") or {}
    dtype = desc.get("type")
    if dtype not in ("se_e2_a", "se_a"):
        raise _refuse(source, f"descriptor {dtype!r}")
    if fit.get("type", "ener") != "ener":
        raise _refuse(source, f"fitting {fit.get('type')!r}")
    named = [("model atom_exclude_types", model.get("atom_exclude_types")),
             ("model pair_exclude_types", model.get("pair_exclude_types")),
             ("descriptor exclude_types", desc.get("exclude_types")),
             ("descriptor spin", desc.get("spin")),
             ("descriptor env_protection", desc.get("env_protection", 0.0)),
             ("descriptor use_exp_switch", (desc.get("env_mat") or {}).get("use_exp_switch")),
             ("fitting numb_fparam", fit.get("numb_fparam")),
             ("fitting numb_aparam", fit.get("numb_aparam")),
             ("fitting dim_case_embd", fit.get("dim_case_embd")),
             ("fitting mixed_types", fit.get("mixed_types")),
             ("fitting exclude_types", fit.get("exclude_types")),
             ("fitting spin", fit.get("spin")),
             ("fitting atom_ener", [e for e in fit.get("atom_ener") or [] if e is not None])]
    for name, value in named:
        if value:
            raise _refuse(source, f"{name} = {value!r} (hpcml has no such feature)")
    for part, d in (("descriptor", desc), ("fitting", fit)):
        act = str(d.get("activation_function", "tanh")).lower()
        if act != "tanh":
            raise _refuse(source, f"{part} activation_function {act!r} (hpcml uses tanh)")
    if desc.get("precision") != fit.get("precision") or desc.get("precision") not in (
            "float64", "float32"):
        raise _refuse(source, f"precision {desc.get('precision')!r} (descriptor) / "
                      f"{fit.get('precision')!r} (fitting); hpcml needs one of float64, float32")
    return desc, fit


def spec_from_dict(data: dict, source: str = "model") -> DeepPotSpec:
    """The hyper-parameters of the model in a .dp dict (checked)."""
    model = data.get("model")
    if not isinstance(model, dict):
        raise DataError(f"{source}: no 'model' entry; not a DeePMD-kit model file")
    desc, fit = _check_model(source, model)
    script = data.get("model_def_script") or {}
    seed = (script.get("descriptor") or {}).get("seed")
    return DeepPotSpec(type_map=tuple(model.get("type_map") or desc["type_map"]),
                       rcut=float(desc["rcut"]), rcut_smth=float(desc["rcut_smth"]),
                       sel=tuple(int(s) for s in desc["sel"]),
                       neuron=tuple(int(n) for n in desc["neuron"]),
                       axis_neuron=int(desc["axis_neuron"]),
                       fitting_neuron=tuple(int(n) for n in fit["neuron"]),
                       type_one_side=bool(desc.get("type_one_side", False)),
                       precision=desc["precision"], seed=int(seed) if seed is not None else 1)


def _slot_constant(source: str, name: str, value: np.ndarray, spec: DeepPotSpec) -> np.ndarray:
    """(ntypes, 4) from DeePMD-kit's (ntypes, sum(sel), 4), refusing per-slot values."""
    value = np.asarray(value).reshape(spec.ntypes, spec.nnei, 4)
    if not np.array_equal(value, np.broadcast_to(value[:, :1], value.shape)):
        raise _refuse(source, f"descriptor {name} differs between neighbour slots (hpcml "
                      "normalises every slot of a centre type alike)")
    return value[:, 0]


def load_deepmd(data: dict, source: str = "model") -> DeepPot:
    """The DeepPot of a DeePMD-kit .dp dict (see :func:`hpcml.io.dpfile.read_dp`).

    Raises
    ------
    ImportModelError
        Naming the feature hpcml cannot represent and what it supports.
    """
    spec = spec_from_dict(data, source)
    desc, fit = _check_model(source, data["model"])
    nt = spec.ntypes
    model = DeepPot(spec)
    emb = desc["embeddings"]
    ndim = 1 if spec.type_one_side else 2
    if emb.get("ndim") != ndim or len(emb["networks"]) != nt**ndim:
        raise _refuse(source, f"{len(emb['networks'])} embedding nets of ndim "
                      f"{emb.get('ndim')} for {nt} types")
    pairs = ([(None, tj, tj) for tj in range(nt)] if ndim == 1 else
             [(ti, tj, ti + tj * nt) for ti in range(nt) for tj in range(nt)])
    fits = fit["nets"]["networks"]
    if len(fits) != nt:
        raise _refuse(source, f"{len(fits)} fitting nets for {nt} types (mixed-type fitting)")
    dtype = model.dtype
    with torch.no_grad():
        for ti, tj, idx in pairs:
            params = _embedding_params(source, f"embedding net {idx}", emb["networks"][idx],
                                       spec.neuron)
            net = model.descriptor.nets[0 if ti is None else ti][tj]
            for k, (w, b) in enumerate(params):
                net.weight[k].copy_(torch.as_tensor(w, dtype=dtype))
                net.bias[k].copy_(torch.as_tensor(b, dtype=dtype))
        avg = _slot_constant(source, "davg", desc["@variables"]["davg"], spec)
        std = _slot_constant(source, "dstd", desc["@variables"]["dstd"], spec)
        model.descriptor.set_stats(torch.as_tensor(avg, dtype=dtype),
                                   torch.as_tensor(std, dtype=dtype))
        for t, net in enumerate(model.fitting):
            hidden, (w_out, b_out) = _fitting_params(source, f"fitting net {t}", fits[t])
            if [w.shape for w, _, _ in hidden] != [tuple(w.shape) for w in net.weight]:
                raise _refuse(source, f"fitting net {t}: layer shapes differ from "
                              f"neuron {list(spec.fitting_neuron)}")
            k_idt = 0
            for k, (w, b, idt) in enumerate(hidden):
                net.weight[k].copy_(torch.as_tensor(w, dtype=dtype))
                net.bias[k].copy_(torch.as_tensor(b, dtype=dtype))
                if idt is not None:
                    net.idt[k_idt].copy_(torch.as_tensor(idt, dtype=dtype))
                    k_idt += 1
            net.out_weight.copy_(torch.as_tensor(w_out, dtype=dtype))
            net.out_bias.copy_(torch.as_tensor(b_out, dtype=dtype))
        bias = np.asarray(fit["@variables"]["bias_atom_e"]).reshape(nt)
        out_bias = (data["model"].get("@variables") or {}).get("out_bias")
        if out_bias is not None:
            bias = bias + np.asarray(out_bias).reshape(-1, nt)[0]
        model.bias_atom_e.copy_(torch.as_tensor(bias, dtype=dtype))
    return model
