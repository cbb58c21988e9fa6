"""What Airflow's OpenLineage provider sends lands in DataHub the way DataHub's own Airflow plugin shows it.

Issue 17, items 1-3: DAG tags, the task graph, the DAG's description and run durations.

The events are built the way apache-airflow-providers-openlineage 2.x builds them
(``OpenLineageAdapter._build_job`` / ``_build_run``, with openlineage-python's own facet
classes): each DAG tag as ``TagsJobFacetFields(key=tag, value=tag, source="AIRFLOW")``, the
documentation facet holding ``doc_md`` (or, without one, ``description``), the ``airflowDagRun``
/ ``airflow`` run facets with ``DagInfo`` (``description``, ``tags`` as ``str(list)``) and
``TaskInfo`` (``upstream_task_ids`` as ``str(list)``). The DataHub side is computed with
acryl-datahub's own classes, fed as DataHub's Airflow plugin feeds them
(``AirflowGenerator.generate_dataflow`` / ``generate_datajob`` / ``complete_datajob``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance, InstanceRunResult
from datahub.utilities.urns.data_flow_urn import DataFlowUrn
from datahub.utilities.urns.data_job_urn import DataJobUrn
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import documentation_job, job_type_job, parent_run, tags_job
from openlineage.client.serde import Serde

from bridge.delivery import DeliveryCore
from bridge.model import Tag
from bridge.testing import RecordingEmitter
from tests._datahub_reference import check_mcp
from tests.servers.gms_state import apply_patch, held, job_edges
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.openlineage import parse_event

PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.0"
NAMESPACE = "default"
DAG_ID = "sales_daily"
DAG_RUN_ID = "01936893-9751-7a91-a2a0-a51101a3970c"
T0 = dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)


class Dag:
    """The DAG facts both sides read: the provider's ``DagInfo`` and the plugin's ``dag``."""

    def __init__(self, *, description: str | None, doc_md: str | None, tags: list[str]) -> None:
        self.dag_id = DAG_ID
        self.description = description
        self.doc_md = doc_md
        self.tags = tags

    def documentation(self) -> str | None:
        # airflow.providers.openlineage.utils.utils.get_dag_documentation: doc_md, else description
        return self.doc_md or self.description

    def info(self) -> dict[str, Any]:
        # DagInfo: lists go out as str(list)
        return {"dag_id": self.dag_id, "description": self.description, "owner": "airflow",
                "fileloc": "/opt/airflow/dags/sales.py", "tags": str(list(self.tags))}  # fmt: skip


def _job(name: str, job_type: str, dag: Dag, doc: str | None) -> Job:
    # OpenLineageAdapter._build_job
    facets: dict[str, Any] = {}
    if doc:
        facets["documentation"] = documentation_job.DocumentationJobFacet(description=doc, producer=PRODUCER)
    if dag.tags:
        facets["tags"] = tags_job.TagsJobFacet(
            tags=[tags_job.TagsJobFacetFields(key=t, value=t, source="AIRFLOW") for t in sorted(dag.tags)],
            producer=PRODUCER,
        )
    facets["jobType"] = job_type_job.JobTypeJobFacet(
        jobType=job_type, integration="AIRFLOW", processingType="BATCH", producer=PRODUCER
    )
    return Job(namespace=NAMESPACE, name=name, facets=facets)


def _parse(event: RunEvent):
    return parse_event(Serde.to_dict(event))


def dag_event(state: RunState, dag: Dag, *, minutes: int = 0):
    """The DAG run's own event (``OpenLineageAdapter.dag_started`` / ``dag_success``)."""
    run_facets: dict[str, Any] = {"airflowDagRun": {"dag": dag.info(), "dagRun": {"dag_id": DAG_ID,
                                                    "run_id": "manual__2026-01-05", "run_type": "manual"}}}  # fmt: skip
    return _parse(RunEvent(
        eventType=state, eventTime=(T0 + dt.timedelta(minutes=minutes)).isoformat(), producer=PRODUCER,
        run=Run(runId=DAG_RUN_ID, facets=run_facets), job=_job(DAG_ID, "DAG", dag, dag.documentation()),
    ))  # fmt: skip


