"""Regenerate the stored CP2K outputs of this directory (real CP2K runs, ~3 s).

    .venv/bin/python tests/data/cp2k/make_outputs.py

Two water molecules (6 atoms) in a 6 A cube, GFN1-xTB from the built-in
template, written by hpcml's own input writer:

* ``converged.log``   forces and the analytical stress tensor
* ``unconverged.log`` MAX_SCF 2: ``SCF run NOT converged``, exit status 0
* ``abort.log``       an unknown element (``Xx``): ``[ABORT]`` box, exit status 1

``structure.json`` holds the cell, coordinates and elements of the inputs.

The logs of a second CP2K generation come from the same stored inputs run by
another binary, here CP2K 2025.1 of Debian trixie in a chroot (made once with
``debootstrap --variant=minbase trixie ROOT`` and ``apt-get install cp2k``
inside it; the host's Debian 12 has CP2K 2023.1 only)::

    .venv/bin/python tests/data/cp2k/make_outputs.py --chroot ROOT

writes ``<case>-<version>.log`` (``converged-2025.1.log``, ...).
"""

import argparse
import json
import os
import re
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


def other_generation(root: Path) -> None:
    """Run the stored inputs with ROOT's ``cp2k.psmp`` (in a chroot); keep the logs."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    for name in CASES:
        with tempfile.TemporaryDirectory(dir=root / "tmp") as tmp:
            shutil.copy(HERE / f"{name}.inp", Path(tmp) / "in.inp")
            inside = "/" + str(Path(tmp).relative_to(root))
            rc = subprocess.run(["chroot", str(root), "sh", "-c",
                                 f"cd {inside} && cp2k.psmp -i in.inp -o out.log"],
                                env=env, capture_output=True).returncode
            text = (Path(tmp) / "out.log").read_text()
        version = re.search(r"CP2K version (\S+)", text).group(1)
        (HERE / f"{name}-{version}.log").write_text(text)
        print(f"{name}-{version}: exit status {rc}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chroot", type=Path, help="run the stored inputs in this root")
    args = parser.parse_args()
    if args.chroot:
        other_generation(args.chroot)
    else:
        main()
