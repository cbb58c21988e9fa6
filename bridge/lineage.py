"""The lineage memory: what each destination already holds of what the bridge wrote.

Since the bridge writes lineage, tags, owners and properties as DataHub PATCHes
(see :mod:`translators.datahub.writes`), nothing it sends can erase what others
wrote, and a process that remembers nothing is still correct. The memory is an
optimisation on top: an aspect (or every operation of a patch) that this
destination already confirmed is not sent again -- Spark repeats the same
lineage in every RUNNING event. It is also what stale-edge expiry reads: the
last time each lineage edge was seen.

Rules:

* Keys include the destination (emitter kind plus server, bootstrap and topic, or
  file), so switching emitters sends everything to the new one.
* A value is remembered only after the destination confirmed it.
* Run-scoped rows (``urn:li:dataProcessInstance:...``) and timeseries points
  (``operation``, run events) are dropped some days after they were last seen
  (:meth:`LineageMemory.forget_old`); what jobs, flows and datasets hold is kept.

One class, :class:`LineageMemory`: a SQLite file where a state directory exists
(``bridge serve``/``consume``/``send``, the Dagster sensor beside its instance),
or an in-process SQLite database otherwise. Thread-safe; reads are served from a
bounded cache.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from bridge.errors import ConfigError

__all__ = ["DestinationMemory", "Entry", "LineageMemory", "RUN_URNS", "TIMESERIES_PREFIX"]

#: The key range of run URNs (``dataProcessInstance``), ``[start, end)``.
RUN_URNS = ("urn:li:dataProcessInstance:", "urn:li:dataProcessInstance;")
#: Path prefix of a timeseries point's slot (each point is remembered on its own: ``#<digest>``).
TIMESERIES_PREFIX = "#"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS destinations (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS written (
    dest INTEGER NOT NULL, urn TEXT NOT NULL, aspect TEXT NOT NULL, path TEXT NOT NULL,
    digest TEXT NOT NULL, edge INTEGER NOT NULL, seen REAL NOT NULL, sent REAL NOT NULL, value TEXT,
    PRIMARY KEY (dest, urn, aspect, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS written_edges ON written (dest, seen) WHERE edge = 1;
DROP TABLE IF EXISTS aspects;
DROP TABLE IF EXISTS delivered;
"""
# (``aspects``/``delivered``: the Dagster plugin's memory before it was keyed by destination.)


class Entry(NamedTuple):
    """What a destination holds at one (urn, aspect, path): a patch operation, or a whole aspect (path ``""``)."""

    digest: str
    edge: bool  # a lineage edge (stale-edge expiry may remove it)
    seen: float  # last time an event carried it (epoch seconds)
    sent: float  # last time the destination confirmed it
    value: str | None  # the aspect's JSON, for whole values that are merged over a run's events


_Slot = tuple[str, str, str]  # (urn, aspect, path)


