"""Domain decomposition on one rank: the MPI suite's tests on SerialComm and size-1 MPI.

``tests/mpi/test_domain_mpi.py`` holds the checks; they are collected here
again with a one-rank ``ctx`` (so the parallel code path also runs under plain
pytest), next to tests of the pure geometry.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hpcml.errors import UserError
from hpcml.parallel import Context
from hpcml.parallel.domain import Domain, DomainError, cell_heights, check_grid, choose_grid
from hpcml.testing.potentials import lennard_jones, lennard_jones_extended, pairs_within


def _load_mpi_checks():
    path = Path(__file__).resolve().parents[1] / "mpi" / "test_domain_mpi.py"
    spec = importlib.util.spec_from_file_location("_domain_mpi_checks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_checks = _load_mpi_checks()
globals().update({name: getattr(_checks, name) for name in dir(_checks)
                  if name.startswith("test_")})


def test_heights_of_a_triclinic_cell():
    cell = np.array([[10.0, 0, 0], [5.0, 10.0, 0], [0, 0, 7.0]])
    # the face spanned by a and c is 10 apart along y; the face spanned by b and c is
    # the distance from a to the b line: 10 * sin(angle(a, b)) = 10 * 10 / |b|
    np.testing.assert_allclose(cell_heights(cell), [100 / np.hypot(5, 10), 10.0, 7.0])


@pytest.mark.parametrize(("cell", "size", "grid"), [
    (np.eye(3) * 30, 1, (1, 1, 1)),
    (np.eye(3) * 30, 2, (2, 1, 1)),
    (np.eye(3) * 30, 4, (2, 2, 1)),
    (np.eye(3) * 30, 8, (2, 2, 2)),
    (np.diag([20.0, 20.0, 80.0]), 4, (1, 1, 4)),
    (np.diag([20.0, 60.0, 20.0]), 2, (1, 2, 1)),
    (np.diag([20.0, 60.0, 40.0]), 6, (1, 3, 2)),
])
def test_choose_grid_follows_the_cell_shape(cell, size, grid):
    assert choose_grid(cell, 5.0, size) == grid


def test_choose_grid_skips_thin_sub_domains():
    # 4 ranks along z would give 6.5 A slabs < 7 A: the long axis cannot take them all
    assert choose_grid(np.diag([15.0, 15.0, 26.0]), 7.0, 4) == (2, 1, 2)


def test_no_grid_fits():
    with pytest.raises(DomainError, match=r"allow at most 2 x 2 x 2 = 8 ranks; run at most 8"):
        choose_grid(np.eye(3) * 20.0, 9.5, 16)


def test_grid_errors_are_user_errors():
    assert issubclass(DomainError, UserError)
    with pytest.raises(DomainError, match="three positive integers"):
        check_grid(np.eye(3) * 30, 5.0, (2, 0, 1), 2)
    with pytest.raises(DomainError, match=r"along z: cell height 20 A / 4 rank\(s\) = 5 A "
                                          r"< ghost_cutoff 6 A.*at most 3 rank\(s\) along z"):
        check_grid(np.eye(3) * 20, 6.0, (1, 1, 4), 4)
    with pytest.raises(DomainError, match="non-zero volume"):
        Domain(Context.create(serial=True), np.zeros((3, 3)), 5.0)


def test_owner_wraps_positions():
    domain = Domain(Context.create(serial=True), np.eye(3) * 10.0, 3.0)
    assert domain.owner(np.array([[-1.0, 25.0, 3.0]])).tolist() == [0]
    wrapped = domain.wrap(np.array([[-1.0, 25.0, -1e-17]]))
    np.testing.assert_allclose(wrapped, [[9.0, 5.0, 0.0]])
    assert np.all((wrapped >= 0) & (wrapped < 10.0))


def test_pairs_within_matches_all_pairs():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 12, size=(150, 3))
    i, j, d = pairs_within(points, 40, 3.0)
    dist = np.linalg.norm(points[None] - points[:40, None], axis=-1)
    ci, cj = np.nonzero((dist < 3.0) & (dist > 0))
    assert sorted(zip(i.tolist(), j.tolist())) == sorted(zip(ci.tolist(), cj.tolist()))
    np.testing.assert_allclose(d, points[j] - points[i])


def test_extended_lj_is_the_serial_lj_with_all_centres():
    positions = np.random.default_rng(1).uniform(0, 12, size=(40, 3))
    energy, forces = lennard_jones_extended(sigma=2.0, rcut=5.0)(positions, 40)
    energy0, forces0, _ = lennard_jones(sigma=2.0, rcut=5.0)(positions, None)
    assert energy == pytest.approx(energy0, rel=1e-13)
    np.testing.assert_allclose(forces, forces0, rtol=0, atol=1e-12 * np.abs(forces0).max())
