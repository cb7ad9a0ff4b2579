"""Regenerate the stored CP2K outputs of this directory (real CP2K runs, ~3 s).

    .venv/bin/python tests/data/cp2k/make_outputs.py

Two water molecules (6 atoms) in a 6 A cube, GFN1-xTB from the built-in
template, written by hpcml's own input writer:

* ``converged.log``   forces and the analytical stress tensor
* ``unconverged.log`` MAX_SCF 2: ``SCF run NOT converged``, exit status 0
* ``abort.log``       an unknown element (``Xx``): ``[ABORT]`` box, exit status 1

``structure.json`` holds the cell, coordinates and elements of the inputs.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from hpcml.label.cp2k.input import CP2KTemplate, render_input
from hpcml.label.cp2k.program import find_cp2k
from hpcml.label.templates import builtin_template_path

HERE = Path(__file__).resolve().parent
CELL = np.eye(3) * 6.0
COORD = np.array([[0.0, 0.0, 0.0], [0.757, 0.586, 0.0], [-0.757, 0.586, 0.0],
                  [3.1, 2.8, 3.3], [3.857, 3.386, 3.3], [2.343, 3.386, 3.3]])
SYMBOLS = ["O", "H", "H", "O", "H", "H"]
CASES = {
    "converged": (SYMBOLS, None),
    "unconverged": (SYMBOLS, {"force_eval": {"dft": {"scf": {"max_scf": 2}}}}),
    "abort": (["O", "H", "H", "Xx", "H", "H"], None),
}


def main() -> None:
    program = find_cp2k()
    template = CP2KTemplate.load(builtin_template_path(), program.xml_spec())
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name, (symbols, patch) in CASES.items():
        tree = template.fill(CELL, COORD, symbols, virial=True, patch=patch)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "in.inp").write_text(render_input(tree, template.xmlspec))
            rc = subprocess.run([program.path, "-i", "in.inp", "-o", "out.log"], cwd=tmp,
                                env=env, capture_output=True).returncode
            shutil.copy(Path(tmp) / "out.log", HERE / f"{name}.log")
            shutil.copy(Path(tmp) / "in.inp", HERE / f"{name}.inp")
        print(f"{name}: exit status {rc}")
    (HERE / "structure.json").write_text(json.dumps(
        {"cell": CELL.tolist(), "coord": COORD.tolist(), "symbols": SYMBOLS}, indent=1))


if __name__ == "__main__":
    main()
