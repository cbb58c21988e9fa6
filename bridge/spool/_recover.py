"""``bridge spool check`` and ``bridge spool recover``: find a damaged spool, save what can be read.

Recovery reads the damaged file through SQLite, by id: a scan from an id runs until it meets a
damaged page; the first id a scan can start from again is found by galloping and bisection, so
a damaged stretch costs a few dozen probes, whatever its size. Every row that can be read --
pending events and dead letters, with their ids -- goes into a fresh spool, which then replaces
the damaged one; the damaged file is kept beside it as ``spool.sqlite3.corrupt-<UTC time>``.

What cannot be counted exactly is what was lost: a damaged page no longer says how many rows it
held. The report gives the unreadable id ranges and their width, an upper bound (ids of events
delivered long ago fall in those ranges too).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import attrs

from bridge.errors import BridgeError
from bridge.spool._health import integrity_problems, is_corruption
from bridge.spool._records import SCHEMA
from bridge.spool._store import SPOOL_FILE, lock_state_dir
from bridge.sqlite_files import connect, connect_read_only

__all__ = ["CheckResult", "Recovery", "SpoolRecoveryError", "TableRecovery", "check_spool", "recover_spool"]

_COLUMNS = {
    "events": ("id", "bucket", "key", "body", "received", "attempts", "next_attempt", "last_error"),
    "dead": ("id", "event_id", "key", "body", "received", "failed_at", "attempts", "reason", "urn", "aspect",
             "status"),
}
_MAX_ID = 2**63 - 1  # SQLite's largest rowid
_BATCH = 1000


class SpoolRecoveryError(BridgeError):
    """The fresh spool could not be written (disk full, permissions): fix that and run the recovery again."""


@attrs.frozen(kw_only=True)
class CheckResult:
    """What ``bridge spool check`` found: ``problems`` is empty when the file is sound."""

    path: Path
    problems: list[str]
    pending: int | None = None
    dead: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@attrs.frozen(kw_only=True)
class TableRecovery:
    """One table's recovery.

    Attributes:
        saved: rows copied into the fresh spool.
        unreadable: id ranges (inclusive) that could not be read; an end of ``None``: up to the
            last id, which the damaged file no longer tells.
        invalid: rows read but unusable (a required column came back empty).
    """

    saved: int
    unreadable: list[tuple[int, int | None]]
    invalid: int = 0

    @property
    def lost_at_most(self) -> int | None:
        """Rows lost, at most: the unreadable ranges' width plus the unusable rows (``None``: unknown)."""
        if any(hi is None for _, hi in self.unreadable):
            return None
        return sum(hi - lo + 1 for lo, hi in self.unreadable if hi is not None) + self.invalid


@attrs.frozen(kw_only=True)
class Recovery:
    """What ``bridge spool recover`` did."""

    path: Path
    kept_as: Path
    events: TableRecovery
    dead: TableRecovery


def check_spool(state_dir: str | os.PathLike[str]) -> CheckResult:
    """Run SQLite's full integrity check on a state directory's spool (safe next to a running server).

    Returns:
        The problems found (none: the file is sound) and, if it is sound, the row counts.
    """
    path = Path(state_dir) / SPOOL_FILE
    try:
        conn = connect_read_only(path)
    except sqlite3.Error as exc:
        return CheckResult(path=path, problems=[str(exc)])
    try:
        problems = integrity_problems(conn, thorough=True, limit=20)
        if problems:
            return CheckResult(path=path, problems=problems)
        try:
            pending = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            dead = conn.execute("SELECT count(*) FROM dead").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if is_corruption(exc):
                return CheckResult(path=path, problems=[str(exc)])
            raise
        return CheckResult(path=path, problems=[], pending=pending, dead=dead)
    finally:
        conn.close()


