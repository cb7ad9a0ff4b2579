"""A DeepPot member as DeePMD-kit's backend-independent model dict (``.dp``).

The dict is the one DeePMD-kit 3.x's ``dp convert-backend FILE.dp FILE.pth``
turns into a PyTorch model (then ``dp --pt test``, ASE's ``DP`` calculator
and LAMMPS ``pair_style deepmd`` load it):

- ``model``: a ``standard`` energy model (``@class Model``) with the
  ``se_e2_a`` descriptor (``@class Descriptor``), the ``ener`` fitting
  (``@class Fitting``) and the per-type energy shift as ``out_bias``
  (1, ntypes, 1) eV;
- ``model_def_script``: the model section of a DeePMD-kit input that builds
  the same architecture (DeePMD-kit rebuilds from it when it reads a .pth).

The mapping is exact (same numbers, float64 or float32):

- environment normalisation: hpcml's ``avg``/``std`` (ntypes, 4) are the
  same for every neighbour slot; DeePMD-kit stores them per slot as
  ``davg``/``dstd`` (ntypes, sum(sel), 4);
- embedding nets: one per neighbour type (``type_one_side``, a collection of
  ndim 1) or per (centre ti, neighbour tj) pair (ndim 2, index ti + tj * ntypes);
  layers ``tanh(x W + b)`` with DeePMD-kit's residual rule (``+x`` at equal
  width, ``+[x, x]`` where the width doubles), no timestep;
- fitting nets: one per centre type; hidden layers of equal width carry the
  timestep ``idt`` (``x + idt * tanh(x W + b)``), the last layer is linear.

What DeePMD-kit cannot represent is refused with :class:`ExportError`, naming
the feature (see :func:`unsupported_features`).
"""

from __future__ import annotations

import numpy as np

from hpcml.errors import UserError
from hpcml.molecular.model import DeepPot
from hpcml.molecular.nets import EmbeddingNet, FittingNet

#: the DeePMD-kit release whose format is written (and checked in the tests)
DEEPMD_VERSION = "3.2.0"


class ExportError(UserError):
    """A model feature that DeePMD-kit's format cannot hold."""


def _np(t: object) -> np.ndarray:
    """A parameter or buffer as a numpy array (a copy)."""
    return t.detach().cpu().numpy().copy()


def _layer(w: np.ndarray, b: np.ndarray, idt: np.ndarray | None, activation: str,
           resnet: bool, precision: str) -> dict:
    """One DeePMD-kit ``Layer``: ``y = act(x W + b) [* idt] [+ residual]``."""
    return {"@class": "Layer", "@version": 2, "bias": True, "use_timestep": idt is not None,
            "activation_function": activation, "resnet": resnet, "precision": precision,
            "trainable": True, "@variables": {"w": w, "b": b, "idt": idt}}


def _embedding(net: EmbeddingNet, neuron: tuple[int, ...], precision: str) -> dict:
    """An ``EmbeddingNetwork`` (input the scalar s(r), widths ``neuron``)."""
    layers = [_layer(_np(w), _np(b), None, "tanh", True, precision)
              for w, b in zip(net.weight, net.bias)]
    return {"@class": "EmbeddingNetwork", "@version": 2, "in_dim": 1, "neuron": list(neuron),
            "activation_function": "tanh", "resnet_dt": False, "bias": True,
            "precision": precision, "layers": layers}


def _fitting_net(net: FittingNet, dim_in: int, neuron: tuple[int, ...], precision: str) -> dict:
    """A ``FittingNetwork`` (descriptor -> hidden layers -> one atomic energy)."""
    layers, k_idt = [], 0
    for w, b in zip(net.weight, net.bias):
        idt = None
        if w.shape[0] == w.shape[1]:
            idt, k_idt = _np(net.idt[k_idt]), k_idt + 1
        layers.append(_layer(_np(w), _np(b), idt, "tanh", True, precision))
    layers.append(_layer(_np(net.out_weight), _np(net.out_bias), None, "none", False,
                         precision))
    return {"@class": "FittingNetwork", "@version": 1, "in_dim": dim_in, "out_dim": 1,
            "neuron": list(neuron), "activation_function": "tanh", "resnet_dt": True,
            "precision": precision, "bias_out": True, "layers": layers}


def _collection(ndim: int, ntypes: int, kind: str, networks: list[dict]) -> dict:
    """A ``NetworkCollection`` of ``ntypes ** ndim`` networks."""
    return {"@class": "NetworkCollection", "@version": 1, "ndim": ndim, "ntypes": ntypes,
            "network_type": kind, "networks": networks}


def unsupported_features(model: DeepPot) -> list[str]:
    """What of ``model`` DeePMD-kit's se_e2_a energy model cannot represent (empty: all fine).

    The one case so far: a fitting layer whose width doubles (``n -> 2n``).
    DeePMD-kit's fitting net adds a residual ``[x, x]`` and a timestep there,
    hpcml's does not, and DeePMD-kit rebuilds the net from
    ``model_def_script`` with its own rule when it re-reads a .pth.
    """
    spec = model.spec
    dims = (spec.dim_descrpt, *spec.fitting_neuron)
    return [f"a fitting layer whose width doubles ({a} -> {b}, model.fitting_neuron "
            f"{list(spec.fitting_neuron)} with descriptor width {spec.dim_descrpt}): "
            "DeePMD-kit's fitting net adds a residual [x, x] there, hpcml's does not"
            for a, b in zip(dims, dims[1:]) if b == 2 * a]


