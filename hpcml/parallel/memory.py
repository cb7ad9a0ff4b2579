"""Memory: what one rank may allocate, what a job will allocate, and the check between them.

``hpcml kinetic --nx 1e9`` or ``hpcml md --atoms 12288000`` on a shared node
used to be killed by the kernel's OOM killer without a word.  The commands now
add up what the busiest rank will hold (an :class:`Estimate`, from
:func:`kinetic_estimate` or :func:`md_estimate`, which take plain numbers, so
this module imports no physics and no MPI) and :func:`check_memory` stops on
every rank with the estimate, the limit and the fix (a
:class:`~hpcml.errors.UserError`: exit status 2) before the first large array.

The limit of a rank (:func:`rank_limit`) is the node's ``MemAvailable``
(``/proc/meminfo``), lowered to what a cgroup still allows (v2 ``memory.max``
minus ``memory.current``, or v1 ``memory.limit_in_bytes`` minus
``memory.usage_in_bytes``) and to the memory the batch system granted
(``SLURM_MEM_PER_NODE``, read by :mod:`hpcml.parallel.launcher`), divided
over the job's ranks on the node (:attr:`Context.local_size`; without a
Context, the launcher's local size).  ``HPCML_MEMORY_LIMIT`` replaces it: bytes per
rank with an optional K/M/G/T suffix (powers of 1024), or ``off``.

The estimates count the arrays the code allocates (their sizes are derived in
the docstrings) and are checked against the arrays' measured sizes in
``tests/unit/test_memory.py``: good to a factor of about 1.5, not to the byte.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hpcml.errors import UserError
from hpcml.parallel import launcher

if TYPE_CHECKING:
    from hpcml.parallel.context import Context

#: environment variable that replaces the limit (bytes per rank, or ``off``)
ENV_LIMIT = "HPCML_MEMORY_LIMIT"
MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
#: cgroup v1 writes "no limit" as a number near 2**63
_NO_LIMIT = 1 << 60
FLOAT = 8


class MemoryLimitError(UserError):
    """A job whose estimated memory exceeds what a rank may use."""


@dataclass(frozen=True)
class Estimate:
    """Bytes the busiest rank will hold, by part (largest first in messages)."""

    parts: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Sum of the parts, bytes."""
        return float(sum(self.parts.values()))

    def describe(self, top: int = 4) -> str:
        """``1.2 TiB (f and two stages 700 GiB, ...)``: the total and its largest parts."""
        parts = sorted(self.parts.items(), key=lambda kv: -kv[1])[:top]
        return (f"{format_bytes(self.total)} ("
                + ", ".join(f"{name} {format_bytes(b)}" for name, b in parts) + ")")


@dataclass(frozen=True)
class Limit:
    """What one rank may allocate, and where that figure comes from."""

    bytes: float
    source: str


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units: ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def parse_size(text: str) -> float:
    """Bytes of ``'16G'``, ``'512 MiB'``, ``'1e9'`` (K/M/G/T/P are powers of 1024).

    Raises
    ------
    ValueError
        For anything else, or a size that is not positive and finite.
    """
    s = text.strip().upper().removesuffix("IB").removesuffix("B").strip()
    unit = s[-1] if s and s[-1] in _UNITS else ""
    value = float(s[: len(s) - len(unit)]) * _UNITS[unit]
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r}: not a positive size")
    return value


def _meminfo(path: Path) -> int | None:
    """``MemAvailable`` of a meminfo file, bytes (None when unreadable)."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None     # "max" (no limit) -> None


def _cgroup(root: Path) -> tuple[int, str] | None:
    """Bytes a cgroup (v2, else v1) still allows this process, and the file that says so."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes",
                                    "memory/memory.usage_in_bytes")):
        limit = _read_int(root / limit_file)
        if limit is not None and limit < _NO_LIMIT:
            used = _read_int(root / usage_file) or 0
            return max(limit - used, 0), str(root / limit_file)
    return None


