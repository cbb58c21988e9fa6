"""``[translator] compat = "datahub-airflow-plugin"``: Airflow lands on the URNs DataHub's Airflow plugin writes.

Issue 17, item 4. The expected URNs are computed with acryl-datahub's own classes, fed as
acryl-datahub-airflow-plugin feeds them (``client/airflow_generator.py``):
``generate_dataflow`` -> ``DataFlow(env=config.cluster, id=dag_id, orchestrator="airflow",
platform_instance=...)``; ``generate_datajob`` -> ``DataJob(id=task_id, flow_urn=...)``;
``run_datajob`` -> ``DataProcessInstance.from_datajob(datajob, id=f"{dag_id}_{task_id}_{run_id}")``;
``_get_dependencies`` -> ``DataJobUrn.create_from_ids(job_id=upstream_task_id, data_flow_urn=flow)``.
The Airflow ids are read from the raw events here, independently of the translator.
"""

from __future__ import annotations

import ast
import json
import pathlib
from typing import Any

import pytest
from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance
from datahub.utilities.urns.data_job_urn import DataJobUrn
from openlineage.client.event_v2 import RunState

from bridge.errors import ConfigError
from bridge.model import RunEvent
from tests._datahub_reference import check_mcp
from tests.test_airflow_parity import DAG_ID, DAGS, dag_event, plugin_aspects, plugin_dataflow, task_event
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.datahub.compat import COMPAT
from translators.openlineage import parse_event

PRESET = "datahub-airflow-plugin"
ROOTS = [
    pathlib.Path(__file__).parent / "corpus" / "openlineage",
    pathlib.Path("/work/shared/corpus/openlineage"),
]
FILES = sorted(
    {p.relative_to(root): p for root in ROOTS if root.is_dir() for p in root.rglob("*.json")}.items()
)
AIRFLOW = [p for name, p in FILES if name.parts[0] == "airflow"]
OTHERS = [p for name, p in FILES if name.parts[0] != "airflow"]


