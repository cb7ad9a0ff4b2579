"""Extended XYZ: read into, and write from, :class:`Frames` (no ASE needed).

Each frame is a count line, a comment line of ``key=value`` pairs and one
line per atom::

    3
    Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5 pbc="T T T"
    O 0.0 0.0 0.0 0.1 0.0 0.0
    ...

``Lattice`` gives the cell rows (a, b, c) in Angstrom, ``pos`` Angstrom,
``forces`` eV/Angstrom, ``energy`` eV, ``virial`` (9 numbers, row-major) eV;
without ``virial``, ASE's ``stress`` (eV/Angstrom^3, 9 numbers or 6 in Voigt
order) is read as ``virial = -stress * volume``.
The per-frame metadata keys of :mod:`hpcml.io.keys` (``iteration``,
``deviation``, ``system``, ``frame_id``) are read and written as plain
``key=value`` pairs.  Columns other than species, pos and forces are ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from hpcml.errors import DataError
from hpcml.io.frames import Frames
from hpcml.io.keys import KEYS

ELEMENTS = frozenset("""
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu
Zn Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba
La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi
Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds
Rg Cn Nh Fl Mc Lv Ts Og""".split())
_PAIR = re.compile(r"""([A-Za-z_][\w.-]*)(?:\s*=\s*("[^"]*"|'[^']*'|\{[^}]*\}|\S+))?""")
_INFO_KEYS = ("energy", "virial", "iteration", "deviation", "system", "frame_id")
_COLUMNS = {"pos": "coord", "forces": "force", "force": "force"}


def parse_comment(line: str) -> dict[str, str]:
    """``key=value`` pairs of an extxyz comment line (keys lower-cased, unquoted).

    Bare keys (flags) map to ``"T"``.

    Examples
    --------
    >>> parse_comment('Lattice="1 0 0 0 1 0 0 0 1" energy=-2.5 pbc="T T T"')
    {'lattice': '1 0 0 0 1 0 0 0 1', 'energy': '-2.5', 'pbc': 'T T T'}
    """
    pairs = {}
    for match in _PAIR.finditer(line):
        value = match.group(2)
        if value is None:
            value = "T"
        elif value[0] in "\"'{":
            value = value[1:-1]
        pairs[match.group(1).lower()] = value
    return pairs


def _properties(spec: str, where: str) -> list[tuple[str, int, int]]:
    """Columns ``(name, first, stop)`` from a ``Properties`` value."""
    fields = spec.split(":")
    if len(fields) % 3:
        raise DataError(f"{where}: Properties={spec!r} is not name:type:ncols triples")
    columns, first = [], 0
    for name, _, ncols in zip(fields[::3], fields[1::3], fields[2::3]):
        columns.append((name.lower(), first, first + int(ncols)))
        first += int(ncols)
    names = [c[0] for c in columns]
    if "species" not in names or "pos" not in names:
        raise DataError(f"{where}: Properties={spec!r} lacks species or pos; "
                        "write species:S:1:pos:R:3")
    return columns


def _numbers(text: str, count: int, what: str, where: str) -> np.ndarray:
    """Exactly ``count`` floats parsed from ``text``."""
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError:
        values = np.zeros(0)
    if values.size != count:
        raise DataError(f"{where}: {what}={text!r} must be {count} numbers")
    return values


def _info_arrays(info: dict[str, str], where: str) -> dict[str, np.ndarray]:
    """Per-frame arrays (cell, energy, virial, metadata) from the comment line."""
    if "lattice" not in info:
        raise DataError(f"{where}: no Lattice=\"...\" on the comment line; hpcml "
                        "frames need a cell (add Lattice with the 3 cell rows)")
    out = {"cell": _numbers(info["lattice"], 9, "Lattice", where).reshape(3, 3)}
    for key in _INFO_KEYS:
        if key in info:
            spec = KEYS[key]
            size = int(np.prod(spec.shape, dtype=int))
            value = _numbers(info[key], size, key, where).reshape(spec.shape)
            if spec.np_dtype.kind == "i" and not np.all(value == np.round(value)):
                raise DataError(f"{where}: {key}={info[key]!r} must be an integer")
            out[key] = value.astype(spec.dtype)
    if "stress" in info and "virial" not in out:
        out["virial"] = _stress_virial(info["stress"], out["cell"], where)
    return out


def _stress_virial(text: str, cell: np.ndarray, where: str) -> np.ndarray:
    """Virial (3, 3) eV of ASE's ``stress`` (9 numbers, or 6 in Voigt order) eV/A^3.

    ``virial = -stress * volume``, the sign of ASE's stress (and of dpdata).
    """
    try:
        values = np.array(text.replace(",", " ").split(), dtype=np.float64)
    except ValueError:
        values = np.zeros(0)
    if values.size == 6:                    # Voigt: xx yy zz yz xz xy
        xx, yy, zz, yz, xz, xy = values
        values = np.array([xx, xy, xz, xy, yy, yz, xz, yz, zz])
    if values.size != 9:
        raise DataError(f"{where}: stress={text!r} must be 9 numbers (or 6, Voigt order)")
    return -values.reshape(3, 3) * abs(float(np.linalg.det(cell)))


