"""Flows and jobs: the ``get_*`` hooks that name and describe them, and the MCPs they make.

:class:`FlowJobHooks` is one of :class:`~translators.datahub.translator.DataHubTranslator`'s
bases. Identity follows DataHub's own OpenLineage converter: the orchestrator comes from the
processing engine or the producer (its platform named by ``get_platform_urn``, as datasets' are), the
flow is the job name up to its first ``.`` in cluster = job namespace, the job id is the full job
name (``config.flow_naming`` and ``config.compat`` change that).

Rules that protect what DataHub already knows:

* Every event names its flow (``dataFlowInfo.name``, patched in), so a flow whose own job's
  events never arrive (a lost DAG-level or application-level event) still has a name; only the
  flow's own job's events write its description, owners and tags.
* ``dataJobInputOutput`` is only emitted when the event names datasets: an event without
  datasets must not erase lineage learned from START. The exception is a job's upstream jobs:
  while the aspect is patched (the default) they are sent alone, as PATCH adds that touch no dataset.
* An event whose job is its flow alone (:meth:`FlowJobHooks.emits_job` false: a DAG run under the
  Airflow plugin's ``compat`` preset, a Dagster run) writes the flow and its run, no job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import JobEvent, ParentRun, RunEvent
from translators.datahub import aspects
from translators.datahub.aspects import mcp
from translators.datahub.compat import AirflowPluginScheme, child_of_flow
from translators.datahub.dbt_flows import PROJECT, dbt_project_flow_id, flow_naming_of
from translators.datahub.event_datasets import EventDatasets, bounded_cache
from translators.datahub.producers import orchestrator_from_producer, subtype_label
from translators.datahub.properties import (
    airflow_dag_description,
    airflow_dag_tags,
    airflow_upstream_jobs,
    dependency_upstream_jobs,
    job_properties,
)
from translators.datahub.transform_logic import data_transform_logic
from translators.datahub.urns import (
    encode_urn_part,
    make_data_flow_urn,
    make_dataplatform_instance_urn,
    make_tag_urn,
)

if TYPE_CHECKING:
    from translators.datahub.translator import DataHubTranslator

__all__ = ["FlowJobHooks"]

MCPW = MetadataChangeProposalWrapper
T = TypeVar("T")


class FlowJobHooks:
    """The flow and job of an event: one ``get_*`` hook per decision.

    A flow's identity is worked out once per event: the default :meth:`get_orchestrator`,
    :meth:`get_compat`, :meth:`get_flow_id` and :meth:`get_flow_urn` remember their answer for
    the event being translated (they are pure functions of it).
    """

    def _init_flow_caches(self) -> None:
        self._flow_urns: dict[tuple[str, str, str], str] = {}
        self._memo: tuple[object, dict[str, Any]] = (None, {})

    def _once(self, event: object, key: str, compute: Callable[[], T]) -> T:
        """``compute()``, remembered for ``event`` (the one being translated; safe across threads)."""
        slot = self._memo
        if slot[0] is not event:
            slot = self._memo = (event, {})
        memo = slot[1]
        if key in memo:
            return memo[key]  # type: ignore[no-any-return]
        value = memo[key] = compute()
        return value

    # -- flows ------------------------------------------------------------------------------

    def get_orchestrator(self: DataHubTranslator, event: RunEvent | JobEvent) -> str:
        """The dataFlow orchestrator (DataHub platform of flows and jobs).

        Order: configured ``orchestrator``; the run's processing engine; the job's
        integration; the producer URI (``.../integration/spark`` -> ``spark``,
        Apache Airflow -> ``airflow``, else its last path segment); ``openlineage``.
        An unknown producer never fails an event.
        """
        if self.config.orchestrator:
            return self.config.orchestrator
        return self._once(event, "orchestrator", lambda: self._orchestrator(event))

    def _orchestrator(self, event: RunEvent | JobEvent) -> str:
        run = getattr(event, "run", None)
        if run is not None and run.processing_engine:
            return run.processing_engine.strip().lower()
        if event.job.integration:
            return event.job.integration.strip().lower()
        return orchestrator_from_producer(event.producer)

    def get_compat(self: DataHubTranslator, event: RunEvent | JobEvent) -> AirflowPluginScheme | None:
        """The ``config.compat`` scheme (:mod:`~translators.datahub.compat`) when it applies to the event, else None."""
        scheme = self._compat
        if scheme is None:
            return None
        return self._once(event, "compat", lambda: scheme if scheme.applies(self.get_orchestrator(event)) else None)

    def get_flow_id(self: DataHubTranslator, event: RunEvent | JobEvent) -> str:
        """The dataFlow id, per ``config.compat``, else ``config.flow_naming`` (see
        :data:`~translators.datahub.config.FLOW_NAMING`), or ``config.dbt_flow_naming`` for
        dbt-ol's events (:mod:`~translators.datahub.dbt_flows`)."""
        return self._once(event, "flow_id", lambda: self._flow_id(event))

    def _flow_id(self: DataHubTranslator, event: RunEvent | JobEvent) -> str:
        if (scheme := self.get_compat(event)) is not None:
            return scheme.flow_id(event)
        naming = flow_naming_of(self.config, event)
        job = event.job
        if callable(naming):
            return str(naming(event))
        if naming == PROJECT:
            return dbt_project_flow_id(event)
        if naming == "prefix":
            return job.name.split(".", 1)[0] or job.name
        if naming == "namespace":
            return job.namespace
        if naming == "job":
            return job.name
        parent = self.get_parent(event)
        if parent is None:
            return job.name
        if naming == "root" and parent.root_job_name:
            return parent.root_job_name
        return parent.job_name

    def get_flow_cluster(self: DataHubTranslator, event: RunEvent | JobEvent) -> str:
        """The dataFlow cluster: configured ``cluster``, else the ``compat`` scheme's (``prod`` for
        Airflow's plugin), else ``platform_instance``, else the job namespace."""
        if (scheme := self.get_compat(event)) is not None:
            return scheme.cluster
        return self.config.cluster or self.config.platform_instance or event.job.namespace

    def get_flow_urn(self: DataHubTranslator, event: RunEvent | JobEvent) -> str:
        """``urn:li:dataFlow:(<orchestrator>,<flow id>,<cluster>)``, the orchestrator's platform named by
        :meth:`~translators.datahub.datasets.DatasetHooks.get_platform_urn` (as its ``dataPlatformInstance``)."""
        return self._once(event, "flow_urn", lambda: bounded_cache(
            self._flow_urns, (self.get_orchestrator(event), self.get_flow_id(event), self.get_flow_cluster(event)),
            lambda key: make_data_flow_urn(self.platform_name_of(key[0]), key[1], key[2])))  # fmt: skip

    def get_flow_role(self: DataHubTranslator, event: RunEvent | JobEvent, flow_id: str) -> str:
        """Whether the event speaks for its flow: ``own``, ``child`` or ``orphan``.

        ``own``: the job *is* the flow (its name is the flow id), so its events
        carry the flow's description, owners and tags. ``child``: the parent run's
        job is the flow's own job, whose events say that; a child must not
        overwrite it. ``orphan``: no event speaks for the flow. Child and orphan events
        patch the flow's name in, so it shows up. A ``compat`` scheme decides for the
        events it applies to (a DAG run's events are the flow's own).
        """
        if (scheme := self.get_compat(event)) is not None:
            return scheme.flow_role(event)
        if event.job.name == flow_id:
            return "own"
        return "child" if child_of_flow(event, self.get_parent(event), flow_id) else "orphan"

    def get_flow_name(self, event: RunEvent | JobEvent, flow_id: str) -> str:
        """``dataFlowInfo.name``: the flow id."""
        return flow_id

    def get_flow_properties(self, event: RunEvent | JobEvent) -> dict[str, str]:
        """``dataFlowInfo.customProperties``: the OpenLineage namespace."""
        return {"namespace": event.job.namespace}

    def get_flow_description(self, event: RunEvent | JobEvent) -> str | None:
        """Description of the flow, written by the event of the flow's own job.

        As DataHub's Airflow plugin: the DAG's ``description`` and its ``doc_md``, joined by a
        blank line. Airflow's provider sends ``description`` in the ``airflowDagRun`` (or
        ``airflow``) run facet, and the documentation facet holds ``doc_md`` (or, without one,
        the description again). Other producers: the job's documentation.
        """
        doc = event.job.description
        run = getattr(event, "run", None)
        description = airflow_dag_description(run) if run is not None else None
        if description and doc and description.strip() != doc.strip():
            return f"{description}\n\n{doc}"
        return description or doc

    def get_flow_tags(self: DataHubTranslator, event: RunEvent | JobEvent) -> tuple[str, ...]:
        """Tag URNs of the flow (its own job's tags, and Airflow DAG tags)."""
        urns = [self.get_tag_urn(t) for t in event.job.tags if t.field is None]
        run = getattr(event, "run", None)
        if run is not None:
            urns.extend(make_tag_urn(t) for t in airflow_dag_tags(run))
        return tuple(dict.fromkeys(urns))

    def get_flow_browse_path(self, event: RunEvent | JobEvent) -> dict[str, Any]:
        """``browsePathsV2`` of the flow: the platform instance (if any), then the namespace."""
        return self._browse(event, (event.job.namespace, None))

    def get_platform_instance_urn(self: DataHubTranslator, platform: str) -> str | None:
        """``dataPlatformInstance`` URN of the orchestrator, when ``platform_instance`` is set (its
        platform named by :meth:`~translators.datahub.datasets.DatasetHooks.get_platform_urn`)."""
        instance = self.config.platform_instance
        return make_dataplatform_instance_urn(self.platform_name_of(platform), instance) if instance else None

    def _browse(self: DataHubTranslator, event: RunEvent | JobEvent, *entries: tuple[str, str | None]) -> dict[str, Any]:
        instance_urn = self.get_platform_instance_urn(self.get_orchestrator(event))
        head: tuple[tuple[str, str | None], ...] = ((instance_urn, instance_urn),) if instance_urn else ()
        return aspects.browse_paths_v2(head + entries)

    # -- jobs -------------------------------------------------------------------------------

    def get_job_id(self: DataHubTranslator, event: RunEvent | JobEvent) -> str:
        """The dataJob id: the full OpenLineage job name (as DataHub's converter); the task id under ``compat``."""
        if (scheme := self.get_compat(event)) is not None:
            return scheme.job_id(event)
        return event.job.name

    def emits_job(self: DataHubTranslator, event: RunEvent | JobEvent) -> bool:
        """Whether the event writes a dataJob: always, but for a DAG run's own events under ``compat``
        (DataHub's Airflow plugin writes the DAG as a flow only; the run is then an instance of the flow)."""
        scheme = self.get_compat(event)
        return scheme is None or scheme.emits_job(event)

    def get_job_urn(self: DataHubTranslator, event: RunEvent | JobEvent, flow_urn: str | None = None) -> str:
        """``urn:li:dataJob:(<flow urn>,<job id>)``."""
        flow_urn = flow_urn or self.get_flow_urn(event)
        return f"urn:li:dataJob:({flow_urn},{encode_urn_part(self.get_job_id(event))})"

    def get_upstream_job_urns(self: DataHubTranslator, event: RunEvent | JobEvent, flow_urn: str) -> list[str]:
        """Jobs this job runs after (``dataJobInputOutput.inputDatajobEdges``).

        By default the Airflow tasks upstream of this task (``upstream_task_ids`` in the
        ``airflow`` run facet), so DataHub shows the DAG's task graph. Each upstream task's URN
        is the one this translator gives that task's own events: the same event with the
        upstream task's job name (``<dag_id>.<task_id>``, as Airflow names it) goes through
        :meth:`get_job_urn`, so flow naming, job ids and subclass overrides apply to both ends
        of the edge alike. ``flow_urn`` is this job's flow (kept for subclasses).

        Also the upstream jobs of the ``jobDependencies`` run facet (any producer), named by
        their namespace and name the same way.
        """
        if not isinstance(event, RunEvent):
            return []
        jobs = [(event.job.namespace, name) for name in airflow_upstream_jobs(event.run, event.job.name)]
        jobs += dependency_upstream_jobs(event.run)
        if not jobs:
            return []
        memo = self._memo  # the upstream tasks' events are others: this event's memo is kept for after
        try:
            return list(dict.fromkeys(
                self.get_job_urn(attrs.evolve(event, job=attrs.evolve(event.job, namespace=ns, name=name)))
                for ns, name in jobs
            ))  # fmt: skip
        finally:
            self._memo = memo

    def get_job_name(self: DataHubTranslator, event: RunEvent | JobEvent, flow_id: str) -> str:
        """Display name of the job: its name without the ``<flow id>.`` prefix (the task id under ``compat``)."""
        if (scheme := self.get_compat(event)) is not None:
            return scheme.job_id(event)
        name = event.job.name
        if name.startswith(flow_id + ".") and len(name) > len(flow_id) + 1:
            return name[len(flow_id) + 1 :]
        return name

    def get_job_type(self, event: RunEvent | JobEvent, orchestrator: str) -> str:
        """``dataJobInfo.type`` (free text; DataHub's converter uses the orchestrator)."""
        return orchestrator

    def get_job_subtypes(self, event: RunEvent | JobEvent) -> tuple[str, ...]:
        """``subTypes`` of the job, from the OpenLineage job type (``TASK`` -> ``Task``)."""
        job_type = event.job.job_type
        return (subtype_label(job_type),) if job_type and job_type.strip() else ()

    def get_job_properties(self: DataHubTranslator, event: RunEvent | JobEvent) -> dict[str, str]:
        """``customProperties`` of the job (integration, job type, SQL, code location...)."""
        return job_properties(event.job, max_length=self.config.max_property_length,
                              raw=self.config.capture_raw_facets, secrets=self.secrets)  # fmt: skip

    def get_job_tags(self: DataHubTranslator, event: RunEvent | JobEvent) -> tuple[str, ...]:
        """Tag URNs of the job (OpenLineage job tags facet)."""
        return tuple(dict.fromkeys(self.get_tag_urn(t) for t in event.job.tags if t.field is None))

    def get_job_browse_path(self, event: RunEvent | JobEvent, flow_urn: str) -> dict[str, Any]:
        """``browsePathsV2`` of the job: the platform instance (if any), the namespace, then the flow."""
        return self._browse(event, (event.job.namespace, None), (flow_urn, flow_urn))

    def get_data_transform_logic(self, event: RunEvent | JobEvent) -> dict[str, Any] | None:
        """``dataTransformLogic`` of the job: its SQL and code (override to keep them out of DataHub)."""
        return data_transform_logic(event.job, self.secrets)

    # -- the MCPs ----------------------------------------------------------------------------

    def flow_mcps(self: DataHubTranslator, event: RunEvent | JobEvent, flow_urn: str, orchestrator: str,
                  time_ms: int) -> list[MCPW]:  # fmt: skip
        """The flow's MCPs: its name from every event, the rest from its own job's."""
        flow_id = self.get_flow_id(event)
        own = self.get_flow_role(event, flow_id) == "own"
        info = aspects.data_flow_info(
            self.get_flow_name(event, flow_id),
            description=self.get_flow_description(event) if own else None,
            custom_properties=self.get_flow_properties(event),
            external_url=event.job.url if own else None,
        )
        out = [mcp(flow_urn, "dataFlow", "dataFlowInfo", info), mcp(flow_urn, "dataFlow", "status", aspects.status())]
        if own:
            owners = [self.get_owner(o) for o in event.job.owners]
            if owners:
                out.append(mcp(flow_urn, "dataFlow", "ownership", aspects.ownership(owners, time_ms)))
            tags = self.get_flow_tags(event)
            if tags:
                out.append(mcp(flow_urn, "dataFlow", "globalTags", aspects.global_tags(tags)))
        out.append(mcp(flow_urn, "dataFlow", "browsePathsV2", self.get_flow_browse_path(event)))
        out.extend(self._instance(flow_urn, "dataFlow", orchestrator))
        return out

    def job_mcps(self: DataHubTranslator, event: RunEvent | JobEvent, flow_urn: str, job_urn: str,
                 orchestrator: str, time_ms: int) -> list[MCPW]:  # fmt: skip
        """The job's MCPs (its lineage apart: :meth:`job_io_mcps`)."""
        job = event.job
        out = [mcp(job_urn, "dataJob", "dataJobInfo", aspects.data_job_info(
            self.get_job_name(event, self.get_flow_id(event)),
            type=self.get_job_type(event, orchestrator),
            flow_urn=flow_urn,
            description=job.description,
            custom_properties=self.get_job_properties(event),
            external_url=job.url,
        )), mcp(job_urn, "dataJob", "status", aspects.status())]  # fmt: skip
        subtypes = self.get_job_subtypes(event)
        if subtypes:
            out.append(mcp(job_urn, "dataJob", "subTypes", aspects.sub_types(subtypes)))
        owners = [self.get_owner(o) for o in job.owners]
        if owners:
            out.append(mcp(job_urn, "dataJob", "ownership", aspects.ownership(owners, time_ms)))
        tags = self.get_job_tags(event)
        if tags:
            out.append(mcp(job_urn, "dataJob", "globalTags", aspects.global_tags(tags)))
        out.append(mcp(job_urn, "dataJob", "browsePathsV2", self.get_job_browse_path(event, flow_urn)))
        out.extend(self._instance(job_urn, "dataJob", orchestrator))
        logic = self.get_data_transform_logic(event)
        if logic:
            out.append(mcp(job_urn, "dataJob", "dataTransformLogic", logic))
        return out

    def job_io_mcps(self: DataHubTranslator, event: RunEvent | JobEvent, flow_urn: str, job_urn: str,
                    dsets: EventDatasets) -> list[MCPW]:  # fmt: skip
        """``dataJobInputOutput``: the event's datasets, their column lineage and the upstream jobs."""
        input_jobs = self.get_upstream_job_urns(event, flow_urn)
        if not dsets.inputs and not dsets.outputs:
            # Never erase lineage learned from an earlier event. Upstream jobs alone are sent only when
            # the aspect is patched: the patch adds those edges and leaves the datasets as they are.
            if not input_jobs:
                return []
            io = mcp(job_urn, "dataJob", "dataJobInputOutput", aspects.data_job_input_output((), (), input_jobs=input_jobs))
            return [io] if self.get_write_mode(io) == "patch" else []
        fine: list[dict[str, Any]] = []
        if self.config.emit_column_lineage:
            for urn in dict.fromkeys(dsets.outputs + dsets.inputs):
                fine.extend(dsets.fine_grained(self, urn)[0])
        return [mcp(job_urn, "dataJob", "dataJobInputOutput", aspects.data_job_input_output(
            dsets.inputs, dsets.outputs, fine_grained=fine, input_jobs=input_jobs))]  # fmt: skip

    def _instance(self: DataHubTranslator, urn: str, entity_type: str, orchestrator: str) -> list[MCPW]:
        instance_urn = self.get_platform_instance_urn(orchestrator)
        if not instance_urn:
            return []
        return [mcp(urn, entity_type, "dataPlatformInstance",
                    aspects.data_platform_instance(self.get_platform_urn(orchestrator), instance_urn))]  # fmt: skip

    def get_parent(self, event: RunEvent | JobEvent) -> ParentRun | None:
        """The parent run, if the event has one."""
        run = getattr(event, "run", None)
        return run.parent if run is not None else None