def _raw(path: pathlib.Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _ids(raw: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(dag_id, task_id or None for the DAG run, Airflow's DAG run id) as the provider reports them."""
    facets = raw["run"].get("facets", {})
    if "airflow" in facets:
        airflow = facets["airflow"]
        return airflow["dag"]["dag_id"], airflow["task"]["task_id"], airflow["dagRun"]["run_id"]
    assert raw["job"]["facets"]["jobType"]["jobType"] == "DAG"
    dag_run = facets.get("airflowDagRun", {}).get("dagRun", {})
    return raw["job"]["name"], None, dag_run.get("run_id")


def _plugin_job(dag_id: str, task_id: str, *, cluster: str = "prod", instance: str | None = None) -> DataJob:
    flow = DataFlow(env=cluster, id=dag_id, orchestrator="airflow", platform_instance=instance)
    return DataJob(id=task_id, flow_urn=flow.urn, platform_instance=instance)


def _by_aspect(mcps, name: str) -> dict[str, Any]:
    return {m.entity_urn: m.aspect_value for m in mcps if m.aspect_name == name}


@pytest.fixture(scope="module")
def compat() -> DataHubTranslator:
    return DataHubTranslator(TranslatorConfig(compat=PRESET))


def test_the_corpus_has_airflow_dag_and_task_events():
    kinds = {_ids(_raw(p))[1] is None for p in AIRFLOW}
    assert kinds == {True, False} and OTHERS


@pytest.mark.parametrize("path", AIRFLOW, ids=lambda p: f"{p.parent.parent.parent.name}/{p.name}")
def test_airflow_events_use_the_plugins_urns(path, compat):
    raw = _raw(path)
    dag_id, task_id, dag_run_id = _ids(raw)
    event = parse_event(raw)
    mcps = compat.translate(event)
    values = compat.translate_aspects(event)
    flow = DataFlow(env="prod", id=dag_id, orchestrator="airflow")
    assert {m.entity_urn for m in mcps if m.entity_type == "dataFlow"} == {str(flow.urn)}
    jobs = {m.entity_urn for m in mcps if m.entity_type == "dataJob"}
    (relationships,) = _by_aspect(values, "dataProcessInstanceRelationships").values()
    if task_id is None:
        # the DAG is the flow alone: no dataJob; its run is an instance of the flow
        assert not jobs
        assert relationships["parentTemplate"] == str(flow.urn)
        assert {m.entity_urn for m in mcps if m.entity_type == "dataProcessInstance"} == {
            f"urn:li:dataProcessInstance:{raw['run']['runId']}"
        }
        if raw["eventType"] == "START":
            assert _by_aspect(values, "dataFlowInfo")[str(flow.urn)]["name"] == dag_id
        return
    job = _plugin_job(dag_id, task_id)
    assert jobs == {str(job.urn)}
    assert _by_aspect(values, "dataJobInfo")[str(job.urn)]["name"] == task_id
    dpi = DataProcessInstance.from_datajob(datajob=job, id=f"{dag_id}_{task_id}_{dag_run_id}")
    assert {m.entity_urn for m in mcps if m.entity_type == "dataProcessInstance"} == {str(dpi.urn)}
    assert _by_aspect(values, "dataProcessInstanceProperties")[str(dpi.urn)]["name"] == dpi.id
    assert relationships["parentTemplate"] == str(job.urn)
    # the run-to-run link points at the DAG run's instance
    parent = raw["run"]["facets"]["parent"]["run"]["runId"]
    assert relationships["parentInstance"] == f"urn:li:dataProcessInstance:{parent}"
    upstream = ast.literal_eval(raw["run"]["facets"]["airflow"]["task"]["upstream_task_ids"])
    io = _by_aspect(values, "dataJobInputOutput").get(str(job.urn), {})
    expected = sorted(
        str(DataJobUrn.create_from_ids(job_id=t, data_flow_urn=str(flow.urn))) for t in upstream
    )
    assert sorted(io.get("inputDatajobs", [])) == expected


def test_a_dag_run_and_its_tasks_are_one_flow_and_one_run_tree(compat):
    """Every event of one DAG run: one flow, the tasks' jobs, and each task run under the DAG run."""
    events = [parse_event(_raw(p)) for p in AIRFLOW if _raw(p)["job"]["name"].split(".")[0] == "BQ"]
    mcps = [m for e in events for m in compat.translate_aspects(e)]
    assert {m.entity_urn for m in mcps if m.entity_type == "dataFlow"} == {
        "urn:li:dataFlow:(airflow,BQ,prod)"
    }
    assert {m.entity_urn for m in mcps if m.entity_type == "dataJob"} == {
        str(_plugin_job("BQ", t).urn) for t in ("upload", "copy", "download")
    }
    dag_runs = {e.run.run_id for e in events if e.job.name == "BQ"}
    assert len(dag_runs) == 1
    relationships = _by_aspect(mcps, "dataProcessInstanceRelationships")
    assert {r.get("parentInstance") for r in relationships.values() if "dataJob" in r["parentTemplate"]} == {
        f"urn:li:dataProcessInstance:{dag_runs.pop()}"
    }


@pytest.mark.parametrize(
    ("settings", "cluster", "instance"),
    [({"cluster": "staging"}, "staging", None), ({"platform_instance": "eu"}, "prod", "eu")],
    ids=["cluster", "platform_instance"],
)
def test_the_plugins_cluster_and_platform_instance_settings(settings, cluster, instance):
    translator = DataHubTranslator(TranslatorConfig.from_dict({"compat": PRESET, **settings}))
    (path,) = [p for p in AIRFLOW if p.name == "line_02.json"][:1]
    raw = _raw(path)
    dag_id, task_id, dag_run_id = _ids(raw)
    assert task_id is not None
    mcps = translator.translate(parse_event(raw))
    job = _plugin_job(dag_id, task_id, cluster=cluster, instance=instance)
    dpi = DataProcessInstance.from_datajob(datajob=job, id=f"{dag_id}_{task_id}_{dag_run_id}")
    assert {m.entity_urn for m in mcps if m.entity_type == "dataFlow"} == {str(job.flow_urn)}
    assert {m.entity_urn for m in mcps if m.entity_type == "dataJob"} == {str(job.urn)}
    assert {m.entity_urn for m in mcps if m.entity_type == "dataProcessInstance"} == {str(dpi.urn)}
    for mcp in mcps:
        check_mcp(mcp)


@pytest.mark.parametrize("case", sorted(DAGS))
def test_airflow_3_dag_and_task_events(case, compat):
    """Events built as apache-airflow-providers-openlineage 2.x builds them (see test_airflow_parity)."""
    dag = DAGS[case]
    start = compat.translate_aspects(dag_event(RunState.START, dag))
    flow = plugin_dataflow(dag)
    # with the plugin's default cluster, as the preset writes it
    flow = DataFlow(env="prod", id=flow.id, orchestrator="airflow", description=flow.description)
    flow.tags.update(dag.tags)
    assert not [m for m in start if m.entity_type == "dataJob"]
    ours = _by_aspect(start, "dataFlowInfo")[str(flow.urn)]
    theirs = plugin_aspects(flow)["dataFlowInfo"]
    assert (ours["name"], ours.get("description")) == (theirs["name"], theirs.get("description"))
    if dag.tags:
        assert _by_aspect(start, "globalTags")[str(flow.urn)] == plugin_aspects(flow)["globalTags"]
    task = compat.translate_aspects(
        task_event(RunState.START, dag, "check", ["load", "extract"], run_id="t-check")
    )
    job = _plugin_job(DAG_ID, "check")
    assert {m.entity_urn for m in task if m.entity_type == "dataJob"} == {str(job.urn)}
    io = _by_aspect(task, "dataJobInputOutput")[str(job.urn)]
    assert sorted(io["inputDatajobs"]) == sorted(str(_plugin_job(DAG_ID, t).urn) for t in ("load", "extract"))


def test_dotted_dag_and_task_ids_are_split_where_airflow_says(compat):
    """A DAG id with a dot, a task in a TaskGroup (``group.task``): the facets say where the DAG id ends."""
    raw = _raw(next(p for p in AIRFLOW if p.name == "line_02.json"))
    raw = json.loads(json.dumps(raw).replace('"BQ"', '"team.BQ"').replace('"upload"', '"group.upload"'))
    raw["job"]["name"] = "team.BQ.group.upload"
    event = parse_event(raw)
    assert isinstance(event, RunEvent)
    job = _plugin_job("team.BQ", "group.upload")
    assert {m.entity_urn for m in compat.translate(event) if m.entity_type == "dataJob"} == {str(job.urn)}


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_other_producers_are_unchanged(path, compat):
    event = parse_event(_raw(path))
    assert compat.translate(event) == DataHubTranslator().translate(event)


@pytest.mark.parametrize("path", [p for _, p in FILES], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_mcp_stays_valid(path, compat):
    for mcp in compat.translate(parse_event(_raw(path))):
        check_mcp(mcp)


def test_without_the_preset_airflow_keeps_the_converters_urns():
    raw = _raw(next(p for p in AIRFLOW if p.name == "line_01.json"))
    mcps = DataHubTranslator().translate(parse_event(raw))
    assert {m.entity_urn for m in mcps if m.entity_type == "dataJob"} == {
        "urn:li:dataJob:(urn:li:dataFlow:(airflow,BQ,airflow),BQ)"
    }


def test_compat_setting():
    assert TranslatorConfig().compat is None
    assert TranslatorConfig.from_dict({"compat": PRESET}).compat == PRESET
    assert COMPAT == (PRESET,)
    for bad in ("datahub-dagster-plugin", "airflow", "DataHub-Airflow-Plugin"):
        with pytest.raises(ConfigError) as info:
            TranslatorConfig.from_dict({"compat": bad})
        assert PRESET in str(info.value) and repr(bad) in str(info.value)
    with pytest.raises(ConfigError, match="not available yet"):
        TranslatorConfig(compat="datahub-dagster-plugin")
