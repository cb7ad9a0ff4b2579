"""Memory estimates against the arrays they predict, the limit of a rank, and the check
(issue 15 item 6: a problem too large for the node stops with the estimate, not the OOM killer)."""

import tracemalloc

import numpy as np
import pytest

from hpcml.errors import UserError
from hpcml.parallel import Context
from hpcml.parallel.memory import (
    ENV_LIMIT,
    KINETIC_TRANSPORT_BLOCK,
    Estimate,
    Limit,
    MemoryLimitError,
    check_memory,
    format_bytes,
    kinetic_estimate,
    largest,
    md_estimate,
    node_available,
    parse_size,
    rank_limit,
    smallest,
)

GIB = 1 << 30


def test_sizes_parse_and_print():
    assert parse_size("16G") == 16 * GIB and parse_size("512 MiB") == 512 << 20
    assert parse_size("1e9") == 1e9 and parse_size("2t") == 2 << 40
    for bad in ("", "x", "-1G", "0", "inf"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert format_bytes(1.5 * GIB) == "1.5 GiB" and format_bytes(12) == "12 B"


def write_meminfo(tmp_path, kib):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal: 99999999 kB\nMemFree: 1 kB\nMemAvailable: {kib} kB\n")
    return path


def test_available_memory_from_meminfo_and_cgroups(tmp_path):
    meminfo = write_meminfo(tmp_path, 8 * 1024 * 1024)              # 8 GiB
    none = tmp_path / "no-cgroup"
    assert node_available(meminfo, none) == (8 * GIB, f"MemAvailable of {meminfo}")
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")                            # no limit
    assert node_available(meminfo, v2)[0] == 8 * GIB
    (v2 / "memory.max").write_text(f"{3 * GIB}\n")
    (v2 / "memory.current").write_text(f"{GIB}\n")
    found, source = node_available(meminfo, v2)
    assert found == 2 * GIB and "memory.max" in source
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    assert node_available(meminfo, tmp_path / "v1")[0] == 8 * GIB
    (v1 / "memory.limit_in_bytes").write_text(f"{GIB}\n")
    assert node_available(meminfo, tmp_path / "v1")[0] == GIB
    assert node_available(tmp_path / "missing", none) is None


def test_rank_limit_shares_the_node_and_reads_the_override(tmp_path):
    meminfo, none = write_meminfo(tmp_path, 8 * 1024 * 1024), tmp_path / "none"
    one = rank_limit(1, env={}, meminfo=meminfo, cgroup=none)
    four = rank_limit(4, env={}, meminfo=meminfo, cgroup=none)
    assert one.bytes == 8 * GIB and four.bytes == 2 * GIB
    assert "8 GiB shared by 4 ranks on this node" in four.source
    given = rank_limit(4, env={ENV_LIMIT: "3G"}, meminfo=meminfo, cgroup=none)
    assert given == Limit(3 * GIB, f"{ENV_LIMIT}=3G")
    assert rank_limit(1, env={ENV_LIMIT: "off"}) is None
    with pytest.raises(UserError, match=f"{ENV_LIMIT}=lots: not a size"):
        rank_limit(1, env={ENV_LIMIT: "lots"})
    real = rank_limit(1, env={})                 # this machine: /proc/meminfo is there
    assert real is not None and real.bytes > 0


def test_check_memory_names_estimate_limit_and_fix():
    ctx = Context.create(serial=True)
    assert ctx.local_size == 1
    est = Estimate({"f": 3 * GIB, "ghosts": GIB})
    check_memory(ctx, est, "x", "y", limit=Limit(5 * GIB, "test"))        # fits
    with pytest.raises(MemoryLimitError) as err:
        check_memory(ctx, est, "hpcml kinetic: --nx 7", lambda lim: f"at most {lim / GIB:g}",
                     limit=Limit(2 * GIB, "test limit"))
    text = str(err.value)
    assert isinstance(err.value, UserError)
    for words in ("hpcml kinetic: --nx 7 needs about 4 GiB (f 3 GiB, ghosts 1 GiB) per rank",
                  "a rank may use 2 GiB (test limit)", "stopped before allocating",
                  "Fix: at most 2", ENV_LIMIT):
        assert words in text, text


def test_bisection_helpers():
    assert largest(lambda n: n <= 1234, 10) == 1234
    assert largest(lambda n: n <= 1234, 10**6) == 1234
    assert largest(lambda n: False, 10) == 0
    assert smallest(lambda r: r >= 37) == 37 and smallest(lambda r: False) is None


def test_transport_block_matches_the_kernel():
    from hpcml.kinetic.transport import BLOCK_VALUES

    assert KINETIC_TRANSPORT_BLOCK == BLOCK_VALUES


def traced_peak(fn):
    """Peak bytes of the Python-visible (numpy) allocations of ``fn()`` and its result."""
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("collision,mode,nv,nx,kernels", [
    ("bgk", "chu", 64, 400, "numpy"), ("bgk", "chu", 64, 400, "native"),
    ("bgk", "full", 12, 200, "numpy"), ("boltzmann", "full", 8, 400, "numpy")])
def test_kinetic_estimate_matches_the_solver_arrays(collision, mode, nv, nx, kernels):
    """The solver's arrays and the traced peak of a start and two steps against the estimate."""
    from hpcml.kinetic import native
    from hpcml.kinetic.grid import CellLayout
    from hpcml.kinetic.initial import sod
    from hpcml.kinetic.solver import KineticSolver, Problem, TimeOptions

    if kernels == "native" and native.load() is None:
        pytest.skip(f"native kernels unavailable: {native.last_error()}")
    layout = CellLayout.make(mode, nv, 6.5)

    def solve():
        s = KineticSolver(Problem(layout, nx, eps=1.0, collision=collision),
                          TimeOptions(kernels=kernels))
        s.set_state(*sod(s.x))
        for _ in range(2):
            s.step(1e-4)
        s.moments()
        return s

    peak, s = traced_peak(solve)
    est = kinetic_estimate(nx, layout.dof, 1, collision, mode)
    held = s.f.nbytes + sum(a.nbytes for a in s._stage)
    assert held == est.parts["f and its two Runge-Kutta stages"]
    assert s._fg.nbytes == est.parts["ghosted copy of f"]
    assert 0.5 < peak / est.total < 1.25, (peak / est.total, est.parts)


def test_kinetic_estimate_scales_over_ranks():
    one, four = kinetic_estimate(10**6, 128, 1), kinetic_estimate(10**6, 128, 4)
    assert four.parts["f and its two Runge-Kutta stages"] * 4 == \
        one.parts["f and its two Runge-Kutta stages"]
    assert four.parts["per-cell arrays of all nx cells on every rank"] == \
        one.parts["per-cell arrays of all nx cells on every rank"]
    gathered = kinetic_estimate(10**6, 128, 4, gathered_snapshots=True)
    assert gathered.parts["snapshots of f gathered on rank 0"] == 10**6 * 128 * 8
    # issue 15: `hpcml kinetic --nx 1e9` (default nv 64, Chu) is terabytes on any node
    assert kinetic_estimate(10**9, 128).total > 4 * (1 << 40)


def test_md_estimate_matches_the_walker_arrays(tmp_path, monkeypatch):
    """The traced peak of a walker's start (replication, scatter, ghosts, neighbour search)
    on 1536 atoms, and the Verlet list's width, against the estimate."""
    from hpcml.config.md import MdSection
    from hpcml.explore.forces import CommitteeForces
    from hpcml.explore.job import memory_estimate, walker_structure
    from hpcml.explore.md import Walker
    from hpcml.testing.data import embedded_water
    from hpcml.testing.models import small_committee

    def no_model(self, positions, cell):       # the model's tensors are torch's, not traced
        self.last = {"forces": np.zeros((2, len(positions), 3)), "virials": np.zeros((2, 3, 3))}
        return 0.0, np.zeros_like(positions), np.zeros((3, 3))

    monkeypatch.setattr(CommitteeForces, "__call__", no_model)
    comm = small_committee()
    cfg = MdSection(structure=embedded_water(), ensemble="nve", steps=2, out=tmp_path / "md")
    ctx = Context.create(serial=True)

    def start():
        s = walker_structure(cfg, 0, comm.type_map, 1536)
        w = Walker(ctx, comm, s, cfg.walkers[0], cfg, 0, tmp_path / "w")
        w._start()
        return w

    peak, walker = traced_peak(start)
    est, atoms, base = memory_estimate(cfg, comm, 1536)
    assert (atoms, base) == (1536, 192)
    assert 0.7 < peak / est.total < 1.3, (peak / est.total, est.parts)
    density = 192 / abs(np.linalg.det(walker.structure.cell / 2))
    slots = 1.3 * 4 / 3 * np.pi * (comm.spec.rcut + cfg.skin) ** 3 * density
    width = walker.forces.verlet.index.shape[1]
    assert 0.8 < slots / width < 1.25, (slots, width)
    # issue 15: `hpcml md --atoms 12288000` with the water reference model is terabytes
    big = md_estimate(12288000, density, 6.0 + 1.0)
    assert big.total > (1 << 40)


def test_run_md_stops_before_replicating(tmp_path, monkeypatch):
    """The loop's path (run_md) checks too, before any structure is replicated."""
    from hpcml.config.md import MdSection
    from hpcml.explore import job
    from hpcml.testing.data import embedded_water
    from hpcml.testing.models import small_committee

    monkeypatch.setenv(ENV_LIMIT, "1G")
    monkeypatch.setattr(job, "walker_structure", lambda *a, **k: pytest.fail("replicated"))
    cfg = MdSection(structure=embedded_water(), replicate=[20, 20, 20], out=tmp_path / "md")
    with pytest.raises(MemoryLimitError, match=r"md.replicate \[20, 20, 20\] \(1536000 atoms\)"):
        job.run_md(Context.create(serial=True), small_committee(), cfg)
    assert not (tmp_path / "md").exists()
