"""The neutral event model -> DataHub MCPs.

:class:`DataHubTranslator` turns one :class:`~bridge.model.RunEvent`,
:class:`~bridge.model.JobEvent` or :class:`~bridge.model.DatasetEvent` into a
list of :class:`~bridge.mcp.MetadataChangeProposalWrapper`. It is pure: no IO,
no clock (times come from the event), no environment; the same event and
configuration always give the same MCPs in the same order.

Users customise it the dagster-dbt way: subclass and override one ``get_*``
method (``get_flow_id``, ``get_orchestrator``, ``get_dataset_urn``,
``get_owner``, ``get_write_mode``, ...). The aspects themselves are assembled in
:mod:`translators.datahub._emit`; how each is written (PATCH, UPSERT, only if
absent) is decided by the write policy of :mod:`translators.datahub.writes`.

Identity follows DataHub's own OpenLineage converter (the GMS
``/openapi/openlineage`` endpoint), so lineage sent through the bridge lands on
the same entities: the orchestrator comes from the processing engine or the
producer, the flow is the job name up to its first ``.`` in cluster = job
namespace, the job id is the full job name, the run is
``urn:li:dataProcessInstance:<runId>``, datasets follow
:mod:`translators.datahub.platforms`.

Run states map as DataHub's converter and Dagster plugin do: START and RUNNING
-> ``STARTED``; COMPLETE -> ``COMPLETE``/``SUCCESS``; FAIL ->
``COMPLETE``/``FAILURE`` (message and stack trace go to the run's properties);
ABORT -> ``COMPLETE``/``SKIPPED`` (the run was stopped, it did not fail --
DataHub's Dagster plugin maps a cancelled run the same way); OTHER carries
metadata only and emits no run event.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import attrs

from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Dataset, DatasetEvent, Event, JobEvent, Owner, ParentRun, RunEvent, Tag
from bridge.secrets import Secrets
from translators.datahub import _emit
from translators.datahub.compat import AirflowPluginScheme, compat_scheme
from translators.datahub.config import TranslatorConfig
from translators.datahub.dbt_flows import dbt_project_flow_id, flow_naming_of
from translators.datahub.platforms import DatasetRef, dataset_urn, resolve_dataset
from translators.datahub.properties import (
    airflow_attempt,
    airflow_dag_description,
    airflow_dag_tags,
    airflow_duration_ms,
    airflow_log_url,
    airflow_upstream_jobs,
    dependency_upstream_jobs,
    job_properties,
    run_properties,
    tag_label,
)
from translators.datahub.transform_logic import data_transform_logic
from translators.datahub.urns import (
    encode_urn_part,
    make_data_flow_urn,
    make_data_platform_urn,
    make_data_process_instance_urn,
    make_dataplatform_instance_urn,
    make_group_urn,
    make_tag_urn,
    make_user_urn,
)
from translators.datahub.writes import (
    MERGED_FROM,
    MERGED_RUN_ASPECTS,
    apply_policy,
    expiring,
    merge_run_aspect,
    needs_duration,
)

_RESERVED = (",", "(", ")", "\u241f")


def fast_encode(value: str) -> str:
    """:func:`~translators.datahub.urns.encode_urn_part`, with a fast path for the common clean case."""
    for c in _RESERVED:
        if c in value:
            return encode_urn_part(value)
    return value


__all__ = ["DataHubTranslator", "translate"]

_OL_PRODUCER = re.compile(r"^https://github\.com/OpenLineage/OpenLineage/.*/([^/]+)/?$")
_OWNERSHIP_TYPES = frozenset(
    [
        "TECHNICAL_OWNER",
        "BUSINESS_OWNER",
        "DATA_STEWARD",
        "NONE",
        "DEVELOPER",
        "DATAOWNER",
        "DELEGATE",
        "PRODUCER",
        "CONSUMER",
        "STAKEHOLDER",
    ]
)
_GROUP_PREFIXES = ("team:", "group:")
_USER_PREFIXES = ("user:",)
_CACHE_LIMIT = 4096
_ACRONYMS = frozenset({"DAG", "SQL", "RDD", "DBT", "ETL", "API"})


class DataHubTranslator:
    """Translate neutral events into DataHub MCPs.

    Args:
        config: translator settings; defaults to :class:`TranslatorConfig` ``()``.

    Override any ``get_*`` method to change one decision; everything else keeps
    working. The instance keeps small bounded caches of URNs (pure functions of
    their inputs), so reuse one translator for many events.
    """

    config_class = TranslatorConfig

    def __init__(self, config: TranslatorConfig | None = None) -> None:
        self.config = config if config is not None else TranslatorConfig()
        self._dataset_refs: dict[tuple[Any, ...], DatasetRef] = {}
        self._dataset_urns: dict[DatasetRef, str] = {}
        self._flow_urns: dict[tuple[str, str, str], str] = {}
        #: which keys' values are never kept (``config.secret_keys`` over the defaults)
        self.secrets = Secrets(self.config.secret_keys)
        self._compat = compat_scheme(
            self.config.compat, cluster=self.config.cluster, platform_instance=self.config.platform_instance
        )

    # -- entry point -----------------------------------------------------------

    def translate(self, event: Event) -> list[MetadataChangeProposalWrapper]:
        """Translate one event into the MCPs to write, each in its write mode.

        Args:
            event: a RunEvent, JobEvent or DatasetEvent.

        Returns:
            The MCPs, in a stable order: flow, job, datasets, run. Aspects the write policy
            patches are ``PATCH`` MCPs, ``if_absent`` ones ``CREATE`` with ``If-None-Match: *``.

        Raises:
            InvalidEventError: the event cannot be expressed in DataHub (e.g. a
                URN part that DataHub rejects); the message names the field.
        """
        return self.to_writes(self.translate_aspects(event))

    __call__ = translate

    def translate_aspects(self, event: Event) -> list[MetadataChangeProposalWrapper]:
        """The event's aspects as whole values (``UPSERT`` MCPs), before the write policy.

        Subclasses that add or adjust aspects override this one, so the policy applies to them too.
        """
        if isinstance(event, RunEvent):
            return _emit.run_event_mcps(self, event)
        if isinstance(event, JobEvent):
            return _emit.job_event_mcps(self, event)
        if isinstance(event, DatasetEvent):
            return _emit.dataset_event_mcps(self, event)
        raise TypeError(f"expected a RunEvent, JobEvent or DatasetEvent, got {type(event).__name__}")

    # -- how aspects are written -------------------------------------------------

    def get_write_mode(self, mcp: MetadataChangeProposalWrapper) -> str:
        """``patch``, ``upsert``, ``if_absent`` or ``skip`` for this aspect (``config.write_policy``)."""
        return self.config.write_policy.get(mcp.aspect_name, "upsert")

    def to_writes(self, mcps: list[MetadataChangeProposalWrapper]) -> list[MetadataChangeProposalWrapper]:
        """Apply the write policy (:meth:`get_write_mode`) to whole-value MCPs (see :mod:`translators.datahub.writes`)."""
        policy = self.config.write_policy
        if type(self).get_write_mode is DataHubTranslator.get_write_mode:  # not overridden: the table itself
            return apply_policy(mcps, lambda m: policy.get(m.aspect_name, "upsert"), patch_format=self.config.patch_format)
        return apply_policy(mcps, self.get_write_mode, patch_format=self.config.patch_format)

    def merge(self, mcp: MetadataChangeProposalWrapper, before: Any) -> MetadataChangeProposalWrapper:
        """A run aspect merged with the value the destination holds from the run's earlier events.

        Called by the delivery core for MCPs :meth:`is_merged` says are merged, with the last
        value this destination confirmed (``None`` at first); see
        :func:`~translators.datahub.writes.merge_run_aspect`.
        """
        value = merge_run_aspect(mcp.aspect_name, before, mcp.aspect_value)
        return mcp if value == mcp.aspect_value else attrs.evolve(mcp, aspect=value)

    def is_merged(self, mcp: MetadataChangeProposalWrapper) -> bool:
        """Whether :meth:`merge` applies: whole-value run aspects that accumulate over a run's events,
        and a run's end whose duration the run's start (seen in an earlier event) gives."""
        if mcp.change_type != "UPSERT":
            return False
        if mcp.aspect_name in MERGED_RUN_ASPECTS:
            return True
        return mcp.aspect_name in MERGED_FROM and needs_duration(mcp.aspect_value)

    def merged_from(self, mcp: MetadataChangeProposalWrapper) -> str:
        """The aspect of the same entity whose held value :meth:`merge` takes as ``before``.

        The aspect itself, except for a timeseries aspect merged with another (:data:`MERGED_FROM`):
        a run's end takes its start from the run's ``dataProcessInstanceProperties``.
        """
        return MERGED_FROM.get(mcp.aspect_name, mcp.aspect_name)

    def is_timeseries(self, aspect_name: str) -> bool:
        """Whether an aspect is a timeseries (every distinct point is sent): DataHub's entity registry says."""
        return aspect_name in _timeseries_aspects()

    def is_edge(self, aspect_name: str, path: str) -> bool:
        """Whether a patch operation is a lineage edge that stale-edge expiry may remove."""
        return expiring(aspect_name, path)

    # -- flows and jobs --------------------------------------------------------

    def get_orchestrator(self, event: RunEvent | JobEvent) -> str:
        """The dataFlow orchestrator (DataHub platform of flows and jobs).

        Order: configured ``orchestrator``; the run's processing engine; the job's
        integration; the producer URI (``.../integration/spark`` -> ``spark``,
        Apache Airflow -> ``airflow``, else its last path segment); ``openlineage``.
        An unknown producer never fails an event.
        """
        if self.config.orchestrator:
            return self.config.orchestrator
        run = getattr(event, "run", None)
        if run is not None and run.processing_engine:
            return run.processing_engine.strip().lower()
        if event.job.integration:
            return event.job.integration.strip().lower()
        return orchestrator_from_producer(event.producer)

    def get_compat(self, event: RunEvent | JobEvent) -> AirflowPluginScheme | None:
        """The ``config.compat`` scheme (:mod:`~translators.datahub.compat`) when it applies to the event, else None."""
        scheme = self._compat
        return scheme if scheme is not None and scheme.applies(self.get_orchestrator(event)) else None

    def get_flow_id(self, event: RunEvent | JobEvent) -> str:
        """The dataFlow id, per ``config.compat``, else ``config.flow_naming`` (see
        :data:`~translators.datahub.config.FLOW_NAMING`), or ``config.dbt_flow_naming`` for
        dbt-ol's events (:mod:`~translators.datahub.dbt_flows`)."""
        if (scheme := self.get_compat(event)) is not None:
            return scheme.flow_id(event)
        naming = flow_naming_of(self.config, event)
        job = event.job
        if callable(naming):
            return str(naming(event))
        if naming == "project":
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

    def get_flow_cluster(self, event: RunEvent | JobEvent) -> str:
        """The dataFlow cluster: configured ``cluster``, else the ``compat`` scheme's (``prod`` for
        Airflow's plugin), else ``platform_instance``, else the job namespace."""
        if (scheme := self.get_compat(event)) is not None:
            return scheme.cluster
        return self.config.cluster or self.config.platform_instance or event.job.namespace

    def get_flow_urn(self, event: RunEvent | JobEvent) -> str:
        """``urn:li:dataFlow:(<orchestrator>,<flow id>,<cluster>)``."""
        key = (self.get_orchestrator(event), self.get_flow_id(event), self.get_flow_cluster(event))
        urn = self._flow_urns.get(key)
        if urn is None:
            urn = make_data_flow_urn(*key)
            if len(self._flow_urns) >= _CACHE_LIMIT:
                self._flow_urns.clear()
            self._flow_urns[key] = urn
        return urn

    def get_flow_role(self, event: RunEvent | JobEvent, flow_id: str) -> str:
        """Whether the event speaks for its flow: ``own``, ``child`` or ``orphan``.

        ``own``: the job *is* the flow (its name is the flow id), so its events
        carry the flow's description, owners and tags. ``child``: the parent run's
        job is the flow's own job, whose events say that; a child must not
        overwrite it. ``orphan``: no event speaks for the flow; a minimal
        ``dataFlowInfo`` (its name) is emitted so the flow shows up. A ``compat``
        scheme decides for the events it applies to (a DAG run's events are the flow's own).
        """
        if (scheme := self.get_compat(event)) is not None:
            return scheme.flow_role(event)
        job = event.job
        if job.name == flow_id:
            return "own"
        parent = self.get_parent(event)
        if (
            parent is not None
            and parent.job_namespace == job.namespace
            and flow_id in (parent.job_name, parent.root_job_name)
        ):
            return "child"
        return "orphan"

    def get_job_id(self, event: RunEvent | JobEvent) -> str:
        """The dataJob id: the full OpenLineage job name (as DataHub's converter); the task id under ``compat``."""
        if (scheme := self.get_compat(event)) is not None:
            return scheme.job_id(event)
        return event.job.name

    def emits_job(self, event: RunEvent | JobEvent) -> bool:
        """Whether the event writes a dataJob: always, but for a DAG run's own events under ``compat``
        (DataHub's Airflow plugin writes the DAG as a flow only; the run is then an instance of the flow)."""
        scheme = self.get_compat(event)
        return scheme is None or scheme.emits_job(event)

    def get_job_urn(self, event: RunEvent | JobEvent, flow_urn: str | None = None) -> str:
        """``urn:li:dataJob:(<flow urn>,<job id>)``."""
        flow_urn = flow_urn or self.get_flow_urn(event)
        return f"urn:li:dataJob:({flow_urn},{fast_encode(self.get_job_id(event))})"

    def get_upstream_job_urns(self, event: RunEvent | JobEvent, flow_urn: str) -> list[str]:
        """Jobs this job runs after (``dataJobInputOutput.inputDatajobEdges``).

        By default the Airflow tasks upstream of this task (``upstream_task_ids`` in the
        ``airflow`` run facet), so DataHub shows the DAG's task graph. Each upstream task's URN
        is the one this translator gives that task's own events: the same event with the
        upstream task's job name (``<dag_id>.<task_id>``, as Airflow names it) goes through
        :meth:`get_job_urn`, so flow naming, job ids and subclass overrides apply to both ends
        of the edge alike. ``flow_urn`` is this job's flow (kept for subclasses).

        Also the upstream jobs of the ``jobDependencies`` run facet (any producer), named by
        their namespace and name the same way.

        They are written as PATCH adds keyed by URN, also by an event that names no dataset
        (then nothing else of ``dataJobInputOutput`` is touched).
        """
        if not isinstance(event, RunEvent):
            return []
        jobs = [(event.job.namespace, name) for name in airflow_upstream_jobs(event.run, event.job.name)]
        jobs += dependency_upstream_jobs(event.run)
        return list(dict.fromkeys(
            self.get_job_urn(attrs.evolve(event, job=attrs.evolve(event.job, namespace=ns, name=name)))
            for ns, name in jobs
        ))  # fmt: skip

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

    def get_job_name(self, event: RunEvent | JobEvent, flow_id: str) -> str:
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
        return (_subtype_label(job_type),) if job_type and job_type.strip() else ()

    def get_job_properties(self, event: RunEvent | JobEvent) -> dict[str, str]:
        """``customProperties`` of the job (integration, job type, SQL, code location...)."""
        return job_properties(
            event.job, max_length=self.config.max_property_length, raw=self.config.capture_raw_facets,
            secrets=self.secrets,
        )

    def get_flow_tags(self, event: RunEvent | JobEvent) -> tuple[str, ...]:
        """Tag URNs of the flow (its own job's tags, and Airflow DAG tags)."""
        urns = [self.get_tag_urn(t) for t in event.job.tags if t.field is None]
        run = getattr(event, "run", None)
        if run is not None:
            urns.extend(make_tag_urn(t) for t in airflow_dag_tags(run))
        return tuple(dict.fromkeys(urns))

    def get_data_transform_logic(self, event: RunEvent | JobEvent) -> dict[str, Any] | None:
        """``dataTransformLogic`` of the job: its SQL and code (override to keep them out of DataHub)."""
        return data_transform_logic(event.job)

    def get_job_tags(self, event: RunEvent | JobEvent) -> tuple[str, ...]:
        """Tag URNs of the job (OpenLineage job tags facet)."""
        return tuple(dict.fromkeys(self.get_tag_urn(t) for t in event.job.tags if t.field is None))

    def get_platform_instance_urn(self, platform: str) -> str | None:
        """``dataPlatformInstance`` URN of the orchestrator, when ``platform_instance`` is set."""
        instance = self.config.platform_instance
        return make_dataplatform_instance_urn(platform, instance) if instance else None

    # -- runs --------------------------------------------------------------------

    def get_parent(self, event: RunEvent | JobEvent) -> ParentRun | None:
        """The parent run, if the event has one."""
        run = getattr(event, "run", None)
        return run.parent if run is not None else None

    def get_process_instance_urn(self, run_id: str) -> str:
        """``urn:li:dataProcessInstance:<runId>`` (as DataHub's converter; reserved characters encoded)."""
        return make_data_process_instance_urn(fast_encode(run_id))

    def get_run_urn(self, event: RunEvent) -> str:
        """The run's process instance URN: :meth:`get_process_instance_urn` of its run id, or the
        ``compat`` scheme's (DataHub's Airflow plugin: a task run's guid of its DAG, task and DAG run ids)."""
        scheme = self.get_compat(event)
        urn = scheme.run_urn(event) if scheme is not None else None
        return urn or self.get_process_instance_urn(event.run.run_id)

    def get_parent_instance_urn(self, event: RunEvent) -> str | None:
        """The parent run's process instance URN: the run-to-run link (none when a producer names the run
        as its own parent: a run is not its own parent in DataHub)."""
        parent = event.run.parent
        if parent is None or parent.run_id == event.run.run_id:
            return None
        return self.get_process_instance_urn(parent.run_id)

    def get_run_name(self, event: RunEvent) -> str:
        """Display name of the run: the run id, as DataHub's converter, or the ``compat`` scheme's instance id."""
        scheme = self.get_compat(event)
        return (scheme.run_id(event) if scheme is not None else None) or event.run.run_id

    def get_process_type(self, event: RunEvent) -> str:
        """``STREAMING`` for streaming jobs, ``BATCH_SCHEDULED`` when there is a nominal time, else ``BATCH_AD_HOC``."""
        if (event.job.processing_type or "").upper() == "STREAMING":
            return "STREAMING"
        return "BATCH_SCHEDULED" if event.run.nominal_start_time is not None else "BATCH_AD_HOC"

    def get_attempt(self, event: RunEvent) -> int:
        """Attempt number of the run: Airflow's try number when reported, else 1."""
        return airflow_attempt(event.run) or 1

    def get_run_properties(self, event: RunEvent) -> dict[str, str]:
        """``customProperties`` of the run (engine, nominal times, error, parent, facet summary)."""
        return run_properties(
            event.run,
            event_type=event.event_type.value,
            max_length=self.config.max_property_length,
            raw=self.config.capture_raw_facets,
            secrets=self.secrets,
        )

    def get_run_url(self, event: RunEvent) -> str | None:
        """``externalUrl`` of the run: the Airflow task log when reported (override to link your UI)."""
        return airflow_log_url(event.run)

    def get_duration_ms(self, event: RunEvent) -> int | None:
        """Run duration for terminal run events, when the event itself says: Airflow's task duration.

        Otherwise the delivery core fills ``durationMillis`` in from the run's START, which it
        holds from an earlier event (:meth:`merge`, :meth:`merged_from`).
        """
        return airflow_duration_ms(event.run) if event.event_type.is_terminal else None

    # -- datasets, owners, tags ---------------------------------------------------

    def get_dataset_ref(self, dataset: Dataset) -> DatasetRef:
        """The DataHub identity of an OpenLineage dataset (see :mod:`translators.datahub.platforms`)."""
        return self.get_dataset_ref_for(dataset.namespace, dataset.name, dataset.symlinks)

    def get_dataset_ref_for(self, namespace: str, name: str, symlinks: tuple[Any, ...] = ()) -> DatasetRef:
        """Like :meth:`get_dataset_ref` for a bare namespace/name (column lineage inputs)."""
        key = (namespace, name, symlinks)
        ref = self._dataset_refs.get(key)
        if ref is None:
            ref = resolve_dataset(namespace, name, symlinks, config=self.config.platforms)
            if len(self._dataset_refs) >= _CACHE_LIMIT:
                self._dataset_refs.clear()
            self._dataset_refs[key] = ref
        return ref

    def get_dataset_urn(self, dataset: Dataset) -> str:
        """The dataset URN of an OpenLineage dataset."""
        return self.get_ref_urn(self.get_dataset_ref(dataset))

    def get_ref_urn(self, ref: DatasetRef) -> str:
        """The URN of a dataset identity (cached)."""
        urn = self._dataset_urns.get(ref)
        if urn is None:
            urn = dataset_urn(ref)
            if len(self._dataset_urns) >= _CACHE_LIMIT:
                self._dataset_urns.clear()
            self._dataset_urns[ref] = urn
        return urn

    def get_dataset_instance_urn(self, ref: DatasetRef) -> str | None:
        """``dataPlatformInstance`` URN of a dataset that has a platform instance."""
        if not ref.platform_instance:
            return None
        return make_dataplatform_instance_urn(ref.platform, ref.platform_instance)

    def get_owner(self, owner: Owner) -> tuple[str, str]:
        """``(owner URN, DataHub ownership type)`` of an OpenLineage owner.

        ``user:x`` -> corpuser ``x``; ``team:x`` / ``group:x`` -> corpGroup ``x``;
        a corpuser/corpGroup URN is kept; anything else is a user name. An owner
        type DataHub does not know becomes ``config.default_owner_type``.
        """
        name = owner.name.strip()
        lower = name.lower()
        if lower.startswith(_GROUP_PREFIXES):
            urn = make_group_urn(name.split(":", 1)[1] or name)
        elif lower.startswith(_USER_PREFIXES):
            urn = make_user_urn(name.split(":", 1)[1] or name)
        else:
            urn = make_user_urn(name)
        kind = (owner.type or "").strip().upper().replace(" ", "_")
        return urn, kind if kind in _OWNERSHIP_TYPES else self.config.default_owner_type

    def get_tag_urn(self, tag: Tag) -> str:
        """``urn:li:tag:<key>``, or ``urn:li:tag:<key>:<value>`` when the value is not empty, ``true`` or the key.

        See :func:`~translators.datahub.properties.tag_label`.
        """
        return make_tag_urn(tag_label(tag))

    def get_platform_urn(self, platform: str) -> str:
        """``urn:li:dataPlatform:<platform>``."""
        return make_data_platform_urn(platform)


