"""A finished Dagster run (:class:`~dagster_plugin.runs.RunInfo`) -> neutral bridge events (pure).

The shape follows the OpenLineage convention DataHub's converter already maps
for Airflow (``dag`` / ``dag.task`` with a parent run):

* the Dagster job is a job ``<namespace>/<job name>`` (integration
  ``DAGSTER``, type ``JOB``): DataHub's data flow. Its run (the Dagster run id)
  is a START and a COMPLETE/FAIL/ABORT event at the run's start and end times.
* each op is a job ``<namespace>/<job name>.<op name>`` (type ``OP``): a data
  job of that flow. Each step (one per mapping key for dynamic ops) is a run of
  it whose parent is the Dagster run, with START and end events, its attempts,
  error and the datasets it read and wrote.
* assets are datasets (see :mod:`dagster_plugin.assets`) with schema, column
  lineage, description, owners, tags; a :class:`bridge.DatasetEvent` per
  materialized or observed asset carries them too.
* asset check evaluations are the run end's inputs: the checked assets, each with an
  OpenLineage ``dataQualityAssertions`` input facet (check name, passed, severity,
  column, metadata), which the translator turns into DataHub assertions and their results.

Facets the neutral model has no field for (kept as raw JSON for the translator):
``dagsterJob`` (code location, repository, op definition, browse path, asset
group), ``dagsterRun`` (status, attempts, partition, step key, mapping key, UI
URL, Dagster run tags), ``dagsterAsset`` (asset key, group, code location,
browse path, partition, URL, upstream datasets, metadata as properties).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.model import (
    Dataset,
    ErrorInfo,
    Event,
    EventType,
    Job,
    ParentRun,
    Run,
    RunEvent,
    Tag,
)
from dagster_plugin.assets import PRODUCER, AssetDatasets, drop_none, props, unique
from dagster_plugin.config import DagsterPluginConfig
from dagster_plugin.datasets import (
    AssetNamer,
    dataset_from_urn,
    datasets_from_metadata,
    key_of,
    name_only,
    owner_from_dagster,
    urns_in,
)
from dagster_plugin.runs import OpLineage, RunInfo, StepInfo

__all__ = ["PRODUCER", "build_events", "step_run_id"]

FLOW_JOB_TYPE = "JOB"
OP_JOB_TYPE = "OP"
_RUN_STATES = {"SUCCESS": EventType.COMPLETE, "FAILURE": EventType.FAIL, "CANCELED": EventType.ABORT}
_STEP_STATES = {"SUCCESS": EventType.COMPLETE, "FAILURE": EventType.FAIL}
_STEP_NAMESPACE = uuid.UUID("6f7d3c1e-2b8a-4c55-9a43-1d2f0e7b9c10")


def step_run_id(run_id: str, step_key: str) -> str:
    """A stable run id for one step of a Dagster run (the same on every report of that run)."""
    return str(uuid.uuid5(_STEP_NAMESPACE, f"{run_id}/{step_key}"))


@attrs.define
class _Builder:
    run: RunInfo
    config: DagsterPluginConfig
    now: dt.datetime
    namer: AssetNamer
    extracted: Mapping[str, OpLineage]
    assets: AssetDatasets
    _datasets: dict[str, tuple[tuple[Dataset, ...], tuple[Dataset, ...]]] = attrs.field(factory=dict)

    # -- jobs ------------------------------------------------------------------

    def _url(self, *parts: str) -> str | None:
        base = self.config.dagster_url
        if not base:
            return None
        base = base.rstrip("/")
        return "/".join([base, *parts])

    def _job_url(self, op: str | None = None) -> str | None:
        parts = ["locations", self.run.location] if self.run.location else []
        parts += ["jobs", self.run.job_name] + ([op] if op else [])
        return self._url(*parts)

    def _browse(self, *extra: str | None) -> list[str]:
        return [p for p in (self.run.location, *extra) if p]

    def flow_job(self) -> Job:
        tags = [Tag(key=k, value=v or None, source="DAGSTER") for k, v in self.run.job_tags.items()]
        group = self._job_group()
        if group:
            tags.append(Tag(key="asset_group", value=group, source="DAGSTER"))
        return Job(
            namespace=self.config.namespace,
            name=self.run.job_name,
            processing_type="BATCH",
            integration="DAGSTER",
            job_type=FLOW_JOB_TYPE,
            description=self.run.job_description,
            tags=tuple(tags),
            url=self._job_url(),
            facets={
                "dagsterJob": drop_none(
                    {
                        "codeLocation": self.run.location,
                        "repository": self.run.repository,
                        "module": self.run.module,
                        "codeModule": self.run.code_module,
                        "assetGroup": group,
                        "browsePath": self._browse(),
                        "properties": props(self.run.job_metadata),
                        "platformInstance": self.config.platform_instance,
                        "env": self.config.env,
                    }
                )
            },
        )

    def _job_group(self) -> str | None:
        groups = {a.group for a in self.run.assets.values() if a.group}
        return groups.pop() if len(groups) == 1 else None

    def op_job(self, op_name: str) -> Job:
        op = self.run.ops.get(op_name)
        assets = [self.run.assets[k] for k in self._op_asset_keys(op_name) if k in self.run.assets]
        owners = {o for a in assets for o in a.owners}
        groups = sorted({a.group for a in assets if a.group})
        tags = [Tag(key=k, value=v or None, source="DAGSTER") for k, v in (op.tags if op else {}).items()]
        tags += [Tag(key="asset_group", value=g, source="DAGSTER") for g in groups]
        description = op.description if op else None
        if description is None and len(assets) == 1:
            description = assets[0].description
        return Job(
            namespace=self.config.namespace,
            name=f"{self.run.job_name}.{op_name}",
            processing_type="BATCH",
            integration="DAGSTER",
            job_type=OP_JOB_TYPE,
            description=description,
            owners=tuple(owner_from_dagster(o) for o in sorted(owners)),
            tags=tuple(tags),
            url=self._job_url(op_name),
            facets={
                "dagsterJob": drop_none(
                    {
                        "codeLocation": self.run.location,
                        "repository": self.run.repository,
                        "opName": op_name,
                        "opDefinition": op.definition if op else None,
                        "upstreamOps": list(op.upstream_ops) if op else None,
                        "upstreamOpDefinitions": {u: self.run.ops[u].definition for u in op.upstream_ops
                                                  if u in self.run.ops} or None if op else None,
                        "codeModule": self.run.code_module,
                        "assetGroup": groups[0] if len(groups) == 1 else None,
                        "browsePath": self._browse(),
                        "platformInstance": self.config.platform_instance,
                        "env": self.config.env,
                    }
                )
            },
        )

    def _op_asset_keys(self, op_name: str) -> list[tuple[str, ...]]:
        keys: list[tuple[str, ...]] = []
        for step in self.run.steps:
            if step.op == op_name:
                keys += [k for k in self.run.planned_assets.get(step.key, ()) if k not in keys]
                keys += [e.asset_key for e in self.run.asset_events if e.step_key == step.key and e.asset_key not in keys]
        return keys

    # -- runs ------------------------------------------------------------------

    def _run_facet(self, **values: Any) -> dict[str, Any]:
        return {"dagsterRun": drop_none({"tags": dict(self.run.tags), **values})}

    def flow_events(self) -> tuple[RunEvent, RunEvent]:
        job = self.flow_job()
        facet = self._run_facet(
            status=self.run.status,
            partition=self.run.partition,
            url=self._url("runs", self.run.run_id),
            parentRunId=self.run.parent_run_id,
            rootRunId=self.run.root_run_id,
        )
        tags = self._run_tags()
        start = self.run.start or self.run.end or self.now
        end = self.run.end or self.now
        state = _RUN_STATES.get(self.run.status, EventType.OTHER)
        error = ErrorInfo(message=self.run.error or f"run {self.run.status.lower()}", language="python") if (
            state in (EventType.FAIL, EventType.ABORT)
        ) else None
        begin = RunEvent(
            event_type=EventType.START,
            event_time=start,
            producer=PRODUCER,
            run=Run(run_id=self.run.run_id, nominal_start_time=start, tags=tags, facets=facet),
            job=job,
        )
        finish = RunEvent(
            event_type=state,
            event_time=end,
            producer=PRODUCER,
            run=Run(run_id=self.run.run_id, nominal_start_time=start, nominal_end_time=end, error=error, tags=tags,
                    facets=facet),
            job=job,
            inputs=self.assets.checked() if self.config.capture_asset_materialization else (),
        )
        return begin, finish

    def _run_tags(self, **extra: Any) -> tuple[Tag, ...]:
        tags = [Tag(key=k, value=v, source="DAGSTER") for k, v in sorted(self.run.tags.items()) if v]
        tags += [Tag(key=k, value=str(v), source="DAGSTER") for k, v in extra.items() if v is not None]
        return tuple(tags)

    def step_events(self, step: StepInfo) -> list[RunEvent]:
        job = self.op_job(step.op)
        run_id = step_run_id(self.run.run_id, step.key)
        parent = ParentRun(
            run_id=self.run.run_id,
            job_namespace=self.config.namespace,
            job_name=self.run.job_name,
            root_run_id=self.run.run_id,
            root_job_namespace=self.config.namespace,
            root_job_name=self.run.job_name,
        )
        facet = self._run_facet(
            status=step.status,
            stepKey=step.key,
            mappingKey=step.mapping_key,
            attempts=step.attempts,
            partition=self.run.partition,
            dagsterRunId=self.run.run_id,
            url=self._url("runs", f"{self.run.run_id}?selection={step.key}"),
        )
        tags = self._run_tags(attempts=step.attempts, step_key=step.key)
        inputs, outputs = self.step_datasets(step)
        start = step.start or step.end or self.run.end or self.now
        end = step.end or self.run.end or self.now
        state = _STEP_STATES.get(step.status, EventType.ABORT)
        if self.run.status == "CANCELED" and state == EventType.FAIL:
            state = EventType.ABORT  # interrupted by the cancellation, not failed on its own
        error = None
        if state == EventType.FAIL:
            error = ErrorInfo(message=step.error or "step failed", stack_trace=step.error_stack, language="python")
        events = []
        if step.start is not None:
            events.append(
                RunEvent(
                    event_type=EventType.START,
                    event_time=start,
                    producer=PRODUCER,
                    run=Run(run_id=run_id, parent=parent, nominal_start_time=start, tags=tags, facets=facet),
                    job=job,
                    inputs=inputs,
                )
            )
        events.append(
            RunEvent(
                event_type=state,
                event_time=end,
                producer=PRODUCER,
                run=Run(run_id=run_id, parent=parent, nominal_start_time=start, nominal_end_time=end, error=error,
                        tags=tags, facets=facet),
                job=job,
                inputs=inputs,
                outputs=outputs,
            )
        )
        return events

    # -- datasets --------------------------------------------------------------

    def step_datasets(self, step: StepInfo) -> tuple[tuple[Dataset, ...], tuple[Dataset, ...]]:
        if step.key not in self._datasets:
            inputs, outputs = self._own_datasets(step)
            op = self.run.ops.get(step.op)
            # Step-level lineage: what the upstream ops wrote is what this op read.
            for upstream in op.upstream_ops if op else ():
                for other in self.run.steps:
                    if other.op == upstream and other.key != step.key:
                        # as inputs: names only (schema and lineage belong to the step that wrote them)
                        inputs += tuple(name_only(d) for d in self._own_datasets(other)[1])
            out_keys = {key_of(d) for d in outputs}
            self._datasets[step.key] = (tuple(d for d in unique(inputs) if key_of(d) not in out_keys), outputs)
        return self._datasets[step.key]

    def _own_datasets(self, step: StepInfo) -> tuple[tuple[Dataset, ...], tuple[Dataset, ...]]:
        """The datasets a step itself names (assets, metadata, IO events, the extractor)."""
        inputs: list[Dataset] = []
        outputs: list[Dataset] = []
        op = self.run.ops.get(step.op)
        asset_keys: list[tuple[str, ...]] = []
        if self.config.capture_asset_materialization:
            for event in self.run.asset_events:
                if event.step_key != step.key:
                    continue
                if event.kind == "materialization":
                    asset_keys.append(event.asset_key)
                else:
                    inputs += self.assets.reported(event.asset_key)
            if step.status == "SUCCESS":
                asset_keys += [k for k in self.run.planned_assets.get(step.key, ()) if k not in asset_keys]
            for key in asset_keys:
                outputs += self.assets.reported(key)
                inputs += [d for dep in self.assets.upstreams(key) for d in self.assets.reported(dep, identity=True)]
                read, written = self.assets.sql(key)
                inputs += read
                outputs += written
        default = self.config.table_platform
        if op is not None:
            for meta in op.input_metadata.values():
                inputs += [dataset_from_urn(u) for u in urns_in(meta.get("datahub.inputs"))]
                inputs += datasets_from_metadata(meta, kinds=(), tags=op.tags, table_platform_default=default)
            for meta in op.output_metadata.values():
                outputs += [dataset_from_urn(u) for u in urns_in(meta.get("datahub.outputs"))]
                outputs += datasets_from_metadata(meta, kinds=(), tags=op.tags, table_platform_default=default)
        if self.config.capture_input_output:
            kinds = [k for key in asset_keys if key in self.run.assets for k in self.run.assets[key].kinds]
            for io in self.run.io_events:
                if io.step_key == step.key:
                    found = datasets_from_metadata(io.metadata, kinds=kinds, tags=op.tags if op else {},
                                                   table_platform_default=default)
                    (outputs if io.kind == "output" else inputs).extend(found)
        for name in (step.key, step.op):
            if name in self.extracted:
                lineage = self.extracted[name]
                inputs += [_as_dataset(d) for d in lineage.inputs]
                outputs += [_as_dataset(d) for d in lineage.outputs]
                break
        out = unique(outputs)
        out_keys = {key_of(d) for d in out}
        return tuple(d for d in unique(inputs) if key_of(d) not in out_keys), out

def _as_dataset(item: Any) -> Dataset:
    if isinstance(item, Dataset):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return Dataset(namespace=item[0], name=item[1])
    urn = item.urn() if callable(getattr(item, "urn", None)) else item
    return dataset_from_urn(str(urn))


def build_events(
    run: RunInfo,
    config: DagsterPluginConfig,
    *,
    now: dt.datetime,
    extracted: Mapping[str, OpLineage] | None = None,
) -> list[Event]:
    """All events reporting one finished run, in order: run start, steps, assets, run end.

    Args:
        run: the run as read by :func:`dagster_plugin.runs.read_run`.
        config: the plugin config (namespace, URLs, capture switches, asset naming).
        now: the time used where Dagster recorded none (kept out so this stays pure).
        extracted: what the ``asset_lineage_extractor`` returned (op name or step key -> OpLineage).

    Returns:
        The neutral events to hand to the bridge pipeline.
    """
    namer = AssetNamer(config.asset_keys_to_dataset_urn_converter)
    builder = _Builder(
        run=run,
        config=config,
        now=now,
        namer=namer,
        extracted=dict(extracted or {}),
        assets=AssetDatasets(run=run, config=config, namer=namer),
    )
    begin, finish = builder.flow_events()
    events: list[Event] = [begin]
    for step in sorted(run.steps, key=lambda s: (s.start or s.end or now, s.key)):
        events += builder.step_events(step)
    events += builder.assets.events()
    events.append(finish)
    return events
