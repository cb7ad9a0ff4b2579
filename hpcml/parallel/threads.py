"""Threads per rank: one precedence for every subcommand.

1. ``OMP_NUM_THREADS`` set (not empty) in the environment wins: the job
   script knows the allocation (``export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK``
   in the Slurm templates, ``OMP_NUM_THREADS=1`` in the Makefile).
2. Otherwise ``parallel.threads_per_rank`` of the config (default 1).

:func:`resolve_threads` makes that choice and :func:`apply_threads` makes it
the process's: it sets ``OMP_NUM_THREADS`` (read by numpy's BLAS, torch and
the native kernels when they start) and, when torch is already imported,
``torch.set_num_threads``.  Code that sets torch's threads later reads
:func:`rank_threads`.  ``hpcml.cli.common.parallel_job`` does this for every
parallel subcommand, before the Context is built; a config value overridden
by a different ``OMP_NUM_THREADS`` is logged as a warning, and so are threads
that oversubscribe the CPUs (:func:`oversubscription`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from hpcml.errors import UserError

ENV = "OMP_NUM_THREADS"


@dataclass(frozen=True)
class Threads:
    """The threads of each rank and where the number comes from."""

    n: int
    source: str


def _parse(text: str) -> int | None:
    """Threads of an ``OMP_NUM_THREADS`` value (``"4"``, the outer level of ``"4,2"``).

    None when it is not a positive whole number.
    """
    head = text.split(",")[0].strip()
    return int(head) if head.isdigit() and int(head) > 0 else None


def resolve_threads(configured: int = 1, env: Mapping[str, str] | None = None) -> Threads:
    """Threads per rank: ``OMP_NUM_THREADS`` when set, else ``configured``.

    >>> resolve_threads(2, {}), resolve_threads(2, {"OMP_NUM_THREADS": "8"}).n
    (Threads(n=2, source='parallel.threads_per_rank'), 8)

    Raises
    ------
    UserError
        For an ``OMP_NUM_THREADS`` that is not a positive whole number.
    """
    env = os.environ if env is None else env
    value = env.get(ENV, "").strip()
    if not value:
        return Threads(max(int(configured), 1), "parallel.threads_per_rank")
    n = _parse(value)
    if n is None:
        raise UserError(f"{ENV}={value!r}: not a positive number of threads; set it to the "
                        "CPUs per rank (e.g. $SLURM_CPUS_PER_TASK) or unset it to use "
                        "parallel.threads_per_rank")
    return Threads(n, f"{ENV}={value} (environment)")


def apply_threads(threads: Threads) -> None:
    """Make ``threads`` this process's: ``OMP_NUM_THREADS`` and, if imported, torch's."""
    os.environ[ENV] = str(threads.n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads.n)


def rank_threads() -> int:
    """The threads of this rank (after :func:`apply_threads`; 1 when unset or invalid)."""
    return _parse(os.environ.get(ENV, "")) or 1


def conflict(configured: int | None, threads: Threads) -> str | None:
    """A warning when the environment overrides a different ``parallel.threads_per_rank``.

    ``configured`` is None when the config does not set the key.
    """
    if configured is None or configured == threads.n or not threads.source.startswith(ENV):
        return None
    return (f"{threads.source} overrides parallel.threads_per_rank={configured}: each rank "
            f"runs {threads.n} thread(s) (unset {ENV} to use the config's value)")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the node's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def oversubscription(threads: int, local_size: int, env: Mapping[str, str] | None = None,
                     cpus: int | None = None) -> str | None:
    """A warning when ranks x threads exceed the CPUs (only for threads > 1).

    In a Slurm step with ``SLURM_CPUS_PER_TASK`` each rank has that many CPUs;
    elsewhere the ``local_size`` ranks of the node share :func:`available_cpus`.
    Ranks alone above the cores (``mpirun --oversubscribe``) are the launcher's
    choice and not reported.
    """
    env = os.environ if env is None else env
    if threads <= 1:
        return None
    per_task = env.get("SLURM_CPUS_PER_TASK", "") if "SLURM_STEP_ID" in env else ""
    if per_task.isdigit():
        if threads > int(per_task):
            return (f"{threads} threads per rank but srun gave each rank SLURM_CPUS_PER_TASK="
                    f"{per_task} CPU(s): the threads share them; set OMP_NUM_THREADS="
                    f"$SLURM_CPUS_PER_TASK or raise srun -c")
        return None
    cpus = available_cpus() if cpus is None else cpus
    if threads * local_size > cpus:
        return (f"{local_size} rank(s) on this node x {threads} threads = "
                f"{threads * local_size} > {cpus} CPU(s): the cores are oversubscribed; "
                f"set {ENV} (or parallel.threads_per_rank) to {max(cpus // local_size, 1)}")
    return None