class LineageMemory:
    """Where every destination's memory lives.

    Args:
        path: the SQLite file (its directory is created); ``None`` keeps the memory in this
            process only.
        cache_urns: entities whose rows are kept in memory (least recently used are re-read
            from the file when needed).

    Raises:
        ConfigError: the file cannot be opened.
    """

    def __init__(self, path: str | Path | None = None, *, cache_urns: int = 50_000) -> None:
        self.path = Path(path) if path is not None else None
        self.cache_urns = cache_urns
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", check_same_thread=False,
                                       isolation_level=None, timeout=30.0)  # fmt: skip
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                # a commit survives the process dying; the memory is an optimisation, not worth an fsync
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the lineage memory at {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._views: dict[str, DestinationMemory] = {}

    @classmethod
    def in_state_dir(cls, state_dir: str | Path) -> LineageMemory:
        """The memory of a state directory (``<state_dir>/memory.sqlite3``)."""
        return cls(Path(state_dir) / "memory.sqlite3")

    def destination(self, key: str, *, fresh: bool = False) -> DestinationMemory:
        """The memory of one destination.

        Args:
            key: names the destination (see :meth:`emitters.base.Emitter.destination`).
            fresh: the destination holds nothing the bridge wrote (a new file, the console):
                what was remembered of it is forgotten.
        """
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO destinations (key) VALUES (?)", (key,))
            dest_id = self._db.execute("SELECT id FROM destinations WHERE key = ?", (key,)).fetchone()[0]
            if fresh:
                self._db.execute("DELETE FROM written WHERE dest = ?", (dest_id,))
            view = self._views.get(key)
            if view is None or fresh:
                view = self._views[key] = DestinationMemory(self, dest_id, key)
            return view

    def forget_old(self, before: float) -> int:
        """Drop runs and timeseries points last seen before ``before`` (epoch seconds); returns the rows dropped.

        Every run and every point adds rows that matter only while their events arrive.
        """
        with self._lock:
            for view in self._views.values():
                view.commit()
            count = self._db.execute(
                "DELETE FROM written WHERE seen < ? AND ((urn >= ? AND urn < ?) OR (path >= ? AND path < ?))",
                (before, *RUN_URNS, TIMESERIES_PREFIX, chr(ord(TIMESERIES_PREFIX) + 1))).rowcount  # fmt: skip
            for view in self._views.values():
                view.clear_cache()
            return count

    def close(self) -> None:
        """Write what is pending and close the file. Safe to call twice."""
        with self._lock:
            for view in self._views.values():
                view.commit()
            self._db.close()

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, dest: int, rows: list[tuple[_Slot, Entry | None]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO written VALUES (?,?,?,?,?,?,?,?,?)",
                    [(dest, *slot, e.digest, int(e.edge), e.seen, e.sent, e.value)
                     for slot, e in rows if e is not None])  # fmt: skip
                self._db.executemany(
                    "DELETE FROM written WHERE dest = ? AND urn = ? AND aspect = ? AND path = ?",
                    [(dest, *slot) for slot, e in rows if e is None])  # fmt: skip
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise


class DestinationMemory:
    """What one destination holds of what the bridge wrote. Made by :meth:`LineageMemory.destination`."""

    def __init__(self, memory: LineageMemory, dest_id: int, key: str) -> None:
        self.key = key
        self._memory = memory
        self._dest = dest_id
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, dict[tuple[str, str], Entry]] = OrderedDict()
        self._pending: dict[_Slot, Entry | None] = {}

    def load(self, urns: Iterable[str]) -> None:
        """Read what is remembered of these entities in a few queries (before looking many up)."""
        with self._lock:
            missing = sorted({u for u in urns if u not in self._cache})
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._memory._query(
                f"SELECT urn, aspect, path, digest, edge, seen, sent, value FROM written "
                f"WHERE dest = ? AND urn IN ({marks})", (self._dest, *chunk))  # fmt: skip
            found: dict[str, dict[tuple[str, str], Entry]] = {u: {} for u in chunk}
            for urn, aspect, path, digest, edge, seen, sent, value in rows:
                found[urn][(aspect, path)] = Entry(digest, bool(edge), seen, sent, value)
            with self._lock:
                for (urn, aspect, path), entry in self._pending.items():
                    if urn in found:  # a write not yet committed is newer than the file
                        if entry is None:
                            found[urn].pop((aspect, path), None)
                        else:
                            found[urn][(aspect, path)] = entry
                for urn, entries in found.items():
                    if urn not in self._cache:
                        self._remember(urn, entries)

    def _remember(self, urn: str, entries: dict[tuple[str, str], Entry]) -> None:
        self._cache[urn] = entries
        self._cache.move_to_end(urn)
        while len(self._cache) > self._memory.cache_urns:
            self._cache.popitem(last=False)

    def _entries(self, urn: str) -> dict[tuple[str, str], Entry]:
        with self._lock:
            entries = self._cache.get(urn)
            if entries is not None:
                self._cache.move_to_end(urn)
                return entries
        self.load([urn])
        with self._lock:
            return self._cache.get(urn, {})

    def get(self, urn: str, aspect: str, path: str = "") -> Entry | None:
        """What the destination holds at this slot, or ``None``."""
        return self._entries(urn).get((aspect, path))

    def put(self, urn: str, aspect: str, path: str, entry: Entry) -> None:
        """Remember a confirmed write (committed with the next :meth:`commit`)."""
        entries = self._entries(urn)
        with self._lock:
            entries[(aspect, path)] = entry
            self._pending[(urn, aspect, path)] = entry

    def drop(self, urn: str, aspect: str, path: str) -> None:
        """Forget a slot (its edge was removed from the destination)."""
        entries = self._entries(urn)
        with self._lock:
            entries.pop((aspect, path), None)
            self._pending[(urn, aspect, path)] = None

    def stale_edges(self, before: float, limit: int = 1000) -> list[tuple[str, str, str]]:
        """Lineage edges last seen before ``before`` (epoch seconds): ``(urn, aspect, path)``."""
        self.commit()
        rows = self._memory._query(
            "SELECT urn, aspect, path FROM written WHERE dest = ? AND edge = 1 AND seen < ? LIMIT ?",
            (self._dest, before, limit))  # fmt: skip
        return [(u, a, p) for u, a, p in rows]

    def commit(self) -> None:
        """Write the remembered changes to the file (one transaction)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self._memory._write(self._dest, list(pending.items()))
        except sqlite3.Error:
            with self._lock:  # keep them for the next commit (newer writes win)
                for slot, entry in pending.items():
                    self._pending.setdefault(slot, entry)
            raise

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