def model_dict(model: DeepPot) -> dict:
    """The ``model`` entry of the .dp file for one DeepPot (arrays as numpy).

    Raises
    ------
    ExportError
        Naming each feature DeePMD-kit cannot represent.
    """
    bad = unsupported_features(model)
    if bad:
        raise ExportError("DeePMD-kit cannot represent this model: " + "; ".join(bad)
                          + "; train with other model.fitting_neuron widths to export it")
    spec, prec = model.spec, model.spec.precision
    nt, nnei = spec.ntypes, spec.nnei
    desc = model.descriptor
    if spec.type_one_side:
        nets, ndim = [desc.nets[0][tj] for tj in range(nt)], 1
    else:                           # DeePMD-kit's index of (ti, tj) is ti + tj * ntypes
        nets, ndim = [desc.nets[ti][tj] for tj in range(nt) for ti in range(nt)], 2
    avg, std = _np(desc.avg), _np(desc.std)
    descriptor = {
        "@class": "Descriptor", "type": "se_e2_a", "@version": 2, "rcut": spec.rcut,
        "rcut_smth": spec.rcut_smth, "sel": list(spec.sel), "neuron": list(spec.neuron),
        "axis_neuron": spec.axis_neuron, "resnet_dt": False, "trainable": True,
        "type_one_side": spec.type_one_side, "exclude_types": [], "env_protection": 0.0,
        "set_davg_zero": False, "activation_function": "tanh", "precision": prec,
        "spin": None,
        "env_mat": {"rcut": spec.rcut, "rcut_smth": spec.rcut_smth, "protection": 0.0,
                    "use_exp_switch": False},
        "embeddings": _collection(ndim, nt, "embedding_network",
                                  [_embedding(n, spec.neuron, prec) for n in nets]),
        "@variables": {"davg": np.repeat(avg[:, None, :], nnei, axis=1),
                       "dstd": np.repeat(std[:, None, :], nnei, axis=1)},
        "type_map": list(spec.type_map)}
    fitting = {
        "@class": "Fitting", "@version": 4, "type": "ener", "var_name": "energy", "ntypes": nt,
        "dim_descrpt": spec.dim_descrpt, "neuron": list(spec.fitting_neuron), "resnet_dt": True,
        "numb_fparam": 0, "numb_aparam": 0, "dim_case_embd": 0, "default_fparam": None,
        "rcond": None, "activation_function": "tanh", "precision": prec, "mixed_types": False,
        "exclude_types": [],
        "nets": _collection(1, nt, "fitting_network",
                            [_fitting_net(f, spec.dim_descrpt, spec.fitting_neuron, prec)
                             for f in model.fitting]),
        "@variables": {"bias_atom_e": np.zeros((nt, 1), dtype=prec), "case_embd": None,
                       "fparam_avg": None, "fparam_inv_std": None, "aparam_avg": None,
                       "aparam_inv_std": None},
        "type_map": list(spec.type_map), "tot_ener_zero": False,
        "trainable": [True] * (len(spec.fitting_neuron) + 1), "layer_name": None,
        "use_aparam_as_mask": False, "spin": None, "dim_out": 1, "atom_ener": None}
    bias = _np(model.bias_atom_e).reshape(1, nt, 1)
    return {"@class": "Model", "type": "standard", "@version": 2,
            "type_map": list(spec.type_map), "atom_exclude_types": [],
            "pair_exclude_types": [], "rcond": None, "preset_out_bias": None,
            "@variables": {"out_bias": bias, "out_std": np.ones_like(bias)},
            "descriptor": descriptor, "fitting": fitting}


def model_def_script(model: DeepPot) -> dict:
    """The DeePMD-kit input ``model`` section of the same architecture."""
    spec = model.spec
    return {"type_map": list(spec.type_map),
            "descriptor": {"type": "se_e2_a", "sel": list(spec.sel), "rcut": spec.rcut,
                           "rcut_smth": spec.rcut_smth, "neuron": list(spec.neuron),
                           "axis_neuron": spec.axis_neuron, "resnet_dt": False,
                           "type_one_side": spec.type_one_side, "precision": spec.precision,
                           "seed": spec.seed},
            "fitting_net": {"type": "ener", "neuron": list(spec.fitting_neuron),
                            "resnet_dt": True, "precision": spec.precision, "seed": spec.seed}}


def file_dict(model: DeepPot, source: str = "") -> dict:
    """The whole .dp content: ``model``, ``model_def_script`` and provenance."""
    from hpcml import __version__

    return {"backend": "hpcml", "software": "hpcml", "version": __version__,
            "deepmd_format": DEEPMD_VERSION, "source": source,
            "model": model_dict(model), "model_def_script": model_def_script(model),
            "@variables": {}}
