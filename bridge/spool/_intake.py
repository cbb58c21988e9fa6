"""The HTTP intake's own writes: committed in the calling thread, flushed apart from the commit.

The intake batches what arrived since its last commit itself (``bridge.intake``'s group commit)
and hands the batch to :meth:`IntakeWriter.append_now`: first from its event loop on a connection
that never waits for a lock, then, only if that finds the database busy, from its commit thread.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bridge.spool._health import SpoolHealth, raise_noted
from bridge.spool._records import bucket_of
from bridge.spool._writer import SpoolClosedError
from bridge.sqlite_files import connect

__all__ = ["IntakeWriter"]

_ROWS_PER_STATEMENT = 500


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    return "INSERT INTO events(bucket, key, body, received) VALUES " + ",".join(["(?,?,?,?)"] * rows)


class IntakeWriter:
    """The intake's connections to the spool and the write-ahead log's flush.

    Args:
        path: the spool's database file.
        synchronous: the spool's durability level.
        health: told about failed and successful writes.
    """

    def __init__(self, path: Path, synchronous: str, health: SpoolHealth) -> None:
        self.path = path
        self._synchronous = synchronous
        self._health = health
        self._wait: sqlite3.Connection | None = None
        self._wait_lock = threading.Lock()
        # The event loop commits on its own connection, which never waits for a lock.
        self._nowait: sqlite3.Connection | None = None
        self._nowait_lock = threading.Lock()
        self._nowait_sync = True
        self._wal_fd: int | None = None
        self._wal_lock = threading.Lock()
        self._closed = False
        self.commits = 0

    def append_now(self, items: Sequence[tuple[str, str]], *, received: float | None = None,
                   wait: bool = True, sync: bool = True) -> int | None:
        """See :meth:`bridge.spool.Spool.append_now`."""
        now = time.time() if received is None else received
        rows = [(bucket_of(key), key, body, now) for key, body in items]
        if self._closed:
            raise SpoolClosedError("the spool is closed")
        if wait and not sync:
            raise ValueError("sync=False needs wait=False")
        lock = self._wait_lock if wait else self._nowait_lock
        if not lock.acquire(blocking=wait):
            return None
        try:
            conn = self._conn(wait)
            if not wait and sync != self._nowait_sync:
                conn.execute(f"PRAGMA synchronous={self._synchronous if sync else 'NORMAL'}")
                self._nowait_sync = sync
            if len(rows) <= _ROWS_PER_STATEMENT:
                # One multi-row INSERT in autocommit mode: atomic, and a single sqlite3_step, so
                # the thread gives up and takes back the GIL once per commit instead of per row.
                conn.execute(_insert_sql(len(rows)), [value for row in rows for value in row])
            else:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                        chunk = rows[start:start + _ROWS_PER_STATEMENT]
                        conn.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
            self.commits += 1
        except sqlite3.OperationalError as exc:
            if not wait and exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None  # another writer holds the lock: nothing was written
            raise_noted(self._health, exc)
        except sqlite3.Error as exc:
            raise_noted(self._health, exc)
        finally:
            lock.release()
        self._health.wrote()
        return len(rows)

    def sync_wal(self) -> None:
        """See :meth:`bridge.spool.Spool.sync_wal`."""
        with self._wal_lock:
            fd = self._wal_fd
            if fd is None or os.fstat(fd).st_nlink == 0:
                # First use, or SQLite removed the file (it does when the last connection closes): open
                # the current WAL and sync the directory once so the file's own entry is durable too.
                if fd is not None:
                    os.close(fd)
                    self._wal_fd = None
                fd = os.open(f"{self.path}-wal", os.O_RDONLY | os.O_CLOEXEC)
                dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
                self._wal_fd = fd
        os.fdatasync(fd)

    def _conn(self, wait: bool) -> sqlite3.Connection:
        conn = self._wait if wait else self._nowait
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous)
            # Checkpoints (copying the WAL into the database) are left to the delivery side's
            # commits, off the acknowledgement path; this is only a backstop (~40 MB of WAL).
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            if wait:
                self._wait = conn
            else:
                conn.execute("PRAGMA busy_timeout=0")
                self._nowait = conn
        return conn

    def close(self) -> None:
        """Close the intake's connections and the WAL's descriptor."""
        self._closed = True
        with self._wal_lock:
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
        for lock, name in ((self._wait_lock, "_wait"), (self._nowait_lock, "_nowait")):
            with lock:
                conn = getattr(self, name)
                if conn is not None:
                    conn.close()
                    setattr(self, name, None)