def recover_spool(state_dir: str | os.PathLike[str], *, now: dt.datetime | None = None) -> Recovery:
    """Copy every readable row of a damaged spool into a fresh one, which takes its place.

    Holds the state directory's lock throughout: no server or consumer may run on it meanwhile.

    Args:
        state_dir: the state directory whose ``spool.sqlite3`` is damaged.
        now: names the kept file (``spool.sqlite3.corrupt-<now, UTC>``); the current time by default.

    Raises:
        SpoolLockedError: a bridge process is using the state directory.
        SpoolRecoveryError: the fresh spool could not be written (the damaged one is left in place).
    """
    state = Path(state_dir)
    path = state / SPOOL_FILE
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = path.with_name(f"{SPOOL_FILE}.corrupt-{stamp}")
    fresh = path.with_name(f"{SPOOL_FILE}.recovering")
    lock = lock_state_dir(state)
    try:
        try:
            results = _copy_readable(path, fresh)
        except (OSError, sqlite3.Error) as exc:
            fresh.unlink(missing_ok=True)
            raise SpoolRecoveryError(f"could not write the fresh spool {fresh}: {exc}; "
                                     f"{path} is left as it was") from exc
        for suffix in ("-wal", "-shm", "-journal"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                side.rename(f"{kept}{suffix}")
        path.rename(kept)
        fresh.rename(path)
        _fsync(state)
    finally:
        lock.close()
    return Recovery(path=path, kept_as=kept, events=results["events"], dead=results["dead"])


def _copy_readable(path: Path, fresh: Path) -> dict[str, TableRecovery]:
    """Build the fresh spool at ``fresh`` from what ``path`` still gives; returns what each table gave."""
    for leftover in (fresh, Path(f"{fresh}-journal")):
        leftover.unlink(missing_ok=True)  # an earlier recovery that was interrupted
    out = connect(fresh, synchronous="FULL", wal=False)  # (renamed when done: no write-ahead log beside it)
    try:
        out.executescript(SCHEMA)
        source = connect_read_only(path)  # (nothing is written to the damaged file)
        try:
            out.execute("BEGIN")
            last_ids = _last_ids(source)
            results = {table: _salvage(source, out, table, last_ids.get(table)) for table in _COLUMNS}
            for table, result in results.items():
                # Ids go on after the damaged spool's: a lost id is never handed out again.
                top = max([last_ids.get(table) or 0, *(hi or lo for lo, hi in result.unreadable)])
                out.execute("INSERT OR IGNORE INTO sqlite_sequence(name, seq) VALUES (?, 0)", (table,))
                out.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (top, table))
            out.execute("COMMIT")
        finally:
            source.close()
    finally:
        out.close()
    _fsync(fresh)
    return results


def _salvage(source: sqlite3.Connection, out: sqlite3.Connection, table: str, last_id: int | None) -> TableRecovery:
    """Copy the readable rows of ``table`` from ``source`` into ``out`` (same schema, same ids).

    ``last_id``: the last id the damaged spool handed out, if it still says (bounds the last range).
    """
    columns = _COLUMNS[table]
    select = f"SELECT {', '.join(columns)} FROM {table} WHERE id >= ? ORDER BY id"  # noqa: S608 - fixed names
    insert = f"INSERT OR IGNORE INTO {table}({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"

    def first(at: int) -> tuple[bool, tuple | None]:
        """(whether a scan can start at ``at``, the first row from there if any)."""
        try:
            rows = source.execute(select + " LIMIT 1", (at,)).fetchall()
        except sqlite3.DatabaseError:
            return False, None
        return True, rows[0] if rows else None

    saved = invalid = 0
    unreadable: list[tuple[int, int | None]] = []
    batch: list[tuple] = []

    def flush() -> None:
        nonlocal saved, invalid
        before = out.total_changes
        out.executemany(insert, batch)
        written = out.total_changes - before
        saved += written
        invalid += len(batch) - written  # NOT NULL columns that came back empty: not a usable row
        batch.clear()

    position = 1
    while True:
        last = None
        try:
            for row in source.execute(select, (position,)):
                batch.append(row)
                last = row[0]
                if len(batch) >= _BATCH:
                    flush()
            break  # read to the end
        except sqlite3.DatabaseError:
            pass
        if last is not None:
            # The cursor drops the row it had stepped to when the next step failed: start again after
            # the last row it gave.
            position = last + 1
            continue
        ok, row = first(position)
        if ok:
            if row is None:
                break
            batch.append(row)
            position = row[0] + 1
            continue
        flush()
        resume = _next_readable(lambda at: first(at)[0], position)
        if resume is None or (last_id is not None and resume > last_id):
            if last_id is None or position <= last_id:
                unreadable.append((position, last_id))
            break
        unreadable.append((position, resume - 1))
        position = resume
    flush()
    return TableRecovery(saved=saved, unreadable=unreadable, invalid=invalid)


def _next_readable(readable: Callable[[int], bool], start: int) -> int | None:
    """The first id after ``start`` (unreadable) a scan can start from, or ``None``.

    Gallops (start+1, +2, +4...) to a readable id, then bisects back to the first one.
    """
    step = 1
    while not readable(start + step):
        step *= 2
        if start + step > _MAX_ID:
            return None
    low, high = start + step // 2, start + step  # low cannot be read, high can
    while high - low > 1:
        middle = (low + high) // 2
        if readable(middle):
            high = middle
        else:
            low = middle
    return high


def _last_ids(source: sqlite3.Connection) -> dict[str, int]:
    """The last id each table handed out (``sqlite_sequence``), if that part of the file can be read."""
    try:
        return {name: seq for name, seq in source.execute("SELECT name, seq FROM sqlite_sequence")
                if isinstance(seq, int)}
    except sqlite3.DatabaseError:
        return {}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
