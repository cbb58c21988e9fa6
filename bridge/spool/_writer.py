"""The spool's writer: one thread that commits queued writes together (group commit).

Every write except the HTTP intake's own (see :mod:`bridge.spool._intake`) is an operation
(a function of the connection) handed to :meth:`GroupCommit.submit`. The thread takes whatever
has queued up and commits it in one transaction: many producers waiting for an acknowledgement
share one ``fsync``. Each operation runs in a savepoint, so one failing operation does not undo
the others.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from bridge.logs import log_fields
from bridge.spool._health import SpoolHealth
from bridge.sqlite_files import reclaim

__all__ = ["GroupCommit", "Op", "SpoolClosedError"]

log = logging.getLogger(__name__)

#: A write: runs inside the writer's transaction; its result resolves the caller's future.
Op = Callable[[sqlite3.Connection], Any]


class SpoolClosedError(RuntimeError):
    """The spool was closed; nothing more can be written."""


class GroupCommit:
    """The writer thread and its queue.

    Args:
        conn: the writer's own connection (closed by :meth:`close`).
        health: told about every failed commit, and about every commit that wrote something.
        max_group: most operations folded into one commit.
    """

    def __init__(self, conn: sqlite3.Connection, health: SpoolHealth, *, max_group: int = 512) -> None:
        self._conn = conn
        self._health = health
        self._max_group = max_group
        self._queue: queue.SimpleQueue[tuple[Op, concurrent.futures.Future] | None] = queue.SimpleQueue()
        self._closed = False
        self._new = threading.Condition()
        self._generation = 0
        self.commits = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="spool-writer", daemon=True)
        self._thread.start()

    def submit(self, op: Op) -> concurrent.futures.Future:
        """Queue a write; the future resolves (to ``op``'s result) once it is committed."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._closed:
            future.set_exception(SpoolClosedError("the spool is closed"))
            return future
        self._queue.put((op, future))
        return future

    def _loop(self) -> None:
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
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[tuple[Op, concurrent.futures.Future]]) -> None:
        conn = self._conn
        results: list[tuple[concurrent.futures.Future, bool, Any]] = []
        changes = conn.total_changes
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in group:
                conn.execute("SAVEPOINT op")
                try:
                    results.append((future, True, op(conn)))
                    conn.execute("RELEASE op")
                except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                    if not conn.in_transaction:
                        raise  # SQLite rolled back the whole transaction (disk full, I/O error): all fail
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((future, False, self._health.failed(exc)))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self.last_error = str(exc)
            error = self._health.failed(exc)
            log.error("spool commit failed", extra=log_fields(error=str(exc), operations=len(group)))
            for _, future in group:
                future.set_exception(error)
            return
        self.commits += 1
        self.last_error = None
        if conn.total_changes != changes:
            self._health.wrote()  # (an empty transaction, the readiness probe's, proves nothing)
        for future, ok, value in results:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self.wake()
        if conn.total_changes != changes:
            reclaim(conn)  # after deletes (delivered events, purged dead letters): the file gives the space back

    def wait_for_new(self, timeout: float) -> None:
        """Block until something is committed (or :meth:`wake` is called, or ``timeout`` seconds pass)."""
        with self._new:
            generation = self._generation
            self._new.wait_for(lambda: self._generation != generation or self._closed, timeout)

    def wake(self) -> None:
        """Wake whoever waits in :meth:`wait_for_new`."""
        with self._new:
            self._generation += 1
            self._new.notify_all()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def close(self) -> None:
        """Commit what is queued, stop the thread, close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self.wake()
        self._conn.close()
