"""The durable spool: an embedded SQLite database (WAL mode) under the state directory.

Every write goes through one writer thread that commits whatever has queued up
in a single transaction (group commit): many concurrent producers waiting for
an acknowledgement share one ``fsync``. Reads (delivery workers, status) use
their own connections; WAL lets them run while the writer commits.

Tables: ``events`` (waiting for delivery, in arrival order) and ``dead`` (dead
letters with the reason). The lineage memory is a file of its own
(:mod:`bridge.lineage`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import functools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from bridge.logs import log_fields
from bridge.spool._records import (
    SCHEMA,
    DeadLetter,
    PendingEvent,
    Settlement,
    bucket_of,
)

__all__ = ["DeadLetter", "PendingEvent", "Settlement", "Spool", "SpoolClosedError", "SpoolLockedError"]

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite3"
LOCK_FILE = "spool.lock"


class SpoolClosedError(RuntimeError):
    """The spool was closed; nothing more can be written."""


class SpoolLockedError(ConfigError):
    """Another process already owns this state directory's spool."""


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Spool:
    """Durable FIFO of events between intake and delivery.

    Args:
        state_dir: directory holding ``spool.sqlite3`` (created if missing).
        synchronous: SQLite ``synchronous`` level: ``FULL`` (survives power loss) or
            ``NORMAL`` (survives a killed process, not a power cut).
        max_group: most operations folded into one commit.
        exclusive: take the state directory's lock so no other server/consumer delivers from it.

    Raises:
        SpoolLockedError: ``exclusive`` and another process holds the lock.
        ConfigError: the directory or database cannot be opened.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        max_group: int = 512,
        exclusive: bool = True,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigError(f"must be FULL, NORMAL or EXTRA, not {synchronous!r}", key="serve.synchronous")
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / SPOOL_FILE
        self._lock_file = None
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._lock_file = open(self.state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for our lifetime
                try:
                    fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError as exc:
                    self._lock_file.close()
                    raise SpoolLockedError(
                        f"another bridge process is using the spool in {self.state_dir}; "
                        "give each server/consumer its own --state-dir"
                    ) from exc
            self._conn = _connect(self.path, synchronous.upper())
            self._conn.executescript(SCHEMA)
            self._reader = _connect(self.path, synchronous.upper())
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open spool {self.path}: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot use state directory {self.state_dir}: {exc.strerror}") from exc
        self._reader_lock = threading.Lock()
        self._synchronous = synchronous.upper()
        self._intake: sqlite3.Connection | None = None
        self._intake_lock = threading.Lock()
        # The intake's event loop commits on its own connection, which never waits for a lock.
        self._intake_nowait: sqlite3.Connection | None = None
        self._nowait_lock = threading.Lock()
        self._nowait_sync = True
        self._wal_fd: int | None = None
        self._wal_lock = threading.Lock()
        self._max_group = max_group
        self._queue: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future] | None]
        self._queue = queue.SimpleQueue()
        self._closed = False
        self._new = threading.Condition()
        self._generation = 0
        self.commits = 0
        self.last_error: str | None = None
        self._writer = threading.Thread(target=self._write_loop, name="spool-writer", daemon=True)
        self._writer.start()

    # -- the writer thread ---------------------------------------------------

    def submit(self, op: Callable[[sqlite3.Connection], Any]) -> concurrent.futures.Future:
        """Queue a write; the future resolves (to ``op``'s result) once it is committed."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._closed:
            future.set_exception(SpoolClosedError("the spool is closed"))
            return future
        self._queue.put((op, future))
        return future

    def _write_loop(self) -> None:
        conn = self._conn
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            stop = False
            while len(group) < self._max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._commit_group(conn, group)
            if stop:
                return

    def _commit_group(self, conn: sqlite3.Connection, group: list[tuple[Callable, concurrent.futures.Future]]) -> None:
        results: list[tuple[concurrent.futures.Future, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in group:
                # A savepoint per operation: one failing operation does not undo the others.
                conn.execute("SAVEPOINT op")
                try:
                    results.append((future, True, op(conn)))
                    conn.execute("RELEASE op")
                except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((future, False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self.last_error = str(exc)
            log.error("spool commit failed", extra=log_fields(error=str(exc), operations=len(group)))
            for _, future in group:
                future.set_exception(exc)
            return
        self.commits += 1
        self.last_error = None
        for future, ok, value in results:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        with self._new:
            self._generation += 1
            self._new.notify_all()

    # -- writes ----------------------------------------------------------------

    def append(self, items: Sequence[tuple[str, str]], *, received: float | None = None) -> concurrent.futures.Future:
        """Spool events; the future resolves to the number written once they are durable.

        Args:
            items: ``(ordering key, event JSON)`` pairs, in order; events with the same key
                (a job) are delivered in the order they were appended.
            received: arrival time (epoch seconds); now if omitted.
        """
        now = time.time() if received is None else received
        rows = [(bucket_of(key), key, body, now) for key, body in items]

        def op(conn: sqlite3.Connection) -> int:
            conn.executemany("INSERT INTO events(bucket, key, body, received) VALUES (?,?,?,?)", rows)
            return len(rows)

        return self.submit(op)

    def append_now(self, items: Sequence[tuple[str, str]], *, received: float | None = None,
                   wait: bool = True, sync: bool = True) -> int | None:
        """Spool events and commit in the calling thread; returns how many were written.

        The HTTP intake calls this with everything that arrived since its last commit
        (its own group commit), first from its event loop with ``wait=False``, then, only
        if that finds the database busy, from its commit thread.

        Args:
            items: ``(ordering key, event JSON)`` pairs.
            received: arrival time (epoch seconds); now if omitted.
            wait: wait for a concurrent writer (the delivery side's transaction) to finish;
                with ``False`` nothing is written and ``None`` returned if there is one.
            sync: make the commit durable before returning (the connection's ``synchronous``
                level). ``False`` (only with ``wait=False``): the commit is written to the WAL
                but not flushed; the caller must call :meth:`sync_wal` before telling anyone the
                events are durable. That lets the next commit be written while the previous
                flush is still running.

        Returns:
            The number of events committed, or ``None`` (only with ``wait=False``) when busy.
        """
        now = time.time() if received is None else received
        rows = [(bucket_of(key), key, body, now) for key, body in items]
        if self._closed:
            raise SpoolClosedError("the spool is closed")
        if wait and not sync:
            raise ValueError("sync=False needs wait=False")
        lock = self._intake_lock if wait else self._nowait_lock
        if not lock.acquire(blocking=wait):
            return None
        try:
            conn = self._intake_conn(wait)
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
            raise
        finally:
            lock.release()
        self.wake()
        return len(rows)

    def sync_wal(self) -> None:
        """Flush the write-ahead log to stable storage (after ``append_now(..., sync=False)``).

        Every commit written before this call is durable when it returns -- what
        ``synchronous=FULL`` does inside each commit (an fdatasync of the WAL), done outside it so
        commits and flushes overlap. A commit written this way is either still in the WAL (flushed
        here) or was checkpointed into the database file, which SQLite syncs after a checkpoint
        and before it reuses the WAL.

        Raises:
            OSError: the flush failed: nothing written since the last successful flush is durable.
        """
        with self._wal_lock:
            fd = self._wal_fd
            if fd is None or os.fstat(fd).st_nlink == 0:
                # First use, or SQLite removed the file (it does when the last connection closes): open
                # the current WAL and sync the directory once so the file's own entry is durable too.
                if fd is not None:
                    os.close(fd)
                    self._wal_fd = None
                fd = os.open(f"{self.path}-wal", os.O_RDONLY | os.O_CLOEXEC)
                dir_fd = os.open(self.state_dir, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
                self._wal_fd = fd
        os.fdatasync(fd)

    def _intake_conn(self, wait: bool) -> sqlite3.Connection:
        conn = self._intake if wait else self._intake_nowait
        if conn is None:
            conn = _connect(self.path, self._synchronous)
            # Checkpoints (copying the WAL into the database) are left to the delivery side's
            # commits, off the acknowledgement path; this is only a backstop (~40 MB of WAL).
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            if wait:
                self._intake = conn
            else:
                conn.execute("PRAGMA busy_timeout=0")
                self._intake_nowait = conn
        return conn

    def add_dead(self, items: Iterable[tuple[str, str, str]]) -> concurrent.futures.Future:
        """Dead-letter events that never made it into the queue (``(key, body, reason)``)."""
        now = time.time()
        rows = [(key, body, now, now, 0, reason) for key, body, reason in items]

        def op(conn: sqlite3.Connection) -> int:
            conn.executemany(
                "INSERT INTO dead(key, body, received, failed_at, attempts, reason) VALUES (?,?,?,?,?,?)", rows
            )
            return len(rows)

        return self.submit(op)

    def settle(self, settlement: Settlement) -> concurrent.futures.Future:
        """Record a delivery round: delivered events, dead letters, retries."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            if settlement.dead:
                conn.executemany(
                    "INSERT INTO dead(event_id, key, body, received, failed_at, attempts, reason, urn, aspect, status)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        (e.id, e.key, e.body, e.received, now, e.attempts + 1, reason, urn, aspect, status)
                        for e, reason, urn, aspect, status in settlement.dead
                    ],
                )
            gone = settlement.done + [e.id for e, *_ in settlement.dead]
            if gone:
                conn.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in gone])
            if settlement.retry:
                conn.executemany(
                    "UPDATE events SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                    [(when, error[:2000], i) for i, when, error in settlement.retry],
                )

        return self.submit(op)

    def requeue_dead(self, ids: Sequence[int] | None = None) -> concurrent.futures.Future:
        """Move dead letters (all, or those ids) back to the queue; resolves to how many moved."""

        def op(conn: sqlite3.Connection) -> int:
            where, args = _ids_clause(ids)
            rows = conn.execute(f"SELECT id, key, body, received FROM dead {where} ORDER BY id", args).fetchall()
            conn.executemany(
                "INSERT INTO events(bucket, key, body, received) VALUES (?,?,?,?)",
                [(bucket_of(key), key, body, received) for _, key, body, received in rows],
            )
            conn.executemany("DELETE FROM dead WHERE id = ?", [(r[0],) for r in rows])
            return len(rows)

        return self.submit(op)

    def purge_dead(self, ids: Sequence[int] | None = None) -> concurrent.futures.Future:
        """Delete dead letters (all, or those ids); resolves to how many were deleted."""

        def op(conn: sqlite3.Connection) -> int:
            where, args = _ids_clause(ids)
            return conn.execute(f"DELETE FROM dead {where}", args).rowcount

        return self.submit(op)

    def check_writable(self, timeout: float = 5.0) -> None:
        """Round-trip an empty transaction through the writer (readiness probe)."""
        self.submit(lambda conn: None).result(timeout)

    # -- reads -----------------------------------------------------------------

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._reader_lock:
            return self._reader.execute(sql, args).fetchall()

    def pending(self, *, limit: int, worker: int = 0, workers: int = 1, now: float | None = None) -> list[PendingEvent]:
        """The next events due for delivery for one worker, oldest first.

        A key with an event waiting for a retry is held back entirely, so a job's
        events are never delivered out of order.
        """
        now = time.time() if now is None else now
        rows = self._read(
            "SELECT id, key, body, received, attempts FROM events"
            " WHERE next_attempt <= ?1 AND bucket % ?2 = ?3"
            " AND key NOT IN (SELECT key FROM events WHERE next_attempt > 0 AND next_attempt > ?1)"
            " ORDER BY id LIMIT ?4",
            (now, workers, worker, limit),
        )
        return [PendingEvent(*row) for row in rows]

    def wait_for_new(self, timeout: float) -> None:
        """Block until something is committed (or ``timeout`` seconds pass)."""
        with self._new:
            generation = self._generation
            self._new.wait_for(lambda: self._generation != generation or self._closed, timeout)

    def wake(self) -> None:
        with self._new:
            self._generation += 1
            self._new.notify_all()

    def depth(self) -> int:
        return self._read("SELECT count(*) FROM events")[0][0]

    def dead_count(self) -> int:
        return self._read("SELECT count(*) FROM dead")[0][0]

    def status(self) -> dict[str, Any]:
        """Counts and ages: what ``bridge spool status`` prints."""
        now = time.time()
        depth, oldest, retrying, max_attempts = self._read(
            "SELECT count(*), min(received), sum(attempts > 0), max(attempts) FROM events"
        )[0]
        dead, last_dead = self._read("SELECT count(*), max(failed_at) FROM dead")[0]
        errors = self._read(
            "SELECT last_error FROM events WHERE last_error IS NOT NULL ORDER BY id LIMIT 1"
        )
        return {
            "spool": str(self.path),
            "pending": depth,
            "oldest_pending_age_s": round(now - oldest, 3) if oldest else None,
            "retrying": retrying or 0,
            "max_attempts": max_attempts or 0,
            "last_error": errors[0][0] if errors else None,
            "dead": dead,
            "last_dead_at": last_dead,
        }

    def dead_letters(self, *, limit: int = 100, ids: Sequence[int] | None = None) -> list[DeadLetter]:
        where, args = _ids_clause(ids)
        rows = self._read(
            "SELECT id, key, body, received, failed_at, attempts, reason, urn, aspect, status"
            f" FROM dead {where} ORDER BY id LIMIT ?",
            (*args, limit),
        )
        return [
            DeadLetter(
                id=r[0], key=r[1], body=r[2], received=r[3], failed_at=r[4], attempts=r[5],
                reason=r[6], urn=r[7], aspect=r[8], status=r[9],
            )
            for r in rows
        ]

    # -- lifecycle -------------------------------------------------------------

    @property
    def writer_alive(self) -> bool:
        return self._writer.is_alive() and not self._closed

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the database. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self.wake()
        self._conn.close()
        with self._wal_lock:
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
        for lock, name in ((self._intake_lock, "_intake"), (self._nowait_lock, "_intake_nowait")):
            with lock:
                conn = getattr(self, name)
                if conn is not None:
                    conn.close()
        with self._reader_lock:
            self._reader.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ROWS_PER_STATEMENT = 500


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    return "INSERT INTO events(bucket, key, body, received) VALUES " + ",".join(["(?,?,?,?)"] * rows)


def _ids_clause(ids: Sequence[int] | None) -> tuple[str, tuple]:
    if ids is None:
        return "", ()
    ids = tuple(int(i) for i in ids)
    return f"WHERE id IN ({','.join('?' * len(ids)) or 'NULL'})", ids
