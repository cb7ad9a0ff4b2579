"""The one place that imports h5py, choosing its serial or MPI build.

Debian ships two h5py builds behind one ``h5py`` package and picks the MPI
build at import time only when ``OMPI_COMM_WORLD_SIZE`` (set by ``mpirun``)
or ``H5PY_ALWAYS_USE_MPI`` is in the environment.  :func:`load_h5py` sets
``H5PY_ALWAYS_USE_MPI`` for the duration of the import when the caller asks
for the MPI build and mpi4py imports (``mpi4py.MPI`` is imported first).
Once imported, the build cannot change within the process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from types import ModuleType

from hpcml.errors import UserError

_log = logging.getLogger(__name__)
_ENV = "H5PY_ALWAYS_USE_MPI"


class HDF5SetupError(UserError, ImportError):
    """h5py is missing, or lacks the MPI support that was asked for."""


def _mpi4py_importable() -> bool:
    """Return True when mpi4py is installed (without importing it)."""
    return importlib.util.find_spec("mpi4py") is not None


def _import_with_mpi_build() -> ModuleType:
    """Import h5py with ``H5PY_ALWAYS_USE_MPI`` set, restoring the environment."""
    import mpi4py.MPI  # noqa: F401  (MPI must be initialized before h5py's MPI build)

    previous = os.environ.get(_ENV)
    os.environ[_ENV] = "1"
    try:
        import h5py
    finally:
        if previous is None:
            del os.environ[_ENV]
    return h5py


def load_h5py(prefer_mpi: bool = False) -> ModuleType:
    """Import and return h5py.

    Parameters
    ----------
    prefer_mpi
        Ask for the MPI build when h5py is not imported yet and mpi4py is
        installed.  The returned module may still be serial; check
        :func:`has_mpio`.

    Raises
    ------
    HDF5SetupError
        When h5py is not installed.
    """
    try:
        if prefer_mpi and "h5py" not in sys.modules and _mpi4py_importable():
            return _import_with_mpi_build()
        import h5py
    except ImportError as exc:
        raise HDF5SetupError(
            "h5py is not installed: install the system's parallel build "
            "(Debian: apt install python3-h5py-mpi; clusters: the site's h5py "
            "module) and make the venv with --system-site-packages"
        ) from exc
    return h5py


def has_mpio(h5py: ModuleType) -> bool:
    """Return True when ``h5py`` was built against parallel HDF5 (``driver='mpio'``)."""
    return bool(h5py.get_config().mpi)


def require_mpio() -> ModuleType:
    """Return h5py's MPI build, or raise a clear error.

    Raises
    ------
    HDF5SetupError
        When h5py is missing, was built without MPI, or was already imported as
        its serial build in this process.
    """
    h5py = load_h5py(prefer_mpi=True)
    if has_mpio(h5py):
        return h5py
    raise HDF5SetupError(
        f"writer 'mpio' needs h5py built with parallel HDF5, but {h5py.__file__} "
        "is a serial build. Install python3-h5py-mpi, run under mpirun (or set "
        f"{_ENV}=1 before anything imports h5py), or use writer='gather'"
    )
