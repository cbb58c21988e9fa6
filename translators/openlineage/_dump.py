"""Neutral model -> OpenLineage 2.x JSON (a dict ready for ``json.dumps``).

Standard facets are rebuilt from the model fields, merged over the residue
(unmodelled keys) that the parser kept under the same facet name; other facets
are written back verbatim. Facets get ``_producer`` (the event's producer) and
the ``_schemaURL`` of the facet version whose fields the model carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bridge.model import (
    ColumnLineage,
    Dataset,
    DatasetEvent,
    DatasetStatistics,
    Event,
    InputField,
    Job,
    JobEvent,
    Owner,
    Run,
    RunEvent,
    SchemaField,
    Tag,
)

from ._facets import stats_from_quality_metrics
from ._values import format_time

__all__ = ["DEFAULT_PRODUCER", "FACET_SCHEMAS", "SPEC_URL", "to_openlineage"]

SPEC_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
DEFAULT_PRODUCER = "https://github.com/lineage-bridge/lineage-bridge"

_F = "https://openlineage.io/spec/facets/"
FACET_SCHEMAS: Mapping[str, str] = {
    f"{kind}.{name}": f"{_F}{version}/{cls}.json#/$defs/{cls}"
    for kind, name, version, cls in (
        ("job", "jobType", "2-0-3", "JobTypeJobFacet"),
        ("job", "documentation", "1-1-0", "DocumentationJobFacet"),
        ("job", "ownership", "1-0-1", "OwnershipJobFacet"),
        ("job", "tags", "1-0-0", "TagsJobFacet"),
        ("job", "sql", "1-1-0", "SQLJobFacet"),
        ("job", "sourceCode", "1-0-1", "SourceCodeJobFacet"),
        ("job", "sourceCodeLocation", "1-1-0", "SourceCodeLocationJobFacet"),
        ("run", "parent", "1-2-0", "ParentRunFacet"),
        ("run", "nominalTime", "1-0-1", "NominalTimeRunFacet"),
        ("run", "errorMessage", "1-0-1", "ErrorMessageRunFacet"),
        ("run", "processing_engine", "1-1-1", "ProcessingEngineRunFacet"),
        ("run", "tags", "1-0-0", "TagsRunFacet"),
        ("dataset", "schema", "1-2-0", "SchemaDatasetFacet"),
        ("dataset", "dataSource", "1-0-1", "DatasourceDatasetFacet"),
        ("dataset", "symlinks", "1-0-1", "SymlinksDatasetFacet"),
        ("dataset", "storage", "1-0-1", "StorageDatasetFacet"),
        ("dataset", "version", "1-0-1", "DatasetVersionDatasetFacet"),
        ("dataset", "lifecycleStateChange", "1-0-1", "LifecycleStateChangeDatasetFacet"),
        ("dataset", "datasetType", "1-0-0", "DatasetTypeDatasetFacet"),
        ("dataset", "columnLineage", "1-2-0", "ColumnLineageDatasetFacet"),
        ("dataset", "ownership", "1-0-1", "OwnershipDatasetFacet"),
        ("dataset", "tags", "1-0-0", "TagsDatasetFacet"),
        ("dataset", "documentation", "1-1-0", "DocumentationDatasetFacet"),
        ("input", "inputStatistics", "1-0-0", "InputStatisticsInputDatasetFacet"),
        ("output", "outputStatistics", "1-0-2", "OutputStatisticsOutputDatasetFacet"),
    )
}


def to_openlineage(event: Event, *, schema_url: str | None = None) -> dict[str, Any]:
    """Write a neutral event as OpenLineage 2.x JSON.

    Args:
        event: a RunEvent, JobEvent or DatasetEvent.
        schema_url: the event's ``schemaURL``; default: the one the event was read with,
            or the OpenLineage 2-0-2 spec URL of its kind.

    Returns:
        A JSON-able dict. ``parse_event(to_openlineage(e)) == e`` for events read by ``parse_event``.
    """
    producer = event.producer or DEFAULT_PRODUCER
    kind = type(event).__name__
    out: dict[str, Any] = {}
    if event.event_time is not None:
        out["eventTime"] = format_time(event.event_time)
    out["producer"] = event.producer
    out["schemaURL"] = schema_url or event.schema_url or f"{SPEC_URL}#/$defs/{kind}"
    if isinstance(event, DatasetEvent):
        out["dataset"] = _dataset(event.dataset, producer)
        return out
    if isinstance(event, RunEvent):
        out["eventType"] = event.event_type.value
        out["run"] = _run(event.run, producer)
    elif not isinstance(event, JobEvent):
        raise TypeError(f"not a neutral model event: {type(event).__name__}")
    out["job"] = _job(event.job, producer)
    out["inputs"] = [_dataset(d, producer) for d in event.inputs]
    out["outputs"] = [_dataset(d, producer) for d in event.outputs]
    return out


def _compact(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _facets(kind: str, kept: Mapping[str, Any], built: Iterable[tuple[str, Any]], producer: str) -> dict:
    """Verbatim facets, then each standard facet built from the model over its residue."""
    out = dict(kept)
    for name, body in built:
        if body is None:
            continue
        facet: dict[str, Any] = {"_producer": producer, "_schemaURL": FACET_SCHEMAS[f"{kind}.{name}"]}
        residue = kept.get(name)
        if type(residue) is dict or isinstance(residue, Mapping):
            facet.update(residue)
        facet.update(body)
        out[name] = facet
    return out


def _owners(owners: tuple[Owner, ...]) -> dict[str, Any] | None:
    return {"owners": [_compact(name=o.name, type=o.type) for o in owners]} if owners else None


def _tags(tags: tuple[Tag, ...], with_field: bool = False) -> dict[str, Any] | None:
    if not tags:
        return None
    return {
        "tags": [
            _compact(key=t.key, value=t.value, source=t.source, field=t.field if with_field else None)
            for t in tags
        ]
    }


def _job(job: Job, producer: str) -> dict[str, Any]:
    loc = job.source_location
    built = (
        (
            "jobType",
            _compact(processingType=job.processing_type, integration=job.integration, jobType=job.job_type)
            or None,
        ),
        ("documentation", None if job.description is None else {"description": job.description}),
        ("ownership", _owners(job.owners)),
        ("tags", _tags(job.tags)),
        ("sql", None if job.sql is None else _compact(query=job.sql, dialect=job.sql_dialect)),
        ("sourceCode", _compact(language=job.source_language, sourceCode=job.source_code) or None),
        (
            "sourceCodeLocation",
            None
            if loc is None
            else _compact(
                type=loc.type,
                url=loc.url,
                repoUrl=loc.repo_url,
                path=loc.path,
                version=loc.version,
                tag=loc.tag,
                branch=loc.branch,
            ),
        ),
    )
    return {
        "namespace": job.namespace,
        "name": job.name,
        "facets": _facets("job", job.facets, built, producer),
    }


def _run(run: Run, producer: str) -> dict[str, Any]:
    parent = run.parent
    parent_body: dict[str, Any] | None = None
    if parent is not None:
        parent_body = {
            "run": {"runId": parent.run_id},
            "job": {"namespace": parent.job_namespace, "name": parent.job_name},
        }
        if parent.root_run_id and parent.root_job_namespace and parent.root_job_name:
            parent_body["root"] = {
                "run": {"runId": parent.root_run_id},
                "job": {"namespace": parent.root_job_namespace, "name": parent.root_job_name},
            }
    nominal = None
    if run.nominal_start_time is not None or run.nominal_end_time is not None:
        nominal = _compact(
            nominalStartTime=run.nominal_start_time and format_time(run.nominal_start_time),
            nominalEndTime=run.nominal_end_time and format_time(run.nominal_end_time),
        )
    error = run.error
    engine = _compact(
        name=run.processing_engine,
        version=run.processing_engine_version,
        openlineageAdapterVersion=run.openlineage_adapter_version,
    )
    built = (
        ("parent", parent_body),
        ("nominalTime", nominal),
        (
            "errorMessage",
            None
            if error is None
            else _compact(
                message=error.message, programmingLanguage=error.language, stackTrace=error.stack_trace
            ),
        ),
        ("processing_engine", engine or None),
        ("tags", _tags(run.tags)),
    )
    return {"runId": run.run_id, "facets": _facets("run", run.facets, built, producer)}


def _schema_fields(fields: tuple[SchemaField, ...]) -> list[dict[str, Any]]:
    return [
        _compact(
            name=f.name,
            type=f.type,
            description=f.description,
            ordinal_position=f.ordinal_position,
            fields=_schema_fields(f.fields) if f.fields else None,
        )
        for f in fields
    ]


def _input_fields(items: tuple[InputField, ...]) -> list[dict[str, Any]]:
    return [
        {
            "namespace": i.namespace,
            "name": i.name,
            "field": i.field,
            "transformations": [
                _compact(type=t.type, subtype=t.subtype, description=t.description, masking=t.masking)
                for t in i.transformations
            ],
        }
        for i in items
    ]


def _column_lineage(lineage: tuple[ColumnLineage, ...], dataset: tuple[InputField, ...]) -> dict | None:
    if not lineage and not dataset:
        return None
    fields = {
        c.output_field: _compact(
            inputFields=_input_fields(c.inputs),
            transformationDescription=c.transformation_description,
            transformationType=c.transformation_type,
        )
        for c in lineage
    }
    return {"fields": fields, "dataset": _input_fields(dataset)}


def _stats(stats: DatasetStatistics | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return _compact(rowCount=stats.row_count, size=stats.size_bytes, fileCount=stats.file_count)


def _dataset(ds: Dataset, producer: str) -> dict[str, Any]:
    lifecycle = None
    if ds.lifecycle_state is not None or ds.previous_identifier is not None:
        lifecycle = _compact(lifecycleStateChange=ds.lifecycle_state)
        if ds.previous_identifier is not None:
            lifecycle["previousIdentifier"] = {
                "namespace": ds.previous_identifier[0],
                "name": ds.previous_identifier[1],
            }
    built = (
        ("schema", None if ds.fields is None else {"fields": _schema_fields(ds.fields)}),
        ("dataSource", _compact(name=ds.data_source_name, uri=ds.data_source_uri) or None),
        (
            "symlinks",
            {"identifiers": [_compact(namespace=s.namespace, name=s.name, type=s.type) for s in ds.symlinks]}
            if ds.symlinks
            else None,
        ),
        ("storage", _compact(storageLayer=ds.storage_layer, fileFormat=ds.file_format) or None),
        ("version", None if ds.version is None else {"datasetVersion": ds.version}),
        ("lifecycleStateChange", lifecycle),
        ("datasetType", _compact(datasetType=ds.dataset_type, subType=ds.dataset_subtype) or None),
        ("columnLineage", _column_lineage(ds.column_lineage, ds.dataset_lineage)),
        ("ownership", _owners(ds.owners)),
        ("tags", _tags(ds.tags, with_field=True)),
        ("documentation", None if ds.description is None else {"description": ds.description}),
    )
    out: dict[str, Any] = {
        "namespace": ds.namespace,
        "name": ds.name,
        "facets": _facets("dataset", ds.facets, built, producer),
    }
    input_stats = ds.input_statistics
    # Statistics that came from a dataQualityMetrics facet are already carried by it.
    if input_stats is not None and input_stats == stats_from_quality_metrics(
        ds.input_facets.get("dataQualityMetrics"), "", None
    ):
        input_stats = None
    if ds.input_facets or input_stats is not None:
        out["inputFacets"] = _facets(
            "input", ds.input_facets, (("inputStatistics", _stats(input_stats)),), producer
        )
    if ds.output_facets or ds.output_statistics is not None:
        out["outputFacets"] = _facets(
            "output", ds.output_facets, (("outputStatistics", _stats(ds.output_statistics)),), producer
        )
    return out
