"""Domain decomposition for MD: ghosts, forward/reverse halo exchange, migration, a short NVE run.

Runs under ``mpirun -n 1/2/4 python -m pytest tests/mpi``; ``tests/unit/test_domain.py``
runs the same tests on one rank (SerialComm and size-1 MPI).  Every check is
a collective ``parallel_assert``.
"""

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from hpcml.molecular.integrators import ACC, init_state, maxwell_boltzmann, nve_step
from hpcml.molecular.neighbors import image_shifts
from hpcml.parallel import parallel_assert
from hpcml.parallel.domain import (
    Domain,
    DomainError,
    LocalAtoms,
    brute_force_ghosts,
    cell_heights,
    choose_grid,
)
from hpcml.testing.potentials import fcc_lattice, lennard_jones, lennard_jones_extended

ORTHO = np.diag([16.0, 17.0, 18.0])
TRICLINIC = np.array([[16.0, 0.0, 0.0], [4.0, 15.0, 0.0], [-3.0, 2.5, 17.0]])
CELLS = {"orthorhombic": ORTHO, "triclinic": TRICLINIC}


def feasible_grids(cell, ghost_cutoff, size):
    """Every (px, py, pz) of ``size`` ranks whose sub-domains are thick enough."""
    heights = cell_heights(cell)
    return [(a, b, size // (a * b)) for a in range(1, size + 1) for b in range(1, size + 1)
            if size % (a * b) == 0 and np.all(heights / (a, b, size // (a * b)) >= ghost_cutoff)]


def random_system(cell, n, seed):
    rng = np.random.default_rng(seed)
    frac = rng.uniform(-0.5, 1.5, size=(n, 3))            # deliberately outside the cell too
    ids = rng.permutation(n).astype(np.int64) + 1000
    return frac @ cell, ids


def gather_atoms(comm, local):
    """(ids, positions, arrays) of the whole system, sorted by id, on every rank."""
    parts = comm.allgather(local)
    atoms = LocalAtoms.concat(parts)
    return atoms.take(np.argsort(atoms.ids))


def min_image(domain, d):
    s = domain.fractional(d)
    return domain.cartesian(s - np.round(s))


# -- ghost sets --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CELLS))
def test_ghost_sets_match_brute_force(ctx, name):
    cell, cutoff = CELLS[name], 4.0
    positions, ids = random_system(cell, 300, seed=1)
    types = ids % 3
    for grid in [None, *feasible_grids(cell, cutoff, ctx.size)]:
        domain = Domain(ctx, cell, cutoff, grid)
        local = domain.scatter(positions, ids, {"types": types})
        plan, ghost_x, ghost_ids, extra = domain.ghosts(local, ("types",))
        everyone = gather_atoms(ctx.comm, local)
        expected = brute_force_ghosts(domain, everyone.positions, everyone.ids)
        got = [(int(i), *map(int, n)) for i, n in zip(ghost_ids, plan.images)]
        where = f"{name} grid {domain.grid} coords {domain.coords}"
        parallel_assert(ctx, len(got) == len(set(got)), f"duplicate ghosts, {where}")
        parallel_assert(ctx, set(got) == expected,
                        f"{where}: {len(set(got) - expected)} extra, "
                        f"{len(expected - set(got))} missing")
        row = np.searchsorted(everyone.ids, ghost_ids)
        image_x = everyone.positions[row] + plan.images @ cell
        parallel_assert(ctx, np.allclose(ghost_x, image_x, rtol=0, atol=1e-11), where)
        parallel_assert(ctx, np.array_equal(extra["types"], ghost_ids % 3), where)
        lo, hi = domain.extended_bounds()
        s = domain.fractional(ghost_x)
        parallel_assert(ctx, np.all((s > lo - 1e-12) & (s < hi + 1e-12)), where)


def test_forward_follows_moved_atoms(ctx):
    cell = TRICLINIC
    positions, ids = random_system(cell, 200, seed=2)
    domain = Domain(ctx, cell, 4.0)
    local = domain.scatter(positions, ids)
    plan, _, ghost_ids, _ = domain.ghosts(local, ())
    moved = local.positions + np.sin(local.ids)[:, None] * np.array([0.3, -0.2, 0.1])
    ghost_x = domain.forward(plan, moved)
    everyone = gather_atoms(ctx.comm, replace(local, positions=moved))
    row = np.searchsorted(everyone.ids, ghost_ids)
    expected = everyone.positions[row] + plan.images @ cell
    parallel_assert(ctx, np.allclose(ghost_x, expected, rtol=0, atol=1e-12))


# -- reverse: many-body-safe LJ forces ----------------------------------------------


def jittered_fcc(n_cells, seed, scale=0.15):
    positions, cell = fcc_lattice(n_cells)
    rng = np.random.default_rng(seed)
    return positions + rng.normal(scale=scale, size=positions.shape), cell


def periodic_reference(positions, cell, rcut):
    """Energy and forces of all atoms from explicit periodic images (any cell)."""
    shifts = image_shifts(cell, rcut)
    n = len(positions)
    extended = (positions[None] + (shifts @ cell)[:, None]).reshape(-1, 3)
    energy, forces = lennard_jones_extended(rcut=rcut)(extended, n)
    return energy, forces.reshape(len(shifts), n, 3).sum(axis=0)


def domain_lj(domain, local, plan, ghost_x, potential):
    """Centre energy summed over ranks and forces on the owned atoms."""
    extended = np.concatenate([local.positions, ghost_x])
    energy, forces = potential(extended, len(local))
    n = len(local)
    return domain.allsum(energy), forces[:n] + domain.reverse(plan, forces[n:])


@pytest.mark.parametrize("name", ["orthorhombic", "triclinic"])
def test_reverse_gives_serial_lj_forces(ctx, name):
    rcut, skin = 6.0, 0.5
    positions, cell = jittered_fcc(3, seed=3)
    if name == "triclinic":
        cell = cell + np.array([[0, 0, 0], [3.0, 0, 0], [-2.0, 1.5, 0]])
        energy0, forces0 = periodic_reference(positions, cell, rcut)
    else:
        energy0, forces0, _ = lennard_jones(rcut=rcut)(positions, cell)
    ids = np.arange(len(positions))
    potential = lennard_jones_extended(rcut=rcut)
    for grid in [None, *feasible_grids(cell, rcut + skin, ctx.size)]:
        domain = Domain(ctx, cell, rcut + skin, grid)
        local = domain.scatter(positions, ids)
        plan, ghost_x, _, _ = domain.ghosts(local, ())
        energy, forces = domain_lj(domain, local, plan, ghost_x, potential)
        scale = np.abs(forces0).max()
        err = np.abs(forces - forces0[local.ids]).max(initial=0.0) / scale
        where = f"{name} grid {domain.grid}"
        parallel_assert(ctx, err < 1e-12, f"{where}: force error {err:.3g} (relative)")
        parallel_assert(ctx, abs(energy - energy0) < 1e-12 * abs(energy0),
                        f"{where}: energy {energy} vs {energy0}")


def test_reverse_sums_every_image(ctx):
    cell = ORTHO
    positions, ids = random_system(cell, 150, seed=4)
    domain = Domain(ctx, cell, 5.0)
    local = domain.scatter(positions, ids)
    plan, _, ghost_ids, _ = domain.ghosts(local, ())
    values = np.stack([ghost_ids, np.ones(plan.n_ghost)], axis=1).astype(float)
    summed = domain.reverse(plan, values)
    total_images = ctx.comm.allgather(np.bincount(ghost_ids - 1000, minlength=150))
    count = np.sum(total_images, axis=0)[local.ids - 1000]
    parallel_assert(ctx, np.array_equal(summed[:, 1], count), "image count per owner")
    parallel_assert(ctx, np.array_equal(summed[:, 0], count * local.ids))


# -- migration --------------------------------------------------------------------


def sub_domain_step(domain, n, seed, fraction):
    """Random displacements (n, 3) A of at most ``fraction`` of a sub-domain width per axis."""
    rng = np.random.default_rng(seed)
    width = 1.0 / np.asarray(domain.grid)
    return domain.cartesian(rng.uniform(-fraction, fraction, size=(n, 3)) * width)


def test_migrate_sends_atoms_to_owners(ctx):
    cell = TRICLINIC
    positions, ids = random_system(cell, 400, seed=5)
    domain = Domain(ctx, cell, 4.0)
    velocity = np.stack([ids, -ids, 2 * ids], axis=1) * 1e-3
    local = domain.scatter(positions, ids, {"velocities": velocity, "types": ids % 2})
    for round_ in range(3):
        step = sub_domain_step(domain, len(ids), seed=10 + round_, fraction=0.9)
        by_id = np.argsort(ids)
        moved = local.positions + step[by_id[np.searchsorted(ids[by_id], local.ids)]]
        local = domain.migrate(replace(local, positions=moved))
        where = f"round {round_} rank {ctx.rank}"
        parallel_assert(ctx, np.all(domain.owner(local.positions) == ctx.rank), where)
        parallel_assert(ctx, np.all(np.diff(local.ids) > 0), f"{where}: not sorted by id")
        parallel_assert(ctx, np.array_equal(local.arrays["velocities"][:, 0], local.ids * 1e-3))
        parallel_assert(ctx, np.array_equal(local.arrays["types"], local.ids % 2))
        parallel_assert(ctx, np.array_equal(local.origin, local.positions))
        everyone = gather_atoms(ctx.comm, local)
        parallel_assert(ctx, np.array_equal(everyone.ids, np.sort(ids)), f"{where}: id set")
        positions = positions + step
        expected = positions[np.argsort(ids)]
        err = np.abs(min_image(domain, everyone.positions - expected)).max()
        parallel_assert(ctx, err < 1e-10, f"{where}: position error {err}")


def test_migrate_too_far_raises_on_all_ranks(ctx):
    cell = np.diag([40.0, 17.0, 16.0])
    positions, ids = random_system(cell, 120, seed=6)
    domain = Domain(ctx, cell, 4.0, grid=(ctx.size, 1, 1))
    local = domain.scatter(positions, ids)
    if ctx.size == 1:
        local = domain.migrate(replace(local, positions=local.positions + [30.0, 0, 0]))
        parallel_assert(ctx, len(local) == 120, "one rank: any move is fine")
        return
    jump = np.where(local.ids == ids[0], 1.2 * 40.0 / ctx.size, 0.0)[:, None] * [1, 0, 0]
    with pytest.raises(DomainError, match="moved more than a sub-domain width"):
        domain.migrate(replace(local, positions=local.positions + jump))
    if ctx.size >= 4:      # without an origin, a jump of two slabs is caught too
        far = np.where(local.ids == ids[0], 2.0 * 40.0 / ctx.size, 0.0)[:, None] * [1, 0, 0]
        with pytest.raises(DomainError, match="sub-domain width"):
            domain.migrate(replace(local, positions=local.positions + far, origin=None))


def test_ghosts_needs_migrated_atoms(ctx):
    domain = Domain(ctx, ORTHO, 4.0)
    positions, ids = random_system(ORTHO, 60, seed=7)
    local = domain.scatter(positions, ids)
    bad = local.positions + np.where(local.ids == ids[0], 20.0, 0.0)[:, None]
    with pytest.raises(DomainError, match="call migrate"):
        domain.ghosts(replace(local, positions=bad), ())


# -- NVE argon: same trajectory on 1, 2 and 4 ranks ---------------------------------

RCUT, SKIN, DT, STEPS, REBUILD, MASS, TEMPERATURE = 8.5, 1.0, 4.0, 75, 5, 39.948, 60.0


def md_start():
    positions, cell = fcc_lattice(4)
    masses = np.full(len(positions), MASS)
    velocities = maxwell_boltzmann(masses, TEMPERATURE, seed=7)
    return positions, velocities, masses, cell


@lru_cache(maxsize=1)
def serial_md():
    """Positions (n, 3) and total energies per step of the plain serial run."""
    positions, velocities, masses, cell = md_start()
    force_fn = lennard_jones(rcut=RCUT)
    state = init_state(positions, masses, cell, force_fn, velocities)
    energies = [state.energy + state.kinetic_energy]
    for _ in range(STEPS):
        state = nve_step(state, force_fn, DT)
        energies.append(state.energy + state.kinetic_energy)
    return state.positions, np.array(energies)


def domain_md(ctx):
    """The same run decomposed over ``ctx``: velocity Verlet, rebuild every REBUILD steps."""
    positions, velocities, masses, cell = md_start()
    domain = Domain(ctx, cell, RCUT + SKIN)
    potential = lennard_jones_extended(rcut=RCUT)
    local = domain.scatter(positions, np.arange(len(positions)),
                           {"velocities": velocities, "masses": masses})
    plan, ghost_x, _, _ = domain.ghosts(local, ())
    energy, forces = domain_lj(domain, local, plan, ghost_x, potential)
    energies, max_shift = [], 0.0

    def total(local, energy):
        v, m = local.arrays["velocities"], local.arrays["masses"]
        return energy + domain.allsum(0.5 * float(np.sum(m[:, None] * v * v)) / ACC)

    energies.append(total(local, energy))
    for step in range(1, STEPS + 1):
        v = local.arrays["velocities"] + 0.5 * DT * ACC * forces / local.arrays["masses"][:, None]
        local = replace(local, positions=local.positions + DT * v,
                        arrays={**local.arrays, "velocities": v})
        if step % REBUILD == 0:
            shift = np.linalg.norm(local.positions - local.origin, axis=1).max(initial=0.0)
            max_shift = max(max_shift, shift)
            local = domain.migrate(local)
            plan, ghost_x, _, _ = domain.ghosts(local, ())
        else:
            ghost_x = domain.forward(plan, local.positions)
        energy, forces = domain_lj(domain, local, plan, ghost_x, potential)
        v = local.arrays["velocities"] + 0.5 * DT * ACC * forces / local.arrays["masses"][:, None]
        local = replace(local, arrays={**local.arrays, "velocities": v})
        energies.append(total(local, energy))
    return domain, gather_atoms(ctx.comm, local), np.array(energies), max_shift


@pytest.mark.parametrize("group_size", [1, 2, 4])
def test_md_same_trajectory_on_any_rank_count(ctx, group_size):
    if group_size > ctx.size or ctx.size % group_size:
        pytest.skip(f"needs a multiple of {group_size} ranks")
    group = ctx.split(ctx.size // group_size)
    domain, atoms, energies, max_shift = domain_md(group)
    positions, energies0 = serial_md()
    err = np.abs(min_image(domain, atoms.positions - positions)).max()
    where = f"{group_size} rank(s), grid {domain.grid}"
    parallel_assert(ctx, max_shift < SKIN / 2, f"{where}: atoms moved {max_shift} > skin/2")
    parallel_assert(ctx, err < 1e-10, f"{where}: trajectory differs by {err:.3g} A")
    parallel_assert(ctx, np.abs(energies - energies0).max() < 1e-10,
                    f"{where}: energies differ by {np.abs(energies - energies0).max():.3g} eV")
    drift = np.abs(energies - energies[0]).max() / len(atoms.ids)
    parallel_assert(ctx, drift < 1e-5, f"{where}: energy drift {drift:.3g} eV/atom")


# -- geometry and errors --------------------------------------------------------------


def test_allsum(ctx):
    domain = Domain(ctx, ORTHO, 4.0)
    parallel_assert(ctx, domain.allsum(1.5) == 1.5 * ctx.size)
    total = domain.allsum(np.full(3, float(ctx.rank)))
    parallel_assert(ctx, np.array_equal(total, np.full(3, ctx.size * (ctx.size - 1) / 2)))


def test_grid_layout(ctx):
    domain = Domain(ctx, ORTHO, 4.0)
    coords = ctx.comm.allgather(domain.coords)
    parallel_assert(ctx, len(set(coords)) == ctx.size, f"coords {coords}")
    parallel_assert(ctx, domain.rank_of(domain.coords) == ctx.rank)
    parallel_assert(ctx, int(np.prod(domain.grid)) == ctx.size)
    parallel_assert(ctx, domain.grid == choose_grid(ORTHO, 4.0, ctx.size))


def test_cell_too_small_for_grid(ctx):
    cell = np.diag([10.0, 30.0, 30.0])
    if ctx.size > 1:
        with pytest.raises(DomainError, match=r"along x.*use at most 1 rank\(s\) along x"):
            Domain(ctx, cell, 6.0, grid=(ctx.size, 1, 1))
    with pytest.raises(DomainError, match="cell height 10 A.*replicate the cell along x"):
        Domain(ctx, cell, 12.0)
    with pytest.raises(DomainError, match="sub-domains but the job has"):
        Domain(ctx, cell, 6.0, grid=(ctx.size + 1, 1, 1))
