"""Directory locks that say who holds them (label work directories, training outputs).

A lock is the file ``<directory>/.hpcml.lock``: JSON with the holder's host,
pid, command line and start time, plus an exclusive ``flock`` on it that the
kernel drops when the holder dies (even by ``kill -9``).  A second process
that meets a held lock stops with :class:`LockedError` naming the holder.  A
lock file left by a dead process on the same host is taken over with a
warning; one left on another host (where the pid cannot be checked) is
taken over only when the ``flock`` is free and is reported as well.

Used by rank 0 only: the other ranks of a job work under their root's lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from hpcml.errors import UserError

_log = logging.getLogger(__name__)

LOCK_NAME = ".hpcml.lock"


class LockedError(UserError):
    """The directory is locked by another live process."""


def holder_info() -> dict:
    """Who this process is: host, pid, command line, start time."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "command": " ".join([os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]]),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def describe(info: dict) -> str:
    """``pid 123 on host h (hpcml label c.yaml, since ...)`` for messages."""
    if not info:
        return "another process (its details are not written yet)"
    return (f"pid {info.get('pid', '?')} on host {info.get('host', '?')} "
            f"({info.get('command', '?')}, since {info.get('since', '?')})")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DirLock:
    """An exclusive lock on a directory (context manager; not re-entrant).

    Parameters
    ----------
    directory
        The directory to lock (created if missing).
    what
        What the directory is, for messages (``"label workdir"``).
    hint
        How to avoid the conflict, appended to the error message.
    """

    def __init__(self, directory: str | os.PathLike, what: str = "directory",
                 hint: str = ""):
        self.directory, self.what, self.hint = Path(directory), what, hint
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> DirLock:
        """Take the lock or raise :class:`LockedError` naming the holder.

        A file where the directory should be is a :class:`UserError`.
        """
        if self.directory.exists() and not self.directory.is_dir():
            raise UserError(f"{self.what} {self.directory}: is a file, not a directory; give "
                            "a new or existing directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if self._try_lock(fd) and self._same_file(fd):
                    self._claim(fd)
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise LockedError(f"{self.what} {self.directory}: cannot take the lock {self.path} "
                          "(it keeps changing); is another job starting there?")

    def _try_lock(self, fd: int) -> bool:
        """Flock ``fd``; raise LockedError when another process holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return self._check_pid_only(fd)  # no flock on this file system
            self._raise(_read(fd))
        return True

    def _check_pid_only(self, fd: int) -> bool:
        """Without flock: refuse a lock file of a live process on this host."""
        info = _read(fd)
        if info and not _stale(info):
            self._raise(info)
        return True

    def _raise(self, info: dict) -> None:
        raise LockedError(
            f"{self.what} {self.directory} is in use by {describe(info)}; wait for it to "
            f"finish or stop it{'; ' + self.hint if self.hint else ''}. If that process "
            f"is gone (e.g. on another host), delete {self.path}")

    def _same_file(self, fd: int) -> bool:
        """The locked file is still the one at ``self.path`` (not unlinked meanwhile)."""
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _claim(self, fd: int) -> None:
        """Warn about a stale holder, then write this process as the holder."""
        old = _read(fd)
        if old and old.get("pid") != os.getpid():
            where = "" if old.get("host") == socket.gethostname() else \
                " (on another host; its lock was released)"
            _log.warning("%s %s: taking over the stale lock of %s, which is no longer "
                         "running%s", self.what, self.directory, describe(old), where)
        data = json.dumps(holder_info()).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._fd is None:
            return
        try:
            if self._same_file(self._fd):
                self.path.unlink()
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> dict:
    """The JSON holder record in lock file ``fd`` ({} when empty or unreadable)."""
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace")
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def _stale(info: dict) -> bool:
    """A holder record of a dead process on this host."""
    return info.get("host") == socket.gethostname() and not pid_alive(int(info.get("pid", 0)))


def read_holder(directory: str | os.PathLike) -> dict:
    """The holder record of ``directory``'s lock ({} when unlocked)."""
    path = Path(directory) / LOCK_NAME
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}
