"""The detail files of ``dp test -d PREFIX`` (DeePMD-kit), written by ``hpcml test --detail``.

Same names, columns, headers and number format as DeePMD-kit 3.x, so its
users' plotting scripts read them unchanged:

- ``PREFIX.e.out``: ``data_e pred_e`` (eV), one row per frame;
- ``PREFIX.e_peratom.out``: the same divided by the frame's atom count;
- ``PREFIX.f.out``: ``data_fx data_fy data_fz pred_fx pred_fy pred_fz``
  (eV/A), one row per atom;
- ``PREFIX.v.out`` and ``PREFIX.v_peratom.out`` (only when the frames carry
  virials): ``data_vxx ... data_vzz pred_vxx ... pred_vzz`` (eV).

As in DeePMD-kit, the names come from ``Path(PREFIX).with_suffix(...)`` (so
a suffix of PREFIX is replaced: ``out.detail`` gives ``out.e.out``); every
system is appended in turn and the header line ``# SYSTEM: columns`` is
written once, by the first system.  Numbers are ``%.18e``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpcml.train.evaluate import SystemPrediction

_V = "vxx vxy vxz vyx vyy vyz vzx vzy vzz".split()
COLUMNS = {
    ".e.out": "data_e pred_e",
    ".e_peratom.out": "data_e pred_e",
    ".f.out": "data_fx data_fy data_fz pred_fx pred_fy pred_fz",
    ".v.out": " ".join([f"data_{v}" for v in _V] + [f"pred_{v}" for v in _V]),
    ".v_peratom.out": " ".join([f"data_{v}" for v in _V] + [f"pred_{v}" for v in _V]),
}


def _save(path: Path, data: np.ndarray, header: str, append: bool) -> None:
    """``np.savetxt`` as DeePMD-kit calls it: header only into an empty file."""
    first = not (append and path.exists() and path.stat().st_size > 0)
    with path.open("a" if append else "w", encoding="utf-8") as fp:
        np.savetxt(fp, data, header=header if first else "")


def write_detail(prefix: str | os.PathLike, systems: Sequence[SystemPrediction]) -> list[Path]:
    """Write the detail files of ``systems``; return the paths written."""
    base = Path(prefix)
    written: dict[Path, None] = {}
    for k, s in enumerate(systems):
        natoms = np.asarray(s.natoms, dtype=float).reshape(-1, 1)
        blocks = {".e.out": s.energy, ".e_peratom.out": s.energy / natoms, ".f.out": s.force}
        if s.virial is not None:
            blocks[".v.out"] = s.virial
            blocks[".v_peratom.out"] = s.virial / natoms
        for suffix, data in blocks.items():
            path = base.with_suffix(suffix)
            _save(path, data, f"{s.system}: {COLUMNS[suffix]}", append=k > 0)
            written[path] = None
    return list(written)
