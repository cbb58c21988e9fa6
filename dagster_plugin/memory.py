"""Lineage memory that survives daemon restarts, kept next to the Dagster instance's own storage.

The pipeline merges lineage aspects with what it learned before, so a failed or
cancelled run never erases lineage learned from earlier runs. With an
in-process memory that guarantee would end at every daemon restart; this
:class:`~bridge.lineage.LineageMemory` keeps the merged aspects (and the
digests of delivered ones, so unchanged aspects are not re-sent after a
restart) in a small SQLite file under ``$DAGSTER_HOME/storage/lineage_bridge/``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from bridge.sqlite import add_touched_columns, forget_runs

__all__ = ["SqliteMemory", "memory_path_for"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS aspects (urn TEXT NOT NULL, aspect TEXT NOT NULL, value TEXT NOT NULL,
                                    touched REAL NOT NULL DEFAULT 0, PRIMARY KEY (urn, aspect));
CREATE TABLE IF NOT EXISTS delivered (urn TEXT NOT NULL, aspect TEXT NOT NULL, digest TEXT NOT NULL,
                                      touched REAL NOT NULL DEFAULT 0, PRIMARY KEY (urn, aspect));
"""
#: Seconds between two passes that drop the memory of old runs.
_FORGET_EVERY = 3600.0


def memory_path_for(instance: Any) -> Path | None:
    """Where the memory of this Dagster instance lives (None when the instance has no directory)."""
    root = getattr(instance, "root_directory", None)
    if not root:
        return None
    return Path(root) / "storage" / "lineage_bridge" / "memory.sqlite"


class SqliteMemory:
    """A thread-safe :class:`~bridge.lineage.LineageMemory` in one SQLite file (written through at once).

    Args:
        path: the database file (its directory is created).
        run_memory_days: what is remembered of a run (its steps' merged lineage, the digests of
            what was delivered for it) is dropped this long after it was last written, so the
            file does not grow with every run; jobs, flows and assets are kept. 0 = keep.
    """

    def __init__(self, path: str | Path, *, run_memory_days: float = 7.0) -> None:
        self.path = Path(path)
        self.run_memory_days = run_memory_days
        self._forgot_at = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives the process dying (a daemon restart) without an fsync per write
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            add_touched_columns(self._db, ("aspects", "delivered"), time.time())  # files of earlier versions
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the lineage memory at {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self.forget_old_runs()

    def forget_old_runs(self, now: float | None = None) -> int:
        """Drop what is remembered of runs last written more than ``run_memory_days`` ago; returns the rows dropped.

        Called when the memory opens and then at most hourly from :meth:`mark_delivered`.
        """
        now = time.time() if now is None else now
        keep = self.run_memory_days * 86_400
        if keep <= 0:
            return 0
        with self._lock:
            self._forgot_at = now
            return forget_runs(self._db, ("aspects", "delivered"), now - keep)

    def get_aspect(self, urn: str, aspect_name: str) -> Mapping[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM aspects WHERE urn = ? AND aspect = ?", (urn, aspect_name)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put_aspect(self, urn: str, aspect_name: str, value: Mapping[str, Any]) -> None:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO aspects VALUES (?, ?, ?, ?)", (urn, aspect_name, text, time.time()))

    def delivered_digest(self, urn: str, aspect_name: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT digest FROM delivered WHERE urn = ? AND aspect = ?", (urn, aspect_name)
            ).fetchone()
        return row[0] if row else None

    def mark_delivered(self, urn: str, aspect_name: str, digest: str) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO delivered VALUES (?, ?, ?, ?)", (urn, aspect_name, digest, now))
        if now - self._forgot_at > _FORGET_EVERY:
            self.forget_old_runs(now)

    def close(self) -> None:
        with self._lock:
            self._db.close()
