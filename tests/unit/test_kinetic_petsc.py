"""The DMDA twin on one rank and the -kinetic_* PETSc options."""

import numpy as np
import pytest

pytest.importorskip("petsc4py")

from hpcml.kinetic.grid import CellLayout  # noqa: E402
from hpcml.kinetic.initial import sod  # noqa: E402
from hpcml.kinetic.petsc.options import (  # noqa: E402
    PetscOptionError,
    kinetic_options,
    parse_words,
    time_options,
)
from hpcml.kinetic.petsc.solver import PetscKineticSolver  # noqa: E402
from hpcml.kinetic.solver import KineticSolver, Problem  # noqa: E402


@pytest.mark.parametrize("boundary", [("outflow", "outflow"), ("periodic", "periodic"),
                                      ("wall", "inflow")])
def test_one_rank_twin_is_identical(ctx, boundary):
    lay = CellLayout.make("chu", 24, 6.0)
    problem = Problem(lay, 30, eps=1e-2, boundary=boundary, inflow=(None, (0.5, -0.2, 1.0)))
    a, b = KineticSolver(problem), PetscKineticSolver(problem, None, ctx)
    for s in (a, b):
        s.set_state(*sod(s.x))
        s.run(0.05)
    np.testing.assert_array_equal(a.f, b.f)
    b.destroy()


def test_options_are_read_and_removed():
    with kinetic_options({"ts_cfl": 0.3, "kinetic_ts_max_steps": 7, "ts_relax": "exponential"}):
        opts = time_options()
    assert (opts.cfl, opts.max_steps, opts.relax) == (0.3, 7, "exponential")
    assert time_options().cfl is None


def test_unknown_options_are_errors():
    with pytest.raises(PetscOptionError, match="did you mean -kinetic_ts_cfl"):
        with kinetic_options({"ts_cfll": 0.3}):
            pass
    with pytest.raises(PetscOptionError, match="only -kinetic_"):
        parse_words(["-ksp_type", "cg"])
    assert parse_words(["-kinetic_ts_cfl", "0.4", "-kinetic_ts_monitor"]) == {
        "kinetic_ts_cfl": "0.4", "kinetic_ts_monitor": "true"}
    with pytest.raises(PetscOptionError, match="ts_relax"):
        with kinetic_options({"ts_relax": "magic"}):
            time_options()


def test_max_steps_stops_the_run():
    lay = CellLayout.make("chu", 16, 6.0)
    s = KineticSolver(Problem(lay, 20))
    with kinetic_options({"ts_max_steps": 3}):
        s.options = time_options()
    s.set_state(*sod(s.x))
    summary = s.run(0.2)
    assert summary["steps"] == 3 and "max_steps" in summary["stopped"]
