"""Train an ensemble of Deep Potential (DeepPot-SE) models.

``hpcml train CONFIG`` reads the ``data``, ``model`` and ``train`` sections;
under ``mpirun -n N`` the ranks are split among the ensemble members and each
member trains data-parallel over its ranks.  Writes ``OUT/ensemble.pt`` (all
members), ``OUT/member_<k>/lcurve.out`` and checkpoints; re-running the same
command continues from the checkpoints.  The inputs (architecture, ``rcut``,
steps, data, ...) are recorded in ``OUT/inputs.json``; a rerun with other
inputs is refused, naming them, unless ``--continue-changed`` (not for another
architecture) or ``--force`` (start afresh).
"""

from __future__ import annotations

import argparse
import json

from hpcml.cli.common import add_config_argument, pathname
from hpcml.cli.outputs import add_output_options

#: what ``hpcml train`` writes in its output directory (deleted by --force)
OUTPUTS = ("ensemble.pt", "member_*")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the training options (each overrides the config)."""
    add_config_argument(parser)
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per model")
    parser.add_argument("--models", type=int, default=None, help="ensemble members")
    parser.add_argument("--precision", choices=["float64", "float32"], default=None)
    parser.add_argument("--backend", choices=["mpi4py", "horovod", "torch"], default=None,
                        help="gradient averaging across the ranks of a member")
    parser.add_argument("--out", type=pathname, default=None, help="output directory")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the results as the last line")
    add_output_options(parser)


def _claim(config, args: argparse.Namespace) -> str:  # noqa: ANN001
    """Rank 0: record or check the training inputs in the output directory."""
    from hpcml.cli.outputs import claim_output_dir
    from hpcml.workflow.rundir import real_paths

    inputs = real_paths({
        "model": config.model.model_dump(mode="json"), "type_map": config.data.type_map,
        "systems": [str(p) for p in config.data.systems], "format": config.data.format,
        "train": config.train.model_dump(mode="json", exclude={"out", "backend"})})
    return claim_output_dir(config.train.out, inputs, "hpcml train", force=args.force,
                            continue_changed=args.continue_changed, outputs=OUTPUTS,
                            fixed=("model", "type_map"), what="training output directory")


def apply_overrides(config, args: argparse.Namespace, source: str = "config"):  # noqa: ANN001, ANN201
    """Return ``config`` with the command-line overrides applied (validated again)."""
    from hpcml.cli.overrides import apply_overrides as apply

    return apply(config, source, {
        "--steps": (("train", "steps"), args.steps),
        "--models": (("train", "n_models"), args.models),
        "--backend": (("train", "backend"), args.backend),
        "--out": (("train", "out"), args.out),
        "--precision": (("model", "precision"), args.precision)})


def model_spec(config):  # noqa: ANN001, ANN201
    """The :class:`DeepPotSpec` of a config's ``model`` and ``data.type_map``."""
    from hpcml.errors import ConfigError
    from hpcml.molecular.spec import DeepPotSpec

    m = config.model
    if config.data is None:
        raise ConfigError("the config has no data section: set data.type_map (the elements, "
                          "e.g. [O, H]) and data.systems or loop.init (see inputs/demo.yaml)")
    if len(m.sel) != len(config.data.type_map):
        raise ConfigError(f"model.sel {m.sel} needs one entry per element of data.type_map "
                          f"{config.data.type_map}")
    return DeepPotSpec(type_map=tuple(config.data.type_map), rcut=m.rcut, rcut_smth=m.rcut_smth,
                       sel=tuple(m.sel), neuron=tuple(m.neuron), axis_neuron=m.axis_neuron,
                       fitting_neuron=tuple(m.fitting_neuron), type_one_side=m.type_one_side,
                       precision=m.precision)


def run(args: argparse.Namespace) -> int:
    """Train the ensemble; rank 0 prints where it went."""
    from hpcml.cli.common import parallel_job
    from hpcml.config import load_config
    from hpcml.errors import ConfigError
    from hpcml.parallel import root_call
    from hpcml.train.ensemble import train_ensemble

    config = apply_overrides(load_config(args.config), args, str(args.config))
    if config.data is None or not config.data.systems:
        raise ConfigError(f"{args.config}: no data.systems; training needs data.systems "
                          "and data.type_map")
    with parallel_job(args, config) as ctx:
        root_call(ctx, _claim, config, args)
        result = train_ensemble(ctx, model_spec(config), config.train,
                                list(config.data.systems), config.data.format)
        if ctx.is_root:
            print(f"hpcml train: wrote {result['path']}")
            if args.json:
                print(json.dumps({"path": str(result["path"]), "metrics": result["metrics"],
                                  "seconds_per_step": result["seconds_per_step"]}))
    return 0
