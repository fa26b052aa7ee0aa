"""One process per SQLite file: an OS lock on `<database>.lock`, held for the process's life.

SQLite serves a single Waypoint process (its run queue and start-up recovery assume nobody
else executes runs on the file). `flock` locks belong to the open file, so the kernel
releases them when the process exits for any reason, `kill -9` included: no stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from waypoint.storage.base import StorageError


class DatabaseInUse(StorageError):
    """Another live process holds the database file (`path`); `pid` is its process id
    (None when it could not be read)."""

    def __init__(self, path: Path, pid: int | None):
        self.path = path
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"SQLite database {path} is in use by {who} (lock file {path}.lock): "
            "SQLite serves one Waypoint process; stop the other one, or use PostgreSQL for several"
        )


class ProcessLock:
    """An exclusive, non-blocking `flock` on `<path>.lock` that records the holder's pid."""

    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `DatabaseInUse` at once (never waits)."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise DatabaseInUse(self.path, int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None
