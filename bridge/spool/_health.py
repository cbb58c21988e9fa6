"""Whether the spool can be trusted and written to: corruption, a full disk, the check at open.

Two kinds of trouble, told apart by SQLite's error code:

* corruption (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``): the file is damaged. It stays damaged, so
  once seen it is remembered until the process ends; ``bridge spool recover`` is the way out.
* a full disk (``SQLITE_FULL``): remembered until a write succeeds again; the readiness probe
  makes such a write itself, so a server nobody sends to (because it said it was not ready)
  still notices when space comes back.

:meth:`SpoolHealth.check` is what ``/readyz`` asks (through :meth:`Spool.check_writable`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import NoReturn

from bridge.errors import BridgeError

__all__ = [
    "MIN_FREE_BYTES",
    "SpoolCorruptError",
    "SpoolFullError",
    "SpoolHealth",
    "integrity_problems",
    "is_corruption",
    "is_full",
    "raise_noted",
]

#: Below this much free space for the state directory the spool says it is not ready: one large
#: request (or the write-ahead log growing) would fail.
MIN_FREE_BYTES = 1 << 20


class SpoolCorruptError(BridgeError):
    """The spool's database file is damaged: stop the bridge and recover what can still be read.

    Attributes:
        path: the damaged file.
        problem: what SQLite found wrong (one line).
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"the spool {self.path} is corrupt ({problem}); with the bridge stopped, run `bridge spool check` "
            f"to see the damage and `bridge spool recover` to copy what can still be read into a fresh spool "
            f"(the damaged file is kept)"
        )


class SpoolFullError(BridgeError):
    """The disk under the spool is full (or nearly): free space; the spool takes writes again then."""


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # the primary code of an extended one


def is_corruption(exc: BaseException) -> bool:
    """Whether SQLite says the database file is damaged (or is not a database at all)."""
    return isinstance(exc, sqlite3.DatabaseError) and _code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def is_full(exc: BaseException) -> bool:
    """Whether SQLite says the disk (or the database's size limit) is full."""
    return isinstance(exc, sqlite3.DatabaseError) and _code(exc) == sqlite3.SQLITE_FULL


def integrity_problems(conn: sqlite3.Connection, *, thorough: bool = False, limit: int = 5) -> list[str]:
    """What SQLite's integrity check finds wrong with the database (``[]``: nothing).

    ``quick_check`` (the default) reads every page of every table once, which takes about 30 ms per
    60 MB cached, 1 s from a cold disk; ``thorough`` (``integrity_check``) also checks that the
    indexes match their tables.
    """
    pragma = "integrity_check" if thorough else "quick_check"
    try:
        rows = conn.execute(f"PRAGMA {pragma}({int(limit)})").fetchall()
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        return [str(exc)]
    # One problem per line (SQLite may put several in one row), ``*** in database main ***`` dropped.
    return [line.strip() for row in rows if row and row[0] != "ok" for line in str(row[0]).splitlines()
            if line.strip() and not line.startswith("*** in database")]


class SpoolHealth:
    """What the spool's connections learnt about its file and disk (thread-safe).

    Args:
        path: the spool's database file (its directory is where free space is measured).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.corrupt: str | None = None
        self.full: str | None = None

    def failed(self, exc: BaseException) -> BaseException:
        """Note an error SQLite raised; returns the error to raise (:class:`SpoolCorruptError` for corruption)."""
        if is_corruption(exc):
            with self._lock:
                self.corrupt = self.corrupt or str(exc)
            return SpoolCorruptError(self.path, str(exc))
        if is_full(exc):
            with self._lock:
                self.full = str(exc)
        return exc

    def wrote(self) -> None:
        """A write was committed: the disk takes writes again."""
        if self.full is not None:
            with self._lock:
                self.full = None

    def report_corruption(self, problem: str) -> None:
        """Note corruption another process found in this file (the delivery child)."""
        with self._lock:
            self.corrupt = self.corrupt or problem

    def check(self) -> None:
        """Raise if the file is known to be damaged or the disk is (nearly) full.

        Raises:
            SpoolCorruptError: corruption was seen.
            SpoolFullError: less than :data:`MIN_FREE_BYTES` free.
        """
        if self.corrupt is not None:
            raise SpoolCorruptError(self.path, self.corrupt)
        free = free_bytes(self.path.parent)
        if free is not None and free < MIN_FREE_BYTES:
            raise SpoolFullError(f"disk full: {free} bytes free for {self.path.parent} "
                                 f"(fewer than {MIN_FREE_BYTES}); free some space")

    def check_last_write(self) -> None:
        """Raise :class:`SpoolFullError` if the last write failed for lack of space (until one succeeds)."""
        full = self.full
        if full is not None:
            raise SpoolFullError(f"disk full: the last write to {self.path} failed ({full}); free some space")


def raise_noted(health: SpoolHealth, exc: BaseException) -> NoReturn:
    """Tell ``health`` about ``exc`` (raised by SQLite) and raise it, or what it means for the spool."""
    error = health.failed(exc)
    if error is exc:
        raise exc
    raise error from exc


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged process may still write under ``directory`` (``None`` if unknown)."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize
