"""URN schemes of DataHub's own integrations (``[translator] compat``).

Someone moving from one of DataHub's plugins to the bridge wants the flows, jobs and runs the
plugin wrote to be the ones the bridge writes to, not duplicates beside them. A preset names the
plugin; :func:`compat_scheme` turns it into a scheme, which
:class:`~translators.datahub.translator.DataHubTranslator` consults for the identities of the
events the scheme applies to (its ``get_flow_id``, ``get_flow_cluster``, ``get_job_id``,
``get_job_name``, ``get_flow_role``, ``emits_job``, ``get_run_urn`` and ``get_run_name``).
Events the scheme does not apply to are translated as without it.

``datahub-airflow-plugin`` (acryl-datahub-airflow-plugin, ``client/airflow_generator.py``), for
events whose orchestrator is ``airflow``:

* flow ``urn:li:dataFlow:(airflow,<dag_id>,<cluster>)``: cluster ``prod`` as the plugin's default
  ``cluster``, or the translator's ``cluster``; with ``platform_instance`` the flow id is
  ``<platform_instance>.<dag_id>`` (``DataFlowUrn.create_from_ids``);
* job ``urn:li:dataJob:(<flow>,<task_id>)``, and no job for the DAG itself: the DAG run's own
  events write the flow's aspects, and their run is an instance of the flow;
* task runs ``urn:li:dataProcessInstance:<guid>``, the guid of ``{cluster, orchestrator, id}``
  with id ``<dag_id>_<task_id>_<dag run id>`` (``run_datajob`` / ``complete_datajob``); the id is
  also the run's name. A task event that does not report its DAG run id (the provider's
  ``airflow`` run facet always does) keeps the OpenLineage run id.
* the DAG run keeps ``urn:li:dataProcessInstance:<OpenLineage run id>``, an instance of the flow,
  and stays the tasks' parent run. The plugin's listener writes no DAG run instance, and its
  older ``run_dataflow`` keys one by the Airflow run id alone (two DAGs' ``scheduled__<date>``
  runs would be one instance); the provider's end-of-DAG events before 2.x do not carry that id.

The Airflow ids come from the provider's ``airflow`` / ``airflowDagRun`` run facets; without them
the job name ``<dag_id>.<task_id>`` and the parent run (the DAG run) are read instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError
from bridge.model import JobEvent, ParentRun, RunEvent
from translators.datahub.properties import dig
from translators.datahub.urns import datahub_guid, make_data_process_instance_urn

__all__ = ["COMPAT", "AirflowPlace", "AirflowPluginScheme", "airflow_place", "check_compat", "child_of_flow",
           "compat_scheme"]

AIRFLOW_PLUGIN = "datahub-airflow-plugin"
COMPAT = (AIRFLOW_PLUGIN,)
"""The presets ``compat`` takes."""

_PLANNED = ("datahub-dagster-plugin",)  # named by the Dagster issue; not available yet
_PLUGIN_CLUSTER = "prod"  # DatahubLineageConfig.cluster's default


def check_compat(value: Any) -> str | None:
    """The ``compat`` setting, checked: ``None`` or one of :data:`COMPAT`.

    Raises:
        ConfigError: any other value; the message lists the valid ones.
    """
    if value is None or value == "":
        return None
    if value in COMPAT:
        return str(value)
    later = f" ({', '.join(_PLANNED)} is not available yet)" if value in _PLANNED else ""
    raise ConfigError(f"must be one of {list(COMPAT)}, got {value!r}{later}", key="compat")


@attrs.frozen(kw_only=True)
class AirflowPlace:
    """Where an Airflow event sits: its DAG, its task (``None`` for the DAG run) and the DAG run."""

    dag_id: str
    task_id: str | None
    dag_run_id: str | None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_last_place: tuple[object, AirflowPlace | None] = (None, None)


def airflow_place(event: RunEvent | JobEvent) -> AirflowPlace:
    """The DAG, task and DAG run of an event from Airflow's OpenLineage provider.

    A DAG run's own events have job type ``DAG`` (or an ``airflowDagRun`` facet and no ``airflow``
    one); a task's job is named ``<dag_id>.<task_id>``, where the DAG id comes from the run
    facets, else from the root or parent run's job (the DAG), else from the name up to its first ``.``.
    The scheme asks several times per event: the last event's answer is kept (one slot, swapped whole,
    so threads never see another event's).
    """
    global _last_place
    last = _last_place
    if last[0] is event and last[1] is not None:
        return last[1]
    place = _airflow_place(event)
    _last_place = (event, place)
    return place


def child_of_flow(event: RunEvent | JobEvent, parent: ParentRun | None, flow_id: str) -> bool:
    """Whether ``parent`` (the event's parent run) is a run of its flow's own job (same namespace; the
    parent or root job)."""
    return (parent is not None and parent.job_namespace == event.job.namespace
            and flow_id in (parent.job_name, parent.root_job_name))  # fmt: skip


def _airflow_place(event: RunEvent | JobEvent) -> AirflowPlace:
    job = event.job
    run = getattr(event, "run", None)
    facets: Mapping[str, Any] = run.facets if run is not None and run.facets else {}
    task_facet, dag_facet = facets.get("airflow"), facets.get("airflowDagRun")
    source = task_facet if task_facet is not None else dag_facet
    dag_id = _text(dig(source, "dag", "dag_id")) or _text(dig(source, "dagRun", "dag_id"))
    run_id = _text(dig(source, "dagRun", "run_id"))
    name = job.name
    if (job.job_type or "").upper() == "DAG" or (dag_facet is not None and task_facet is None):
        return AirflowPlace(dag_id=dag_id or name, task_id=None, dag_run_id=run_id)
    parent = run.parent if run is not None else None
    # the root run's job is the DAG for a task's own child events too (the provider's SQL hook
    # lineage names them <dag_id>.<task_id>.query.<n>, parent the task run, root the DAG run)
    roots = (parent.root_job_name, parent.job_name) if parent is not None else ()
    for dag in (dag_id, *roots):
        if dag and name.startswith(dag + ".") and len(name) > len(dag) + 1:
            return AirflowPlace(dag_id=dag, task_id=name[len(dag) + 1 :], dag_run_id=run_id)
    dag, dot, task = name.partition(".")
    return AirflowPlace(dag_id=dag if dot and task else name, task_id=task or None, dag_run_id=run_id)


@attrs.frozen(kw_only=True)
class AirflowPluginScheme:
    """The identities acryl-datahub-airflow-plugin gives Airflow's DAGs, tasks and runs.

    Args:
        cluster: the plugin's ``cluster`` (the flow URN's cluster; ``prod`` by default).
        platform_instance: the plugin's ``platform_instance`` (prefixes the flow id).
    """

    cluster: str = _PLUGIN_CLUSTER
    platform_instance: str | None = None

    def applies(self, orchestrator: str) -> bool:
        """Whether events of this orchestrator use the scheme: Airflow's."""
        return orchestrator == "airflow"

    def flow_id(self, event: RunEvent | JobEvent) -> str:
        """``<dag_id>``, or ``<platform_instance>.<dag_id>``."""
        dag_id = airflow_place(event).dag_id
        return f"{self.platform_instance}.{dag_id}" if self.platform_instance else dag_id

    def job_id(self, event: RunEvent | JobEvent) -> str:
        """``<task_id>`` (the DAG id for a DAG run's own event, which writes no job)."""
        place = airflow_place(event)
        return place.task_id or place.dag_id

    def emits_job(self, event: RunEvent | JobEvent) -> bool:
        """False for the DAG run's own events: the plugin's DAG is a flow, not also a job."""
        return airflow_place(event).task_id is not None

    def flow_role(self, event: RunEvent | JobEvent) -> str:
        """``own`` for the DAG run's events, ``child`` for a task run by its DAG, else ``orphan``."""
        place = airflow_place(event)
        if place.task_id is None:
            return "own"
        parent = getattr(getattr(event, "run", None), "parent", None)
        return "child" if child_of_flow(event, parent, place.dag_id) else "orphan"

    def run_id(self, event: RunEvent) -> str | None:
        """The plugin's DataProcessInstance id of a task run, ``<dag_id>_<task_id>_<dag run id>``
        (None for the DAG run, or when the DAG run id is not reported)."""
        place = airflow_place(event)
        if place.dag_run_id is None or place.task_id is None:
            return None
        return f"{place.dag_id}_{place.task_id}_{place.dag_run_id}"

    def run_urn(self, event: RunEvent) -> str | None:
        """The plugin's DataProcessInstance URN of a task run (see :meth:`run_id`), else None."""
        instance_id = self.run_id(event)
        if instance_id is None:
            return None
        # DataProcessInstance.from_datajob: DataProcessInstanceKey(cluster, orchestrator, id).guid()
        guid = datahub_guid({"cluster": self.cluster, "orchestrator": "airflow", "id": instance_id})
        return make_data_process_instance_urn(guid)


def compat_scheme(
    compat: str | None, *, cluster: str | None, platform_instance: str | None
) -> AirflowPluginScheme | None:
    """The scheme of a ``compat`` preset, with the translator's ``cluster`` and ``platform_instance``."""
    if compat == AIRFLOW_PLUGIN:
        return AirflowPluginScheme(cluster=cluster or _PLUGIN_CLUSTER, platform_instance=platform_instance)
    return None