def task_event(state: RunState, dag: Dag, task_id: str, upstream: list[str], *, run_id: str,
               seconds: float = 0, try_number: int = 1):  # fmt: skip
    """A task instance's event (``OpenLineageAdapter.start_task`` / ``complete_task``), no datasets."""
    airflow = {
        "dag": dag.info(),
        "dagRun": {"dag_id": DAG_ID, "run_id": "manual__2026-01-05", "run_type": "manual"},
        "task": {"task_id": task_id, "upstream_task_ids": str(sorted(upstream)), "operator_class": "PythonOperator"},
        "taskInstance": {"try_number": try_number},  # Airflow 3's RuntimeTaskInstance has no duration
        "taskUuid": run_id,
    }
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=DAG_RUN_ID), job=parent_run.Job(namespace=NAMESPACE, name=DAG_ID),
        producer=PRODUCER,
    )  # fmt: skip
    return _parse(RunEvent(
        eventType=state, eventTime=(T0 + dt.timedelta(seconds=seconds)).isoformat(), producer=PRODUCER,
        run=Run(runId=str(uuid.uuid5(uuid.NAMESPACE_URL, run_id)), facets={"airflow": airflow, "parent": parent}),
        job=_job(f"{DAG_ID}.{task_id}", "TASK", dag, None),
    ))  # fmt: skip


def plugin_dataflow(dag: Dag) -> DataFlow:
    """The flow DataHub's Airflow plugin writes (``AirflowGenerator.generate_dataflow``)."""
    description = "\n\n".join(filter(None, [dag.description, dag.doc_md])) or None
    flow = DataFlow(env="PROD", id=dag.dag_id, orchestrator="airflow", description=description)
    flow.tags.update(dag.tags)
    return flow


def aspects_of(mcps, urn: str) -> dict[str, Any]:
    return {m.aspect_name: m.aspect_value for m in mcps if m.entity_urn == urn}


def plugin_aspects(entity) -> dict[str, Any]:
    return {m.aspectName: m.aspect.to_obj() for m in entity.generate_mcp()}


DAGS = {
    "description and doc_md": Dag(description="Daily sales rollup.", doc_md="# Sales\nLoads the day.",
                                  tags=["sales", "daily"]),  # fmt: skip
    "description only": Dag(description="Daily sales rollup.", doc_md=None, tags=["sales"]),
    "doc_md only": Dag(description=None, doc_md="# Sales", tags=[]),
}


# -- 1. tags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(DAGS))
def test_dag_tags_are_the_plugins_tags_on_the_flow_and_on_every_task(case):
    dag = DAGS[case]
    translator = DataHubTranslator()
    plugin = plugin_aspects(plugin_dataflow(dag)).get("globalTags", {"tags": []})
    expected = {t["tag"] for t in plugin["tags"]}

    start = translator.translate_aspects(dag_event(RunState.START, dag))
    flow_urn = translator.get_flow_urn(dag_event(RunState.START, dag))
    flow_tags = {t["tag"] for t in aspects_of(start, flow_urn).get("globalTags", {"tags": []})["tags"]}
    assert flow_tags == expected

    # the plugin tags every task with the DAG's tags (generate_datajob: datajob.tags.update(dag.tags))
    task = task_event(RunState.START, dag, "load", ["extract"], run_id="t-load")
    job_urn = translator.get_job_urn(task)
    plugin_job = DataJob(id="load", flow_urn=DataFlowUrn.create_from_ids("airflow", DAG_ID, "PROD"))
    plugin_job.tags.update(dag.tags)
    plugin_job_tags = {t["tag"] for t in plugin_aspects(plugin_job).get("globalTags", {"tags": []})["tags"]}
    job_tags = {t["tag"] for t in aspects_of(translator.translate_aspects(task), job_urn).get(
        "globalTags", {"tags": []})["tags"]}  # fmt: skip
    assert job_tags == plugin_job_tags
    for mcp in translator.translate(dag_event(RunState.START, dag)) + translator.translate(task):
        check_mcp(mcp)


@pytest.mark.parametrize(
    ("facet_tag", "label"),
    [
        ({"key": "sales", "value": "sales", "source": "AIRFLOW"}, "sales"),  # Airflow's provider
        ({"key": "pii", "value": "", "source": "USER"}, "pii"),  # openlineage.yml `tags.job` with no value
        ({"key": "pii", "value": "true", "source": "SPARK"}, "pii"),  # Spark's spark.openlineage.job.tags=pii
        ({"key": "team", "value": "finance", "source": "USER"}, "team:finance"),  # a real key/value pair
        ({"key": "Sales", "value": "sales", "source": "USER"}, "Sales:sales"),  # not the key: kept
    ],
)
def test_a_tag_whose_value_adds_nothing_is_its_key(facet_tag, label):
    event = parse_event({
        "eventType": "START", "eventTime": T0.isoformat(), "producer": PRODUCER,
        "run": {"runId": "r-tags"},
        "job": {"namespace": NAMESPACE, "name": "j", "facets": {"tags": {"tags": [facet_tag]}}},
    })  # fmt: skip
    translator = DataHubTranslator()
    (tags,) = [m.aspect_value for m in translator.translate_aspects(event)
               if m.aspect_name == "globalTags" and m.entity_type == "dataJob"]  # fmt: skip
    # what DataHub's own builders make of the tag name (the plugin's DataFlow/DataJob tags)
    reference = DataJob(id="j", flow_urn=DataFlowUrn.create_from_ids("airflow", "f", "PROD"))
    reference.tags.add(label)
    assert tags == plugin_aspects(reference)["globalTags"]


def test_dagster_plugin_tags_with_and_without_a_value():
    translator = DataHubTranslator()
    # dagster_plugin: Tag(key=k, value=v or None) -- a kind tag has an empty value
    assert translator.get_tag_urn(Tag(key="dagster/kind/python", value=None, source="DAGSTER")) == (
        "urn:li:tag:dagster/kind/python")
    assert translator.get_tag_urn(Tag(key="asset_group", value="sales", source="DAGSTER")) == (
        "urn:li:tag:asset_group:sales")


# -- 2. the task graph -----------------------------------------------------------------------------


def _own_job_urn(translator: DataHubTranslator, dag: Dag, task_id: str) -> str:
    """The URN the bridge gives a task from that task's own event."""
    own = translator.translate_aspects(task_event(RunState.START, dag, task_id, [], run_id=f"t-{task_id}"))
    return next(m.entity_urn for m in own if m.aspect_name == "dataJobInfo")


@pytest.mark.parametrize("flow_naming", ["prefix", "parent", "job"])
def test_upstream_tasks_of_an_event_without_datasets_are_added_as_edges_and_touch_no_dataset(flow_naming):
    dag = DAGS["description only"]
    translator = DataHubTranslator(TranslatorConfig(flow_naming=flow_naming))
    check = task_event(RunState.COMPLETE, dag, "check", ["load", "extract"], run_id="t-check", seconds=30)
    job_urn = translator.get_job_urn(check)
    (io,) = [m for m in translator.translate(check) if m.aspect_name == "dataJobInputOutput"]
    check_mcp(io)
    assert io.change_type == "PATCH" and io.entity_urn == job_urn
    assert {op["op"] for op in io.patch_ops} == {"add"}
    assert all(op["path"].startswith("/inputDatajobEdges/") for op in io.patch_ops)
    expected = {_own_job_urn(translator, dag, t) for t in ("load", "extract")}
    # onto what DataHub already holds for the job (datasets from another event or source): only edges added
    before = {"inputDatasets": [], "outputDatasets": [],
              "inputDatasetEdges": [{"destinationUrn": "urn:li:dataset:(urn:li:dataPlatform:hive,a,PROD)"}]}  # fmt: skip
    after = apply_patch(job_urn, "dataJobInputOutput", before, io.aspect_value)
    assert job_edges(after, "inputDatajobEdges") == expected
    assert job_edges(after, "inputDatasetEdges") == {"urn:li:dataset:(urn:li:dataPlatform:hive,a,PROD)"}
    assert not job_edges(after, "outputDatasetEdges")


