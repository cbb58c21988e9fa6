"""openlineage-python event objects -> neutral model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.errors import InvalidEventError, require
from bridge.model import Event

from ._parse import parse_event

__all__ = ["from_client_event"]


def from_client_event(
    obj: Any, *, location: str | None = None, received_at: dt.datetime | None = None
) -> Event:
    """Parse an openlineage-python event object (``event_v2`` or the legacy ``run`` module).

    The object is turned into its JSON form with the client's own ``Serde.to_dict``
    (so custom facet classes serialise as the client would send them), then parsed
    by :func:`parse_event`.

    Args:
        obj: an ``openlineage.client.event_v2`` RunEvent/JobEvent/DatasetEvent or an
            ``openlineage.client.run`` RunEvent/JobEvent/DatasetEvent.
        location: where it came from, for errors and warnings.
        received_at: see :func:`parse_event`.

    Raises:
        MissingDependencyError: openlineage-python is not installed.
        InvalidEventError: the object is not an event, or the event cannot be identified.
    """
    serde = require("openlineage.client.serde", "openlineage")
    try:
        data = serde.Serde.to_dict(obj)
    except (ValueError, TypeError, RecursionError) as exc:  # attrs.NotAnAttrsClassError is a ValueError
        raise InvalidEventError(
            f"cannot serialise {type(obj).__name__} with openlineage Serde: {exc}", location=location
        ) from exc
    return parse_event(data, location=location, received_at=received_at)
