"""The durable spool: an embedded SQLite database (WAL mode) under the state directory.

:class:`Spool` is the one door; the work is done by:

* :mod:`~bridge.spool._writer` -- the writer thread: every write but the intake's is committed
  there, many at once (group commit);
* :mod:`~bridge.spool._intake` -- the HTTP intake's own commits and the write-ahead log's flush;
* :mod:`~bridge.spool._queue` / :mod:`~bridge.spool._dead` -- what is written to and read from
  the ``events`` (waiting for delivery, in arrival order) and ``dead`` (dead letters) tables;
* :mod:`~bridge.spool._health` -- corruption and a full disk, for errors and ``/readyz``.

Reads (delivery workers, status) use a connection of their own; WAL lets them run while the
writer commits. The lineage memory is a file of its own (:mod:`bridge.lineage`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from bridge import sqlite_files as _space
from bridge.errors import ConfigError
from bridge.spool import _dead, _queue
from bridge.spool._health import (
    SpoolCorruptError,
    SpoolHealth,
    integrity_problems,
    is_corruption,
    raise_noted,
)
from bridge.spool._intake import IntakeWriter
from bridge.spool._records import SCHEMA, DeadLetter, PendingEvent, PendingEvents, Settlement, Source, upgrade
from bridge.spool._writer import GroupCommit, Op, SpoolClosedError

__all__ = ["DeadLetter", "PendingEvent", "Settlement", "Spool", "SpoolClosedError", "SpoolLockedError"]

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite3"
LOCK_FILE = "spool.lock"


class SpoolLockedError(ConfigError):
    """Another process already owns this state directory's spool."""


