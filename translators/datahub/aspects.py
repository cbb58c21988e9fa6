"""DataHub aspects: small pure builders returning JSON dicts.

The builders (``status()``, ``ownership()``, ``data_job_info()`` ...) return
the aspect's JSON exactly as DataHub's REST API and file source take it (union
members spelled ``com.linkedin.schema.NumberType``, enums as strings, optional
fields left out when empty). The translator uses them because plain dicts are
the cheapest thing to build and serialise.

Typed classes of some of them, for users composing their own MCPs, are in
:mod:`translators.datahub.typed_aspects`.

Every shape here is checked against acryl-datahub's schema classes by the
conformance tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bridge.mcp import MetadataChangeProposalWrapper

__all__ = [
    "OWNERSHIP_TYPES",
    "mcp",
    "audit_stamp",
    "browse_paths_v2",
    "data_flow_info",
    "data_job_info",
    "data_job_input_output",
    "data_platform_instance",
    "dataset_properties",
    "dpi_io",
    "dpi_properties",
    "dpi_relationships",
    "dpi_run_event",
    "fine_grained_lineage",
    "global_tags",
    "operation",
    "ownership",
    "schema_metadata",
    "status",
    "sub_types",
    "upstream_lineage",
]

SYSTEM_ACTOR = "urn:li:corpuser:datahub"
"""Actor credited in audit stamps, as DataHub's own integrations do."""


#: DataHub's ownership types (``OwnershipType``).
OWNERSHIP_TYPES = frozenset({
    "TECHNICAL_OWNER", "BUSINESS_OWNER", "DATA_STEWARD", "NONE", "DEVELOPER", "DATAOWNER", "DELEGATE",
    "PRODUCER", "CONSUMER", "STAKEHOLDER",
})  # fmt: skip


#: ``mcp(urn, entity_type, aspect_name, aspect)``: an MCP the translator built from these builders
#: (well-formed by construction, so the constructor's checks are skipped; the conformance tests validate
#: every one). The constructor itself, not a function calling it: one call less per MCP.
mcp: Callable[[str, str, str, dict[str, Any]], MetadataChangeProposalWrapper] = (
    MetadataChangeProposalWrapper._unchecked
)


def _partition_spec(partition: str) -> dict[str, Any]:
    """DataHub's ``PartitionSpec`` of a timeseries aspect (run event, operation)."""
    return {"type": "PARTITION", "partition": partition}


def _props(values: Mapping[str, Any] | None) -> dict[str, str]:
    """customProperties must be a map of strings; drop ``None`` values."""
    if not values:
        return {}
    return {k: v if isinstance(v, str) else str(v) for k, v in values.items() if v is not None}


