"""Runs known by two names, as the lineage memory's file keeps them.

Under ``compat = "datahub-airflow-plugin"`` a task run is named as DataHub's plugin names it, but a
child's event (a SQL hook's query) names its parent only by the OpenLineage run id, which gives the run
another URN (see :meth:`translators.datahub.DataHubTranslator.run_alias`).

A pair is a fact of naming, true for every destination: :class:`RunNames` keeps the pairs in the
lineage memory's file, in a table of their own, so that a child's event handled by another process, or
after a restart, still finds its parent. Like a run's rows, a pair is forgotten some days after an event
last carried it (:meth:`bridge.lineage.LineageMemory.forget_old`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping

__all__ = ["RunNames"]

_CHUNK = 300  # pairs per statement (3 parameters each: under SQLite's oldest limit of 999)


class RunNames:
    """The lineage memory's table of runs known by two names: a run's other URN -> the URN it was given.

    Made by :class:`~bridge.lineage.LineageMemory` (its ``run_names``), on its connection and lock. Reads
    and writes go to the file at once: a pair is written once a run, and then at most hourly (see
    :class:`~bridge.delivery.DeliveryCore`).
    """

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def get(self, aliases: Iterable[str]) -> dict[str, tuple[str, float]]:
        """The runs known by these URNs: ``alias -> (the URN the run was given, when an event last said so)``."""
        wanted = sorted(set(aliases))
        found: dict[str, tuple[str, float]] = {}
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT alias, urn, seen FROM run_names WHERE alias IN ({marks})", chunk)
                found.update((alias, (urn, seen)) for alias, urn, seen in rows)
        return found

    def put(self, names: Mapping[str, str], seen: float) -> None:
        """Remember that the run known by each URN ``alias`` was given the URN ``names[alias]``, seen at ``seen``."""
        rows = [(alias, urn, seen) for alias, urn in names.items()]
        with self._lock:
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start:start + _CHUNK]
                self._db.execute(f"INSERT OR REPLACE INTO run_names VALUES {','.join(['(?,?,?)'] * len(chunk))}",
                                 [value for row in chunk for value in row])  # fmt: skip

    def forget(self, before: float | None = None) -> int:
        """Forget the pairs last seen before ``before`` (epoch seconds; ``None``: all); returns how many."""
        with self._lock:
            if before is None:
                return self._db.execute("DELETE FROM run_names").rowcount
            return self._db.execute("DELETE FROM run_names WHERE seen < ?", (before,)).rowcount