def lock_state_dir(state_dir: Path) -> IO[str]:
    """Take the state directory's lock (held while the returned file stays open).

    Raises:
        SpoolLockedError: another process holds it.
    """
    lock_file = open(state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the caller's lifetime
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock_file.close()
        raise SpoolLockedError(
            f"another bridge process is using the spool in {state_dir}; "
            "give each server/consumer its own --state-dir (or stop it first)"
        ) from exc
    return lock_file


#: The readiness probe's write after a write failed for lack of space: about a small request's worth.
PROBE_BYTES = 64 << 10


def _probe(conn: sqlite3.Connection) -> None:
    # Written and taken back in one transaction: it needs the space a request would (new pages, and
    # frames in the write-ahead log) and leaves nothing behind.
    conn.execute("INSERT OR REPLACE INTO probe(id, at, pad) VALUES (1, ?, zeroblob(?))", (time.time(), PROBE_BYTES))
    conn.execute("DELETE FROM probe")


class Spool:
    """Durable FIFO of events between intake and delivery.

    Args:
        state_dir: directory holding ``spool.sqlite3`` (created if missing).
        synchronous: SQLite ``synchronous`` level: ``FULL`` (survives power loss) or
            ``NORMAL`` (survives a killed process, not a power cut).
        max_group: most operations folded into one commit.
        exclusive: take the state directory's lock so no other server/consumer delivers from it.
        verify: run SQLite's quick integrity check first (reads the whole file once: about 1 s per
            60 MB from a cold disk, 30 ms cached); ``False`` where another process just did.

    Raises:
        SpoolLockedError: ``exclusive`` and another process holds the lock.
        SpoolCorruptError: the database file is damaged.
        ConfigError: the directory or database cannot be opened.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        max_group: int = 512,
        exclusive: bool = True,
        verify: bool = True,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigError(f"must be FULL, NORMAL or EXTRA, not {synchronous!r}", key="serve.synchronous")
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / SPOOL_FILE
        self._synchronous = synchronous.upper()
        self._health = SpoolHealth(self.path)
        self._lock_file: IO[str] | None = None
        conns: list[sqlite3.Connection] = []
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._lock_file = lock_state_dir(self.state_dir)
            conns.append(_space.connect(self.path, synchronous=self._synchronous))
            if verify and (problems := integrity_problems(conns[0], limit=2)):
                raise SpoolCorruptError(self.path, problems[0] + (" and more" if len(problems) > 1 else ""))
            conns[0].executescript(SCHEMA)
            upgrade(conns[0])
            if exclusive:  # (its owner: nobody else writes yet)
                _space.enable(conns[0], self.path)
            conns.append(_space.connect(self.path, synchronous=self._synchronous))
        except BaseException as exc:
            for conn in conns:
                conn.close()
            if self._lock_file is not None:
                self._lock_file.close()
            if isinstance(exc, sqlite3.Error):
                if is_corruption(exc):
                    raise SpoolCorruptError(self.path, str(exc)) from exc
                raise ConfigError(f"cannot open spool {self.path}: {exc}") from exc
            if isinstance(exc, OSError):
                raise ConfigError(f"cannot use state directory {self.state_dir}: {exc.strerror}") from exc
            raise
        self._writer = GroupCommit(conns[0], self._health, max_group=max_group)
        self._reader = conns[1]
        self._reader_lock = threading.Lock()
        self._intake = IntakeWriter(self.path, self._synchronous, self._health)
        self._closed = False

    # -- writes ----------------------------------------------------------------

    def submit(self, op: Op) -> concurrent.futures.Future:
        """Queue a write; the future resolves (to ``op``'s result) once it is committed."""
        return self._writer.submit(op)

    def append(self, items: Sequence[tuple[str, str]], *, received: float | None = None,
               sources: Sequence[Source] | None = None) -> concurrent.futures.Future:
        """Spool events; the future resolves to the number written once they are durable.

        Args:
            items: ``(ordering key, event JSON)`` pairs, in order; events with the same key
                (a job) are delivered in the order they were appended.
            received: arrival time (epoch seconds); now if omitted.
            sources: where each event was read from (``bridge consume``); an event from a place
                already in the queue is not spooled twice.
        """
        return self.submit(_queue.append_op(items, received, sources))

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

        Raises:
            SpoolCorruptError: the database file is damaged.
            sqlite3.Error: the write failed otherwise (``database or disk is full``...).
        """
        written = self._intake.append_now(items, received=received, wait=wait, sync=sync)
        if written is not None:
            self.wake()
        return written

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
        self._intake.sync_wal()

    def add_dead(self, items: Iterable[tuple[str, str, str]],
                 sources: Sequence[Source] | None = None) -> concurrent.futures.Future:
        """Dead-letter events that never made it into the queue (``(key, body, reason)``, and where
        each was read from)."""
        return self.submit(_dead.add_op(items, sources))

    def forget_sources(self, sources: Sequence[str] | None = None, *, dead: bool = False) -> concurrent.futures.Future:
        """Drop what was read from these sources (``topic[partition]``; ``None``: every source) and is
        not delivered yet: its offsets are not committed, so the partition's next reader reads it again.
        ``dead``: also the dead letters not yet sent to the dead-letter topic (their offsets wait for them)."""
        return self.submit(_queue.forget_op(sources, dead))

    def trim_dead(self, max_chars: int, *, forwarding: bool = False) -> concurrent.futures.Future:
        """Delete the oldest dead letters of consumed messages (``forwarding``: not waiting for the dead-letter
        topic) beyond the newest ones holding ``max_chars`` characters (see :func:`_dead.trim_op`); resolves
        to how many."""
        return self.submit(_dead.trim_op(max_chars, forwarding=forwarding))

    def forwarded(self, ids: Sequence[int]) -> concurrent.futures.Future:
        """Note that these dead letters were sent to the dead-letter topic."""
        return self.submit(_dead.forwarded_op(ids))

    def settle(self, settlement: Settlement) -> concurrent.futures.Future:
        """Record a delivery round: delivered events, dead letters, retries."""
        return self.submit(_queue.settle_op(settlement))

    def requeue_dead(self, ids: Sequence[int] | None = None) -> concurrent.futures.Future:
        """Move dead letters (all, or those ids) back to the queue; resolves to how many moved."""
        return self.submit(_dead.requeue_op(ids))

    def purge_dead(self, ids: Sequence[int] | None = None) -> concurrent.futures.Future:
        """Delete dead letters (all, or those ids); resolves to how many were deleted."""
        return self.submit(_dead.purge_op(ids))

    # -- health ----------------------------------------------------------------

    def check_writable(self, timeout: float = 5.0) -> None:
        """Readiness probe: raises, saying why, unless the spool can take writes.

        Round-trips an empty transaction through the writer. After a write failed for lack of
        space it writes a row instead, since only a real write shows the disk takes writes again
        (nobody else may be writing: a server that is not ready gets no requests).

        Raises:
            SpoolCorruptError: corruption was seen (by this process or its delivery child).
            SpoolFullError: the disk is full, or the last write failed for lack of space.
        """
        self._health.check()
        if self._health.full is not None:
            with contextlib.suppress(sqlite3.Error):  # noted by the writer: reported just below
                self.submit(_probe).result(timeout)
            self._health.check_last_write()
        self.submit(lambda conn: None).result(timeout)

    def report_corruption(self, problem: str) -> None:
        """Note corruption another process (the delivery child) found in this spool's file."""
        self._health.report_corruption(problem)

    @property
    def corruption(self) -> str | None:
        """What SQLite said when it found this spool's file damaged (``None``: nothing seen)."""
        return self._health.corrupt

    # -- reads -----------------------------------------------------------------

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return self._scan(sql, args, list)  # type: ignore[no-any-return]

    def _scan(self, sql: str, args: Sequence[Any], take: Callable[[Iterator[tuple]], Any]) -> Any:
        with self._reader_lock:
            try:
                cursor = self._reader.execute(sql, args)
                try:
                    return take(iter(cursor))
                finally:
                    cursor.close()  # (ends the read, also when ``take`` stopped early)
            except sqlite3.Error as exc:
                raise_noted(self._health, exc)

    def pending(self, *, limit: int, worker: int = 0, workers: int = 1, now: float | None = None,
                max_bytes: int | None = None) -> PendingEvents:
        """The next events due for delivery for one worker, oldest first: at most ``limit`` of them,
        and (``max_bytes``) no more bytes of event JSON than that, but always at least one; their
        total is the result's ``size``.

        A key with an event waiting for a retry is held back entirely, so a job's
        events are never delivered out of order.
        """
        return _queue.pending(self._scan, limit=limit, worker=worker, workers=workers, now=now,
                              max_bytes=max_bytes)

    def wait_for_new(self, timeout: float) -> None:
        """Block until something is committed (or ``timeout`` seconds pass)."""
        self._writer.wait_for_new(timeout)

    def wake(self) -> None:
        self._writer.wake()

    def depth(self) -> int:
        return _queue.depth(self._read)

    def dead_count(self) -> int:
        return _dead.count(self._read)

    def undelivered(self, *, forwarding: bool = False) -> dict[str, int]:
        """Per source (``topic[partition]``), the lowest offset not delivered yet (see :func:`_queue.undelivered`)."""
        return _queue.undelivered(self._read, forwarding=forwarding)

    def to_forward(self, limit: int = 500, *, max_chars: int | None = None) -> list[DeadLetter]:
        """Dead letters of consumed events waiting for the dead-letter topic (``max_chars``: holding about
        that many characters at most, at least one)."""
        return _dead.to_forward(self._read, limit=limit, max_chars=max_chars)

    def forward_count(self) -> int:
        """How many dead letters of consumed events wait for the dead-letter topic."""
        return _dead.forward_count(self._read)

    def status(self) -> dict[str, Any]:
        """Counts and ages: what ``bridge spool status`` prints."""
        return {"spool": str(self.path), **_queue.status(self._read)}

    def dead_letters(self, *, limit: int = 100, ids: Sequence[int] | None = None) -> list[DeadLetter]:
        return _dead.letters(self._read, limit=limit, ids=ids)

    # -- lifecycle -------------------------------------------------------------

    @property
    def commits(self) -> int:
        """Transactions committed (by the writer and the intake)."""
        return self._writer.commits + self._intake.commits

    @property
    def last_error(self) -> str | None:
        """The writer's last failed commit, until one succeeds."""
        return self._writer.last_error

    @property
    def writer_alive(self) -> bool:
        return self._writer.alive and not self._closed

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the database. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._intake.close()
        self._writer.close()
        with self._reader_lock:
            self._reader.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