def audit_stamp(time_ms: int, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    """``AuditStamp``: when and by whom."""
    return {"time": time_ms, "actor": actor}


def status(removed: bool = False) -> dict[str, Any]:
    """``status``: the entity exists (``removed=False``) or is soft-deleted."""
    return {"removed": removed}


def ownership(owners: Iterable[tuple[str, str]], time_ms: int | None = None) -> dict[str, Any]:
    """``ownership`` from ``(owner urn, ownership type)`` pairs (source ``SERVICE``)."""
    obj: dict[str, Any] = {
        "owners": [{"owner": urn, "type": kind, "source": {"type": "SERVICE"}} for urn, kind in owners]
    }
    if time_ms is not None:
        obj["lastModified"] = audit_stamp(time_ms)
    return obj


def global_tags(tag_urns: Iterable[str]) -> dict[str, Any]:
    """``globalTags`` from tag URNs."""
    return {"tags": [{"tag": urn} for urn in tag_urns]}


def browse_paths_v2(entries: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """``browsePathsV2`` from ``(id, urn or None)`` entries, outermost first."""
    return {"path": [{"id": i, "urn": u} if u else {"id": i} for i, u in entries]}


def data_platform_instance(platform_urn: str, instance_urn: str | None = None) -> dict[str, Any]:
    """``dataPlatformInstance``: the platform (and instance) an entity belongs to."""
    obj: dict[str, Any] = {"platform": platform_urn}
    if instance_urn:
        obj["instance"] = instance_urn
    return obj


def sub_types(names: Iterable[str]) -> dict[str, Any]:
    """``subTypes``: display types such as ``Task`` or ``Table``."""
    return {"typeNames": list(names)}


def data_flow_info(
    name: str,
    *,
    description: str | None = None,
    custom_properties: Mapping[str, Any] | None = None,
    external_url: str | None = None,
) -> dict[str, Any]:
    """``dataFlowInfo``: a pipeline's display name, description and properties."""
    obj: dict[str, Any] = {"customProperties": _props(custom_properties), "name": name}
    if description:
        obj["description"] = description
    if external_url:
        obj["externalUrl"] = external_url
    return obj


def data_job_info(
    name: str,
    *,
    type: str,
    flow_urn: str | None = None,
    description: str | None = None,
    custom_properties: Mapping[str, Any] | None = None,
    external_url: str | None = None,
) -> dict[str, Any]:
    """``dataJobInfo``; ``type`` is free text (DataHub shows the orchestrator, e.g. ``spark``)."""
    obj: dict[str, Any] = {
        "customProperties": _props(custom_properties),
        "name": name,
        "type": {"string": type},
    }
    if flow_urn:
        obj["flowUrn"] = flow_urn
    if description:
        obj["description"] = description
    if external_url:
        obj["externalUrl"] = external_url
    return obj


def fine_grained_lineage(
    upstream_fields: Sequence[str],
    downstream_fields: Sequence[str],
    *,
    transform_operation: str | None = None,
    confidence: float = 1.0,
    query: str | None = None,
) -> dict[str, Any]:
    """``FineGrainedLineage``: schemaField URNs upstream -> downstream."""
    obj: dict[str, Any] = {
        "upstreamType": "FIELD_SET",
        "upstreams": list(upstream_fields),
        "downstreamType": "FIELD" if len(downstream_fields) == 1 else "FIELD_SET",
        "downstreams": list(downstream_fields),
        "confidenceScore": confidence,
    }
    if transform_operation:
        obj["transformOperation"] = transform_operation
    if query:
        obj["query"] = query
    return obj


def data_job_input_output(
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    fine_grained: Sequence[Mapping[str, Any]] = (),
    input_jobs: Sequence[str] = (),
) -> dict[str, Any]:
    """``dataJobInputOutput``: the datasets (and jobs) a job reads and writes."""
    obj: dict[str, Any] = {"inputDatasets": list(inputs), "outputDatasets": list(outputs)}
    if input_jobs:
        obj["inputDatajobs"] = list(input_jobs)
    if fine_grained:
        obj["fineGrainedLineages"] = [dict(f) for f in fine_grained]
    return obj


def dpi_properties(
    name: str,
    *,
    created_ms: int,
    type: str = "BATCH_AD_HOC",
    custom_properties: Mapping[str, Any] | None = None,
    external_url: str | None = None,
) -> dict[str, Any]:
    """``dataProcessInstanceProperties``; ``type`` is BATCH_SCHEDULED, BATCH_AD_HOC or STREAMING."""
    obj: dict[str, Any] = {
        "customProperties": _props(custom_properties),
        "name": name,
        "type": type,
        "created": audit_stamp(created_ms),
    }
    if external_url:
        obj["externalUrl"] = external_url
    return obj


def dpi_relationships(
    parent_template: str | None, parent_instance: str | None = None, upstream_instances: Sequence[str] = ()
) -> dict[str, Any]:
    """``dataProcessInstanceRelationships``: the job it ran, and the run that started it."""
    obj: dict[str, Any] = {"upstreamInstances": list(upstream_instances)}
    if parent_template:
        obj["parentTemplate"] = parent_template
    if parent_instance:
        obj["parentInstance"] = parent_instance
    return obj


def dpi_run_event(
    time_ms: int,
    status: str,
    *,
    result: str | None = None,
    native_result: str | None = None,
    attempt: int | None = None,
    duration_ms: int | None = None,
    external_url: str | None = None,
    partition: str | None = None,
) -> dict[str, Any]:
    """``dataProcessInstanceRunEvent`` (timeseries): STARTED or COMPLETE with a result, of a partition."""
    obj: dict[str, Any] = {"timestampMillis": time_ms, "status": status}
    if attempt is not None:
        obj["attempt"] = attempt
    if result is not None:
        obj["result"] = {"type": result, "nativeResultType": native_result or result}
    if duration_ms is not None:
        obj["durationMillis"] = duration_ms
    if external_url:
        obj["externalUrl"] = external_url
    if partition:
        obj["partitionSpec"] = _partition_spec(partition)
    return obj


def dpi_io(kind: str, urns: Sequence[str]) -> dict[str, Any]:
    """``dataProcessInstanceInput`` (``kind="inputs"``) or ``...Output`` (``kind="outputs"``)."""
    return {kind: list(urns)}


def schema_metadata(
    schema_name: str, platform_urn: str, fields: Sequence[Mapping[str, Any]], *, raw_schema: str = ""
) -> dict[str, Any]:
    """``schemaMetadata`` with already-built ``SchemaField`` dicts."""
    return {
        "schemaName": schema_name,
        "platform": platform_urn,
        "version": 0,
        "hash": "",
        "platformSchema": {"com.linkedin.schema.OtherSchema": {"rawSchema": raw_schema}},
        "fields": list(fields),
    }


def dataset_properties(
    *,
    name: str | None = None,
    description: str | None = None,
    qualified_name: str | None = None,
    custom_properties: Mapping[str, Any] | None = None,
    external_url: str | None = None,
) -> dict[str, Any]:
    """``datasetProperties``: display name, description and properties."""
    obj: dict[str, Any] = {"customProperties": _props(custom_properties)}
    for key, value in (
        ("name", name),
        ("description", description),
        ("qualifiedName", qualified_name),
        ("externalUrl", external_url),
    ):
        if value:
            obj[key] = value
    return obj


def upstream_lineage(
    upstreams: Iterable[str],
    time_ms: int,
    *,
    fine_grained: Sequence[Mapping[str, Any]] = (),
    lineage_type: str = "TRANSFORMED",
) -> dict[str, Any]:
    """``upstreamLineage`` of a dataset: the datasets it is derived from."""
    obj: dict[str, Any] = {
        "upstreams": [
            {"auditStamp": audit_stamp(time_ms), "dataset": urn, "type": lineage_type} for urn in upstreams
        ]
    }
    if fine_grained:
        obj["fineGrainedLineages"] = [dict(f) for f in fine_grained]
    return obj


def operation(
    time_ms: int,
    operation_type: str,
    *,
    custom_operation_type: str | None = None,
    affected_rows: int | None = None,
    custom_properties: Mapping[str, Any] | None = None,
    partition: str | None = None,
) -> dict[str, Any]:
    """``operation`` (timeseries): a dataset (or one of its partitions) was written at ``time_ms``."""
    obj: dict[str, Any] = {
        "timestampMillis": time_ms,
        "operationType": operation_type,
        "lastUpdatedTimestamp": time_ms,
    }
    if custom_operation_type:
        obj["customOperationType"] = custom_operation_type
    if affected_rows is not None:
        obj["numAffectedRows"] = affected_rows
    if custom_properties:
        obj["customProperties"] = _props(custom_properties)
    if partition:
        obj["partitionSpec"] = _partition_spec(partition)
    return obj
