"""DeePMD-kit ``deepmd/hdf5`` systems: read into, and write from, :class:`Frames`.

The HDF5 twin of :mod:`hpcml.io.deepmd`: a system is a group (or the file's
root) holding datasets ``type.raw`` (natoms,) int and ``type_map.raw``
(ntypes,) bytes, and groups ``set.NNN`` with datasets ``coord.npy``
(nf, natoms*3) Angstrom, ``box.npy`` (nf, 9) Angstrom, and optionally
``energy.npy`` (nf,) eV, ``force.npy`` (nf, natoms*3) eV/Angstrom and
``virial.npy`` (nf, 9) eV.  DeePMD-kit names one system ``FILE.h5#/GROUP``
(``dp test -s FILE.h5#/GROUP``, ``"systems": ["FILE.h5#/GROUP"]``); a file
path alone means every system in it.  A ``nopbc`` dataset marks a system
without a cell, which hpcml cannot use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpcml.errors import DataError
from hpcml.io.deepmd import NPY_NAMES, _formula, _systems
from hpcml.io.frames import Frames
from hpcml.io.keys import ATOM, KEYS


def _h5py():  # noqa: ANN202 (module)
    from hpcml.io.hdf5._h5 import load_h5py

    return load_h5py()


def split_path(path: str | os.PathLike) -> tuple[Path, str]:
    """``"a.h5#/sys"`` -> ``(Path("a.h5"), "/sys")``; no ``#``: the group is ``""``."""
    text = str(path)
    if "#" in text:
        file, group = text.split("#", 1)
        return Path(file), group or "/"
    return Path(text), ""


def system_groups(path: str | os.PathLike) -> list[str]:
    """Names of the groups of ``path`` that are systems (hold ``type.raw``), in order."""
    file, group = split_path(path)
    if group:
        return [group]
    found: list[str] = []
    with _h5py().File(file, "r") as f:
        if "type.raw" in f:
            return ["/"]
        f.visit(lambda name: found.append("/" + name) if name.endswith("type.raw") else None)
    return [name.rsplit("/", 1)[0] or "/" for name in found]


def is_deepmd_hdf5(path: str | os.PathLike) -> bool:
    """Whether the HDF5 file ``path`` (``#group`` allowed) holds DeePMD-kit systems."""
    try:
        return bool(system_groups(path))
    except (OSError, KeyError):
        return False


def _system_arrays(g: object, where: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """type_map and per-frame arrays (hpcml keys) of one system group."""
    if "nopbc" in g:
        raise DataError(f"{where}: a system without a periodic cell (nopbc); hpcml needs one")
    atype = np.asarray(g["type.raw"][()], dtype=np.int32).reshape(-1)
    names = ([n.decode() if isinstance(n, bytes) else str(n) for n in g["type_map.raw"][()]]
             if "type_map.raw" in g else [f"Type_{t}" for t in range(int(atype.max()) + 1)])
    sets = sorted(k for k in g if k.startswith("set."))
    if not sets:
        raise DataError(f"{where}: no set.* groups; not a DeePMD-kit system")
    parts = []
    for s in sets:
        arrays = {}
        nf = g[s]["coord.npy"].shape[0]
        for key, npy in NPY_NAMES.items():
            if f"{npy}.npy" not in g[s]:
                continue
            spec, arr = KEYS[key], np.asarray(g[s][f"{npy}.npy"][()])
            rows = nf * atype.size if spec.per == ATOM else nf
            if arr.size != rows * int(np.prod(spec.shape, dtype=int)):
                raise DataError(f"{where}/{s}/{npy}.npy: shape {arr.shape} does not fit {nf} "
                                f"frames of {atype.size} atoms")
            arrays[key] = arr.reshape(spec.full_shape(rows))
        if "cell" not in arrays:
            raise DataError(f"{where}/{s}: no box.npy; hpcml needs the cell")
        parts.append(arrays)
    keys = set(parts[0])
    if any(set(p) != keys for p in parts):
        raise DataError(f"{where}: the set.* groups hold different arrays")
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    nf = merged["cell"].shape[0]
    merged.update(natoms=np.full(nf, atype.size), atype=np.tile(atype, nf))
    return names, merged


def read_deepmd_hdf5(path: str | os.PathLike,
                     type_map: Sequence[str] | None = None) -> Frames:
    """Frames of one system (``FILE.h5#/GROUP``) or of every system of ``FILE.h5``.

    Raises
    ------
    DataError
        For a file without systems, missing or misshapen arrays, no cell, or
        systems with different labels (naming the group).
    """
    file, _ = split_path(path)
    groups = system_groups(path)
    if not groups:
        raise DataError(f"{file}: no DeePMD-kit system (no type.raw) in this HDF5 file")
    parts = []
    with _h5py().File(file, "r") as f:
        for name in groups:
            if name not in f:
                raise DataError(f"{file}: no group {name!r}; systems: {system_groups(file)}")
            names, arrays = _system_arrays(f[name], f"{file}#{name}")
            parts.append(Frames(names, arrays).with_type_map(type_map or names))
    try:
        return parts[0] if len(parts) == 1 else Frames.concat(parts)
    except ValueError as exc:
        raise DataError(f"{file}: its systems cannot be read as one ({exc}); name one "
                        f"as {file}#{groups[0]}") from None


def write_deepmd_hdf5(frames: Frames, path: str | os.PathLike, set_size: int = 5000) -> list[str]:
    """Write frames as systems (one group per composition) of a new HDF5 file.

    Returns the system names, ``FILE.h5#/000_O64H128`` ..., as DeePMD-kit takes them.
    """
    path = Path(path)
    if path.exists():
        raise DataError(f"{path}: already exists; write to a new file")
    names = []
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with _h5py().File(tmp, "w") as f:
            for k, indices in enumerate(_systems(frames).values()):
                part = frames.select(indices)
                nat = int(part["natoms"][0])
                name = f"{k:03d}_{_formula(part.type_map, part['atype'][:nat])}"
                g = f.create_group(name)
                g.create_dataset("type.raw", data=part["atype"][:nat].astype(np.int64))
                g.create_dataset("type_map.raw", data=np.array(part.type_map, dtype="S"))
                for n, lo in enumerate(range(0, part.n_frames, set_size)):
                    chunk = part.select(slice(lo, lo + set_size))
                    s = g.create_group(f"set.{n:03d}")
                    for key, npy in NPY_NAMES.items():
                        if key in chunk:
                            flat = KEYS[key].per == ATOM or KEYS[key].shape
                            arr = chunk[key].reshape(chunk.n_frames, -1) if flat else chunk[key]
                            s.create_dataset(f"{npy}.npy", data=arr)
                names.append(f"{path}#/{name}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return names
