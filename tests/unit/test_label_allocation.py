"""CP2K runs started at once fit the batch allocation (issue 19: 16 ranks x 32-rank
steps asked for 4x the allocation's cores while the queued steps burned label.timeout)."""

from types import SimpleNamespace

import pytest

from hpcml.config.label import LabelSection
from hpcml.errors import UserError
from hpcml.label.driver import concurrent_tasks


def ranks(size):
    return [SimpleNamespace(rank=r, size=size, is_root=r == 0) for r in range(size)]


def test_runs_are_capped_to_the_allocation(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_CPUS_PER_NODE", raising=False)
    section = LabelSection(ranks_per_task=32, tasks_per_rank=1)
    alloc = (128, "SLURM_JOB_CPUS_PER_NODE=32(x4)")    # 4 nodes x 32 cores
    per_rank = [concurrent_tasks(c, section, alloc) for c in ranks(16)]
    assert sum(per_rank) == 4 and per_rank[:4] == [1, 1, 1, 1]       # four 32-rank steps
    two = LabelSection(ranks_per_task=4, tasks_per_rank=2)
    assert [concurrent_tasks(c, two, alloc) for c in ranks(16)] == [2] * 16   # fits: 128
    assert [concurrent_tasks(c, two, (24, "x")) for c in ranks(4)] == [2, 2, 1, 1]
    assert concurrent_tasks(ranks(1)[0], section, None) == 1        # no allocation: as asked
    with pytest.raises(UserError, match="32 CPUs per CP2K run, but the allocation has 16"):
        concurrent_tasks(ranks(1)[0], section, (16, "SLURM_JOB_CPUS_PER_NODE=16"))
    monkeypatch.setenv("SLURM_JOB_CPUS_PER_NODE", "2")
    assert concurrent_tasks(ranks(1)[0], LabelSection(tasks_per_rank=4), None) == 2