def test_upstream_task_urns_are_the_plugins_when_the_job_ids_are():
    """The edge's URNs are built by the translator's own job URN rule, so an override reaches both ends."""

    class PluginIds(DataHubTranslator):
        def get_flow_id(self, event):
            return event.job.name.split(".", 1)[0]

        def get_flow_cluster(self, event):
            return "prod"

        def get_job_id(self, event):
            return event.job.name.split(".", 1)[1] if "." in event.job.name else event.job.name

    dag = DAGS["description only"]
    translator = PluginIds(TranslatorConfig(orchestrator="airflow"))
    event = task_event(RunState.START, dag, "check", ["load", "extract"], run_id="t-check")
    (io,) = [m.aspect_value for m in translator.translate_aspects(event) if m.aspect_name == "dataJobInputOutput"]
    # AirflowGenerator._get_dependencies: DataJobUrn.create_from_ids(job_id=task_id, data_flow_urn=flow)
    flow = DataFlowUrn.create_from_ids(orchestrator="airflow", flow_id=DAG_ID, env="prod")
    plugin_job = DataJob(id="check", flow_urn=flow, upstream_urns=[
        DataJobUrn.create_from_ids(job_id=t, data_flow_urn=str(flow)) for t in ("load", "extract")])  # fmt: skip
    plugin_io = plugin_aspects(plugin_job)["dataJobInputOutput"]
    assert sorted(io["inputDatajobs"]) == sorted(plugin_io["inputDatajobs"])
    assert translator.get_job_urn(event) == str(plugin_job.urn)


def test_upstream_tasks_alone_are_not_sent_when_job_lineage_is_written_whole():
    # An upsert of a value with only upstream jobs would erase the job's datasets.
    dag = DAGS["description only"]
    translator = DataHubTranslator(TranslatorConfig(write_policy={"dataJobInputOutput": "upsert"}))
    event = task_event(RunState.START, dag, "check", ["load"], run_id="t-check")
    assert not [m for m in translator.translate(event) if m.aspect_name == "dataJobInputOutput"]


# -- 3. DAG facts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(DAGS))
def test_the_flow_description_is_the_plugins(case):
    dag = DAGS[case]
    translator = DataHubTranslator()
    event = dag_event(RunState.START, dag)
    info = aspects_of(translator.translate_aspects(event), translator.get_flow_urn(event))["dataFlowInfo"]
    assert info.get("description") == plugin_aspects(plugin_dataflow(dag))["dataFlowInfo"].get("description")


@pytest.mark.parametrize(("state", "result"), [(RunState.COMPLETE, InstanceRunResult.SUCCESS),
                                               (RunState.FAIL, InstanceRunResult.FAILURE)])  # fmt: skip
@pytest.mark.parametrize("together", [True, False], ids=["one round", "two rounds"])
def test_a_runs_end_carries_its_duration_from_its_start(state, result, together):
    dag = DAGS["description only"]
    translator = DataHubTranslator()
    emitter = RecordingEmitter()
    core = DeliveryCore(emitter, translator)
    start = task_event(RunState.START, dag, "load", [], run_id="t-load", seconds=0)
    end = task_event(state, dag, "load", [], run_id="t-load", seconds=42.5)
    rounds = [[start, end]] if together else [[start], [end]]
    for events in rounds:
        core.send(core.plan([(i, translator.translate(e)) for i, e in enumerate(events)]))
    (ours,) = [m.aspect_value for m in emitter.aspects("dataProcessInstanceRunEvent")
               if m.aspect_value["status"] == "COMPLETE"]  # fmt: skip
    # DataHub's own end event (complete_datajob -> DataProcessInstance.end_event_mcp) on the same times
    dpi = DataProcessInstance.from_datajob(
        DataJob(id="load", flow_urn=DataFlowUrn.create_from_ids("airflow", DAG_ID, "PROD")), id="t-load")
    (theirs,) = dpi.end_event_mcp(
        end_timestamp_millis=ours["timestampMillis"], result=result, result_type="airflow",
        start_timestamp_millis=int(T0.timestamp() * 1000),
    )  # fmt: skip
    assert ours["durationMillis"] == theirs.aspect.durationMillis == 42_500
    assert ours["result"]["type"] == theirs.aspect.result.type
    for mcp in emitter.mcps:
        check_mcp(mcp)
    assert held(emitter.mcps)  # GMS's model of the writes takes them


