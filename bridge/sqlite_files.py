"""The bridge's SQLite files (spool, lineage memory, status-page journal): how big their write-ahead log
may stay (:data:`WAL_SIZE_LIMIT`), and giving disk space back once what filled them is gone.

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

from bridge.logs import log_fields

__all__ = ["AUTO_VACUUM", "CONVERT_BELOW", "RECLAIM_ABOVE", "WAL_SIZE_LIMIT", "enable", "reclaim"]

log = logging.getLogger(__name__)

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
    time); returns the bytes given back. Call with no transaction open."""
    free = _pragma(conn, "freelist_count")  # (after nearly every commit: the usual answer is known from it)
    if not free:
        return 0
    page = _pragma(conn, "page_size")
    if free * page <= above or _pragma(conn, "auto_vacuum") != 2:
        return 0
    given = 0
    while free * page > above:
        pages = max(1, min(free - above // 4 // page, _CHUNK // page))
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
