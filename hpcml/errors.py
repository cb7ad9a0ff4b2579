"""Exception types shared by all of hpcml.

:class:`UserError` and its subclasses describe bad input (a config key, a data
file, a missing program).  The CLI reports them as one clear message naming
the file, the key and the fix, without a Python traceback, and exits with
status 2.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: reported as its message alone."""


class ConfigError(UserError):
    """An invalid configuration file or value."""


class DataError(UserError):
    """A data file that is missing, malformed or inconsistent."""


class NotBuiltError(UserError):
    """A capability of hpcml that does not exist yet."""


#: optional third-party modules -> what installs them (the pip extra, or the package)
OPTIONAL_MODULES = {
    "matplotlib": "pip install matplotlib (a dependency of hpcml; Debian: python3-matplotlib)",
    "ase": "pip install 'hpcml[ase]' (Debian: python3-ase)",
    "scipy": "pip install 'hpcml[scipy]' (Debian: python3-scipy)",
    "horovod": "bash launch/build-horovod.sh (or HPCML_EXTRAS=test,horovod make install)",
    "petsc4py": "apt-get install python3-petsc4py, or module load petsc and pip install "
                "petsc4py (docs/install.md)",
    "h5py": "apt-get install python3-h5py-mpi, or build h5py against parallel HDF5 "
            "(docs/install.md)",
}


class MissingDependencyError(UserError):
    """An optional third-party module that a command needs is not installed."""


def missing_dependency(exc: BaseException, what: str = "this command") -> UserError | None:
    """The user-facing error for ``exc`` when it is a missing optional module, else None.

    >>> err = missing_dependency(ModuleNotFoundError("No module", name="ase.io"), "convert")
    >>> str(err).split(":")[0]
    'convert needs ase, which is not installed'
    >>> missing_dependency(ModuleNotFoundError("No module", name="numpy")) is None
    True
    """
    if not isinstance(exc, ModuleNotFoundError):
        return None
    top = (exc.name or "").split(".")[0]
    if top not in OPTIONAL_MODULES:
        return None
    return MissingDependencyError(f"{what} needs {top}, which is not installed: "
                                  f"{OPTIONAL_MODULES[top]}")