@functools.cache
def _timeseries_aspects() -> frozenset[str]:
    from translators.datahub.registry import entity_registry

    return frozenset(entity_registry().timeseries)


@functools.lru_cache(maxsize=256)
def _subtype_label(job_type: str) -> str:
    """``SQL_JOB`` -> ``SQL Job``; ``TASK`` -> ``Task``."""
    words = re.split(r"[_\s]+", job_type.strip())
    return " ".join(w.upper() if w.upper() in _ACRONYMS else w.capitalize() for w in words if w)


def orchestrator_from_producer(producer: str) -> str:
    """Guess the orchestrator from an OpenLineage ``producer`` URI; never fails.

    ``https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark`` -> ``spark``;
    Apache Airflow's provider -> ``airflow``; Trino -> ``trino``; otherwise the
    last path segment, lower-cased; ``openlineage`` when there is nothing usable.
    """
    text = (producer or "").strip()
    match = _OL_PRODUCER.match(text)
    if match:
        return match.group(1).lower()
    if text.startswith("https://github.com/apache/airflow/"):
        return "airflow"
    if text.startswith("https://github.com/trinodb/trino/"):
        return "trino"
    path = text.split("://", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    if "://" in text:
        path = path.partition("/")[2]
    for segment in reversed(path.split("/")):
        segment = segment.strip().lower()
        if segment and not segment.startswith(".."):
            return segment
    return "openlineage"


def translate(event: Event, config: TranslatorConfig | None = None) -> list[MetadataChangeProposalWrapper]:
    """Translate one event with a default (or the given) configuration.

    A convenience for one-off calls; reuse a :class:`DataHubTranslator` for many
    events (it caches URNs).
    """
    return DataHubTranslator(config).translate(event)
