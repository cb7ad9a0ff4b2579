"""A real single-node Slurm cluster in a scratch folder, for tests of the job templates.

Debian 12's ``slurm-wlm`` and ``munge`` (Slurm 22.05) run as root in a
container without systemd: :class:`LocalSlurm` writes a minimal
``slurm.conf`` in its folder (its own munge key and socket, free ports,
state, spool, logs), starts ``munged``, ``slurmctld`` and ``slurmd`` in the
foreground as child processes, waits until the node is idle, and stops
exactly those processes (by PID) at the end, after cancelling its jobs.
Nothing outside the folder is touched: another munged or Slurm on the
machine keeps running.  Commands talk to it through ``SLURM_CONF``
(:meth:`LocalSlurm.env`).

``cred_expire=10`` (``AuthInfo``) shortens the wait of a requeued job before
it may start again from Slurm's default 120 s to about 10 s.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

#: programs the cluster needs (Debian: slurm-wlm, munge)
PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "scontrol",
            "squeue", "sinfo", "scancel")
#: job states after which a job will not run again by itself
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "BOOT_FAIL", "DEADLINE", "PREEMPTED"}

CONF = """\
ClusterName=hpcmltest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.sock,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
MinJobAge=600
KillWait=5
InactiveLimit=0
MessageTimeout=20
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def missing() -> str | None:
    """Why a local cluster cannot start here (None when it can)."""
    absent = [p for p in PROGRAMS if shutil.which(p) is None]
    if absent:
        return (f"Slurm/munge not installed ({', '.join(absent)} missing): "
                "apt-get install slurm-wlm munge (launch/install.sh does)")
    if os.geteuid() != 0:
        return "the test cluster runs slurmd as root (SlurmUser=root); run the tests as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmError(RuntimeError):
    """The cluster did not start, or a job did not end in time."""


class LocalSlurm:
    """One-node Slurm in ``root`` (see the module docstring).

    Examples
    --------
    ``with LocalSlurm(tmp_path) as slurm: slurm.run(["srun", "-n", "2", "hostname"])``
    """

    def __init__(self, root: str | os.PathLike, cpus: int | None = None):
        self.root = Path(root).resolve()
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.conf = self.root / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}

    # --- start and stop ------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalSlurm:
        """Write the config, start munged, slurmctld and slurmd; wait for an idle node.

        Raises
        ------
        SlurmError
            Naming the daemon that failed and the end of its log.
        """
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o700)
        self.conf.write_text(CONF.format(host=self.host, root=self.root, cpus=self.cpus,
                                         ctld_port=_free_port(), slurmd_port=_free_port()))
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            subprocess.run(["mungekey", "-c", "-b", "1024", "-k", str(key)], check=True,
                           capture_output=True)
        munge = self.root / "munge"
        self._spawn("munged", ["munged", "-F", "--force", f"--socket={munge}/munge.sock",
                               f"--key-file={key}", f"--pid-file={munge}/munged.pid",
                               f"--seed-file={munge}/munged.seed",
                               f"--log-file={self.root}/log/munged.log"])
        self._wait_for(lambda: (munge / "munge.sock").exists(), 10, "munged")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait_for(self.node_idle, timeout, "slurmd")
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.root / "log" / f"{name}.stdout", "ab")    # noqa: SIM115 (kept open)
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env(),
                                            start_new_session=True)
        out.close()

    def _wait_for(self, ready: object, timeout: float, name: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise SlurmError(self._failure(dead[0], "exited"))
            if ready():
                return
            time.sleep(0.2)
        raise SlurmError(self._failure(name, f"not ready after {timeout:g} s"))

    def _failure(self, name: str, what: str) -> str:
        tails = []
        for log in (self.root / "log").glob(f"{name}*"):
            text = log.read_text(errors="replace").strip().splitlines()[-5:]
            tails.append(f"{log.name}: " + " | ".join(text))
        return f"{name} {what}; " + ("; ".join(tails) or "no log")

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel this cluster's jobs, then stop its daemons (only their PIDs)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.run(["scancel", "--full", "--quiet", "--user", "root"], check=False)
            end = time.monotonic() + timeout
            while time.monotonic() < end and self.squeue():
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- using it ------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a client command: this one with ``SLURM_CONF`` set."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))}
        env.update(SLURM_CONF=str(self.conf), **extra)
        return env

    def run(self, argv: list[str], check: bool = True, timeout: float = 120.0,
            **kw: object) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster (text output captured)."""
        kw.setdefault("env", self.env())
        return subprocess.run(argv, capture_output=True, text=True, check=check,
                              timeout=timeout, **kw)

    def node_idle(self) -> bool:
        """True when the node is up and idle."""
        out = self.run(["sinfo", "-h", "-n", self.host, "-o", "%T"], check=False, timeout=20)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def squeue(self) -> list[str]:
        """Ids of the jobs still in the queue (pending or running)."""
        out = self.run(["squeue", "-h", "-o", "%i"], check=False, timeout=20)
        return out.stdout.split() if out.returncode == 0 else []

    def sbatch(self, script: str | os.PathLike, *args: str, options: tuple[str, ...] = (),
               cwd: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> str:
        """Submit ``script args`` with sbatch ``options``; return the job id."""
        out = self.run(["sbatch", "--parsable", *options, str(script), *args],
                       cwd=cwd, env=env or self.env(), check=False)
        if out.returncode != 0:
            raise SlurmError(f"sbatch {' '.join(options)} {script} refused: "
                             f"{out.stderr.strip()}")
        return out.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` fields of a job (kept ``MinJobAge`` s after it ends)."""
        out = self.run(["scontrol", "show", "job", "-o", job_id], check=False, timeout=20)
        return dict(re.findall(r"(\w+)=(\S*)", out.stdout))

    def wait(self, job_id: str, timeout: float = 300.0) -> dict[str, str]:
        """Wait until the job reaches a final state; return its fields.

        Raises
        ------
        SlurmError
            When it is still queued or running after ``timeout`` seconds.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            info = self.job(job_id)
            if info.get("JobState") in FINAL_STATES:
                return info
            time.sleep(1.0)
        raise SlurmError(f"job {job_id} not finished after {timeout:g} s: {self.job(job_id)}")
