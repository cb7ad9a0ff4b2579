"""CP2K input generation: a template (a CP2K input file) plus one frame's structure.

The template is parsed with cp2k-input-tools against the schema of the
installed CP2K (unknown sections and keywords are errors naming the line and
the nearest valid names), kept as a nested dict, and for each frame the
driver sets ``GLOBAL/PROJECT_NAME``, ``GLOBAL/RUN_TYPE ENERGY_FORCE``,
``SUBSYS/CELL`` (A, B, C rows, Angstrom), ``SUBSYS/COORD`` (element x y z,
Angstrom), ``PRINT/FORCES ON`` and, for virials, ``STRESS_TENSOR
ANALYTICAL`` with ``PRINT/STRESS_TENSOR ON``.  The dict is written back as
input lines by ``CP2KInputGenerator.line_iter``.

Keys are lower-case canonical CP2K names (cp2k-input-tools renames aliases,
e.g. ``PROJECT`` becomes ``project_name``).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hpcml.config.elements import ATOMIC_NUMBER
from hpcml.errors import ConfigError, DataError

_log = logging.getLogger(__name__)

PROJECT = "hpcml"
#: Heaviest element with GFN1-xTB parameters in CP2K (Rn, Z = 86).
XTB_MAX_Z = 86


@lru_cache(maxsize=2)
def _generator(xmlspec: str) -> Any:
    from cp2k_input_tools.generator import CP2KInputGenerator

    return CP2KInputGenerator(xmlspec=xmlspec)


@lru_cache(maxsize=2)
def _parser(xmlspec: str) -> Any:
    from cp2k_input_tools.parser import CP2KInputParserSimplified

    return CP2KInputParserSimplified(xmlspec=xmlspec)


def _line_number(path: Path, line: str | None) -> str:
    """``":N"`` for the first line of ``path`` whose stripped text is ``line``."""
    if not line:
        return ""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if text.strip() == line.strip():
            return f":{number}"
    return ""


def _hint(name: str, exc: Exception, kind: str) -> str:
    """A "did you mean" for an invalid section or keyword, from the parser's context."""
    ctx = exc.args[1] if len(exc.args) > 1 else None
    section = getattr(ctx, "section", None)
    node = getattr(section, "node", None)
    if node is None:
        return ""
    names = [e.text for e in node.iterfind(f"./{kind}/NAME") if e.text]
    close = difflib.get_close_matches(name.upper(), names, n=3)
    where = f" in &{section.name}"
    return where + (f"; did you mean {' or '.join(close)}?" if close else "")


def _template_error(path: Path, exc: Exception) -> ConfigError:
    """ConfigError pointing at the template line that cp2k-input-tools rejected."""
    message = str(exc.args[0]) if exc.args else str(exc)
    ctx = exc.args[1] if len(exc.args) > 1 else None
    where = f"{path}{_line_number(path, getattr(ctx, 'line', None))}"
    match = re.search(r"invalid (section|keyword) '([^']+)'", message)
    hint = _hint(match.group(2), exc, match.group(1).upper()) if match else ""
    return ConfigError(f"{where}: CP2K template: {message}{hint} (checked against the input "
                       "schema of the installed CP2K)")


