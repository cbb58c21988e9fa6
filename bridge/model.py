"""The neutral run/job/dataset event model.

Every producer (OpenLineage JSON, the Dagster sensor, the Python API) turns
what it sees into these frozen, keyword-only attrs classes; every translator
starts from them. The model follows the OpenLineage 2.x spec and keeps what
DataHub can show; facets it has no field for are kept verbatim in ``facets``
(raw JSON) so nothing is dropped.

Validation errors are :class:`~bridge.errors.InvalidEventError` naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.errors import InvalidEventError

__all__ = [
    "ColumnLineage",
    "Dataset",
    "DatasetEvent",
    "DatasetStatistics",
    "ErrorInfo",
    "Event",
    "EventType",
    "InputField",
    "Job",
    "JobEvent",
    "Owner",
    "ParentRun",
    "Run",
    "RunEvent",
    "SchemaField",
    "SourceLocation",
    "Symlink",
    "Tag",
    "Transformation",
    "without_credentials",
]


class EventType(enum.StrEnum):
    """OpenLineage run states."""

    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"
    OTHER = "OTHER"

    @property
    def is_terminal(self) -> bool:
        return self in (EventType.COMPLETE, EventType.FAIL, EventType.ABORT)


# -- validators ---------------------------------------------------------------


def _non_empty(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(
            f"must be a non-empty string, got {value!r}", field=f"{type(instance).__name__}.{attribute.name}"
        )


def _optional_str(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidEventError(
            f"must be a string, got {type(value).__name__}", field=f"{type(instance).__name__}.{attribute.name}"
        )


def _optional_count(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and type(value) is not int:
        raise InvalidEventError(
            f"must be a whole number, got {value!r}", field=f"{type(instance).__name__}.{attribute.name}"
        )


def _aware_datetime(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidEventError(
            f"must be a timezone-aware datetime, got {value!r}",
            field=f"{type(instance).__name__}.{attribute.name}",
        )


def _tuple_of(kind: type) -> Any:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        for i, item in enumerate(value):
            if not isinstance(item, kind):
                raise InvalidEventError(
                    f"item {i} must be {kind.__name__}, got {type(item).__name__}",
                    field=f"{type(instance).__name__}.{attribute.name}",
                )

    return check


#: A URL's ``user:password@``, as :func:`without_credentials` drops it from a name: the password stops
#: before a ``;name=``, so a JDBC-style ``sqlserver://h:1433;user=a@b`` keeps its host and port (what
#: looked like a password is a port and a property); ``u:p;w@db`` is still a password. :mod:`bridge.secrets`
#: masks wider in kept text.
_USERINFO = re.compile(r"(://)([^/?#@\s:]*):(?:(?!;\w+=)[^/?#\s])*@")


def without_credentials(uri: str) -> str:
    """``uri`` without a ``user:password@`` (``s3://AKIA..:secret@bucket`` -> ``s3://bucket``): what
    names a dataset or a job's namespace in a URN. A user without a password (``abfss://container@account``)
    stays."""
    return _USERINFO.sub(r"\1", uri) if "@" in uri else uri


def _job_namespace(value: Any) -> Any:
    """A job namespace without a URL's ``user:password@`` (``spark://etl:secret@host:7077``): it names the
    job's flow in DataHub (the cluster of its URN), its browse path and a property, where no password goes."""
    return without_credentials(value) if isinstance(value, str) else value


def _facets(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


def _tuple(value: Any) -> tuple:
    return tuple(value) if value else ()


def _seq(kind: type) -> Any:
    return attrs.field(factory=tuple, converter=_tuple, validator=_tuple_of(kind))


def _facet_field() -> Any:
    return attrs.field(factory=dict, converter=_facets, eq=False, hash=False)


# -- small parts ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Owner:
    """An owner: a user or group name and an owner type (``TECHNICAL_OWNER``, ``BUSINESS_OWNER``, ...)."""

    name: str = attrs.field(validator=_non_empty)
    type: str | None = attrs.field(default=None, validator=_optional_str)


@attrs.frozen(kw_only=True)
class Tag:
    """A tag: ``key`` and optional ``value`` (shown as ``key:value``), and where it came from."""

    key: str = attrs.field(validator=_non_empty)
    value: str | None = attrs.field(default=None, validator=_optional_str)
    source: str | None = attrs.field(default=None, validator=_optional_str)
    field: str | None = attrs.field(default=None, validator=_optional_str)  # dataset tags: the column tagged

    @property
    def label(self) -> str:
        return f"{self.key}:{self.value}" if self.value not in (None, "", "true") else self.key


@attrs.frozen(kw_only=True)
class SchemaField:
    """A column; ``fields`` holds the children of a struct/record column."""

    name: str = attrs.field(validator=_non_empty)
    type: str | None = attrs.field(default=None, validator=_optional_str)
    description: str | None = attrs.field(default=None, validator=_optional_str)
    fields: tuple[SchemaField, ...] = attrs.field(factory=tuple, converter=_tuple)
    ordinal_position: int | None = None


@attrs.frozen(kw_only=True)
class Symlink:
    """Another name of the same dataset (e.g. a Hive/Glue table behind a path)."""

    namespace: str = attrs.field(validator=_non_empty)
    name: str = attrs.field(validator=_non_empty)
    type: str | None = attrs.field(default=None, validator=_optional_str)


@attrs.frozen(kw_only=True)
class Transformation:
    """How an input column became an output column (OpenLineage column lineage 1-2)."""

    type: str = "DIRECT"  # DIRECT | INDIRECT
    subtype: str | None = None  # IDENTITY, TRANSFORMATION, AGGREGATION, JOIN, FILTER, ...
    description: str | None = None
    masking: bool = False


@attrs.frozen(kw_only=True)
class InputField:
    """One input column of a column-lineage edge."""

    namespace: str = attrs.field(validator=_non_empty)
    name: str = attrs.field(validator=_non_empty)
    field: str = attrs.field(validator=_non_empty)
    transformations: tuple[Transformation, ...] = _seq(Transformation)


@attrs.frozen(kw_only=True)
class ColumnLineage:
    """An output column and the input columns it is derived from."""

    output_field: str = attrs.field(validator=_non_empty)
    inputs: tuple[InputField, ...] = _seq(InputField)
    transformation_description: str | None = None
    transformation_type: str | None = None


@attrs.frozen(kw_only=True)
class DatasetStatistics:
    """Input or output statistics of a dataset in a run."""

    row_count: int | None = attrs.field(default=None, validator=_optional_count)
    size_bytes: int | None = attrs.field(default=None, validator=_optional_count)
    file_count: int | None = attrs.field(default=None, validator=_optional_count)


@attrs.frozen(kw_only=True)
class SourceLocation:
    """Where the job's code lives."""

    url: str | None = None
    type: str | None = None
    repo_url: str | None = None
    path: str | None = None
    version: str | None = None
    tag: str | None = None
    branch: str | None = None


@attrs.frozen(kw_only=True)
class ErrorInfo:
    """Why a run failed."""

    message: str = ""
    stack_trace: str | None = None
    language: str | None = None


@attrs.frozen(kw_only=True)
class ParentRun:
    """The run that started this one (and the root of the tree, when known)."""

    run_id: str = attrs.field(validator=_non_empty)
    job_namespace: str = attrs.field(converter=_job_namespace, validator=_non_empty)
    job_name: str = attrs.field(validator=_non_empty)
    root_run_id: str | None = None
    root_job_namespace: str | None = attrs.field(default=None, converter=_job_namespace)
    root_job_name: str | None = None


# -- datasets, jobs, runs -------------------------------------------------------


@attrs.frozen(kw_only=True)
class Dataset:
    """A dataset as seen by one event (input, output, or the subject of a DatasetEvent).

    ``fields is None`` means "no schema was reported" (not "no columns").
    ``facets``/``input_facets``/``output_facets`` keep facets the model has no field for.
    """

    namespace: str = attrs.field(validator=_non_empty)
    name: str = attrs.field(validator=_non_empty)
    fields: tuple[SchemaField, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    description: str | None = None
    owners: tuple[Owner, ...] = _seq(Owner)
    tags: tuple[Tag, ...] = _seq(Tag)
    symlinks: tuple[Symlink, ...] = _seq(Symlink)
    data_source_uri: str | None = None
    data_source_name: str | None = None
    storage_layer: str | None = None
    file_format: str | None = None
    version: str | None = None
    lifecycle_state: str | None = None
    dataset_type: str | None = None  # TABLE, VIEW, FILE, TOPIC, STREAM, MODEL... (the datasetType facet)
    dataset_subtype: str | None = None  # within dataset_type: MATERIALIZED, EXTERNAL, TEMPORARY...
    previous_identifier: tuple[str, str] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )  # (namespace, name) before a RENAME
    column_lineage: tuple[ColumnLineage, ...] = _seq(ColumnLineage)
    dataset_lineage: tuple[InputField, ...] = _seq(InputField)  # columns affecting the whole dataset
    input_statistics: DatasetStatistics | None = None
    output_statistics: DatasetStatistics | None = None
    facets: Mapping[str, Any] = _facet_field()
    input_facets: Mapping[str, Any] = _facet_field()
    output_facets: Mapping[str, Any] = _facet_field()

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@attrs.frozen(kw_only=True)
class Job:
    """A job: identified by namespace + name; the rest describes it."""

    namespace: str = attrs.field(converter=_job_namespace, validator=_non_empty)  # (no user:password@)
    name: str = attrs.field(validator=_non_empty)
    processing_type: str | None = None  # BATCH | STREAMING
    integration: str | None = None  # SPARK, AIRFLOW, DAGSTER, DBT, ...
    job_type: str | None = None  # QUERY, COMMAND, DAG, TASK, JOB, MODEL, ASSET, ...
    description: str | None = None
    owners: tuple[Owner, ...] = _seq(Owner)
    tags: tuple[Tag, ...] = _seq(Tag)
    sql: str | None = None
    sql_dialect: str | None = None
    source_code: str | None = None
    source_language: str | None = None
    source_location: SourceLocation | None = None
    url: str | None = None
    facets: Mapping[str, Any] = _facet_field()

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@attrs.frozen(kw_only=True)
class Run:
    """One execution of a job."""

    run_id: str = attrs.field(validator=_non_empty)
    parent: ParentRun | None = None
    nominal_start_time: dt.datetime | None = attrs.field(default=None, validator=_aware_datetime)
    nominal_end_time: dt.datetime | None = attrs.field(default=None, validator=_aware_datetime)
    error: ErrorInfo | None = None
    processing_engine: str | None = None
    processing_engine_version: str | None = None
    openlineage_adapter_version: str | None = None
    tags: tuple[Tag, ...] = _seq(Tag)
    facets: Mapping[str, Any] = _facet_field()


@attrs.frozen(kw_only=True)
class RunEvent:
    """A run changed state (OpenLineage RunEvent)."""

    event_type: EventType = attrs.field(converter=EventType)
    event_time: dt.datetime = attrs.field(validator=_aware_datetime)
    run: Run
    job: Job
    producer: str = ""
    schema_url: str | None = None
    inputs: tuple[Dataset, ...] = _seq(Dataset)
    outputs: tuple[Dataset, ...] = _seq(Dataset)


@attrs.frozen(kw_only=True)
class JobEvent:
    """A job's design-time metadata (OpenLineage JobEvent): no run."""

    event_time: dt.datetime = attrs.field(validator=_aware_datetime)
    job: Job
    producer: str = ""
    schema_url: str | None = None
    inputs: tuple[Dataset, ...] = _seq(Dataset)
    outputs: tuple[Dataset, ...] = _seq(Dataset)


@attrs.frozen(kw_only=True)
class DatasetEvent:
    """A dataset's metadata on its own (OpenLineage DatasetEvent)."""

    event_time: dt.datetime = attrs.field(validator=_aware_datetime)
    dataset: Dataset
    producer: str = ""
    schema_url: str | None = None


Event = RunEvent | JobEvent | DatasetEvent
