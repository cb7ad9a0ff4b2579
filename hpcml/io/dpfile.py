"""DeePMD-kit's backend-independent model file (``.dp``): read and write.

A ``.dp`` file is HDF5.  Its root attribute ``json`` holds the model as one
JSON object; every array in it (any value below an ``@variables`` key that is
not a dict, a list or null) is stored as a root dataset ``variable_NNNN``
and replaced in the JSON by that dataset's name (``"/variable_0000"``).  This
is the format ``dp convert-backend FILE.dp FILE.pth`` reads and writes
(DeePMD-kit 3.x, ``deepmd.dpmodel.utils.serialization``).

The layout of the model dict itself (``model``, ``model_def_script``, ...)
is the business of :mod:`hpcml.train.deepmd_export` and
:mod:`hpcml.train.deepmd_import`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hpcml.errors import DataError

VARIABLES = "@variables"


def _map_variables(node: Any, fn: Callable[[Any], Any], inside: bool = False) -> Any:
    """Copy of ``node`` with ``fn`` applied to each variable (leaf below ``@variables``)."""
    if isinstance(node, dict):
        return {k: _map_variables(v, fn, inside or k == VARIABLES) for k, v in node.items()}
    if isinstance(node, list):
        return [_map_variables(v, fn, inside) for v in node]
    if node is None or not inside:
        return node
    return fn(node)


def write_dp(path: str | os.PathLike, model: dict) -> Path:
    """Write ``model`` (a dict with numpy arrays below ``@variables``) as a ``.dp`` file.

    Written to a temporary name, then renamed, so a reader never sees half a file.
    """
    import h5py

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    count = iter(range(1 << 30))
    try:
        with h5py.File(tmp, "w") as f:
            def store(value: Any) -> str:
                name = f"variable_{next(count):04d}"
                f.create_dataset(name, data=np.asarray(value))
                return f"/{name}"

            text = json.dumps(_map_variables(model, store), separators=(",", ":"))
            f.attrs["json"] = text
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_dp(path: str | os.PathLike) -> dict:
    """The model dict of a ``.dp`` file, with its variables as numpy arrays.

    Raises
    ------
    DataError
        When the file is missing, not HDF5, or has no model JSON.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: model file not found")
    try:
        with h5py.File(path, "r") as f:
            if "json" not in f.attrs:
                raise DataError(f"{path}: HDF5 file without the 'json' attribute of a "
                                "DeePMD-kit .dp model; write one with `dp convert-backend "
                                "MODEL.pth MODEL.dp`")
            data = json.loads(f.attrs["json"])
            return _map_variables(data, lambda name: np.array(f[name][()]))
    except OSError as exc:
        raise DataError(f"{path}: not an HDF5 file, so not a DeePMD-kit .dp model ({exc}); "
                        "write one with `dp convert-backend MODEL.pth MODEL.dp`") from None
