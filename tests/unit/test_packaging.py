"""Packaging: every third-party module hpcml imports is declared (dependency, extra, or a
system package named in pyproject's comments and hpcml.errors.OPTIONAL_MODULES); optional
ones fail with the install line; LICENSE, CITATION.cff and CHANGELOG.md agree with the
metadata."""

import ast
import re
import sys
from pathlib import Path

import pytest
import tomllib

import hpcml
from hpcml.cli.main import main
from hpcml.errors import OPTIONAL_MODULES

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: import name -> distribution name where they differ
DIST = {"yaml": "pyyaml", "cp2k_input_tools": "cp2k-input-tools", "pydantic_core": "pydantic"}
#: system packages pip must not replace (Debian's MPI builds; see pyproject's comment)
SYSTEM = {"h5py", "petsc4py"}


def requirement_names(specs):
    return {re.split(r"[<>=!~\[; ]", s, maxsplit=1)[0].lower() for s in specs}


def imported_modules():
    found = {}
    for path in (ROOT / "hpcml").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "hpcml" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_module_is_declared():
    required = requirement_names(PYPROJECT["dependencies"])
    extras = {n for specs in PYPROJECT["optional-dependencies"].values()
              for n in requirement_names(specs)}
    undeclared = {m: where for m, where in imported_modules().items()
                  if DIST.get(m, m).lower() not in required | extras | SYSTEM}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    optional = {m for m in imported_modules() if DIST.get(m, m).lower() not in required}
    assert optional <= set(OPTIONAL_MODULES), optional - set(OPTIONAL_MODULES)
    assert {"ase", "scipy"} <= set(PYPROJECT["optional-dependencies"])
    assert "matplotlib" in required          # `hpcml run` draws its report at the end


def test_a_missing_optional_module_names_the_install(tmp_path, monkeypatch, capsys):
    (tmp_path / "x.cif").write_text("data_x\n")
    for name in [m for m in sys.modules if m == "ase" or m.startswith("ase.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ase", None)      # import ase -> ModuleNotFoundError
    rc = main(["convert", str(tmp_path / "x.cif"), str(tmp_path / "out.h5")])
    assert rc == 2 and "pip install 'hpcml[ase]'" in capsys.readouterr().err
    monkeypatch.delitem(sys.modules, "hpcml.molecular.calculator", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"needs ASE: pip install 'hpcml\[ase\]'"):
        import hpcml.molecular.calculator  # noqa: F401
    from hpcml.errors import DataError
    from hpcml.explore.system import atomic_masses

    assert atomic_masses(["O", "H"]).shape == (2,)      # hpcml's own table
    with pytest.raises(DataError, match="no mass for Xe"):
        atomic_masses(["Xe"])


def test_license_citation_changelog_agree_with_the_metadata():
    assert PYPROJECT["license"]["text"] == "LGPL-3.0-or-later"
    text = (ROOT / "LICENSE").read_text()
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "COPYING").read_text()   # LGPL extends it
    cff = (ROOT / "CITATION.cff").read_text()
    assert f"version: {hpcml.__version__}" in cff and "license: LGPL-3.0-or-later" in cff
    assert "cff-version: 1.2.0" in cff
    assert re.search(rf"^## \[?{re.escape(hpcml.__version__)}\]?", (ROOT / "CHANGELOG.md")
                     .read_text(), re.M)
