"""DeePMD-kit ``npy`` systems: read into, and write from, :class:`Frames`.

A system directory holds ``type.raw`` (one type index per atom),
``type_map.raw`` (one element name per line) and ``set.*/`` directories with
``coord.npy`` (nf, natoms*3) Angstrom, ``box.npy`` (nf, 9) Angstrom (rows are
lattice vectors) and optionally ``energy.npy`` (nf,) eV, ``force.npy``
(nf, natoms*3) eV/Angstrom and ``virial.npy`` (nf, 9) eV.  hpcml also writes
its per-frame metadata keys (``iteration.npy``, ...), which DeePMD-kit ignores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpcml.errors import DataError
from hpcml.io.frames import Frames
from hpcml.io.keys import ATOM, KEYS, KeySpec

_log = logging.getLogger(__name__)

#: hpcml key -> npy file name (without ``.npy``), coord first.
NPY_NAMES = {"coord": "coord", "cell": "box", "energy": "energy", "force": "force",
             "virial": "virial", "iteration": "iteration", "deviation": "deviation",
             "system": "system", "frame_id": "frame_id"}
_REQUIRED_NPY = ("coord", "box")


def _read_raw(path: Path, kind: type) -> list:
    """Whitespace-separated items of a ``.raw`` file, converted by ``kind``."""
    try:
        return [kind(item) for item in path.read_text().split()]
    except FileNotFoundError:
        raise DataError(f"{path}: missing; a DeePMD-kit system needs it "
                        "(check the system directory)") from None
    except ValueError as exc:
        raise DataError(f"{path}: malformed ({exc}); one {kind.__name__} "
                        "per line expected") from None


def _load_npy(path: Path) -> np.ndarray:
    """Load one ``.npy`` file, as DataError when unreadable."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: missing; every set.* directory needs it") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read array ({exc}); rewrite the set") from None


def _checked(path: Path, spec: KeySpec, nf: int, natoms: int) -> np.ndarray:
    """Array of ``path`` reshaped to key ``spec`` for ``nf`` frames of ``natoms``."""
    arr = _load_npy(path)
    width = int(np.prod(spec.shape, dtype=int)) * (natoms if spec.per == ATOM else 1)
    if not arr.ndim or arr.shape[0] != nf or arr.size != nf * width:
        raise DataError(f"{path}: array {path.stem!r} has shape {arr.shape}; expected "
                        f"({nf}, {width}) for {nf} frames of {natoms} atoms (type.raw)")
    return arr.reshape(spec.full_shape(nf * natoms if spec.per == ATOM else nf))


def _set_arrays(set_dir: Path, natoms: int) -> dict[str, np.ndarray]:
    """Arrays of one ``set.*`` directory as hpcml keys, shapes checked."""
    coord = _load_npy(set_dir / "coord.npy")
    nf = coord.shape[0] if coord.ndim else 0
    arrays: dict[str, np.ndarray] = {}
    for key, npy in NPY_NAMES.items():
        path = set_dir / f"{npy}.npy"
        if path.exists():
            arrays[key] = _checked(path, KEYS[key], nf, natoms)
        elif npy in _REQUIRED_NPY:
            raise DataError(f"{path}: missing; every set needs {npy}.npy")
    return arrays


def _merge_sets(set_dirs: list[Path], sets: list[dict]) -> dict[str, np.ndarray]:
    """Concatenate the sets' arrays, requiring the same arrays in each set."""
    names = set(sets[0])
    for set_dir, arrays in zip(set_dirs, sets):
        if set(arrays) != names:
            odd = sorted(NPY_NAMES[k] for k in names.symmetric_difference(arrays))
            raise DataError(f"{set_dir}: arrays {odd} are in some sets but not all; "
                            "every set of a system must hold the same arrays")
    return {k: np.concatenate([s[k] for s in sets]) for k in sets[0]}


