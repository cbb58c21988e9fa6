"""The bridge's SQLite files (spool, lineage memory, status-page journal): how they are opened
(:func:`connect`, :func:`connect_read_only`), how big their write-ahead log may stay
(:data:`WAL_SIZE_LIMIT`), and giving disk space back once what filled them is gone.

SQLite keeps the pages of deleted rows as free pages inside the file and reuses them, but never
shrinks the file by itself: a burst of large events leaves the spool (or the status page's journal)
at its peak size for good. Files are created with ``auto_vacuum=INCREMENTAL`` (set before the first
table: :data:`AUTO_VACUUM`), and after deletes :func:`reclaim` moves the free pages off the end of the
file and truncates it, a few MiB per transaction, once there are more than
:data:`RECLAIM_ABOVE` bytes of them. In WAL mode the file shrinks at the next checkpoint; readers
keep reading their snapshot meanwhile (a checkpoint that finds one still reading an older snapshot
leaves the rest to the next checkpoint).

A file made before (``auto_vacuum=NONE``) can only switch with a full ``VACUUM``, which rewrites what
it holds: :func:`enable` does that when the file holds little (its owner, when it opens it).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from bridge.logs import LogThrottle, log_fields

__all__ = ["AUTO_VACUUM", "CONVERT_BELOW", "RECLAIM_ABOVE", "WAL_SIZE_LIMIT", "connect", "connect_read_only",
           "enable", "reclaim"]

log = logging.getLogger(__name__)
_throttle = LogThrottle(every=60.0)

#: After a checkpoint, the write-ahead log is cut back to this size (``PRAGMA journal_size_limit``).
#: SQLite reuses the log instead of shrinking it, so without a limit one large write (a burst, a big
#: re-queue) keeps its size on disk for good. Above the ~40 MB the intake lets the log reach between
#: checkpoints.
WAL_SIZE_LIMIT = 64 << 20

#: Run first on a new connection: takes effect on a new (empty) file, changes nothing on another.
AUTO_VACUUM = "PRAGMA auto_vacuum=INCREMENTAL"

#: Free space a file may keep (reused by the next writes) before :func:`reclaim` gives it back.
RECLAIM_ABOVE = 32 << 20
#: Most given back per transaction: others get the write lock between two.
_CHUNK = 16 << 20
#: An older file is switched to incremental vacuuming only while it holds less than this (the VACUUM
#: rewrites it, through the write-ahead log); a bigger one is switched at a later start.
CONVERT_BELOW = 64 << 20


def connect(path: Path, *, synchronous: str = "NORMAL", timeout: float = 30.0, wal: bool = True) -> sqlite3.Connection:
    """A connection to one of the bridge's files, in autocommit mode (``BEGIN`` is the caller's) and
    usable from any thread (the caller takes turns): a new file is incrementally vacuumed
    (:data:`AUTO_VACUUM`, before anything is written), in WAL mode (``wal``) with the log cut back to
    :data:`WAL_SIZE_LIMIT`; commits are as durable as ``synchronous`` says; a lock is waited for up to
    ``timeout`` seconds."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    try:
        conn.execute(AUTO_VACUUM)
        if wal:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def connect_read_only(path: Path, *, timeout: float = 10.0) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``): SQLite neither creates, checkpoints nor otherwise writes
    the file (its write-ahead log is read, as a normal open would)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False, timeout=timeout)  # fmt: skip


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def enable(conn: sqlite3.Connection, path: Path, *, below: int | None = None) -> bool:
    """Make the file at ``conn`` incrementally vacuumed; returns whether it is.

    A file made without it is rewritten (``VACUUM``) if it holds less than ``below`` bytes
    (:data:`CONVERT_BELOW`); call with no transaction open and nobody else writing.
    """
    if _pragma(conn, "auto_vacuum") == 2:
        return True
    below = CONVERT_BELOW if below is None else below
    page = _pragma(conn, "page_size")
    used = (_pragma(conn, "page_count") - _pragma(conn, "freelist_count")) * page
    if used >= below:
        return False
    try:
        conn.execute(AUTO_VACUUM)
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # (the file shrinks at the checkpoint)
    except sqlite3.Error as exc:  # (busy, or no room for the copy): the file works as it is; next start
        log.warning("could not switch the database to incremental vacuuming; it keeps its free space",
                    extra=log_fields(path=str(path), error=str(exc)))
        return False
    log.info("database switched to incremental vacuuming: it gives back free space from now on",
             extra=log_fields(path=str(path), bytes_kept=used))
    return _pragma(conn, "auto_vacuum") == 2


def reclaim(conn: sqlite3.Connection, *, above: int = RECLAIM_ABOVE) -> int:
    """Give free pages back (from an incrementally vacuumed file) while there are over ``above`` bytes
    of them, down to a quarter of that (so steady traffic does not shrink and grow the file all the
    time); returns the bytes given back. Call with no transaction open, as often as wanted: with
    nothing to give back it asks SQLite one question. It never raises: a failure (the file busy, the
    disk full) only leaves the pages free for reuse; it is logged (once a minute while it repeats)
    and the next call tries again."""
    try:
        given = _give_back(conn, above)
    except sqlite3.Error as exc:
        path = _file(conn)
        _throttle.log(log, logging.WARNING, "could not give a database's free space back to the disk; it is "
                      "reused for new writes", f"{path}:{exc}", path=path, error=str(exc))  # fmt: skip
        return 0
    if given:
        log.debug("database space given back", extra=log_fields(path=_file(conn), bytes=given))
    return given


def _file(conn: sqlite3.Connection) -> str:
    try:
        return str(conn.execute("PRAGMA database_list").fetchone()[2])
    except sqlite3.Error:
        return "?"


def _give_back(conn: sqlite3.Connection, above: int) -> int:
    free = _pragma(conn, "freelist_count")  # (after nearly every commit: the usual answer is known from it)
    if not free:
        return 0
    page = _pragma(conn, "page_size")
    if free * page <= above or _pragma(conn, "auto_vacuum") != 2:
        return 0
    given, keep = 0, above // 4 // page
    while free > keep:
        pages = max(1, min(free - keep, _CHUNK // page))
        # (executescript steps the pragma to its end: one execute() frees a single page)
        conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        now = _pragma(conn, "freelist_count")
        if now >= free:
            break
        given += (free - now) * page
        free = now
    if given:  # in WAL mode the file shrinks at a checkpoint; one that waits for no reader
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return given