def _atom_arrays(lines: list[str], columns: list, where: str) -> dict:
    """Species list and per-atom arrays of one frame's atom lines."""
    rows = [line.split() for line in lines]
    width = columns[-1][2]
    for i, row in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{where}, atom {i}: {len(row)} columns, Properties "
                            f"declares {width}")
    out: dict = {}
    for name, lo, hi in columns:
        if name == "species":
            out["species"] = [row[lo] for row in rows]
        elif name in _COLUMNS:
            try:
                out[_COLUMNS[name]] = np.array([row[lo:hi] for row in rows], np.float64)
            except ValueError as exc:
                raise DataError(f"{where}: column {name!r} is not numeric ({exc})") from None
    return out


def _frames_of(path: Path) -> Iterator[tuple[str, dict]]:
    """Yield ``(where, arrays)`` for each frame of an extxyz file."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        where = f"{path}, line {i + 1}"
        try:
            natoms = int(lines[i])
        except ValueError:
            raise DataError(f"{where}: expected an atom count, got {lines[i]!r}") from None
        if natoms < 1 or i + 2 + natoms > len(lines):
            raise DataError(f"{where}: frame of {natoms} atoms is empty or truncated")
        info = parse_comment(lines[i + 1])
        arrays = _info_arrays(info, where)
        columns = _properties(info.get("properties", "species:S:1:pos:R:3"), where)
        arrays.update(_atom_arrays(lines[i + 2:i + 2 + natoms], columns, where))
        yield where, arrays
        i += 2 + natoms


def _type_map(species: list[str], type_map: Sequence[str] | None, where: str) -> list:
    """Return the checked type_map: the given one, or the elements in order of appearance."""
    unknown = sorted(set(species) - ELEMENTS)
    if unknown:
        raise DataError(f"{where}: unknown element names {unknown}; use chemical "
                        "symbols such as O, H, Al")
    names = list(dict.fromkeys(species)) if type_map is None else list(type_map)
    missing = sorted(set(species) - set(names))
    if missing:
        raise DataError(f"{where}: elements {missing} are not in type_map {names}; "
                        "add them to type_map")
    return names


def read_extxyz(path: str | os.PathLike, type_map: Sequence[str] | None = None) -> Frames:
    """Read every frame of an extended XYZ file.

    Parameters
    ----------
    path
        The ``.xyz``/``.extxyz`` file.
    type_map
        Element names to index ``atype`` into; default: the elements in order
        of first appearance.

    Returns
    -------
    Frames
        ``cell`` (nf, 3, 3) Angstrom, ``coord`` (na, 3) Angstrom, ``atype``,
        and ``force`` (na, 3) eV/Angstrom, ``energy`` (nf,) eV, ``virial``
        (nf, 3, 3) eV and metadata when every frame has them.

    Raises
    ------
    DataError
        For malformed frames, unknown elements, or frames with different keys.
    """
    frames = list(_frames_of(Path(path)))
    if not frames:
        raise DataError(f"{path}: no frames; not an extended XYZ file")
    keys = set(frames[0][1])
    for where, arrays in frames:
        if set(arrays) != keys:
            raise DataError(f"{where}: carries {sorted(arrays)} but the first frame "
                            f"{sorted(keys)}; every frame needs the same fields")
    species = [s for _, arrays in frames for s in arrays["species"]]
    names = _type_map(species, type_map, str(path))
    merged = {k: np.stack([a[k] for _, a in frames]) if KEYS[k].per == "frame"
              else np.concatenate([a[k] for _, a in frames])
              for k in keys - {"species"}}
    index = {name: i for i, name in enumerate(names)}
    merged["atype"] = np.array([index[s] for s in species], np.int32)
    merged["natoms"] = np.array([len(a["species"]) for _, a in frames])
    return Frames(names, merged)


def _fmt(values: np.ndarray) -> str:
    """Shortest exact decimal text of each number, space-separated."""
    return " ".join(repr(v) for v in np.asarray(values).reshape(-1).tolist())


def _comment(frames: Frames, i: int) -> str:
    """Comment line of frame ``i``."""
    props = "species:S:1:pos:R:3" + (":forces:R:3" if "force" in frames else "")
    parts = [f'Lattice="{_fmt(frames["cell"][i])}"', f"Properties={props}"]
    for key in _INFO_KEYS:
        if key in frames:
            value = _fmt(frames[key][i])
            parts.append(f'{key}="{value}"' if " " in value else f"{key}={value}")
    return " ".join([*parts, 'pbc="T T T"'])


def write_extxyz(frames: Frames, path: str | os.PathLike) -> None:
    """Write frames as extended XYZ (numbers written exactly, shortest repr).

    Parameters
    ----------
    frames
        Frames to write; ``force``, ``energy``, ``virial`` and metadata keys are
        written when present.
    path
        Output file (overwritten).
    """
    names = np.array(frames.type_map)
    lines = []
    for i, atoms in enumerate(frames.atom_slices):
        lines += [str(atoms.stop - atoms.start), _comment(frames, i)]
        cols = [frames["coord"][atoms]] + ([frames["force"][atoms]] if "force" in frames else [])
        table = np.concatenate(cols, axis=1).tolist()
        species = names[frames["atype"][atoms]]
        lines += [f"{s} {' '.join(map(repr, row))}" for s, row in zip(species, table)]
    Path(path).write_text("\n".join(lines) + "\n")