def read_deepmd_npy(system_dir: str | os.PathLike,
                    type_map: Sequence[str] | None = None) -> Frames:
    """Read one DeePMD-kit npy system.

    Parameters
    ----------
    system_dir
        Directory with ``type.raw``, ``type_map.raw`` and ``set.*/``.
    type_map
        Element names to index ``atype`` into.  With ``type_map.raw`` present
        the frames are re-indexed to it; without, ``type.raw`` indexes it.

    Returns
    -------
    Frames
        ``natoms`` (nf,), ``cell`` (nf, 3, 3), ``coord``/``force`` (nf*natoms, 3),
        ``atype`` (nf*natoms,), ``energy`` (nf,), ``virial`` (nf, 3, 3) as present.

    Raises
    ------
    DataError
        For missing or inconsistent files and arrays, naming file and array.
    """
    system = Path(system_dir)
    atype = np.array(_read_raw(system / "type.raw", int), dtype=np.int32)
    names = (_read_raw(system / "type_map.raw", str)
             if (system / "type_map.raw").exists() or type_map is None else list(type_map))
    if atype.size == 0 or atype.min() < 0 or atype.max() >= len(names):
        raise DataError(f"{system / 'type.raw'}: type indices must be 0..{len(names) - 1}"
                        f" (type_map {names}) and at least one atom is needed")
    set_dirs = sorted(p for p in system.glob("set.*") if p.is_dir())
    if not set_dirs:
        raise DataError(f"{system}: no set.* directories; not a DeePMD-kit npy system")
    arrays = _merge_sets(set_dirs, [_set_arrays(s, atype.size) for s in set_dirs])
    nf = arrays["cell"].shape[0]
    arrays.update(natoms=np.full(nf, atype.size), atype=np.tile(atype, nf))
    frames = Frames(names, arrays)
    return frames if type_map is None else frames.with_type_map(type_map)


def _systems(frames: Frames) -> dict[tuple, list[int]]:
    """Frame indices grouped by composition (natoms and atype), first seen first."""
    groups: dict[tuple, list[int]] = {}
    atype = frames["atype"]
    for i, atoms in enumerate(frames.atom_slices):
        groups.setdefault((atoms.stop - atoms.start, atype[atoms].tobytes()), []).append(i)
    return groups


def _formula(type_map: list[str], atype: np.ndarray) -> str:
    """Chemical formula like ``O64H128`` in type_map order."""
    counts = np.bincount(atype, minlength=len(type_map))
    return "".join(f"{t}{c}" for t, c in zip(type_map, counts) if c)


def _write_system(frames: Frames, out: Path, set_size: int) -> None:
    """Write frames of one composition as a system directory ``out``."""
    if out.exists():
        raise DataError(f"{out}: already exists; write to an empty out_dir")
    nf, nat = frames.n_frames, int(frames["natoms"][0])
    out.mkdir(parents=True)
    (out / "type.raw").write_text("".join(f"{t}\n" for t in frames["atype"][:nat]))
    (out / "type_map.raw").write_text("".join(f"{t}\n" for t in frames.type_map))
    for n, lo in enumerate(range(0, nf, set_size)):
        set_dir = out / f"set.{n:03d}"
        set_dir.mkdir()
        part = frames.select(slice(lo, lo + set_size))
        for key, npy in NPY_NAMES.items():
            if key in part:
                flat = KEYS[key].per == ATOM or KEYS[key].shape
                arr = part[key].reshape(part.n_frames, -1) if flat else part[key]
                np.save(set_dir / f"{npy}.npy", arr)


def write_deepmd_npy(frames: Frames, out_dir: str | os.PathLike,
                     set_size: int = 5000) -> list[Path]:
    """Write frames as DeePMD-kit npy systems, one per distinct natoms + atype.

    Parameters
    ----------
    frames
        Frames to write (units as in :data:`hpcml.io.keys.KEYS`).
    out_dir
        Parent directory; system ``k`` goes to ``out_dir/<kkk>_<formula>``.
    set_size
        Frames per ``set.*`` directory.

    Returns
    -------
    list of Path
        System directories, in order of each composition's first frame.
    """
    out, paths = Path(out_dir), []
    for k, indices in enumerate(_systems(frames).values()):
        part = frames.select(indices)
        path = out / f"{k:03d}_{_formula(part.type_map, part['atype'][:part['natoms'][0]])}"
        _write_system(part, path, set_size)
        paths.append(path)
    _log.info("wrote %d frame(s) as %d DeePMD-kit system(s) in %s",
              frames.n_frames, len(paths), out)
    return paths
