"""One precedence for threads: OMP_NUM_THREADS in the environment, else
parallel.threads_per_rank; applied by every subcommand (md included)."""

import pytest

from hpcml.cli.main import main
from hpcml.errors import UserError
from hpcml.parallel.threads import (
    Threads,
    apply_threads,
    conflict,
    oversubscription,
    rank_threads,
    resolve_threads,
)
from hpcml.testing.data import embedded_water
from hpcml.testing.models import small_committee

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_resolve_threads():
    assert resolve_threads(3, {}) == Threads(3, "parallel.threads_per_rank")
    assert resolve_threads(3, {"OMP_NUM_THREADS": ""}).n == 3
    env = resolve_threads(1, {"OMP_NUM_THREADS": "8"})
    assert env == Threads(8, "OMP_NUM_THREADS=8 (environment)")
    assert resolve_threads(1, {"OMP_NUM_THREADS": "4,2"}).n == 4      # nested: outer level
    for bad in ("0", "x", "-2"):
        with pytest.raises(UserError, match="not a positive number of threads"):
            resolve_threads(1, {"OMP_NUM_THREADS": bad})
    assert "overrides parallel.threads_per_rank=1" in conflict(1, env)
    assert conflict(None, env) is None and conflict(8, env) is None


def test_oversubscription_warnings():
    step = {"SLURM_STEP_ID": "0", "SLURM_CPUS_PER_TASK": "2"}
    assert "SLURM_CPUS_PER_TASK=2" in oversubscription(4, 1, step)
    assert oversubscription(2, 8, step) is None         # each rank has its own 2 CPUs
    assert "4 > 2 CPU(s)" in oversubscription(2, 2, {}, cpus=2)
    assert oversubscription(1, 4, {}, cpus=2) is None    # ranks alone: mpirun's choice


def test_apply_sets_the_environment_and_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        apply_threads(Threads(2, "test"))
        assert rank_threads() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("omp,configured,expected", [("2", 1, 2), (None, 3, 3), (None, None, 1)])
def test_md_follows_the_precedence(tmp_path, monkeypatch, capsys, omp, configured, expected):
    """``hpcml md`` used to set torch's threads from the config alone."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    model = small_committee().save(tmp_path / "ensemble.pt")
    cfg = tmp_path / "md.yaml"
    par = "" if configured is None else f"parallel: {{threads_per_rank: {configured}}}\n"
    cfg.write_text(f"{par}md: {{structure: '{embedded_water()}', steps: 2, model_devi_freq: 1, "
                   f"out: '{tmp_path / 'out'}'}}\n")
    try:
        assert main(["md", str(cfg), "--model", str(model)]) == 0
        assert torch.get_num_threads() == expected and rank_threads() == expected
    finally:
        torch.set_num_threads(before)
    said = "OMP_NUM_THREADS=2 (environment) overrides parallel.threads_per_rank=1"
    assert (said in capsys.readouterr().err) == (omp is not None)
