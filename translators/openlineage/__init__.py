"""OpenLineage JSON (spec 1.x and 2.x) <-> the neutral event model.

Pure functions: no IO except :func:`read_events`, no clock, no environment.

* :func:`parse_event` — one decoded event -> :class:`~bridge.model.RunEvent`,
  :class:`~bridge.model.JobEvent` or :class:`~bridge.model.DatasetEvent`.
* :func:`parse_events` / :func:`read_events` — a JSON object, array or JSON Lines;
  bad events are yielded as errors with their location, the rest go on.
* :func:`validate_event` — accept or reject one decoded event exactly as :func:`parse_event`
  would, without building the model (an intake's fast check); :func:`event_json` — the
  event as storable compact JSON, refusing a lone surrogate with its field.
* :func:`to_openlineage` — the way back, OpenLineage 2.x JSON.
* :func:`from_client_event` — openlineage-python event objects.
* :func:`standard_facets` — the facets the model has fields for, by place in the event.
"""

from ._client import from_client_event
from ._dump import to_openlineage
from ._facets import standard_facets
from ._parse import parse_event
from ._read import iter_json_records, parse_events, read_events
from ._validate import event_json, validate_event

__all__ = [
    "event_json",
    "from_client_event",
    "iter_json_records",
    "parse_event",
    "parse_events",
    "read_events",
    "standard_facets",
    "to_openlineage",
    "validate_event",
]
