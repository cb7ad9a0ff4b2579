"""Every Slurm template of launch/jobs submitted with sbatch to a real one-node Slurm.

Tiny cases (8 water molecules with GFN1-xTB labels, a 2-member test model, 30
kinetic cells), all submitted at once so that the two CPUs stay busy; about
100 s in all on 2 cores, most of it the loop job, which is killed at its
one-minute time limit (``--signal=B:TERM@5``: Slurm sends it up to 30 s
early), requeues itself and must finish with every frame exactly once.
"""

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hpcml.explore.perturb import water_box
from hpcml.io import Frames
from hpcml.io.extxyz import write_extxyz
from hpcml.io.store import read_frames
from hpcml.testing.data import embedded_water
from hpcml.testing.loop import make_run
from hpcml.testing.models import small_committee
from hpcml.testing.slurm import FINAL_STATES

pytestmark = [pytest.mark.slurm,
              pytest.mark.skipif(shutil.which("cp2k.psmp") is None, reason="needs CP2K"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "launch" / "jobs"
ONE = ("--nodes=1", "--ntasks=1", "--ntasks-per-node=1", "--cpus-per-task=1", "--time=5")


@dataclass
class Job:
    id: str
    dir: Path
    before: dict = field(default_factory=dict)

    def output(self) -> str:
        return (self.dir / "job.out").read_text(errors="replace")


def job_env(slurm):
    env = slurm.env(HPCML_HOME=str(ROOT), HPCML_VENV=str(Path(sys.executable).parents[1]))
    for name in ("HPCML_NO_MPI", "OMP_NUM_THREADS"):
        env.pop(name, None)
    return env


def submit(slurm, name, directory, *args, options=ONE):
    job_id = slurm.sbatch(JOBS / f"slurm-{name}.sh", *args, options=(*options, "-o", "job.out"),
                          cwd=directory, env=job_env(slurm))
    return Job(job_id, directory)


def candidates(path: Path, n: int = 2) -> Path:
    s = water_box(2, seed=5)
    rng = np.random.default_rng(0)
    coord = np.concatenate([s.positions + rng.normal(0, 0.05, s.positions.shape)
                            for _ in range(n)])
    write_extxyz(Frames(s.type_map, {"natoms": [s.n_atoms] * n, "cell": np.repeat(
        s.cell[None], n, axis=0), "coord": coord, "atype": np.tile(s.types, n)}), path)
    return path


def prepare(tmp: Path) -> dict[str, tuple]:
    """The tiny case of every template: name -> (template, directory, args, sbatch options)."""
    cases = {}
    loop = make_run(tmp / "loop")                      # 2 iterations, ~1 minute on one core
    cases["loop"] = ("water-pbe", loop.parent, (loop.name, "--no-report"),
                     (*ONE[:4], "--time=1", "--signal=B:TERM@5"))
    demo = make_run(tmp / "demo")
    cases["demo"] = ("demo", demo.parent, ("--config", demo.name, "--max-iterations", "1",
                                           "--no-report"), ONE)
    (tmp / "train").mkdir()
    (tmp / "train" / "train.yaml").write_text(
        f"data: {{type_map: [O, H], systems: ['{embedded_water()}']}}\n"
        "model: {rcut: 3.5, rcut_smth: 0.5, sel: [16, 32], neuron: [4, 8], axis_neuron: 2,\n"
        "        fitting_neuron: [16, 16]}\n"
        "train: {steps: 20, n_models: 2, disp_freq: 10, save_freq: 10, out: ens}\n")
    cases["train"] = ("train", tmp / "train", ("train.yaml",), ONE)
    (tmp / "md").mkdir()
    small_committee().save(tmp / "md" / "ensemble.pt")
    (tmp / "md" / "md.yaml").write_text(
        f"md: {{structure: '{embedded_water()}', model: ensemble.pt, steps: 20, "
        "model_devi_freq: 5, trust_lo: 0.0, trust_hi: 10.0, out: out}\n")
    cases["md"] = ("md", tmp / "md", ("md.yaml",), ONE)
    (tmp / "label").mkdir()
    candidates(tmp / "label" / "candidates.xyz")
    (tmp / "label" / "label.yaml").write_text(
        "label: {candidates: candidates.xyz, out: labeled.h5, profile: slurm, "
        "ranks_per_task: 1, threads_per_task: 1, tasks_per_rank: 2, timeout: 120, "
        "scratch: delete}\n")
    cases["label"] = ("label", tmp / "label", ("label.yaml",), ONE)
    (tmp / "kinetic").mkdir()
    (tmp / "kinetic" / "k.yaml").write_text(
        "kinetic: {nx: 30, velocity: {n: 24}, t_end: 0.05, outputs: 2, out: m.h5}\n")
    cases["kinetic"] = ("kinetic", tmp / "kinetic", ("k.yaml", "--json"),
                        ("--nodes=1", "--ntasks=2", "--ntasks-per-node=2", "--cpus-per-task=1",
                         "--time=5"))
    return cases


@pytest.fixture(scope="module")
def jobs(slurm, tmp_path_factory):
    """Submit every case at once (the loop first: it runs longest); name -> Job."""
    tmp = tmp_path_factory.mktemp("jobs")
    start = time.monotonic()
    out = {name: submit(slurm, template, d, *args, options=opts)
           for name, (template, d, args, opts) in prepare(tmp).items()}
    yield out
    print(f"\nslurm jobs: all done {time.monotonic() - start:.0f} s after submission")


def finished(slurm, job: Job, timeout: float = 300.0) -> dict:
    info = slurm.wait(job.id, timeout)
    assert info["JobState"] == "COMPLETED", f"{info}\n{job.output()[-3000:]}"
    return info


def journal(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "journal.jsonl").read_text().splitlines()
            if line.strip()]


def frame_ids(frames: Frames) -> list[tuple]:
    return list(zip(frames["iteration"].tolist(), frames["system"].tolist(),
                    frames["frame_id"].tolist()))


def on_disk(workdir: Path) -> dict:
    """Stages done and frames written so far (the figures before and after the requeue)."""
    stores = {p: len(read_frames(p)) for p in sorted(workdir.glob("**/*.h5"))
              if "label-work" not in str(p) and "/work/" not in str(p)}
    done = [r["stage"] for r in journal(workdir) if r["event"] == "done"] \
        if (workdir / "journal.jsonl").exists() else []
    markers = len(list(workdir.glob("**/g[0-9]*/t[0-9]*.npz")))
    return {"stages_done": done, "frames_in_stores": sum(stores.values()),
            "stores": len(stores), "cp2k_tasks_done": markers}


def test_cluster_runs_steps(slurm):
    """srun starts 2 tasks and offers the pmix and pmi2 MPI plugins."""
    out = slurm.run(["srun", "-n", "2", "hostname"])
    assert out.stdout.split() == [slurm.host] * 2
    plugins = slurm.run(["srun", "--mpi=list"])
    assert "pmix" in plugins.stdout + plugins.stderr and "pmi2" in plugins.stdout + \
        plugins.stderr


def test_loop_job_killed_at_its_time_limit_requeues_and_loses_no_frame(slurm, jobs):
    job = jobs["loop"]
    workdir = job.dir / "run"
    end = time.monotonic() + 300
    while time.monotonic() < end:               # the moment it is back in the queue
        info = slurm.job(job.id)
        if int(info.get("Restarts", "0")) >= 1 or info.get("JobState") in FINAL_STATES:
            break
        time.sleep(0.5)
    job.before = on_disk(workdir)
    info = finished(slurm, job)
    after = on_disk(workdir)
    text = job.output()
    print(f"\nloop job {job.id}: restarts {info['Restarts']}; before the requeue "
          f"{job.before}; at the end {after}")
    assert int(info["Restarts"]) >= 1 and "TERM: time limit near" in text, text[-2000:]
    events = journal(workdir)
    assert sum(r["event"] == "run-start" for r in events) >= 2       # resumed
    assert events[-1]["event"] == "run-end"
    done = [r["stage"] for r in events if r["event"] == "done"]
    assert sorted(done) == sorted({"init", "iter.000/train", "iter.000/explore",
                                   "iter.000/label", "iter.001/train", "iter.001/explore",
                                   "iter.001/check"})             # each stage done once
    assert len(job.before["stages_done"]) < len(done)             # killed before the end
    # no lost or duplicated frame: the labeled frames are the selected ones, once each
    for i in (0,):
        selected = read_frames(workdir / f"iter.{i:03d}" / "01.explore" / "selected.h5")
        labeled = read_frames(workdir / f"iter.{i:03d}" / "02.label" / "labeled.h5")
        assert len(set(frame_ids(labeled))) == len(labeled) == len(selected) > 0
        assert set(frame_ids(labeled)) == set(frame_ids(selected))
    assert len(read_frames(workdir / "init" / "labeled.h5")) == 3
    for traj in workdir.glob("iter.*/01.explore/walker_*/traj.h5"):
        assert read_frames(traj)["frame_id"].tolist() == [10, 20, 30]
    for devi in workdir.glob("iter.*/01.explore/walker_*/devi.out"):
        assert np.loadtxt(devi)[:, 0].tolist() == list(range(0, 31, 5))


def test_demo_job(slurm, jobs):
    job = jobs["demo"]
    finished(slurm, job)
    events = journal(job.dir / "run")
    done = {r["stage"] for r in events if r["event"] == "done"}
    assert {"init", "iter.000/train", "iter.000/explore", "iter.000/check"} <= done
    assert events[-1]["event"] == "run-end"


def test_train_job(slurm, jobs):
    job = jobs["train"]
    finished(slurm, job)
    assert (job.dir / "ens" / "ensemble.pt").stat().st_size > 0
    assert "OMP_NUM_THREADS" not in job.output()          # threads agree: no override warning


def test_md_job(slurm, jobs):
    job = jobs["md"]
    finished(slurm, job)
    summary = json.loads((job.dir / "out" / "summary.json").read_text())
    assert summary["atoms"] == 192 and summary["candidates"] == 5
    assert read_frames(job.dir / "out" / "candidates.h5")["frame_id"].tolist() == \
        list(range(0, 21, 5))


def test_label_job_runs_each_cp2k_task_as_an_exact_srun_step(slurm, jobs):
    """Two frames, tasks_per_rank 2 on a 1-CPU allocation: capped to one step at a time,
    each frame its own step (steps 1 and 2; step 0 is hpcml)."""
    job = jobs["label"]
    finished(slurm, job)
    assert len(read_frames(job.dir / "labeled.h5")) == 2
    assert "running 1 at a time" in job.output()
    log = (slurm.root / "log" / "slurmd.log").read_text()
    steps = sorted(set(re.findall(rf"launch task StepId={job.id}\.(\d+)", log)), key=int)
    assert steps == ["0", "1", "2"], steps


def test_kinetic_job_on_two_ranks(slurm, jobs):
    job = jobs["kinetic"]
    finished(slurm, job)
    summary = json.loads(job.output().strip().splitlines()[-1])
    assert summary["ranks"] == 2 and max(summary["conservation"].values()) < 1e-12
    assert (job.dir / "m.h5").stat().st_size > 0


def test_templates_are_covered():
    """Every Slurm template has a case here (slurm-lib.sh is sourced by them)."""
    names = {p.name for p in JOBS.glob("slurm-*.sh")} - {"slurm-lib.sh"}
    assert names == {f"slurm-{n}.sh" for n in ("water-pbe", "demo", "train", "md", "label",
                                                "kinetic")}
    assert all(os.access(JOBS / n, os.X_OK) for n in names)
