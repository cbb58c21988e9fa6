"""Assemble the MCPs of one event (used by :class:`~translators.datahub.translator.DataHubTranslator`).

Order is fixed: flow, job, datasets, run. Rules that protect what DataHub
already knows:

* ``dataJobInputOutput`` and ``dataProcessInstanceInput``/``Output`` are only
  emitted when the event names datasets: a RUNNING or COMPLETE event without
  datasets must not erase lineage learned from START. The one exception is a job's
  upstream jobs (Airflow's ``upstream_task_ids``): while ``dataJobInputOutput`` is
  patched (the default) they are sent alone, as PATCH adds that touch no dataset.
* ``ownership``, ``globalTags``, ``datasetProperties`` and ``schemaMetadata``
  are only emitted when the event says something about them (``datasetProperties``
  only with a description, or with ``capture_raw_facets``). How each is written
  (patched, only if absent...) is the write policy's business
  (:mod:`translators.datahub.writes`).
* ``dataProcessInstanceProperties.created`` is the event's time, as DataHub's
  converter does; a pipeline that has seen the START keeps the earlier value.
* Every event names its flow (``dataFlowInfo.name``, patched in), so a flow whose own
  job's events never arrive (a lost DAG-level or application-level event) still has a
  name; only the flow's own job's events (the parent of its children) write its
  description, owners and tags, and a child's patch leaves them as they are.
* An event whose job is its flow alone (:meth:`~translators.datahub.translator.DataHubTranslator.emits_job`
  false: a DAG run under the Airflow plugin's ``compat`` preset) writes the flow and its run, no job;
  the run is an instance of the flow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bridge.errors import InvalidEventError
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Dataset, DatasetEvent, EventType, JobEvent, RunEvent
from bridge.secrets import DEFAULT_SECRETS
from translators.datahub import aspects
from translators.datahub.column_lineage import column_fine_grained
from translators.datahub.profiles import dataset_measurements
from translators.datahub.properties import dataset_properties
from translators.datahub.quality import assertion_mcps
from translators.datahub.schema_types import field_path_items, schema_field_type


def make_schema_field_urn(parent_urn: str, field_path: str) -> str:
    """``urn:li:schemaField:(<dataset urn>,<field path>)`` (parent is one of our own dataset URNs)."""
    from translators.datahub.translator import fast_encode

    return f"urn:li:schemaField:({parent_urn},{fast_encode(field_path)})"


if TYPE_CHECKING:
    from translators.datahub.translator import DataHubTranslator

__all__ = ["dataset_event_mcps", "epoch_millis", "job_event_mcps", "run_event_mcps"]

MCPW = MetadataChangeProposalWrapper
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# OpenLineage run state -> (DataHub run status, result type or None).
_RUN_STATUS: dict[EventType, tuple[str, str | None]] = {
    EventType.START: ("STARTED", None),
    EventType.RUNNING: ("STARTED", None),
    EventType.COMPLETE: ("COMPLETE", "SUCCESS"),
    EventType.FAIL: ("COMPLETE", "FAILURE"),
    EventType.ABORT: ("COMPLETE", "SKIPPED"),
}


def epoch_millis(value: dt.datetime | None) -> int:
    """Milliseconds since the epoch, in integer arithmetic (no float rounding).

    Raises:
        InvalidEventError: no time (an event without ``eventTime``, parsed without ``received_at``).
    """
    if value is None:
        raise InvalidEventError("no eventTime, and no time the event was received was given", field="eventTime")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _mcp(urn: str, entity_type: str, name: str, aspect: dict[str, Any]) -> MCPW:
    return MCPW._unchecked(urn, entity_type, name, aspect)  # well-formed by construction: no checks


class _Datasets:
    """The datasets of one event: URNs (inputs, outputs) and every sighting per URN."""

    __slots__ = ("by_key", "inputs", "outputs", "sightings", "refs")

    def __init__(self, tr: DataHubTranslator, inputs: Iterable[Dataset], outputs: Iterable[Dataset]) -> None:
        self.by_key: dict[tuple[str, str], str] = {}
        self.sightings: dict[str, list[Dataset]] = {}
        self.refs: dict[str, Any] = {}
        outputs = tuple(outputs)
        self.inputs = self._add(tr, inputs)
        self.outputs = self._add(tr, outputs)
        if tr.config.column_lineage_inputs:
            self.inputs += self._add(tr, self._column_only_inputs(tr, outputs))

    def _column_only_inputs(self, tr: DataHubTranslator, outputs: tuple[Dataset, ...]) -> list[Dataset]:
        """Datasets the outputs' column lineage reads from that are neither inputs nor outputs of the
        event (dbt-ol names a model's seeds only there): bare datasets, made table-level inputs.
        An output is never made an input of its own event (no self-loop)."""
        known = set(self.inputs) | set(self.outputs)
        extra: dict[tuple[str, str], Dataset] = {}
        for ds in outputs:
            for cl in ds.column_lineage:
                for f in cl.inputs:
                    key = (f.namespace, f.name)
                    if key not in extra and self.urn_of(tr, *key) not in known:
                        extra[key] = Dataset(namespace=f.namespace, name=f.name)
        return list(extra.values())

    def _add(self, tr: DataHubTranslator, datasets: Iterable[Dataset]) -> list[str]:
        urns: dict[str, None] = {}  # ordered, and a membership test in O(1)
        for ds in datasets:
            ref = tr.get_dataset_ref(ds)
            urn = tr.get_ref_urn(ref)
            self.by_key.setdefault((ds.namespace, ds.name), urn)
            seen = self.sightings.get(urn)
            if seen is None:
                self.sightings[urn] = [ds]
                self.refs[urn] = ref
            else:
                seen.append(ds)
            urns[urn] = None
        return list(urns)

    def urn_of(self, tr: DataHubTranslator, namespace: str, name: str) -> str:
        """URN of a dataset named in column lineage: the event's own dataset if it is one (symlinks applied)."""
        urn = self.by_key.get((namespace, name))
        return urn if urn is not None else tr.get_ref_urn(tr.get_dataset_ref_for(namespace, name))


def _fine_grained(tr: DataHubTranslator, dsets: _Datasets, urn: str) -> list[dict[str, Any]]:
    """Column lineage of the dataset ``urn`` (all its sightings), as FineGrainedLineage dicts
    (one per output column and kind, see :mod:`translators.datahub.column_lineage`)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    include_indirect = tr.config.include_indirect_column_lineage
    for ds in dsets.sightings[urn]:
        for cl in ds.column_lineage:
            if cl.output_field in seen or not cl.inputs:
                continue
            seen.add(cl.output_field)
            out.extend(column_fine_grained(
                cl, make_schema_field_urn(urn, cl.output_field),
                lambda f: make_schema_field_urn(dsets.urn_of(tr, f.namespace, f.name), f.field),
                include_indirect=include_indirect,
            ))  # fmt: skip
    return out


# -- flow and job -------------------------------------------------------------------


def _browse(instance_urn: str | None, *entries: tuple[str, str | None]) -> dict[str, Any]:
    """browsePathsV2: the platform instance (if any), then the given folders."""
    head: tuple[tuple[str, str | None], ...] = ((instance_urn, instance_urn),) if instance_urn else ()
    return aspects.browse_paths_v2(head + entries)


def _flow_and_job(
    tr: DataHubTranslator, event: RunEvent | JobEvent, time_ms: int
) -> tuple[list[MCPW], str, str | None]:
    """The flow's and job's MCPs, the orchestrator and the job URN (None: the event writes no job)."""
    job = event.job
    orchestrator = tr.get_orchestrator(event)
    flow_id = tr.get_flow_id(event)
    flow_urn = tr.get_flow_urn(event)
    instance_urn = tr.get_platform_instance_urn(orchestrator)
    role = tr.get_flow_role(event, flow_id)
    out: list[MCPW] = []

    if role == "own":
        out.append(_mcp(flow_urn, "dataFlow", "dataFlowInfo", aspects.data_flow_info(
            flow_id,
            description=tr.get_flow_description(event),
            custom_properties={"namespace": job.namespace},
            external_url=job.url,
        )))  # fmt: skip
    else:  # the flow's name, patched in: it shows up even if its own job's events never come
        out.append(_mcp(flow_urn, "dataFlow", "dataFlowInfo",
                        aspects.data_flow_info(flow_id, custom_properties={"namespace": job.namespace})))  # fmt: skip
    out.append(_mcp(flow_urn, "dataFlow", "status", aspects.status()))
    owners = [tr.get_owner(o) for o in job.owners]
    if role == "own":
        if owners:
            out.append(_mcp(flow_urn, "dataFlow", "ownership", aspects.ownership(owners, time_ms)))
        tags = tr.get_flow_tags(event)
        if tags:
            out.append(_mcp(flow_urn, "dataFlow", "globalTags", aspects.global_tags(tags)))
    out.append(_mcp(flow_urn, "dataFlow", "browsePathsV2", _browse(instance_urn, (job.namespace, None))))
    if instance_urn:
        out.append(_mcp(flow_urn, "dataFlow", "dataPlatformInstance",
                        aspects.data_platform_instance(tr.get_platform_urn(orchestrator), instance_urn)))  # fmt: skip
    if not tr.emits_job(event):
        return out, orchestrator, None

    job_urn = tr.get_job_urn(event, flow_urn)
    out.append(_mcp(job_urn, "dataJob", "dataJobInfo", aspects.data_job_info(
        tr.get_job_name(event, flow_id),
        type=tr.get_job_type(event, orchestrator),
        flow_urn=flow_urn,
        description=job.description,
        custom_properties=tr.get_job_properties(event),
        external_url=job.url,
    )))  # fmt: skip
    out.append(_mcp(job_urn, "dataJob", "status", aspects.status()))
    subtypes = tr.get_job_subtypes(event)
    if subtypes:
        out.append(_mcp(job_urn, "dataJob", "subTypes", aspects.sub_types(subtypes)))
    if owners:
        out.append(_mcp(job_urn, "dataJob", "ownership", aspects.ownership(owners, time_ms)))
    tags = tr.get_job_tags(event)
    if tags:
        out.append(_mcp(job_urn, "dataJob", "globalTags", aspects.global_tags(tags)))
    out.append(_mcp(job_urn, "dataJob", "browsePathsV2",
                    _browse(instance_urn, (job.namespace, None), (flow_urn, flow_urn))))  # fmt: skip
    if instance_urn:
        out.append(_mcp(job_urn, "dataJob", "dataPlatformInstance",
                        aspects.data_platform_instance(tr.get_platform_urn(orchestrator), instance_urn)))  # fmt: skip
    logic = tr.get_data_transform_logic(event)
    if logic:
        out.append(_mcp(job_urn, "dataJob", "dataTransformLogic", logic))
    return out, orchestrator, job_urn


def _job_io(tr: DataHubTranslator, job_urn: str, dsets: _Datasets, input_jobs: list[str]) -> list[MCPW]:
    if not dsets.inputs and not dsets.outputs:
        # Never erase lineage learned from an earlier event. Upstream jobs alone are sent only when
        # the aspect is patched: the patch adds those edges and leaves the datasets as they are.
        if not input_jobs:
            return []
        mcp = _mcp(job_urn, "dataJob", "dataJobInputOutput",
                   aspects.data_job_input_output((), (), input_jobs=input_jobs))  # fmt: skip
        return [mcp] if tr.get_write_mode(mcp) == "patch" else []
    fine: list[dict[str, Any]] = []
    if tr.config.emit_column_lineage:
        for urn in dict.fromkeys(dsets.outputs + dsets.inputs):
            fine.extend(_fine_grained(tr, dsets, urn))
    return [_mcp(job_urn, "dataJob", "dataJobInputOutput", aspects.data_job_input_output(
        dsets.inputs, dsets.outputs, fine_grained=fine, input_jobs=input_jobs))]  # fmt: skip


# -- datasets -------------------------------------------------------------------------


def _schema_fields(tr: DataHubTranslator, datasets: list[Dataset]) -> list[dict[str, Any]] | None:
    source = next((ds for ds in datasets if ds.fields), None)
    if source is None:
        return None
    column_tags: dict[str, list[str]] = {}
    for ds in datasets:
        for tag in ds.tags:
            if tag.field:
                column_tags.setdefault(tag.field, []).append(tr.get_tag_urn(tag))
    fields: list[dict[str, Any]] = []
    for path, f, has_children in field_path_items(source.fields or ()):
        type_obj = schema_field_type(f.type)
        if has_children and next(iter(type_obj["type"])).rsplit(".", 1)[1] not in ("ArrayType", "MapType"):
            type_obj = {"type": {"com.linkedin.schema.RecordType": {}}}
        obj: dict[str, Any] = {"fieldPath": path, "type": type_obj, "nativeDataType": f.type or ""}
        if f.description:
            obj["description"] = f.description
        tags = column_tags.get(path)
        if tags:
            obj["globalTags"] = aspects.global_tags(dict.fromkeys(tags))
        fields.append(obj)
    return fields


def _dataset_mcps(
    tr: DataHubTranslator,
    dsets: _Datasets,
    time_ms: int,
    *,
    materialize: bool,
    completed: bool,
) -> list[MCPW]:
    out: list[MCPW] = []
    config = tr.config
    outputs = set(dsets.outputs)
    for urn, seen in dsets.sightings.items():
        ref = dsets.refs[urn]
        if materialize:
            # A job that dropped the table (lifecycleStateChange DROP on an output) soft-deletes it.
            dropped = urn in outputs and any((ds.lifecycle_state or "").upper() == "DROP" for ds in seen)
            out.append(_mcp(urn, "dataset", "status", aspects.status(removed=dropped)))
            kind = next(((d.dataset_type, d.dataset_subtype) for d in seen if d.dataset_type), None)
            if kind is not None:
                out.append(_mcp(urn, "dataset", "subTypes", aspects.sub_types(_sub_type_names(*kind))))
            fields = _schema_fields(tr, seen)
            if fields:
                out.append(_mcp(urn, "dataset", "schemaMetadata",
                                aspects.schema_metadata(ref.name, tr.get_platform_urn(ref.platform), fields)))  # fmt: skip
            # datasetProperties (patched: its description set, properties added) is only sent when
            # the producer documented the dataset or raw facets were asked for -- never just for
            # storage/format trivia.
            description = next((ds.description for ds in seen if ds.description), None)
            if description or config.capture_raw_facets:
                props = dataset_properties(
                    seen, max_length=config.max_property_length, raw=config.capture_raw_facets,
                    secrets=getattr(tr, "secrets", DEFAULT_SECRETS),
                )
                out.append(_mcp(urn, "dataset", "datasetProperties",
                                aspects.dataset_properties(description=description, custom_properties=props)))  # fmt: skip
            owners = list(dict.fromkeys(tr.get_owner(o) for ds in seen for o in ds.owners))
            if owners:
                out.append(_mcp(urn, "dataset", "ownership", aspects.ownership(owners, time_ms)))
            tags = list(dict.fromkeys(tr.get_tag_urn(t) for ds in seen for t in ds.tags if not t.field))
            if tags:
                out.append(_mcp(urn, "dataset", "globalTags", aspects.global_tags(tags)))
            instance_urn = tr.get_dataset_instance_urn(ref)
            if instance_urn:
                out.append(_mcp(urn, "dataset", "dataPlatformInstance",
                                aspects.data_platform_instance(tr.get_platform_urn(ref.platform), instance_urn)))  # fmt: skip
            for name, value in dataset_measurements(seen, time_ms, output=urn in outputs, completed=completed):
                out.append(_mcp(urn, "dataset", name, value))
        if config.emit_upstream_lineage and urn in outputs:
            upstreams = dict.fromkeys(u for u in dsets.inputs if u != urn)
            fine = _fine_grained(tr, dsets, urn) if config.emit_column_lineage else []
            for f in fine:
                for field_urn in f["upstreams"]:
                    parent = field_urn[len("urn:li:schemaField:(") : field_urn.rindex(",")]
                    if parent != urn:
                        upstreams[parent] = None
            if upstreams:
                out.append(_mcp(urn, "dataset", "upstreamLineage",
                                aspects.upstream_lineage(list(upstreams), time_ms, fine_grained=fine)))  # fmt: skip
    return out


def _sub_type_names(kind: str, sub: str | None) -> list[str]:
    """DataHub's sub-type names for the datasetType facet: ``VIEW``/``MATERIALIZED`` -> View, Materialized View."""
    base = kind.replace("_", " ").strip().title()
    return [base, f"{sub.replace('_', ' ').strip().title()} {base}"] if sub else [base]


def _assertions(tr: DataHubTranslator, dsets: _Datasets, orchestrator: str, run_id: str | None,
                time_ms: int) -> list[MCPW]:  # fmt: skip
    """The input datasets' quality checks as assertions (see :mod:`translators.datahub.quality`)."""
    platform = aspects.data_platform_instance(tr.get_platform_urn(orchestrator), tr.get_platform_instance_urn(orchestrator))
    return assertion_mcps(dsets.sightings, field_urn=make_schema_field_urn, platform=platform, run_id=run_id,
                          time_ms=time_ms)  # fmt: skip


# -- events ----------------------------------------------------------------------------


def run_event_mcps(tr: DataHubTranslator, event: RunEvent) -> list[MCPW]:
    """All MCPs of a RunEvent: flow, job, datasets, process instance."""
    time_ms = epoch_millis(event.event_time)
    out, orchestrator, job_urn = _flow_and_job(tr, event, time_ms)
    dsets = _Datasets(tr, event.inputs, event.outputs)
    if job_urn is not None:
        out.extend(_job_io(tr, job_urn, dsets, tr.get_upstream_job_urns(event, tr.get_flow_urn(event))))
    out.extend(_dataset_mcps(tr, dsets, time_ms, materialize=tr.config.materialize_datasets,
                             completed=event.event_type is EventType.COMPLETE))  # fmt: skip
    out.extend(_assertions(tr, dsets, orchestrator, event.run.run_id, time_ms))

    run_urn = tr.get_run_urn(event)
    dpi = "dataProcessInstance"
    out.append(_mcp(run_urn, dpi, "dataProcessInstanceProperties", aspects.dpi_properties(
        tr.get_run_name(event),
        created_ms=time_ms,
        type=tr.get_process_type(event),
        custom_properties=tr.get_run_properties(event),
        external_url=tr.get_run_url(event),
    )))  # fmt: skip
    out.append(_mcp(run_urn, dpi, "dataProcessInstanceRelationships",
                    aspects.dpi_relationships(job_urn or tr.get_flow_urn(event), tr.get_parent_instance_urn(event))))  # fmt: skip
    state = _RUN_STATUS.get(event.event_type)
    if state is not None:
        status, result = state
        out.append(_mcp(run_urn, dpi, "dataProcessInstanceRunEvent", aspects.dpi_run_event(
            time_ms, status, result=result, native_result=event.event_type.value if result else None,
            attempt=tr.get_attempt(event), duration_ms=tr.get_duration_ms(event),
            external_url=tr.get_run_url(event),
        )))  # fmt: skip
    if dsets.inputs:
        out.append(_mcp(run_urn, dpi, "dataProcessInstanceInput", aspects.dpi_io("inputs", dsets.inputs)))
    if dsets.outputs:
        out.append(_mcp(run_urn, dpi, "dataProcessInstanceOutput", aspects.dpi_io("outputs", dsets.outputs)))
    instance_urn = tr.get_platform_instance_urn(orchestrator)
    if instance_urn:
        out.append(_mcp(run_urn, dpi, "dataPlatformInstance",
                        aspects.data_platform_instance(tr.get_platform_urn(orchestrator), instance_urn)))  # fmt: skip
    return out


def job_event_mcps(tr: DataHubTranslator, event: JobEvent) -> list[MCPW]:
    """All MCPs of a JobEvent: flow, job (with lineage), datasets; no run."""
    time_ms = epoch_millis(event.event_time)
    out, orchestrator, job_urn = _flow_and_job(tr, event, time_ms)
    dsets = _Datasets(tr, event.inputs, event.outputs)
    if job_urn is not None:
        out.extend(_job_io(tr, job_urn, dsets, tr.get_upstream_job_urns(event, tr.get_flow_urn(event))))
    out.extend(_dataset_mcps(tr, dsets, time_ms, materialize=tr.config.materialize_datasets, completed=False))
    out.extend(_assertions(tr, dsets, orchestrator, None, time_ms))
    return out


def dataset_event_mcps(tr: DataHubTranslator, event: DatasetEvent) -> list[MCPW]:
    """All MCPs of a DatasetEvent: the dataset's own aspects (always materialised)."""
    dsets = _Datasets(tr, (event.dataset,), ())
    return _dataset_mcps(tr, dsets, epoch_millis(event.event_time), materialize=True, completed=False)
