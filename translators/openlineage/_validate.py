"""Accept-or-reject check for one OpenLineage event, without building the model.

:func:`parse_event` rejects an event only when it cannot be identified (see
:mod:`._parse`): not an object, no ``run``/``job``/``dataset``, or a missing or
unusable identity (``run.runId``, ``job.namespace``/``name``, the namespace/name
of the DatasetEvent's dataset or of an ``inputs``/``outputs`` entry). Facets,
``eventTime``, ``eventType``, ``producer`` and ``schemaURL`` never make it reject:
oddities there are warned about and the event is used.

:func:`validate_event` makes exactly those checks, in the same order and with the
same ``field`` and ``reason``, and nothing else. An HTTP intake can answer 422 (or
accept) at once and leave the full parse, facets and all, to the delivery side.
``tests/test_openlineage_validate.py`` checks that the two agree on arbitrary JSON
and on mutated corpus events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bridge.errors import InvalidEventError, lone_surrogate, storable

from ._parse import _json_type, _kind, _object
from ._values import identity

__all__ = ["event_json", "validate_event"]


def validate_event(obj: Any, *, location: str | None = None) -> None:
    """Raise exactly when :func:`~translators.openlineage.parse_event` would reject ``obj``.

    Args:
        obj: one event as decoded JSON.
        location: where the event came from (``[3]`` for the 4th of a JSON array), used in errors.

    Raises:
        InvalidEventError: with the ``field`` and ``reason`` ``parse_event`` would give.
    """
    if not (type(obj) is dict or isinstance(obj, Mapping)):
        raise InvalidEventError(
            f"an OpenLineage event must be a JSON object, got {_json_type(obj)}", location=location
        )
    kind = _kind(obj, location)
    if kind == "DatasetEvent":
        dataset = _object(obj.get("dataset"), "dataset", location)
        identity(dataset.get("namespace"), "dataset.namespace", location)
        identity(dataset.get("name"), "dataset.name", location)
        return
    # The order of parse_event: job, inputs, outputs, then (RunEvent) run.
    job = _object(obj.get("job"), "job", location)
    identity(job.get("namespace"), "job.namespace", location)
    identity(job.get("name"), "job.name", location)
    _datasets_identity(obj.get("inputs"), "inputs", location)
    _datasets_identity(obj.get("outputs"), "outputs", location)
    if kind == "RunEvent":
        run = _object(obj.get("run"), "run", location)
        identity(run.get("runId"), "run.runId", location)


def _datasets_identity(value: Any, path: str, location: str | None) -> None:
    # As _parse._datasets: a falsy value is taken as no datasets, anything else must be an array.
    if not value:
        return
    if type(value) is not list:
        raise InvalidEventError(f"must be an array, got {_json_type(value)}", field=path, location=location)
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        ds = _object(item, where, location)
        identity(ds.get("namespace"), f"{where}.namespace", location)
        identity(ds.get("name"), f"{where}.name", location)


def event_json(obj: Any, *, location: str | None = None) -> str:
    """``obj`` as compact JSON text that can be stored as UTF-8 (what the spool and Kafka keep).

    Raises:
        InvalidEventError: a string (or key) holds a lone surrogate -- half of a UTF-16 pair, which
            JSON's ``\\ud800`` escape can spell but Unicode text cannot hold -- naming its field.
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _surrogate_error(exc.object[exc.start], _surrogate_path(obj), location) from None
    return text


def _surrogate_error(bad: str, path: str | None, location: str | None) -> InvalidEventError:
    return InvalidEventError(f"{lone_surrogate(bad)} and cannot be stored as UTF-8",
                             field=_escaped(path), location=location)


def _escaped(path: str | None) -> str | None:
    """The path as text that can be sent and stored (a key may hold the surrogate itself)."""
    return storable(path) if path else None


def _surrogate_path(value: Any, path: str = "") -> str | None:
    """The JSON path of the first string (or key) holding a lone surrogate, if any.

    A walk with a stack of its own, not recursion: the event may be nested as deep as JSON parsers allow.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and _has_surrogate(value):
                return path
        elif isinstance(value, dict):
            items = []
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and _has_surrogate(key):
                    items.append((key, where))  # found when popped, in document order
                    break
                items.append((item, where))
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
