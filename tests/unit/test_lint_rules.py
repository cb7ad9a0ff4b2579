"""The ruff configuration enforces STYLE.md's import and print rules."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")


def ruff_codes(path, source):
    ruff = str(RUFF) if RUFF.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    proc = subprocess.run(
        [ruff, "check", "--output-format", "concise", "--stdin-filename", path, "-"],
        input=source, capture_output=True, text=True, cwd=ROOT, check=False,
    )
    return proc.stdout


@pytest.mark.parametrize("module", ["mpi4py", "h5py", "torch.distributed", "petsc4py"])
def test_physics_code_may_not_import_parallel_libraries(module):
    source = f'"""Kernel."""\n\nimport {module}\n\n__all__ = ["{module}"]\n'
    assert "TID251" in ruff_codes("hpcml/molecular/kernel.py", source)


@pytest.mark.parametrize("path", ["hpcml/parallel/x.py", "hpcml/io/hdf5/x.py", "hpcml/cli/x.py"])
def test_allowed_directories_may_import_mpi(path):
    source = '"""Glue."""\n\nimport mpi4py\n\n__all__ = ["mpi4py"]\n'
    assert "TID251" not in ruff_codes(path, source)


def test_library_code_may_not_print():
    source = '"""Kernel."""\n\n\ndef f() -> None:\n    """Do it."""\n    print("x")\n'
    assert "T201" in ruff_codes("hpcml/kinetic/kernel.py", source)
    assert "T201" not in ruff_codes("hpcml/cli/x.py", source)


def test_docstrings_are_required():
    assert "D103" in ruff_codes("hpcml/train/x.py", '"""M."""\n\n\ndef f() -> None:\n    pass\n')