@dataclass(frozen=True)
class CP2KTemplate:
    """A parsed CP2K input template.

    Attributes
    ----------
    tree
        Nested dict of the template (cp2k-input-tools simplified form).
    source
        Where it came from (file name), for messages.
    xmlspec
        Path of the CP2K input schema used to parse and write it.
    text_hash
        SHA-256 of the canonical JSON of ``tree`` (input provenance).
    """

    tree: dict
    source: str
    xmlspec: str
    text_hash: str

    @classmethod
    def load(cls, path: str | Path, xmlspec: str | Path) -> CP2KTemplate:
        """Parse and validate the template file ``path``.

        Raises
        ------
        ConfigError
            For a missing file, or an unknown section/keyword or invalid value
            (naming the line, the section and close valid names).
        """
        from cp2k_input_tools.parser_errors import ParserError
        from cp2k_input_tools.tokenizer import TokenizerError

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: CP2K template not found (label.template)")
        try:
            with path.open() as fh:
                tree = _parser(str(xmlspec)).parse(fh)
        except (ParserError, TokenizerError) as exc:
            raise _template_error(path, exc) from None
        return cls.from_tree(tree, str(path), xmlspec)

    @classmethod
    def from_tree(cls, tree: dict, source: str, xmlspec: str | Path) -> CP2KTemplate:
        """Wrap an already parsed dict (checked when it is first rendered)."""
        force_eval = tree.get("force_eval")
        if not isinstance(force_eval, dict):
            raise ConfigError(f"{source}: CP2K template needs exactly one &FORCE_EVAL section")
        digest = hashlib.sha256(json.dumps(tree, sort_keys=True, default=str).encode())
        return cls(tree, source, str(xmlspec), digest.hexdigest())

    @property
    def dft(self) -> dict:
        """The ``FORCE_EVAL/DFT`` section (empty dict when absent)."""
        return self.tree["force_eval"].get("dft", {})

    @property
    def is_xtb(self) -> bool:
        """True for ``&QS METHOD xTB``."""
        return str(self.dft.get("qs", {}).get("method", "")).lower() == "xtb"

    @property
    def method(self) -> str:
        """Short name of the level of theory: ``GFN1-xTB``, ``PBE-D3/DZVP-MOLOPT-SR-GTH``."""
        if self.is_xtb:
            gfn = self.dft.get("qs", {}).get("xtb", {}).get("gfn_type", 1)
            return f"GFN{gfn}-xTB"
        xc = self.dft.get("xc", {})
        functional = xc.get("xc_functional", {})
        name = functional.get("_", "") if isinstance(functional, dict) else str(functional)
        name = name or ",".join(k for k in functional if k != "_") or "DFT"
        vdw = xc.get("vdw_potential", {}).get("pair_potential", {}).get("type", "")
        basis = sorted({_basis_names(k)[-1] for k in self.kinds().values() if _basis_names(k)})
        suffix = f"-{str(vdw).upper().replace('DFTD', 'D')}" if vdw else ""
        return f"{name.upper()}{suffix}" + (f"/{','.join(basis)}" if basis else "")

    def kinds(self) -> dict[str, dict]:
        """``&KIND`` sections by element symbol (``ELEMENT`` keyword or the kind name)."""
        raw = self.tree["force_eval"].get("subsys", {}).get("kind", {})
        items = raw if isinstance(raw, list) else [dict(_=k, **v) for k, v in raw.items()]
        if isinstance(raw, dict) and "_" in raw:
            items = [raw]
        out = {}
        for kind in items:
            element = str(kind.get("element", kind.get("_", ""))).capitalize()
            out[re.sub(r"[^A-Za-z].*", "", element)] = kind
        return out

    def check_elements(self, elements: list[str], data_dir: str) -> None:
        """Check every element has parameters and the basis/potential files hold them.

        Raises
        ------
        ConfigError
            Naming the element and what is missing (xTB parameters, a &KIND
            section, a basis/potential file or an entry in it).
        """
        if self.is_xtb:
            bad = [e for e in elements if ATOMIC_NUMBER.get(e, 999) > XTB_MAX_Z]
            if bad:
                raise ConfigError(f"{self.source}: GFN1-xTB in CP2K has no parameters for "
                                  f"{bad} (H to Rn only); use a DFT template")
            return
        kinds = self.kinds()
        missing = [e for e in elements if e not in kinds]
        if missing:
            raise ConfigError(f"{self.source}: no &KIND section for element(s) {missing}; add "
                              "&KIND <El> with BASIS_SET and POTENTIAL to FORCE_EVAL/SUBSYS")
        basis_files = _files(self.dft.get("basis_set_file_name", []), data_dir, self.source)
        pot_files = _files(self.dft.get("potential_file_name", []), data_dir, self.source)
        for element in elements:
            kind = kinds[element]
            for name in _basis_names(kind):
                _require_entry(basis_files, element, name, "basis set", self.source)
            potential = kind.get("potential")
            if potential and not str(potential).upper().startswith("ALL"):
                _require_entry(pot_files, element, str(potential), "potential", self.source)

    def fill(self, cell: np.ndarray, coord: np.ndarray, symbols: list[str],
             virial: bool = False, patch: dict | None = None) -> dict:
        """The template with one frame's structure filled in.

        Parameters
        ----------
        cell
            (3, 3) Angstrom, rows are the lattice vectors.
        coord
            (natoms, 3) Angstrom.
        symbols
            Element of each atom, length natoms (order kept in the input).
        virial
            Ask CP2K for the analytical stress tensor.
        patch
            Nested dict merged over the template first (a retry's settings).
        """
        tree = copy.deepcopy(self.tree)
        if patch:
            deep_merge(tree, patch)
        glob = tree.setdefault("global", {})
        glob.pop("project", None)
        glob.update(project_name=PROJECT, run_type="energy_force")
        fev = tree["force_eval"]
        subsys = fev.setdefault("subsys", {})
        topo = subsys.get("topology", {})
        for key in ("coord_file_name", "coord_file_format"):
            topo.pop(key, None)
        periodic = subsys.get("cell", {}).get("periodic", "xyz")
        a, b, c = (np.asarray(cell, float).reshape(3, 3)).tolist()
        subsys["cell"] = {"a": a, "b": b, "c": c, "periodic": periodic}
        subsys["coord"] = {"*": [f"{s} {x:.10f} {y:.10f} {z:.10f}"
                                 for s, (x, y, z) in zip(symbols, np.asarray(coord, float))]}
        prints = fev.setdefault("print", {})
        prints["forces"] = {"_": "ON"}
        if virial:
            if str(fev.get("stress_tensor", "none")).lower() == "none":
                fev["stress_tensor"] = "analytical"
            prints["stress_tensor"] = {"_": "ON"}
        return tree