def test_a_runs_end_without_its_start_claims_no_duration():
    dag = DAGS["description only"]
    translator = DataHubTranslator()
    emitter = RecordingEmitter()
    core = DeliveryCore(emitter, translator)
    end = task_event(RunState.COMPLETE, dag, "load", [], run_id="t-alone", seconds=42)
    core.send(core.plan([(0, translator.translate(end))]))
    (point,) = [m.aspect_value for m in emitter.aspects("dataProcessInstanceRunEvent")]
    assert "durationMillis" not in point


def test_the_dag_runs_end_carries_its_duration_too():
    dag = DAGS["description and doc_md"]
    translator = DataHubTranslator()
    emitter = RecordingEmitter()
    core = DeliveryCore(emitter, translator)
    for i, e in enumerate([dag_event(RunState.START, dag), dag_event(RunState.COMPLETE, dag, minutes=3)]):
        core.send(core.plan([(i, translator.translate(e))]))
    (point,) = [m.aspect_value for m in emitter.aspects("dataProcessInstanceRunEvent")
                if m.aspect_value["status"] == "COMPLETE"]  # fmt: skip
    assert point["durationMillis"] == 3 * 60_000


def test_a_duration_the_event_reports_is_kept():
    # Airflow 2's provider reports taskInstance.duration (corpus: BQ.upload, 4.058919 s); it wins
    # over the time between the START and COMPLETE events.
    import json
    from pathlib import Path

    corpus = Path(__file__).parent / "corpus" / "openlineage" / "airflow"
    start, end = (parse_event(json.loads((corpus / n).read_text())) for n in ("line_02.json", "line_03.json"))
    translator = DataHubTranslator()
    emitter = RecordingEmitter()
    core = DeliveryCore(emitter, translator)
    core.send(core.plan([(0, translator.translate(start)), (1, translator.translate(end))]))
    (point,) = [m.aspect_value for m in emitter.aspects("dataProcessInstanceRunEvent")
                if m.aspect_value["status"] == "COMPLETE"]  # fmt: skip
    assert point["durationMillis"] == round(
        json.loads((corpus / "line_03.json").read_text())["run"]["facets"]["airflow"]["taskInstance"]["duration"] * 1000)


def test_the_dag_runs_end_reports_its_own_duration():
    # The provider's DagRunInfo carries `duration` (end_date - start_date) on the DAG run's end:
    # translated alone, without the START, the end still says how long the DAG ran.
    dag = DAGS["description only"]
    end = Serde.to_dict(RunEvent(
        eventType=RunState.COMPLETE, eventTime=(T0 + dt.timedelta(minutes=3)).isoformat(), producer=PRODUCER,
        run=Run(runId=DAG_RUN_ID, facets={"airflowDagRun": {"dag": dag.info(), "dagRun": {
            "dag_id": DAG_ID, "start_date": T0.isoformat(), "end_date": (T0 + dt.timedelta(minutes=3)).isoformat(),
            "duration": 180.25}}}),
        job=_job(DAG_ID, "DAG", dag, dag.documentation()),
    ))  # fmt: skip
    (point,) = [m.aspect_value for m in DataHubTranslator().translate(parse_event(end))
                if m.aspect_name == "dataProcessInstanceRunEvent"]  # fmt: skip
    assert point["durationMillis"] == 180_250
