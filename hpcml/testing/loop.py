"""A tiny concurrent-learning run (8 water molecules, GFN1-xTB labels) for tests.

The loop takes about half a minute on one core: 3 perturbed initial frames,
two 2-member iterations of 30 MD steps, one check frame.
"""

from __future__ import annotations

from pathlib import Path

from hpcml.explore.perturb import water_box
from hpcml.io import Frames
from hpcml.io.extxyz import write_extxyz

#: The config (paths relative to its directory).
CONFIG = """
run: {workdir: run, seed: 0}
data: {type_map: [O, H]}
model: {rcut: 3.5, rcut_smth: 0.5, sel: [16, 32], neuron: [4, 8], axis_neuron: 2,
        fitting_neuron: [16, 16]}
train: {steps: 150, n_models: 2, decay_steps: 50, disp_freq: 50, save_freq: 25, stop_lr: 1.0e-4,
        validation_fraction: 0.2}
md: {dt: 0.5, model_devi_freq: 5, trust_lo: 0.02, trust_hi: 50.0, max_candidates: 2,
     traj_freq: 10, checkpoint_freq: 10, tau_t: 20.0}
label: {timeout: 120, scratch: delete, ratio_failed: 0.5}
loop:
  max_iterations: 2
  converge_fraction: 1.0
  finetune_steps: 50
  init: {mode: perturb, structures: [box.xyz], n_perturbed: 3, atom_perturb: 0.05}
  schedule: [{temperatures: [300.0], steps: 30}]
  max_candidates: 2
  check_frames: 1
"""


def make_run(path: Path) -> Path:
    """Write ``path/box.xyz`` (8 water molecules) and ``path/tiny.yaml``; return the config."""
    path.mkdir(parents=True, exist_ok=True)
    s = water_box(2, seed=3)
    write_extxyz(Frames(s.type_map, {"natoms": [s.n_atoms], "cell": s.cell[None],
                                     "coord": s.positions, "atype": s.types}), path / "box.xyz")
    (path / "tiny.yaml").write_text(CONFIG)
    return path / "tiny.yaml"