def node_available(meminfo: Path = MEMINFO, cgroup: Path = CGROUP,
                   env: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """Bytes this node still has for the job, and where the figure comes from.

    The smallest of ``MemAvailable``, what the cgroup's limit leaves and the
    memory the batch system granted the job on this node
    (:func:`hpcml.parallel.launcher.allocation_memory`, e.g. ``sbatch --mem``);
    None when none can be read (not Linux).
    """
    found = []
    avail = _meminfo(meminfo)
    if avail is not None:
        found.append((avail, f"MemAvailable of {meminfo}"))
    cg = _cgroup(cgroup)
    if cg is not None:
        found.append((cg[0], f"the cgroup's {cg[1]} less its use"))
    granted = launcher.allocation_memory(env)
    if granted is not None:
        found.append((granted[0], f"the job's memory {granted[1]}"))
    return min(found) if found else None


def rank_limit(local_size: int | None = None, env: Mapping[str, str] | None = None,
               meminfo: Path = MEMINFO, cgroup: Path = CGROUP) -> Limit | None:
    """What one of ``local_size`` ranks on this node may allocate; None: do not check.

    ``local_size`` defaults to the launcher's count of this job's processes
    on the node (:func:`hpcml.parallel.launcher.detect`; 1 outside a launcher).

    Raises
    ------
    UserError
        For an ``HPCML_MEMORY_LIMIT`` that is not a size.
    """
    env = os.environ if env is None else env
    given = env.get(ENV_LIMIT, "").strip()
    if given.lower() in ("off", "none", "0"):
        return None
    if given:
        try:
            return Limit(parse_size(given), f"{ENV_LIMIT}={given}")
        except ValueError:
            raise UserError(f"{ENV_LIMIT}={given}: not a size; give bytes per rank such as "
                            "16G or 512M, or 'off' to skip the memory check") from None
    found = node_available(meminfo, cgroup, env)
    if found is None:
        return None
    avail, source = found
    if local_size is None:
        local_size = launcher.detect(env).local_size or 1
    n = max(int(local_size), 1)
    if n == 1:
        return Limit(avail, source)
    return Limit(avail / n, f"{source}: {format_bytes(avail)} shared by {n} ranks on this node")


def check_memory(ctx: Context | None, estimate: Estimate, subject: str,
                 fix: str | Callable[[float], str], limit: Limit | None = None) -> None:
    """Stop on every rank when ``estimate`` exceeds what a rank may use (collective).

    Parameters
    ----------
    ctx
        The job's Context (None: this process alone).
    estimate
        Bytes of the busiest rank.
    subject
        What is too large, naming the option: ``"hpcml kinetic: --nx 1000000000"``.
    fix
        What to change, with figures (``"lower --nx to 3000000 or fewer"``), or a
        function of the limit (bytes per rank) that says it.
    limit
        Default :func:`rank_limit` of this node; each rank reads its own and
        the smallest one counts.

    Raises
    ------
    MemoryLimitError
        On every rank, with the estimate, the limit and the fix.
    """
    if limit is None:
        limit = rank_limit(ctx.local_size if ctx is not None else None)
    limits = [limit] if ctx is None else ctx.comm.allgather(limit)
    known = [lim for lim in limits if lim is not None]
    if not known:
        return
    low = min(known, key=lambda lim: lim.bytes)
    if estimate.total <= low.bytes:
        return
    fix = fix(low.bytes) if callable(fix) else fix
    raise MemoryLimitError(
        f"{subject} needs about {estimate.describe()} per rank, but a rank may use "
        f"{format_bytes(low.bytes)} ({low.source}); stopped before allocating. Fix: {fix} "
        f"(if the limit is wrong, set {ENV_LIMIT}, bytes per rank, or 'off')")


def largest(fits: Callable[[int], bool], start: int, top: int = 1 << 62) -> int:
    """The largest ``n`` in ``[1, top]`` with ``fits(n)`` (monotone; 0 when none), by bisection.

    ``start`` is a known size (fitting or not) to search around.
    """
    lo, hi = 0, max(1, min(int(start), top))
    while hi < top and fits(hi):
        lo, hi = hi, min(2 * hi, top)
    if fits(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def smallest(fits: Callable[[int], bool], top: int = 1 << 40) -> int | None:
    """The smallest ``n`` in ``[1, top]`` with ``fits(n)`` (false, then true); None when none."""
    if not fits(top):
        return None
    lo, hi = 0, top          # fits(hi) holds, fits(lo) is taken as false
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


# --- the estimates ----------------------------------------------------------------------------

#: float64 values per cell of the arrays sized by the global nx on every rank (measured peak:
#: cell edges and centres, initial rho, u, T, the velocity-box check's temporaries)
KINETIC_GLOBAL_PER_CELL = 18
#: values per local cell of the moments written at an output time (rho, u, T, q, P and sums)
KINETIC_MOMENTS_PER_CELL = 24
#: copies of f held at the peak of the collision step or of the initial Maxwellian (measured:
#: Chu mode's Newton coefficients and Maxwellian, the full grid's Maxwellian, Boltzmann's
#: Maxwellian, gain, loss, Q and the projection's temporaries)
KINETIC_COLLISION_COPIES = {("bgk", "chu"): 3.0, ("bgk", "full"): 1.5,
                            ("boltzmann", "full"): 6.0}
#: values per block of the numpy transport kernel (hpcml.kinetic.transport.BLOCK_VALUES) and
#: its buffers per block
KINETIC_TRANSPORT_BLOCK = 1 << 17
KINETIC_TRANSPORT_BUFFERS = 5


def kinetic_estimate(nx: int, dof: int, ranks: int = 1, collision: str = "bgk",
                     mode: str = "chu", gathered_snapshots: bool = False,
                     ghosts: int = 2) -> Estimate:
    """Bytes of one rank of a kinetic solve (:mod:`hpcml.kinetic.solver` and its PETSc twin).

    Each rank holds ``ceil(nx / ranks)`` cells of ``dof`` float64 values: ``f`` and
    the two SSP-RK2 stages (3 copies), the ghosted copy (2 ghost cells a side),
    the collision step's copies (:data:`KINETIC_COLLISION_COPIES`) and the numpy
    transport kernel's block buffers.  The initial data and the cell
    coordinates are computed on the global grid on every rank
    (:data:`KINETIC_GLOBAL_PER_CELL` values per cell); rank 0 gathers ``f`` of
    all cells when snapshots are written without parallel HDF5.
    """
    n_local = -(-int(nx) // max(int(ranks), 1))
    cells = n_local * dof * FLOAT
    block = min(n_local + 3, max(1, KINETIC_TRANSPORT_BLOCK // max(int(dof), 1)) + 3)
    copies = KINETIC_COLLISION_COPIES.get((collision, mode), 6.0)
    parts = {"f and its two Runge-Kutta stages": 3 * cells,
             "ghosted copy of f": (n_local + 2 * ghosts) * dof * FLOAT,
             "collision step": copies * cells,
             "transport buffers": KINETIC_TRANSPORT_BUFFERS * block * dof * FLOAT,
             "per-cell arrays of all nx cells on every rank": KINETIC_GLOBAL_PER_CELL * nx * FLOAT,
             "moments": KINETIC_MOMENTS_PER_CELL * n_local * FLOAT}
    if gathered_snapshots:
        parts["snapshots of f gathered on rank 0"] = nx * dof * FLOAT
    return Estimate(parts)


#: bytes per atom of the whole system held by every rank, per walker: positions and types
MD_STRUCTURE_BYTES = 32
#: bytes per atom of the whole system held by every rank once: velocities, masses, ids and
#: the scatter's wrapped/fractional coordinates; rank 0 also gathers positions and
#: velocities of all atoms for checkpoints and trajectory frames
MD_GLOBAL_BYTES = 250
#: bytes per candidate pair of the cell-list search (centres, members, displacements,
#: squared distances, the kept pairs sorted), measured: 64-81
MD_CANDIDATE_BYTES = 72
#: bytes per extended atom of the search's 27 periodic images (27 x 3 float64)
MD_IMAGE_BYTES = 27 * 3 * FLOAT
#: bytes per neighbour slot: the Verlet index (8), the step's displacements with their
#: temporaries (~66) and the model's batched input (rij, index: 32)
MD_SLOT_BYTES = 106
#: the Verlet list's width over the mean neighbour count (the max over atoms, per type)
MD_WIDTH_FACTOR = 1.3


def md_estimate(atoms: int, density: float, reach: float, ranks: int = 1, walkers: int = 1,
                members: int = 2, rank_atoms: int | None = None) -> Estimate:
    """Bytes of one rank of ``hpcml md`` (:mod:`hpcml.explore`) on ``atoms`` atoms.

    Parameters
    ----------
    atoms
        Atoms of the largest walker's system.
    density
        Its number density, atoms per cubic Angstrom.
    reach
        ``rcut + skin`` of the Verlet lists, Angstrom.
    ranks
        Ranks that share one walker (its domain decomposition).
    walkers
        Walkers of the job (every rank holds all their start structures).
    members
        Ensemble members (forces of each are kept for the deviation).
    rank_atoms
        Atoms of all walkers together (default ``atoms * walkers``).

    Notes
    -----
    A rank owns ``n = atoms / ranks`` atoms in a sub-domain of side
    ``L = (n / density)^(1/3)`` and sees ``n (1 + 2 reach / L)^3`` with its ghosts.
    The cell-list search of :class:`hpcml.molecular.skin.SkinList` tests each
    extended atom against the 27 bins of side ``reach`` around it, ``27 reach^3
    density`` candidates (:data:`MD_CANDIDATE_BYTES` each): the peak of a step
    with a rebuild.  The Verlet list keeps ``1.3 x 4/3 pi reach^3 density`` slots
    per owned atom (:data:`MD_SLOT_BYTES` each with the step's temporaries).
    """
    n = atoms / max(int(ranks), 1)
    side = (n / density) ** (1.0 / 3.0) if n > 0 else 1.0
    n_ext = n * (1.0 + 2.0 * reach / side) ** 3
    candidates = 27.0 * reach**3 * density
    slots = MD_WIDTH_FACTOR * 4.0 / 3.0 * math.pi * reach**3 * density
    total_atoms = atoms * walkers if rank_atoms is None else rank_atoms
    return Estimate({
        "neighbour search (cell list, at each rebuild)":
            n_ext * (MD_IMAGE_BYTES + candidates * MD_CANDIDATE_BYTES),
        "Verlet lists and model input": n * slots * MD_SLOT_BYTES,
        "owned and ghost atoms, forces of the members": n_ext * (64 + 24 * members),
        "all atoms on every rank (structures, velocities, gathers)":
            total_atoms * MD_STRUCTURE_BYTES + atoms * MD_GLOBAL_BYTES})
