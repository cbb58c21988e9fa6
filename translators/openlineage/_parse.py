"""OpenLineage event JSON (spec 1.x and 2.x) -> neutral model.

The parser is liberal: oddities are logged (see :func:`._values.warn`) and the
event is used. It rejects an event only when the job and run (or, for a
DatasetEvent, the dataset) cannot be identified, or when a dataset in
``inputs``/``outputs`` has no identity: accepting a partial list of datasets
would later overwrite lineage that DataHub already knows as if it were complete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bridge.errors import InvalidEventError
from bridge.model import Dataset, DatasetEvent, Event, EventType, Job, JobEvent, Run, RunEvent

from ._facets import (
    DATASET_FACETS,
    INPUT_FACETS,
    JOB_FACETS,
    OUTPUT_FACETS,
    RUN_FACETS,
    apply_facets,
    stats_from_quality_metrics,
)
from ._values import Malformed, identity, parse_time, warn

__all__ = ["parse_event"]

_EVENT_TYPES = {t.value: t for t in EventType}
_KINDS = ("RunEvent", "JobEvent", "DatasetEvent")
_KIND_KEY = {"RunEvent": "run", "JobEvent": "job", "DatasetEvent": "dataset"}


def parse_event(
    obj: Mapping[str, Any], *, location: str | None = None, received_at: dt.datetime | None = None
) -> Event:
    """Turn one OpenLineage event (a decoded JSON object) into a neutral model event.

    The kind (RunEvent, JobEvent, DatasetEvent) is taken from ``schemaURL`` when it
    names one and the event has that shape, else from the shape (``run`` or
    ``eventType`` -> RunEvent, ``job`` -> JobEvent, ``dataset`` -> DatasetEvent).

    Args:
        obj: the event as decoded JSON.
        location: where the event came from (``file.jsonl:12``), used in errors and warnings.
        received_at: the time to use when ``eventTime`` is missing or unreadable (the caller's
            clock; this function never reads one). Without it such events get ``event_time=None``.

    Returns:
        A :class:`~bridge.model.RunEvent`, :class:`~bridge.model.JobEvent` or
        :class:`~bridge.model.DatasetEvent`.

    Raises:
        InvalidEventError: the event cannot be identified; ``field`` is the JSON path
            (``run.runId``, ``job.name``, ``inputs[2].namespace``) and ``reason`` says why.
    """
    if not (type(obj) is dict or isinstance(obj, Mapping)):
        raise InvalidEventError(
            f"an OpenLineage event must be a JSON object, got {_json_type(obj)}", location=location
        )
    kind = _kind(obj, location)
    producer = obj.get("producer")
    if type(producer) is not str:
        producer = _producer(producer, location)
    schema_url = obj.get("schemaURL")
    if schema_url is not None and type(schema_url) is not str:
        warn(location, "schemaURL", f"expected a string, got {_json_type(schema_url)}; ignored")
        schema_url = None
    event_time = _event_time(obj.get("eventTime"), location, received_at)
    if kind == "DatasetEvent":
        return DatasetEvent(
            event_time=event_time,
            dataset=_dataset(_object(obj.get("dataset"), "dataset", location), "dataset", location),
            producer=producer,
            schema_url=schema_url,
        )
    job = _job(obj.get("job"), location)
    inputs = _datasets(obj.get("inputs"), "inputs", location)
    outputs = _datasets(obj.get("outputs"), "outputs", location)
    if kind == "JobEvent":
        return JobEvent(
            event_time=event_time,
            job=job,
            producer=producer,
            schema_url=schema_url,
            inputs=inputs,
            outputs=outputs,
        )
    return RunEvent(
        event_type=_event_type(obj.get("eventType"), location),
        event_time=event_time,
        run=_run(obj.get("run"), location),
        job=job,
        producer=producer,
        schema_url=schema_url,
        inputs=inputs,
        outputs=outputs,
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if type(value) is dict or isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _kind(obj: Mapping[str, Any], location: str | None) -> str:
    schema_url = obj.get("schemaURL")
    if type(schema_url) is str:
        named = schema_url.rpartition("/")[2]
        if named in _KIND_KEY and _KIND_KEY[named] in obj:
            return named
    if "run" in obj or "eventType" in obj:
        return "RunEvent"
    if "job" in obj:
        return "JobEvent"
    if "dataset" in obj:
        return "DatasetEvent"
    if type(schema_url) is str and schema_url.rpartition("/")[2] in _KINDS:
        named = schema_url.rpartition("/")[2]
        key = _KIND_KEY[named]
        raise InvalidEventError(f"is required in a {named} but missing", field=key, location=location)
    raise InvalidEventError(
        "not an OpenLineage event: it has none of 'run', 'job' or 'dataset'", location=location
    )


def _object(value: Any, path: str, location: str | None) -> Mapping[str, Any]:
    if type(value) is dict or isinstance(value, Mapping):
        return value
    if value is None:
        raise InvalidEventError("is required but missing", field=path, location=location)
    raise InvalidEventError(f"must be an object, got {_json_type(value)}", field=path, location=location)


def _producer(value: Any, location: str | None) -> str:
    if value is None:
        warn(location, "producer", "missing; using an empty producer")
        return ""
    warn(location, "producer", f"expected a string, got {_json_type(value)}; using its text")
    return str(value)


def _event_time(value: Any, location: str | None, received_at: dt.datetime | None) -> Any:
    if value is not None:
        try:
            return parse_time(value, "eventTime", location)
        except Malformed as exc:
            warn(location, "eventTime", f"{exc.reason}; using the time it was received")
    else:
        warn(location, "eventTime", "missing; using the time it was received")
    return received_at


def _event_type(value: Any, location: str | None) -> EventType:
    if value is None:  # optional in OpenLineage 2.x
        return EventType.OTHER
    if type(value) is str:
        found = _EVENT_TYPES.get(value) or _EVENT_TYPES.get(value.strip().upper())
        if found is not None:
            return found
        warn(location, "eventType", f"unknown event type {value[:40]!r}; taken as OTHER")
    else:
        warn(location, "eventType", f"expected a string, got {_json_type(value)}; taken as OTHER")
    return EventType.OTHER


def _job(value: Any, location: str | None) -> Job:
    job = _object(value, "job", location)
    kwargs: dict[str, Any] = {
        "namespace": identity(job.get("namespace"), "job.namespace", location),
        "name": identity(job.get("name"), "job.name", location),
    }
    kwargs["facets"] = apply_facets(job.get("facets"), JOB_FACETS, "job.facets", location, kwargs)
    return Job(**kwargs)


def _run(value: Any, location: str | None) -> Run:
    run = _object(value, "run", location)
    kwargs: dict[str, Any] = {"run_id": identity(run.get("runId"), "run.runId", location)}
    kwargs["facets"] = apply_facets(run.get("facets"), RUN_FACETS, "run.facets", location, kwargs)
    return Run(**kwargs)


def _datasets(value: Any, path: str, location: str | None) -> tuple[Dataset, ...]:
    if not value:
        if value is not None and type(value) is not list:
            warn(location, path, f"expected an array, got {_json_type(value)}; taken as empty")
        return ()
    if type(value) is not list:
        raise InvalidEventError(f"must be an array, got {_json_type(value)}", field=path, location=location)
    return tuple(
        _dataset(_object(item, f"{path}[{i}]", location), f"{path}[{i}]", location)
        for i, item in enumerate(value)
    )


def _dataset(ds: Mapping[str, Any], path: str, location: str | None) -> Dataset:
    kwargs: dict[str, Any] = {
        "namespace": identity(ds.get("namespace"), f"{path}.namespace", location),
        "name": identity(ds.get("name"), f"{path}.name", location),
    }
    facets = ds.get("facets")
    if facets:
        kwargs["facets"] = apply_facets(facets, DATASET_FACETS, f"{path}.facets", location, kwargs)
    facets = ds.get("inputFacets")
    if facets:
        rest = kwargs["input_facets"] = apply_facets(
            facets, INPUT_FACETS, f"{path}.inputFacets", location, kwargs
        )
        if "input_statistics" not in kwargs and "dataQualityMetrics" in rest:
            kwargs["input_statistics"] = stats_from_quality_metrics(
                rest["dataQualityMetrics"], f"{path}.inputFacets.dataQualityMetrics", location
            )
    facets = ds.get("outputFacets")
    if facets:
        kwargs["output_facets"] = apply_facets(
            facets, OUTPUT_FACETS, f"{path}.outputFacets", location, kwargs
        )
    return Dataset(**kwargs)
