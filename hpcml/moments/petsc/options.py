"""The ``-moments_*`` PETSc options: algorithm knobs of the moment solver.

The same mechanism as the kinetic solver's ``-kinetic_*`` options
(:mod:`hpcml.kinetic.petsc.options`, STYLE rule 13): physics in the config,
algorithms in PETSc's options database under the prefix ``moments_``; an
unknown ``-moments_*`` name is an error with a "did you mean".
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from petsc4py import PETSc

from hpcml.kinetic.petsc import options as kinetic
from hpcml.kinetic.petsc.options import PetscOptionError
from hpcml.moments.closure import RELAX
from hpcml.moments.flux import FLUXES
from hpcml.moments.solver import TimeOptions

PREFIX = "moments_"
#: option (without the prefix) -> (type, help)
KNOWN = {
    "ts_cfl": (float, "max|wave speed| dt/dx (default 0.9 x the bound of the limiter: 0.45 "
               "for MC, 0.6 for minmod)"),
    "ts_max_steps": (int, "stop after this many time steps"),
    "ts_relax": (str, f"stiff source step of BGK-like closures, one of {RELAX} (default "
                 "implicit)"),
    "ts_monitor": (bool, "log every step (t, dt) on rank 0"),
    "flux": (str, f"Riemann flux, one of {FLUXES} (default rusanov)"),
}


def parse_words(words: Sequence[str]) -> dict[str, str]:
    """``["-moments_ts_cfl", "0.4"]`` -> ``{"moments_ts_cfl": "0.4"}`` (as the kinetic one)."""
    return kinetic.parse_words(words, PREFIX, KNOWN)


@contextmanager
def moment_options(values: Mapping[str, object]) -> Iterator[None]:
    """Put ``{"moments_ts_cfl": 0.4, ...}`` into PETSc's database while the block runs."""
    with kinetic.kinetic_options(values, PREFIX, KNOWN):
        yield


def time_options() -> TimeOptions:
    """Read the ``-moments_*`` options into :class:`~hpcml.moments.solver.TimeOptions`.

    Raises
    ------
    PetscOptionError
        For a malformed or out-of-range value.
    """
    db = PETSc.Options(PREFIX)
    try:
        cfl = db.getReal("ts_cfl") if db.hasName("ts_cfl") else None
        steps = db.getInt("ts_max_steps") if db.hasName("ts_max_steps") else None
        relax = db.getString("ts_relax", "implicit")
        flux = db.getString("flux", "rusanov")
    except PETSc.Error as exc:
        raise PetscOptionError(f"malformed -{PREFIX}* option: {exc}") from None
    if relax not in RELAX:
        raise PetscOptionError(f"-{PREFIX}ts_relax {relax}: choose one of {RELAX}")
    if flux not in FLUXES:
        raise PetscOptionError(f"-{PREFIX}flux {flux}: choose one of {FLUXES}")
    if cfl is not None and not (math.isfinite(cfl) and cfl > 0):
        raise PetscOptionError(f"-{PREFIX}ts_cfl {cfl:g}: must be a finite number > 0 "
                               "(e.g. 0.4)")
    if steps is not None and steps < 1:
        raise PetscOptionError(f"-{PREFIX}ts_max_steps {steps}: must be >= 1 (leave it out "
                               "for no limit)")
    return TimeOptions(cfl=cfl, max_steps=steps, relax=relax, flux=flux)


def monitor_enabled() -> bool:
    """True when ``-moments_ts_monitor`` is set."""
    return bool(PETSc.Options(PREFIX).getBool("ts_monitor", False))
