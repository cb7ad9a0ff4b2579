"""The run journal: one append-only JSON-lines file per run directory.

Every stage of the loop (``init``, ``iter.000/train``, ``iter.000/explore``,
``iter.000/label``, ..., ``check``) writes a ``start`` record when it begins
and a ``done`` record, with its summary, after its outputs are complete on
disk.  A stage is finished exactly when its ``done`` record is in the journal,
so a run killed at any moment resumes at the first unfinished stage; the
stages themselves resume their own partial work (training checkpoints, MD
checkpoints, per-task CP2K markers).  Records are written by one process,
flushed and fsync'ed; a torn last line (kill during a write) is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

_log = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"


@dataclass
class StageRecord:
    """What the journal knows about one stage."""

    name: str
    starts: list[float] = field(default_factory=list)   # unix times of each attempt
    done: float | None = None                           # unix time of the done record
    seconds: float = 0.0                                 # wall time of the finishing attempt
    summary: dict = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        """How often the stage was started (1 + restarts after a kill)."""
        return len(self.starts)


class Journal:
    """Reader/writer of ``WORKDIR/journal.jsonl``.

    Parameters
    ----------
    workdir
        The run directory.
    writable
        True on the one process that writes (rank 0); others only read.
    """

    def __init__(self, workdir: str | os.PathLike, writable: bool = True):
        self.path = Path(workdir) / JOURNAL
        self.writable = writable
        self.stages: dict[str, StageRecord] = {}
        self.events: list[dict] = []
        self._load()

    def _load(self) -> None:
        """Read every complete record of the file (a torn last line is skipped)."""
        if not self.path.exists():
            return
        for number, raw in enumerate(self.path.read_bytes().splitlines(), 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                from hpcml.errors import DataError

                raise DataError(f"{self.path}:{number}: not UTF-8 text, so not a record "
                                "hpcml wrote (the file is damaged); restore it or delete "
                                "that line (its stage then runs again)") from None
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                _log.warning("%s:%d: ignoring a torn record (the job was killed while "
                             "writing it)", self.path, number)
                continue
            self._apply(record)

    def _apply(self, record: dict) -> None:
        """Fold one record into :attr:`stages`."""
        self.events.append(record)
        name = record.get("stage")
        if name is None:
            return
        stage = self.stages.setdefault(name, StageRecord(name))
        if record["event"] == "start":
            stage.starts.append(record["time"])
        elif record["event"] == "done":
            stage.done = record["time"]
            stage.seconds = record.get("seconds", 0.0)
            stage.summary = record.get("summary", {})

    def _write(self, record: dict) -> None:
        """Append one record durably (rank 0 only)."""
        self._apply(record)
        if not self.writable:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, sort_keys=True) + "\n"
        with self.path.open("a+b") as fh:
            # a torn line from a killed write must not glue onto this record
            if fh.seek(0, os.SEEK_END):
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    text = "\n" + text
            fh.write(text.encode())
            fh.flush()
            os.fsync(fh.fileno())

    def is_done(self, name: str) -> bool:
        """True when stage ``name`` has a done record."""
        stage = self.stages.get(name)
        return stage is not None and stage.done is not None

    def summary(self, name: str) -> dict:
        """Summary of a finished stage (empty when not finished)."""
        stage = self.stages.get(name)
        return stage.summary if stage is not None else {}

    def start(self, name: str) -> float:
        """Record that stage ``name`` starts; returns the start time."""
        now = time.time()
        self._write({"event": "start", "stage": name, "time": now})
        return now

    def done(self, name: str, started: float, summary: dict) -> None:
        """Record that stage ``name`` finished with ``summary`` (JSON-serialisable)."""
        now = time.time()
        self._write({"event": "done", "stage": name, "time": now,
                     "seconds": now - started, "summary": summary})

    def note(self, event: str, **data: object) -> None:
        """Record a run-level event (``run-start``, ``converged``, ``stopped``...)."""
        self._write({"event": event, "time": time.time(), **data})

    def last(self, event: str) -> dict | None:
        """The latest run-level record of kind ``event``, or None."""
        for record in reversed(self.events):
            if record.get("event") == event:
                return record
        return None
