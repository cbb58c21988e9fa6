"""Lineage that never goes backwards, and aspects that are not sent twice.

A later event of the same job or run (RUNNING/COMPLETE/FAIL without datasets,
fewer datasets, a failed Dagster run) must not erase inputs/outputs learned
from earlier events. DataHub UPSERTs replace whole aspects, so before an
aspect that lists lineage is emitted it is merged with what was learned
before (:func:`merge_aspect`). And an aspect whose value was already
delivered unchanged is not sent again (Spark sends many identical RUNNING
events).

:class:`LineageMemory` is the store behind both; :class:`InMemoryLineageMemory`
is the default, the spool provides a durable one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["InMemoryLineageMemory", "LineageMemory", "MERGED_ASPECTS", "aspect_digest", "merge_aspect"]

#: aspect name -> the list fields that accumulate (union) instead of being replaced.
UNION_FIELDS: dict[str, tuple[str, ...]] = {
    "dataJobInputOutput": (
        "inputDatasets",
        "outputDatasets",
        "inputDatasetEdges",
        "outputDatasetEdges",
        "inputDatajobs",
        "inputDatajobEdges",
        "inputDatasetFields",
        "outputDatasetFields",
        "fineGrainedLineages",
    ),
    "upstreamLineage": ("upstreams", "fineGrainedLineages"),
    "dataProcessInstanceInput": ("inputs", "inputEdges"),
    "dataProcessInstanceOutput": ("outputs", "outputEdges"),
}

#: aspect name -> fields a later event without them must not blank out.
KEPT_FIELDS: dict[str, tuple[str, ...]] = {
    "dataJobInfo": ("description", "externalUrl"),
    "dataFlowInfo": ("description", "externalUrl"),
}

#: aspect name -> dict fields whose keys accumulate (a later value wins per key).
DICT_FIELDS: dict[str, tuple[str, ...]] = {
    "dataJobInfo": ("customProperties",),
    "dataFlowInfo": ("customProperties",),
    "dataProcessInstanceProperties": ("customProperties",),
}

#: aspect name -> audit-stamp fields that keep the earliest time (a run is created once).
EARLIEST_FIELDS: dict[str, tuple[str, ...]] = {
    "dataProcessInstanceProperties": ("created",),
}

#: every aspect the pipeline merges with what it learned before.
MERGED_ASPECTS = frozenset(UNION_FIELDS) | frozenset(KEPT_FIELDS) | frozenset(DICT_FIELDS) | frozenset(EARLIEST_FIELDS)


class LineageMemory(Protocol):
    """What the pipeline remembers between events. Implementations must be thread-safe."""

    def get_aspect(self, urn: str, aspect_name: str) -> Mapping[str, Any] | None:
        """The last merged value of a lineage aspect, or None."""

    def put_aspect(self, urn: str, aspect_name: str, value: Mapping[str, Any]) -> None:
        """Remember the merged value of a lineage aspect."""

    def delivered_digest(self, urn: str, aspect_name: str) -> str | None:
        """Digest of the value last delivered for this aspect, or None."""

    def mark_delivered(self, urn: str, aspect_name: str, digest: str) -> None:
        """Record that this value was delivered."""


class InMemoryLineageMemory:
    """A bounded, thread-safe in-process memory (least recently used entries are forgotten)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._max = max_entries
        self._aspects: OrderedDict[tuple[str, str], Mapping[str, Any]] = OrderedDict()
        self._digests: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def _put(self, table: OrderedDict, key: tuple[str, str], value: Any) -> None:
        with self._lock:
            table[key] = value
            table.move_to_end(key)
            while len(table) > self._max:
                table.popitem(last=False)

    def get_aspect(self, urn: str, aspect_name: str) -> Mapping[str, Any] | None:
        with self._lock:
            return self._aspects.get((urn, aspect_name))

    def put_aspect(self, urn: str, aspect_name: str, value: Mapping[str, Any]) -> None:
        self._put(self._aspects, (urn, aspect_name), value)

    def delivered_digest(self, urn: str, aspect_name: str) -> str | None:
        with self._lock:
            return self._digests.get((urn, aspect_name))

    def mark_delivered(self, urn: str, aspect_name: str, digest: str) -> None:
        self._put(self._digests, (urn, aspect_name), digest)


def aspect_digest(aspect_json: str) -> str:
    """A short stable digest of an aspect's serialised value."""
    return hashlib.blake2b(aspect_json.encode("utf-8"), digest_size=16).hexdigest()


def _item_key(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        for key in ("dataset", "destinationUrn"):
            if isinstance(item.get(key), str):
                return item[key]
    return json.dumps(item, sort_keys=True, separators=(",", ":"))


def merge_aspect(aspect_name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a newly translated aspect with the one learned before.

    * list fields of :data:`UNION_FIELDS` become the union of old and new (old
      order first; a new item replaces the old one with the same key: the URN
      it points at);
    * fields of :data:`KEPT_FIELDS` keep their old value when the new one lacks them;
    * dict fields of :data:`DICT_FIELDS` merge key by key, the new value winning;
    * stamps of :data:`EARLIEST_FIELDS` keep the earliest ``time``.

    Other fields take the new value.
    """
    merged = dict(new)
    if not old:
        return merged
    for field in KEPT_FIELDS.get(aspect_name, ()):
        if merged.get(field) in (None, "") and old.get(field) not in (None, ""):
            merged[field] = old[field]
    for field in DICT_FIELDS.get(aspect_name, ()):
        if isinstance(old.get(field), Mapping):
            merged[field] = {**old[field], **(merged.get(field) or {})}
    for field in EARLIEST_FIELDS.get(aspect_name, ()):
        before, after = old.get(field), merged.get(field)
        if isinstance(before, Mapping) and (
            not isinstance(after, Mapping) or before.get("time", 0) < after.get("time", 0)
        ):
            merged[field] = before
    for field in UNION_FIELDS.get(aspect_name, ()):
        before, after = old.get(field), new.get(field)
        if not before:
            continue
        if not after:
            merged[field] = list(before)
            continue
        items: dict[str, Any] = {_item_key(item): item for item in before}
        for item in after:
            items[_item_key(item)] = item
        merged[field] = list(items.values())
    return merged