def _basis_names(kind: dict) -> list[str]:
    """Basis set names of a &KIND (``BASIS_SET [ORB] name``, possibly repeated)."""
    value = kind.get("basis_set")
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    names = []
    for item in values:
        words = item if isinstance(item, list) else str(item).split()
        names.append(str(words[-1]))
    return names


def _files(value: Any, data_dir: str, source: str) -> list[Path]:
    """Resolve basis/potential file names (bare names are looked up in ``data_dir``)."""
    names = value if isinstance(value, list) else [value]
    paths = []
    for name in (str(n) for n in names):
        path = Path(name) if Path(name).is_absolute() else Path(data_dir) / name
        if not path.is_file():
            raise ConfigError(f"{source}: basis/potential file {name!r} not found (looked for "
                              f"{path}); CP2K finds bare names in its data directory "
                              f"{data_dir} (set CP2K_DATA_DIR to change it)")
        paths.append(path)
    return paths


@lru_cache(maxsize=16)
def _entries(path: Path) -> frozenset[tuple[str, str]]:
    """``(element, name)`` of every entry header line of a basis/potential file."""
    found = set()
    for line in path.read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].capitalize() in ATOMIC_NUMBER:
            for word in words[1:]:
                found.add((words[0].capitalize(), word.upper()))
    return frozenset(found)


def _require_entry(files: list[Path], element: str, name: str, what: str, source: str) -> None:
    """Raise ConfigError unless one of ``files`` lists ``name`` for ``element``."""
    if not files:
        raise ConfigError(f"{source}: element {element} uses {what} {name!r} but the template "
                          f"names no {what} file (BASIS_SET_FILE_NAME / POTENTIAL_FILE_NAME)")
    if not any((element, name.upper()) in _entries(f) for f in files):
        listed = ", ".join(str(f) for f in files)
        raise ConfigError(f"{source}: {what} {name!r} for element {element} is not in {listed}")


def deep_merge(base: dict, patch: dict) -> dict:
    """Merge ``patch`` into ``base`` in place (nested dicts merged, other values replaced)."""
    for key, value in patch.items():
        key = str(key).lower()
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def warm_up(xmlspec: str | Path) -> None:
    """Load the input writer for ``xmlspec`` now (about 2 s), not inside the first task."""
    _generator(str(xmlspec))


def render_input(tree: dict, xmlspec: str | Path, source: str = "template") -> str:
    """CP2K input text of ``tree`` (checked against the schema while writing).

    Raises
    ------
    ConfigError
        When the generator rejects a section, keyword or value.
    """
    try:
        lines = list(_generator(str(xmlspec)).line_iter(tree))
    except Exception as exc:  # noqa: BLE001 (cp2k-input-tools raises many types)
        raise ConfigError(f"{source}: cannot write CP2K input: {type(exc).__name__}: {exc}; "
                          "check the template and label.retries patches") from None
    return "\n".join(lines) + "\n"


def check_cells(cells: np.ndarray) -> None:
    """Raise DataError for frames without a usable periodic cell.

    Parameters
    ----------
    cells
        (nf, 3, 3) Angstrom.
    """
    volume = np.abs(np.linalg.det(np.asarray(cells, float).reshape(-1, 3, 3)))
    bad = np.flatnonzero(~(volume > 1e-6))
    if bad.size:
        raise DataError(f"frames {bad[:10].tolist()}{'...' if bad.size > 10 else ''} have no "
                        "cell (zero volume); CP2K labeling needs the periodic cell of each "
                        "frame (give the candidates a cell, e.g. Lattice= in extxyz)")
