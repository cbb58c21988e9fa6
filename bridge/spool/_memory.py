"""A durable :class:`~bridge.lineage.LineageMemory` kept in the spool's database.

Reads are served from a bounded in-process cache backed by SQLite; writes go
to the cache and to a list of pending rows that the delivery worker commits in
the same transaction that removes the delivered events from the spool. So
after a crash the memory is never behind the spool: lineage learned from an
event survives as long as the event does, or longer.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from bridge.spool._store import Settlement, Spool

__all__ = ["SqliteLineageMemory"]


_MISSING = object()


class SqliteLineageMemory:
    """Lineage memory that survives restarts (implements :class:`bridge.lineage.LineageMemory`).

    Args:
        spool: the spool whose database holds the memory.
        cache_size: entries kept in process per table (least recently used are dropped from
            the cache only; they stay in the database).
    """

    def __init__(self, spool: Spool, *, cache_size: int = 100_000) -> None:
        self._spool = spool
        self._cache_size = cache_size
        self._aspects: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._digests: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._dirty_aspects: dict[tuple[str, str], str] = {}
        self._dirty_digests: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def _remember(self, table: OrderedDict, key: tuple[str, str], value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._cache_size:
            table.popitem(last=False)

    def get_aspect(self, urn: str, aspect_name: str) -> Mapping[str, Any] | None:
        key = (urn, aspect_name)
        with self._lock:
            value = self._aspects.get(key, _MISSING)
        if value is _MISSING:
            raw = self._spool.lineage_value(urn, aspect_name)
            value = json.loads(raw) if raw is not None else None
            with self._lock:
                if key not in self._aspects:
                    self._remember(self._aspects, key, value)
                value = self._aspects[key]
        return value

    def put_aspect(self, urn: str, aspect_name: str, value: Mapping[str, Any]) -> None:
        key = (urn, aspect_name)
        with self._lock:
            self._remember(self._aspects, key, value)
            self._dirty_aspects[key] = json.dumps(value, separators=(",", ":"), sort_keys=True)

    def delivered_digest(self, urn: str, aspect_name: str) -> str | None:
        key = (urn, aspect_name)
        with self._lock:
            value = self._digests.get(key, _MISSING)
        if value is _MISSING:
            value = self._spool.delivered_digest(urn, aspect_name)
            with self._lock:
                if key not in self._digests:
                    self._remember(self._digests, key, value)
                value = self._digests[key]
        return value

    def mark_delivered(self, urn: str, aspect_name: str, digest: str) -> None:
        key = (urn, aspect_name)
        with self._lock:
            self._remember(self._digests, key, digest)
            self._dirty_digests[key] = digest

    def prefetch(self, slots: set[tuple[str, str]] | list[tuple[str, str]]) -> None:
        """Load what the database knows about these (urn, aspect) pairs in a few queries."""
        with self._lock:
            missing_urns = sorted({urn for urn, aspect in slots
                                   if (urn, aspect) not in self._digests or (urn, aspect) not in self._aspects})
        if not missing_urns:
            return
        found_digests: dict[tuple[str, str], str] = {}
        found_aspects: dict[tuple[str, str], str] = {}
        for start in range(0, len(missing_urns), 500):
            chunk = missing_urns[start:start + 500]
            found_digests.update(((u, a), d) for u, a, d in self._spool.delivered_for(chunk))
            found_aspects.update(((u, a), v) for u, a, v in self._spool.lineage_for(chunk))
        wanted = set(missing_urns)
        with self._lock:
            for slot in slots:
                if slot[0] not in wanted:
                    continue
                if slot not in self._digests:
                    self._remember(self._digests, slot, found_digests.get(slot))
                if slot not in self._aspects:
                    raw = found_aspects.get(slot)
                    self._remember(self._aspects, slot, json.loads(raw) if raw is not None else None)

    def drain_into(self, settlement: Settlement) -> None:
        """Move the writes not yet committed into ``settlement`` (committed with it)."""
        with self._lock:
            aspects, self._dirty_aspects = self._dirty_aspects, {}
            digests, self._dirty_digests = self._dirty_digests, {}
        settlement.lineage.extend((urn, aspect, value) for (urn, aspect), value in aspects.items())
        settlement.delivered.extend((urn, aspect, digest) for (urn, aspect), digest in digests.items())

    def restore(self, settlement: Settlement) -> None:
        """Put drained writes back after their transaction failed (they are retried with the next one)."""
        with self._lock:
            for urn, aspect, value in settlement.lineage:
                self._dirty_aspects.setdefault((urn, aspect), value)
            for urn, aspect, digest in settlement.delivered:
                self._dirty_digests.setdefault((urn, aspect), digest)

    def persist(self) -> None:
        """Commit pending writes now (used on shutdown and by the Python API)."""
        settlement = Settlement()
        self.drain_into(settlement)
        if settlement.lineage or settlement.delivered:
            self._spool.settle(settlement).result()
