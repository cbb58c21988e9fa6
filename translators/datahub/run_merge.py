"""A run's own aspects: one writer (the bridge), written whole, merged across the run's events.

A run's aspects are ``upsert`` (see :mod:`translators.datahub.writes`), so a later event of the run
must carry what the earlier ones said; the delivery core merges each with the value the destination
holds from the run's earlier events (:meth:`~translators.datahub.DataHubTranslator.merge`). Pure:
values in, value out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MERGED_FROM", "MERGED_RUN_ASPECTS", "merge_run_aspect", "needs_duration"]

#: aspect -> list fields whose items accumulate over a run's events (a RUNNING event with fewer
#: datasets must not shrink the run's inputs), keyed by the URN they name.
_RUN_LISTS: Mapping[str, tuple[str, ...]] = {
    "dataProcessInstanceInput": ("inputs", "inputEdges"),
    "dataProcessInstanceOutput": ("outputs", "outputEdges"),
}


def _item_key(item: Any) -> Any:
    if isinstance(item, Mapping):
        return item.get("destinationUrn") or repr(sorted(item.items()))
    return item


def merge_run_aspect(aspect_name: str, before: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a run's aspect with what the same destination holds from the run's earlier events.

    Run aspects are written whole (``upsert``: nobody else writes them), so a later event of
    the run must carry what the earlier ones said: the run's inputs and outputs accumulate,
    its custom properties merge key by key (the newer value wins), and it keeps the earliest
    ``created`` time. Other aspects are returned unchanged.
    """
    merged = dict(new)
    if not before:
        return merged
    if aspect_name == "dataProcessInstanceRunEvent":
        start = _created_ms(before)
        end = new.get("timestampMillis")
        if start is not None and isinstance(end, int) and end > start and needs_duration(new):
            merged["durationMillis"] = end - start
        return merged
    if aspect_name == "dataProcessInstanceProperties":
        if isinstance(before.get("customProperties"), Mapping):
            merged["customProperties"] = {**before["customProperties"], **(new.get("customProperties") or {})}
        old, now = before.get("created"), new.get("created")
        if isinstance(old, Mapping) and (not isinstance(now, Mapping) or old.get("time", 0) < now.get("time", 0)):
            merged["created"] = old
        if not merged.get("externalUrl") and before.get("externalUrl"):
            merged["externalUrl"] = before["externalUrl"]
        return merged
    for field in _RUN_LISTS.get(aspect_name, ()):
        if before.get(field):
            items = {_item_key(i): i for i in before[field]}
            items.update((_item_key(i), i) for i in new.get(field) or ())
            merged[field] = list(items.values())
    return merged


#: the aspects :func:`merge_run_aspect` merges.
MERGED_RUN_ASPECTS = frozenset({"dataProcessInstanceProperties", *_RUN_LISTS})

#: Timeseries aspects merged with the value of another aspect of the same run: the end of a run
#: takes its start from the run's properties (``created`` is the run's earliest event, normally its START).
MERGED_FROM: Mapping[str, str] = {"dataProcessInstanceRunEvent": "dataProcessInstanceProperties"}


def needs_duration(run_event: Mapping[str, Any]) -> bool:
    """Whether a ``dataProcessInstanceRunEvent`` is a run's end that does not say how long the run took."""
    return run_event.get("status") == "COMPLETE" and run_event.get("durationMillis") is None


def _created_ms(properties: Mapping[str, Any]) -> int | None:
    created = properties.get("created")
    time_ms = created.get("time") if isinstance(created, Mapping) else None
    return time_ms if isinstance(time_ms, int) and not isinstance(time_ms, bool) else None
