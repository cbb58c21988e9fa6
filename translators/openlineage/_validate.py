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

from collections.abc import Mapping
from typing import Any

from bridge.errors import InvalidEventError

from ._parse import _json_type, _kind, _object
from ._values import identity

__all__ = ["validate_event"]


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
