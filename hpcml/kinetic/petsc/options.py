"""The ``-kinetic_*`` PETSc options: algorithm knobs of the kinetic solver (and its kernels).

Physics lives in the hpcml config; algorithms go through PETSc's options
database with the prefix ``kinetic_`` (STYLE rule 13).  Any ``-kinetic_*``
option that is not one of :data:`KNOWN` is an error, not silently ignored.
The helpers take ``prefix`` and ``known`` for other solvers' tables (the
moment solver's ``-moments_*``, :mod:`hpcml.moments.petsc.options`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from petsc4py import PETSc

from hpcml.errors import UserError
from hpcml.kinetic.bgk import RELAX
from hpcml.kinetic.native import CHOICES
from hpcml.kinetic.solver import TimeOptions

PREFIX = "kinetic_"
#: option (without the prefix) -> (type, help)
KNOWN = {
    "ts_cfl": (float, "max|v_x| dt/dx (default 0.9 x the positivity limit of the limiter)"),
    "ts_max_steps": (int, "stop after this many time steps"),
    "ts_relax": (str, f"BGK relaxation, one of {RELAX} (default implicit)"),
    "ts_monitor": (bool, "log every step (t, dt) on rank 0"),
    "kernels": (str, f"hot kernels, one of {CHOICES}: auto = the fused C kernels when a C "
                "compiler builds them, else numpy (default auto)"),
}

#: the largest whole-number option value (PETSc's 32-bit PetscInt)
INT_MAX = 2**31 - 1


class PetscOptionError(UserError):
    """An unknown or malformed ``-kinetic_*`` option."""


def parse_words(words: Sequence[str], prefix: str = PREFIX,
                known: Mapping[str, tuple] = KNOWN) -> dict[str, str]:
    """``["-kinetic_ts_cfl", "0.4", "-kinetic_ts_monitor"]`` -> ``{"kinetic_ts_cfl": "0.4", ...}``.

    Raises
    ------
    PetscOptionError
        For a word that is not an option name or its value, or an option
        outside the ``-kinetic_`` prefix.
    """
    out: dict[str, str] = {}
    key = None
    for word in words:
        if word.startswith("-") and not _is_number(word):
            name = word.lstrip("-")
            if not name.startswith(prefix):
                raise PetscOptionError(
                    f"PETSc option {word!r}: only -{prefix}* options are taken here "
                    f"(known: {', '.join('-' + prefix + k for k in known)})")
            key = name
            out[key] = "true"
        elif key is not None and out[key] == "true":
            out[key] = word
        else:
            raise PetscOptionError(f"stray word {word!r} among the PETSc options "
                                   f"({' '.join(words)})")
    return out


def _is_number(word: str) -> bool:
    """True for a negative number (a value, not an option)."""
    try:
        float(word)
    except ValueError:
        return False
    return True


def check_names(names: Sequence[str], prefix: str = PREFIX,
                known: Mapping[str, tuple] = KNOWN) -> None:
    """Raise :class:`PetscOptionError` for any ``prefix`` name (``kinetic_*``) not ``known``."""
    for name in names:
        key = name[len(prefix):] if name.startswith(prefix) else name
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"; did you mean -{prefix}{close[0]}?" if close else ""
            raise PetscOptionError(
                f"unknown PETSc option -{prefix}{key}{hint} (known: "
                f"{', '.join('-' + prefix + k for k in known)})")


@contextmanager
def kinetic_options(values: Mapping[str, object], prefix: str = PREFIX,
                    known: Mapping[str, tuple] = KNOWN) -> Iterator[None]:
    """Put ``{"kinetic_ts_cfl": 0.4, ...}`` (or names without the prefix) into PETSc's database.

    Everything with the prefix already in the database (e.g. from the
    command line of ``petsc4py.init``) is checked too.  The inserted values
    are removed on exit.
    """
    db = PETSc.Options()
    names = [n if n.startswith(prefix) else prefix + n for n in values]
    check_names(names, prefix, known)
    checked = [_checked(name[len(prefix):], value, prefix, known)
               for name, value in zip(names, values.values())]
    for name, value in zip(names, checked):
        db[name] = _petsc_value(value)
    try:
        check_names([k for k in db.getAll() if k.startswith(prefix)], prefix, known)
        yield
    finally:
        for name in names:
            db.delValue(name)


def _checked(key: str, value: object, prefix: str = PREFIX,
             known: Mapping[str, tuple] = KNOWN) -> object:
    """The value of a numeric option as PETSc reads it, or :class:`PetscOptionError`.

    Checked here, because PETSc prints its error stack for a malformed number.
    """
    kind = known[key][0]
    if kind not in (int, float) or isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise PetscOptionError(f"-{prefix}{key} {text}: not a number") from None
    if kind is float:
        return value
    if not number.is_integer():
        raise PetscOptionError(f"-{prefix}{key} {text}: not a whole number")
    if abs(number) > INT_MAX:
        raise PetscOptionError(f"-{prefix}{key} {text}: too large (at most {INT_MAX})")
    return int(number)


def _petsc_value(value: object) -> str:
    """PETSc's spelling of a Python value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def time_options() -> TimeOptions:
    """Read the ``-kinetic_ts_*`` options into :class:`TimeOptions`.

    Raises
    ------
    PetscOptionError
        For a malformed value.
    """
    db = PETSc.Options(PREFIX)
    try:
        cfl = db.getReal("ts_cfl") if db.hasName("ts_cfl") else None
        steps = db.getInt("ts_max_steps") if db.hasName("ts_max_steps") else None
        relax = db.getString("ts_relax", "implicit")
        kernels = db.getString("kernels", "auto")
    except PETSc.Error as exc:
        raise PetscOptionError(f"malformed -{PREFIX}ts_* option: {exc}") from None
    if relax not in RELAX:
        raise PetscOptionError(f"-{PREFIX}ts_relax {relax}: choose one of {RELAX}")
    if kernels not in CHOICES:
        raise PetscOptionError(f"-{PREFIX}kernels {kernels}: choose one of {CHOICES}")
    if cfl is not None and not (math.isfinite(cfl) and cfl > 0):
        raise PetscOptionError(f"-{PREFIX}ts_cfl {cfl:g}: must be a finite number > 0 "
                               "(e.g. 0.4)")
    if steps is not None and steps < 1:
        raise PetscOptionError(f"-{PREFIX}ts_max_steps {steps}: must be >= 1 (leave it out "
                               "for no limit)")
    return TimeOptions(cfl=cfl, max_steps=steps, relax=relax, kernels=kernels)


def monitor_enabled() -> bool:
    """True when ``-kinetic_ts_monitor`` is set."""
    return bool(PETSc.Options(PREFIX).getBool("ts_monitor", False))
