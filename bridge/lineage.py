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
* Runs known by two names are kept in the same file apart from every destination
  (:class:`~bridge.run_names.RunNames`: facts of naming, true for every destination),
  and dropped like runs.

One class, :class:`LineageMemory`: a SQLite file where a state directory exists
(``bridge serve``/``consume``/``send``, the Dagster sensor beside its instance),
or an in-process SQLite database otherwise. Thread-safe; reads are served from a
bounded cache.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from bridge.errors import ConfigError
from bridge.logs import log_fields
from bridge.run_names import RunNames
from bridge.sqlite_files import connect, enable, reclaim

__all__ = ["DestinationMemory", "Entry", "LineageMemory", "MEMORY_FILE", "RUN_URNS", "TIMESERIES_PATH"]

#: The memory's file in a state directory.
MEMORY_FILE = "memory.sqlite3"
#: The key range of run URNs (``dataProcessInstance``), ``[start, end)``.
RUN_URNS = ("urn:li:dataProcessInstance:", "urn:li:dataProcessInstance;")
#: The path of a timeseries aspect's one slot: the last point sent (``operation``, run events).
TIMESERIES_PATH = "#"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS destinations (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS written (
    dest INTEGER NOT NULL, urn TEXT NOT NULL, aspect TEXT NOT NULL, path TEXT NOT NULL,
    digest TEXT NOT NULL, edge INTEGER NOT NULL, seen REAL NOT NULL, sent REAL NOT NULL, value TEXT,
    PRIMARY KEY (dest, urn, aspect, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS written_edges ON written (dest, seen) WHERE edge = 1;
CREATE INDEX IF NOT EXISTS written_edge_paths ON written (path) WHERE edge = 1;
-- runs known by two names (bridge.run_names): a run's other URN (the key lookups go by) -> its URN
CREATE TABLE IF NOT EXISTS run_names (alias TEXT PRIMARY KEY, urn TEXT NOT NULL, seen REAL NOT NULL) WITHOUT ROWID;
DROP TABLE IF EXISTS aspects;
DROP TABLE IF EXISTS delivered;
"""
# (``aspects``/``delivered``: the Dagster plugin's memory before it was keyed by destination.)
# (``written_edge_paths``: the status page finds the edges pointing at an entity by their path,
# ``/outputDatasetEdges/<its URN>``; created here, at open, in files of earlier versions too.)

#: Where files of earlier versions kept run names: a pseudo-destination of this key, at a run's other
#: URN, aspect ``@runAlias``, path ``""``, with the URN the run was given as the value.
_OLD_RUN_NAMES = "(other names of runs)"


class Entry(NamedTuple):
    """What a destination holds at one (urn, aspect, path): a patch operation, or a whole aspect (path ``""``)."""

    digest: str
    edge: bool  # a lineage edge (stale-edge expiry may remove it)
    seen: float  # last time an event carried it (epoch seconds)
    sent: float  # last time the destination confirmed it
    value: str | None  # the aspect's JSON, for whole values that are merged over a run's events


_Rows = dict[str, dict[tuple[str, str], "Entry | None"]]  # urn -> (aspect, path) -> entry (None: forget)

log = logging.getLogger(__name__)


def _connect(path: Path | None) -> sqlite3.Connection:
    """The file's connection (``synchronous=NORMAL``: a commit survives the process dying; the memory is
    an optimisation, not worth an fsync), or an in-process database."""
    if path is None:
        return sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    return connect(path)


def _move_old_run_names(db: sqlite3.Connection) -> None:
    """Move the run names of a file of an earlier version to their table (the newer of two wins)."""
    find = "SELECT id FROM destinations WHERE key = ?"
    if db.execute(find, (_OLD_RUN_NAMES,)).fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(find, (_OLD_RUN_NAMES,)).fetchone()
        if row is not None:  # (None: another process opening the file moved them meanwhile)
            db.execute(
                "INSERT INTO run_names SELECT urn, value, seen FROM written "
                "WHERE dest = ? AND aspect = '@runAlias' AND path = '' AND value IS NOT NULL "
                "ON CONFLICT (alias) DO UPDATE SET urn = excluded.urn, seen = excluded.seen "
                "WHERE excluded.seen > run_names.seen", row)  # fmt: skip
            db.execute("DELETE FROM written WHERE dest = ?", row)
            db.execute("DELETE FROM destinations WHERE id = ?", row)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class LineageMemory:
    """Where every destination's memory lives.

    Args:
        path: the SQLite file (its directory is created); ``None`` keeps the memory in this
            process only.
        cache_urns: entities whose rows are kept in memory (those loaded longest ago are
            dropped first, and re-read from the file when needed).

    Raises:
        ConfigError: the file cannot be opened.
    """

    def __init__(self, path: str | Path | None = None, *, cache_urns: int = 50_000) -> None:
        self.path = Path(path) if path is not None else None
        self.cache_urns = cache_urns
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _connect(self.path)
            self._db.executescript(_SCHEMA)
            _move_old_run_names(self._db)
            if self.path is not None:  # a file of an earlier version, if small, gives space back from now on
                enable(self._db, self.path)
            # A file is written by a thread of its own, on its own connection: a delivery round
            # hands its confirmed writes over and goes on (see DestinationMemory.commit).
            self._writer_db = _connect(self.path) if self.path is not None else None
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the lineage memory at {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        #: Runs known by two names.
        self.run_names = RunNames(self._db, self._lock)
        self._views: dict[str, DestinationMemory] = {}
        self._queue: queue.SimpleQueue[tuple[DestinationMemory, _Rows] | None] = queue.SimpleQueue()
        self._queued = 0
        self._idle = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closed = False

    @classmethod
    def in_state_dir(cls, state_dir: str | Path) -> LineageMemory:
        """The memory of a state directory (``<state_dir>/memory.sqlite3``)."""
        return cls(Path(state_dir) / MEMORY_FILE)

    def destination(self, key: str, *, fresh: bool = False) -> DestinationMemory:
        """The memory of one destination.

        Args:
            key: names the destination (see :meth:`emitters.base.Emitter.destination`).
            fresh: the destination holds nothing the bridge wrote (a new file, the console):
                what was remembered of it is forgotten.
        """
        if fresh:
            self.flush()  # what the writer still holds of it must not land after the reset
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
        """Drop runs, their other names and timeseries points last seen before ``before`` (epoch seconds),
        giving their space back to the disk; returns the rows dropped.

        Every run and every point adds rows that matter only while their events arrive.
        """
        self.flush()
        with self._lock:
            count = self._db.execute(
                "DELETE FROM written WHERE seen < ? AND ((urn >= ? AND urn < ?) OR path = ?)",
                (before, *RUN_URNS, TIMESERIES_PATH)).rowcount  # fmt: skip
            count += self.run_names.forget(before)
            for view in self._views.values():
                view.clear_cache()
            if count:  # the space of what went is given back: a burst of runs does not keep the file large
                reclaim(self._db)
            return count

    def summary(self) -> list[dict[str, Any]]:
        """Per destination: how many entities, slots and lineage edges are remembered."""
        rows = self._query(
            "SELECT d.key, count(DISTINCT w.urn), count(w.urn), coalesce(sum(w.edge), 0) FROM destinations d "
            "LEFT JOIN written w ON w.dest = d.id GROUP BY d.key ORDER BY d.key", ())  # fmt: skip
        return [{"destination": k, "entities": e, "slots": s, "edges": g} for k, e, s, g in rows]

    def flush(self) -> None:
        """Commit every destination's pending writes and wait until the file has them."""
        for view in list(self._views.values()):
            view.commit()
        with self._idle:
            self._idle.wait_for(lambda: self._queued == 0)

    def close(self) -> None:
        """Write what is pending and close the file. Safe to call twice."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
        with self._lock:
            self._db.close()
            if self._writer_db is not None:
                self._writer_db.close()

    def _query(self, sql: str, args: tuple[Any, ...], *, wait: bool = True) -> list[tuple[Any, ...]]:
        """Read (by default once the writes handed over are in the file; ``load`` overlays them instead)."""
        if wait:
            self.flush()
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _submit(self, view: DestinationMemory, rows: _Rows) -> None:
        if self._closed:  # a late round after close(): nothing to write to (at worst, sent again)
            view._written(rows)
            return
        if self._writer_db is None:  # in process: write at once, on the one connection
            with self._lock:
                _write(self._db, view._dest, rows)
            view._written(rows)
            return
        with self._idle:
            self._queued += 1
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="lineage-memory", daemon=True)
                self._writer.start()
        self._queue.put((view, rows))

    def _write_loop(self) -> None:
        assert self._writer_db is not None
        while (item := self._queue.get()) is not None:
            view, rows = item
            try:
                _write(self._writer_db, view._dest, rows)
            except Exception as exc:  # noqa: BLE001 - an optimisation: what is not remembered is sent again
                log.warning("lineage memory write failed", extra=log_fields(entities=len(rows), error=str(exc)))
            finally:
                view._written(rows)
                with self._idle:
                    self._queued -= 1
                    self._idle.notify_all()


def _write(db: sqlite3.Connection, dest: int, rows: _Rows) -> None:
    db.execute("BEGIN")
    try:
        db.executemany(
            "INSERT OR REPLACE INTO written VALUES (?,?,?,?,?,?,?,?,?)",
            [(dest, urn, *slot, e.digest, int(e.edge), e.seen, e.sent, e.value)
             for urn, slots in rows.items() for slot, e in slots.items() if e is not None])  # fmt: skip
        db.executemany(
            "DELETE FROM written WHERE dest = ? AND urn = ? AND aspect = ? AND path = ?",
            [(dest, urn, *slot) for urn, slots in rows.items() for slot, e in slots.items() if e is None])  # fmt: skip
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class DestinationMemory:
    """What one destination holds of what the bridge wrote. Made by :meth:`LineageMemory.destination`."""

    def __init__(self, memory: LineageMemory, dest_id: int, key: str) -> None:
        self.key = key
        self._memory = memory
        self._dest = dest_id
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, dict[tuple[str, str], Entry]] = OrderedDict()
        self._pending: _Rows = {}
        self._writing: list[_Rows] = []  # handed to the writer, not yet in the file (oldest first)

    def load(self, urns: Iterable[str]) -> None:
        """Read what is remembered of these entities in a few queries (before looking many up)."""
        wanted = set(urns)
        with self._lock:
            missing = sorted(u for u in wanted if u not in self._cache)
            for urn in wanted.difference(missing):
                self._cache.move_to_end(urn)
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                writing = list(self._writing)  # read before the file: a batch written meanwhile is in both
            rows = self._memory._query(
                f"SELECT urn, aspect, path, digest, edge, seen, sent, value FROM written "
                f"WHERE dest = ? AND urn IN ({marks})", (self._dest, *chunk), wait=False)  # fmt: skip
            found: dict[str, dict[tuple[str, str], Entry]] = {u: {} for u in chunk}
            for urn, aspect, path, digest, edge, seen, sent, value in rows:
                found[urn][(aspect, path)] = Entry(digest, bool(edge), seen, sent, value)
            with self._lock:
                # writes not yet in the file are newer than it: the writer's batches (those handed over
                # before the read, and since), then what is pending
                batches = [*writing, *(b for b in self._writing if all(b is not w for w in writing)),
                           self._pending]
                for urn, entries in found.items():
                    for batch in batches:
                        for slot, entry in batch.get(urn, {}).items():
                            if entry is None:
                                entries.pop(slot, None)
                            else:
                                entries[slot] = entry
                for urn, entries in found.items():
                    self._cache.setdefault(urn, entries)
        with self._lock:  # a round's entities all stay, even when there are more than the cache holds
            while len(self._cache) > max(self._memory.cache_urns, len(wanted)):
                self._cache.popitem(last=False)

    def _entries(self, urn: str) -> dict[tuple[str, str], Entry]:
        entries = self._cache.get(urn)  # (the cache drops the entities loaded longest ago)
        if entries is not None:
            return entries
        self.load([urn])
        with self._lock:
            return self._cache.get(urn, {})

    def get(self, urn: str, aspect: str, path: str = "") -> Entry | None:
        """What the destination holds at this slot, or ``None``."""
        return self._entries(urn).get((aspect, path))

    def get_many(self, urn: str, aspect: str, paths: list[str]) -> list[Entry | None]:
        """What the destination holds at several slots of one aspect."""
        entries = self._entries(urn)
        with self._lock:
            return [entries.get((aspect, path)) for path in paths]

    def put_many(self, urn: str, aspect: str, items: list[tuple[str, Entry]]) -> None:
        """Remember several confirmed slots of one aspect."""
        entries = self._entries(urn)
        with self._lock:
            pending = self._pending.setdefault(urn, {})
            for path, entry in items:
                entries[(aspect, path)] = entry
                pending[(aspect, path)] = entry

    def drop(self, urn: str, aspect: str, path: str) -> None:
        """Forget a slot (its edge was removed from the destination)."""
        entries = self._entries(urn)
        with self._lock:
            entries.pop((aspect, path), None)
            self._pending.setdefault(urn, {})[(aspect, path)] = None

    def stale_edges(self, before: float, limit: int = 1000) -> list[tuple[str, str, str]]:
        """Lineage edges last seen before ``before`` (epoch seconds): ``(urn, aspect, path)``."""
        self.commit()
        rows = self._memory._query(
            "SELECT urn, aspect, path FROM written WHERE dest = ? AND edge = 1 AND seen < ? LIMIT ?",
            (self._dest, before, limit))  # fmt: skip
        return [(u, a, p) for u, a, p in rows]

    def commit(self) -> None:
        """Hand the remembered changes to the file's writer (one transaction; the caller does not wait)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            self._writing.append(pending)
        self._memory._submit(self, pending)

    def _written(self, rows: _Rows) -> None:
        with self._lock:
            self._writing = [batch for batch in self._writing if batch is not rows]

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
