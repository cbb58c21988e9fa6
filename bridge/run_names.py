"""Runs known by two names: remembering each pair, and naming every run an MCP refers to by its own URN.

Under ``compat = "datahub-airflow-plugin"`` a task run is named as DataHub's plugin names it, but a
child's event (a SQL hook's query) names its parent only by the OpenLineage run id, which gives the run
another URN. The translator says which pairs its MCPs make (``run_alias``), which runs an MCP refers to
(``run_references``) and how to name them by their own URN (``resolve_run_aliases``); see
:meth:`translators.datahub.DataHubTranslator.run_alias`.

A pair is a fact of naming, true for every destination: :class:`RunNames` keeps the pairs in the
lineage memory's file, in a table of their own, so that a child's event handled by another process, or
after a restart, still finds its parent. Like a run's rows, a pair is forgotten some days after an event
last carried it (:meth:`bridge.lineage.LineageMemory.forget_old`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from bridge.mcp import MetadataChangeProposalWrapper

__all__ = ["RunNames", "name_runs"]

MCPW = MetadataChangeProposalWrapper
Batch = list[tuple[Hashable, list[MCPW]]]

log = logging.getLogger(__name__)

_CHUNK = 300  # pairs per statement (3 parameters each: under SQLite's oldest limit of 999)


class RunNames:
    """The lineage memory's table of runs known by two names: a run's other URN -> the URN it was given.

    Made by :class:`~bridge.lineage.LineageMemory` (its ``run_names``), on its connection and lock. Reads
    and writes go to the file at once: a pair is written once a run, and then at most every
    ``refresh_every`` seconds (see :func:`name_runs`).
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

    def count(self) -> int:
        """How many runs are known by two names."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM run_names").fetchone()[0])

    def forget(self, before: float | None = None) -> int:
        """Forget the pairs last seen before ``before`` (epoch seconds; ``None``: all); returns how many."""
        with self._lock:
            if before is None:
                return self._db.execute("DELETE FROM run_names").rowcount
            return self._db.execute("DELETE FROM run_names WHERE seen < ?", (before,)).rowcount


def name_runs(batch: Batch, translator: Any, names: RunNames, now: float, *, refresh_every: float) -> Batch:
    """Remember the pairs the batch's MCPs make, and name every run an MCP refers to by its own URN.

    Args:
        batch: ``(event id, MCPs)`` of a round.
        translator: with ``run_alias``, ``run_references`` and ``resolve_run_aliases`` (without them the
            batch is returned as it is).
        names: where the pairs are kept.
        now: epoch seconds.
        refresh_every: a pair seen again is written again (its time) once it is this old, so that it
            is not forgotten while a long run's events still carry it.

    Returns:
        The batch, with the MCPs that name a run by another URN named by the run's own.
    """
    run_alias = getattr(translator, "run_alias", None)
    references = getattr(translator, "run_references", None)
    resolve = getattr(translator, "resolve_run_aliases", None)
    if run_alias is None or references is None or resolve is None:
        return batch
    aliases: dict[str, str] = {}
    named: set[str] = set()
    for _, mcps in batch:
        for mcp in mcps:
            pair = run_alias(mcp)
            if pair is not None:
                aliases[pair[0]] = pair[1]
            named.update(references(mcp))
    if not aliases and not named:
        return batch
    # Naming is not delivery: when the file is locked by another process (beyond the busy timeout) or
    # unreadable, the round goes on with the names it has, and a pair not written is written by a later event.
    try:
        held = names.get(aliases.keys() | named)
    except sqlite3.Error as exc:
        log.warning("run names unreadable", extra={"fields": {"error": str(exc)}})
        held = {}
    changed = {plain: real for plain, real in aliases.items()
               if plain not in held or held[plain][0] != real or now - held[plain][1] > refresh_every}  # fmt: skip
    if changed:
        try:
            names.put(changed, now)
        except sqlite3.Error as exc:
            log.warning("run names not written", extra={"fields": {"error": str(exc), "pairs": len(changed)}})
    for urn in named - aliases.keys():
        if urn in held:
            aliases[urn] = held[urn][0]
    if not aliases.keys() & named:
        return batch
    return [(event_id, [resolve(m, aliases) for m in mcps]) for event_id, mcps in batch]
