"""Events recorded from a real Airflow 3 run land in DataHub as the DAG says, and as DataHub's plugin would.

Issue 17 (Proof, Airflow half). ``tests/fixtures/airflow3/events.jsonl`` was written by
apache-airflow-providers-openlineage 2.20.3 on Airflow 3.3.2 running ``dags/sales_daily.py``
(see that folder's README and ``record.sh``). The events go through ``bridge send`` into the GMS
test server, which checks every proposal with acryl-datahub's schema classes and applies the
patches as GMS does; the checks read what it then holds.

What is expected comes from two places the events do not decide: the DAG file (read with
``ast``: description, doc_md, tags, owners, task dependencies, the failing task's message), and
DataHub's own code, acryl-datahub's URN and entity classes fed as DataHub's Airflow plugin feeds
them (acryl-datahub-airflow-plugin ``client/airflow_generator.py``: ``generate_dataflow`` ->
``DataFlow(env=config.cluster, id=dag.dag_id, orchestrator="airflow", description="\\n\\n".join(
filter(None, [dag.description, dag.doc_md])))`` with ``tags.update(dag.tags)``; ``generate_datajob``
-> ``DataJob(id=task.task_id, flow_urn=DataFlowUrn.create_from_ids(orchestrator="airflow",
env=cluster, flow_id=dag.dag_id))``; ``_get_dependencies`` -> ``DataJobUrn.create_from_ids(
job_id=upstream_task_id, data_flow_urn=str(flow_urn))``; ``run_datajob`` / ``complete_datajob`` ->
``DataProcessInstance.from_datajob(datajob, id=f"{dag.dag_id}_{ti.task_id}_{dag_run.run_id}")``;
``DatahubLineageConfig.cluster`` defaults to ``prod``).
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import json
import pathlib
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance
from datahub.emitter.mce_builder import make_dataset_urn, make_tag_urn, make_user_urn
from datahub.utilities.urns.data_flow_urn import DataFlowUrn
from datahub.utilities.urns.data_job_urn import DataJobUrn

from bridge.cli import main
from tests.servers.gms import GmsServer
from tests.servers.gms_state import job_edges
from tests.test_rest_cli import CLEAN_ENV

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "airflow3"
EVENTS_FILE = FIXTURE / "events.jsonl"
DAG_FILE = FIXTURE / "dags" / "sales_daily.py"
EVENTS = [json.loads(line) for line in EVENTS_FILE.read_text().splitlines() if line.strip()]
NAMESPACE = "default"  # the provider's default [openlineage] namespace; record.sh sets none
PRESET = "datahub-airflow-plugin"


# -- what the DAG file says ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DagFacts:
    dag_id: str
    description: str
    doc_md: str
    tags: list[str]
    owner: str  # default_args
    task_owners: dict[str, str]  # task_id -> owner
    upstream: dict[str, set[str]]  # task_id -> upstream task ids
    failing_task: str
    failure_message: str


def _chain(node: ast.expr) -> list[ast.expr]:
    """``a >> b >> c`` -> ``[a, b, c]``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
        return _chain(node.left) + [node.right]
    return [node]


def _dag_facts() -> DagFacts:
    tree = ast.parse(DAG_FILE.read_text())
    (with_dag,) = [n for n in tree.body if isinstance(n, ast.With)]
    dag_kw = {k.arg: k.value for k in with_dag.items[0].context_expr.keywords}
    tasks: dict[str, tuple[str, str | None]] = {}  # variable -> (task_id, owner)
    upstream: dict[str, set[str]] = {}
    for stmt in with_dag.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            kw = {k.arg: k.value for k in stmt.value.keywords}
            task_id = ast.literal_eval(kw["task_id"])
            tasks[stmt.targets[0].id] = (task_id, ast.literal_eval(kw["owner"]) if "owner" in kw else None)
            upstream[task_id] = set()
        elif isinstance(stmt, ast.Expr):
            groups = [[tasks[e.id][0] for e in (g.elts if isinstance(g, ast.List) else [g])]
                      for g in _chain(stmt.value)]  # fmt: skip
            for before, after in zip(groups, groups[1:], strict=False):
                for task_id in after:
                    upstream[task_id] |= set(before)
    default_owner = ast.literal_eval(dag_kw["default_args"])["owner"]
    (raising,) = [f for f in tree.body if isinstance(f, ast.FunctionDef)
                  and any(isinstance(n, ast.Raise) for n in f.body)]  # fmt: skip
    (raise_stmt,) = [n for n in raising.body if isinstance(n, ast.Raise)]
    (failing,) = [t for t, _ in tasks.values() if t == raising.name]
    return DagFacts(
        dag_id=ast.literal_eval(dag_kw["dag_id"]),
        description=ast.literal_eval(dag_kw["description"]),
        doc_md=ast.literal_eval(dag_kw["doc_md"]),
        tags=ast.literal_eval(dag_kw["tags"]),
        owner=default_owner,
        task_owners={t: owner or default_owner for t, owner in tasks.values()},
        upstream=upstream,
        failing_task=failing,
        failure_message=ast.literal_eval(raise_stmt.exc.args[0]),
    )


DAG = _dag_facts()
TASKS = sorted(DAG.upstream)
NO_DATASET_TASK = "check_revenue"  # its events name no dataset (asserted below)
QUERY_JOB = f"{DAG.dag_id}.export_report.query.1"  # the provider's SQL hook lineage of export_report


# -- the recording ---------------------------------------------------------------------------------


def _task_events(task_id: str) -> list[dict[str, Any]]:
    return [e for e in EVENTS if e["job"]["name"] == f"{DAG.dag_id}.{task_id}"]


def _dag_run_id() -> str:
    """Airflow's DAG run id, as every task event reports it."""
    (run_id,) = {e["run"]["facets"]["airflow"]["dagRun"]["run_id"] for e in EVENTS if "airflow" in e["run"]["facets"]}
    return run_id


def _ol_run_id(job_name: str) -> str:
    (run_id,) = {e["run"]["runId"] for e in EVENTS if e["job"]["name"] == job_name}
    return run_id


def _millis(event_time: str) -> int:
    return int(dt.datetime.fromisoformat(event_time).timestamp() * 1000)


def test_the_recording_is_one_airflow_3_dag_run_of_the_dag_file():
    engines = {(f["name"], f["version"], f["openlineageAdapterVersion"]) for e in EVENTS
               if (f := e["run"]["facets"].get("processing_engine"))}  # fmt: skip
    assert engines == {("Airflow", "3.3.2", "2.20.3")}
    assert {e["producer"] for e in EVENTS} == {"https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"}
    dag_events = [e for e in EVENTS if e["job"]["name"] == DAG.dag_id]
    assert [e["eventType"] for e in dag_events] == ["START", "FAIL"]
    assert EVENTS[0] is dag_events[0] and EVENTS[-1] is dag_events[1]
    for task_id in TASKS:
        states = [e["eventType"] for e in _task_events(task_id)]
        assert states == ["START", "FAIL" if task_id == DAG.failing_task else "COMPLETE"], task_id
        for event in _task_events(task_id):
            reported = ast.literal_eval(event["run"]["facets"]["airflow"]["task"]["upstream_task_ids"])
            assert set(reported) == DAG.upstream[task_id], task_id
    # the task whose events name no dataset, so its upstream task can come only from the DAG
    assert DAG.upstream[NO_DATASET_TASK]
    assert not any(e["inputs"] or e["outputs"] for e in _task_events(NO_DATASET_TASK))


# -- delivered through `bridge send` ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Delivered:
    output: str
    aspects: dict[tuple[str, str], dict[str, Any]]
    proposals: list[dict[str, Any]]

    def aspect(self, urn: str, name: str) -> dict[str, Any]:
        return self.aspects[(urn, name)]

    def urns(self, entity_type: str) -> set[str]:
        return {urn for urn, _ in self.aspects if urn.startswith(f"urn:li:{entity_type}:")}

    def run_events(self, urn: str) -> list[dict[str, Any]]:
        return [json.loads(p["aspect"]["value"]) for p in self.proposals
                if p["entityUrn"] == urn and p["aspectName"] == "dataProcessInstanceRunEvent"]  # fmt: skip


def _send(tmp: pathlib.Path, config: str | None, *, events: pathlib.Path = EVENTS_FILE,
          state: str = "state") -> Delivered:
    """``bridge send`` of ``events`` to a new GMS test server, with the state directory ``tmp/state``."""
    args = ["send", str(events), "--emitter", "rest", "--state-dir", str(tmp / state)]
    if config is not None:
        (tmp / "bridge.toml").write_text(config)
        args += ["--config", str(tmp / "bridge.toml")]
    with GmsServer(validate_aspects=True) as gms, contextlib.chdir(tmp):
        result = CliRunner().invoke(main, [*args, "--gms-server", gms.url], env=CLEAN_ENV, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return Delivered(output=result.output, aspects=dict(gms.aspects), proposals=list(gms.proposals))


class Naming:
    """The URNs each mode should give the DAG, its tasks and their runs."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        if mode == "preset":
            # the plugin: flow (airflow, <dag_id>, <cluster = prod>), job id = task id
            self.flow = str(DataFlow(env="prod", id=DAG.dag_id, orchestrator="airflow").urn)
        else:
            # DataHub's OpenLineage converter (the bridge's default): cluster = the OpenLineage
            # namespace, flow id = the job name up to its first dot, job id = the whole job name
            self.flow = str(DataFlowUrn.create_from_ids("airflow", DAG.dag_id, NAMESPACE))

    def job(self, task_id: str) -> str:
        job_id = task_id if self.mode == "preset" else f"{DAG.dag_id}.{task_id}"
        return str(DataJobUrn.create_from_ids(data_flow_urn=self.flow, job_id=job_id))

    def task_run(self, task_id: str) -> str:
        if self.mode == "preset":
            job = DataJob(id=task_id, flow_urn=DataFlowUrn.from_string(self.flow))
            return str(DataProcessInstance.from_datajob(datajob=job, id=f"{DAG.dag_id}_{task_id}_{_dag_run_id()}").urn)
        return f"urn:li:dataProcessInstance:{_ol_run_id(f'{DAG.dag_id}.{task_id}')}"

    def dag_template(self) -> str:
        """What the DAG run is a run of: the flow for the plugin, the DAG's own job for the converter."""
        if self.mode == "preset":
            return self.flow
        return str(DataJobUrn.create_from_ids(data_flow_urn=self.flow, job_id=DAG.dag_id))

    def query_job(self) -> str:
        """The SQL hook query's job: in the DAG's flow either way."""
        job_id = "export_report.query.1" if self.mode == "preset" else QUERY_JOB
        return str(DataJobUrn.create_from_ids(data_flow_urn=self.flow, job_id=job_id))

    def dag_run(self) -> str:
        # both modes: the DAG run keeps its OpenLineage run id (the plugin's listener writes none)
        return f"urn:li:dataProcessInstance:{_ol_run_id(DAG.dag_id)}"


MODES = {"converter": None, "preset": f'[translator]\ncompat = "{PRESET}"\n'}


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> dict[str, Delivered]:
    """The recording sent once without and once with the preset."""
    return {mode: _send(tmp_path_factory.mktemp(mode), config) for mode, config in MODES.items()}


@pytest.fixture(params=sorted(MODES))
def sent(request, deliveries) -> tuple[Naming, Delivered]:
    return Naming(request.param), deliveries[request.param]


@pytest.fixture()
def preset(deliveries) -> Delivered:
    return deliveries["preset"]


def test_every_event_is_delivered_and_accepted(sent):
    _, delivered = sent
    assert f"events read: {len(EVENTS)}, rejected: 0," in delivered.output


def test_tags_are_the_dags_tags_once_on_the_flow_and_every_task(sent):
    naming, delivered = sent
    # generate_dataflow / generate_datajob: tags.update(dag.tags) -> one urn:li:tag:<tag> each
    expected = {make_tag_urn(t) for t in DAG.tags}
    assert expected == {"urn:li:tag:sales", "urn:li:tag:daily"}
    assert {t["tag"] for t in delivered.aspect(naming.flow, "globalTags")["tags"]} == expected
    for task_id in TASKS:
        assert {t["tag"] for t in delivered.aspect(naming.job(task_id), "globalTags")["tags"]} == expected


def test_each_tasks_upstream_tasks_are_the_dags_dependencies(sent):
    naming, delivered = sent
    for task_id in TASKS:
        io = delivered.aspects.get((naming.job(task_id), "dataJobInputOutput"))
        expected = {naming.job(t) for t in DAG.upstream[task_id]}
        assert job_edges(io, "inputDatajobEdges") == expected, task_id


def test_a_task_whose_events_name_no_dataset_keeps_its_upstream_task_and_gets_no_dataset(sent):
    naming, delivered = sent
    io = delivered.aspect(naming.job(NO_DATASET_TASK), "dataJobInputOutput")
    (upstream,) = DAG.upstream[NO_DATASET_TASK]
    assert job_edges(io, "inputDatajobEdges") == {naming.job(upstream)}
    assert not job_edges(io, "inputDatasetEdges") and not job_edges(io, "outputDatasetEdges")


def test_the_flow_is_described_by_the_dags_description_and_doc_md(sent):
    naming, delivered = sent
    plugin = DataFlow(env="prod", id=DAG.dag_id, orchestrator="airflow",
                      description="\n\n".join(filter(None, [DAG.description, DAG.doc_md])))  # fmt: skip
    info = delivered.aspect(naming.flow, "dataFlowInfo")
    assert (info["name"], info["description"]) == (DAG.dag_id, plugin.description)


def test_owners_are_the_dags_on_the_flow_and_each_tasks_own_on_its_job(sent):
    naming, delivered = sent

    def owners(urn: str) -> set[str]:
        return {o["owner"] for o in delivered.aspect(urn, "ownership")["owners"]}

    assert owners(naming.flow) == {make_user_urn(o) for o in {DAG.owner, *DAG.task_owners.values()}}
    for task_id in TASKS:
        assert owners(naming.job(task_id)) == {make_user_urn(DAG.task_owners[task_id])}, task_id


def test_every_run_ends_with_its_duration(sent):
    naming, delivered = sent
    for task_id in TASKS:
        points = delivered.run_events(naming.task_run(task_id))
        (start,) = [p for p in points if p["status"] == "STARTED"]
        (end,) = [p for p in points if p["status"] == "COMPLETE"]
        events = _task_events(task_id)
        assert (start["timestampMillis"], end["timestampMillis"]) == tuple(_millis(e["eventTime"]) for e in events)
        # Airflow 3 reports no task duration: the time between the task's START and its end
        assert end["durationMillis"] == end["timestampMillis"] - start["timestampMillis"] > 0, task_id
    (dag_end,) = [p for p in delivered.run_events(naming.dag_run()) if p["status"] == "COMPLETE"]
    reported = EVENTS[-1]["run"]["facets"]["airflowDagRun"]["dagRun"]["duration"]  # seconds
    assert dag_end["durationMillis"] == round(reported * 1000)


def test_the_failed_task_and_the_failed_dag_run(sent):
    naming, delivered = sent
    for task_id in TASKS:
        (end,) = [p for p in delivered.run_events(naming.task_run(task_id)) if p["status"] == "COMPLETE"]
        failed = task_id == DAG.failing_task
        assert end["result"] == ({"type": "FAILURE", "nativeResultType": "FAIL"} if failed
                                 else {"type": "SUCCESS", "nativeResultType": "COMPLETE"}), task_id  # fmt: skip
    properties = delivered.aspect(naming.task_run(DAG.failing_task), "dataProcessInstanceProperties")
    assert properties["customProperties"]["errorMessage"] == DAG.failure_message
    assert properties["customProperties"]["errorStackTrace"].rstrip().endswith(
        f"RuntimeError: {DAG.failure_message}")
    (dag_end,) = [p for p in delivered.run_events(naming.dag_run()) if p["status"] == "COMPLETE"]
    assert dag_end["result"] == {"type": "FAILURE", "nativeResultType": "FAIL"}


def test_task_runs_are_runs_of_their_task_under_the_dag_run(sent):
    naming, delivered = sent
    for task_id in TASKS:
        relationships = delivered.aspect(naming.task_run(task_id), "dataProcessInstanceRelationships")
        assert relationships["parentTemplate"] == naming.job(task_id)
        assert relationships["parentInstance"] == naming.dag_run()
    dag_run = delivered.aspect(naming.dag_run(), "dataProcessInstanceRelationships")
    assert dag_run["parentTemplate"] == naming.dag_template() and "parentInstance" not in dag_run


POSTGRES = {t: make_dataset_urn("postgres", f"sales.public.{t}", "PROD") for t in ("customers", "orders", "customer_revenue")}
REPORT = make_dataset_urn("file", "/tmp/sales_reports/customer_revenue.csv", "PROD")
# what each task reads and writes, from the DAG's SQL and Assets (DataHub's converter names a
# postgres:// dataset by its OpenLineage name, <database>.<schema>.<table>, on platform postgres)
DATASETS = {
    "load_customers": (set(), {POSTGRES["customers"]}),
    "load_orders": (set(), {POSTGRES["orders"]}),
    # INSERT ... SELECT ... FROM orders JOIN customers, then SELECT COUNT(*) FROM customer_revenue
    "join_sales": ({POSTGRES["orders"], POSTGRES["customers"], POSTGRES["customer_revenue"]},
                   {POSTGRES["customer_revenue"]}),  # fmt: skip
    "check_revenue": (set(), set()),
    "export_report": ({POSTGRES["customer_revenue"]}, {REPORT}),  # Asset inlet / outlet
    "notify_finance": ({REPORT}, set()),
}


def test_sql_and_asset_datasets_are_datahubs_dataset_urns(sent):
    naming, delivered = sent
    assert set(DATASETS) == set(TASKS)
    for task_id, (inputs, outputs) in DATASETS.items():
        io = delivered.aspects.get((naming.job(task_id), "dataJobInputOutput"))
        assert job_edges(io, "inputDatasetEdges") == inputs, task_id
        assert job_edges(io, "outputDatasetEdges") == outputs, task_id
    assert delivered.urns("dataset") == {*POSTGRES.values(), REPORT}
    # the join's output schema, as the provider read it from information_schema
    fields = delivered.aspect(POSTGRES["customer_revenue"], "schemaMetadata")["fields"]
    assert [f["fieldPath"] for f in fields] == ["region", "customers", "revenue"]


# -- the preset: exactly the plugin's flow, jobs and task runs ------------------------------------


def test_under_the_preset_the_flow_jobs_and_task_runs_are_the_plugins(preset):
    naming = Naming("preset")
    flow = DataFlow(env="prod", id=DAG.dag_id, orchestrator="airflow")
    assert preset.urns("dataFlow") == {str(flow.urn)} == {naming.flow}
    plugin_jobs = {task_id: DataJob(id=task_id, flow_urn=flow.urn) for task_id in TASKS}
    # no job for the DAG itself; the SQL hook query is a job of the DAG's flow, not a flow of its own
    query = str(DataJobUrn.create_from_ids(data_flow_urn=str(flow.urn), job_id="export_report.query.1"))
    assert preset.urns("dataJob") == {str(j.urn) for j in plugin_jobs.values()} | {query}
    for task_id, job in plugin_jobs.items():
        dpi = DataProcessInstance.from_datajob(datajob=job, id=f"{DAG.dag_id}_{task_id}_{_dag_run_id()}")
        assert str(dpi.urn) == naming.task_run(task_id)
        assert preset.aspect(str(dpi.urn), "dataProcessInstanceProperties")["name"] == dpi.id
        expected = {str(DataJobUrn.create_from_ids(job_id=t, data_flow_urn=str(flow.urn))) for t in DAG.upstream[task_id]}
        assert job_edges(preset.aspects.get((str(job.urn), "dataJobInputOutput")), "inputDatajobEdges") == expected
    assert preset.urns("dataProcessInstance") == {naming.task_run(t) for t in TASKS} | {
        naming.dag_run(), f"urn:li:dataProcessInstance:{_ol_run_id(QUERY_JOB)}"}


def test_under_the_preset_a_child_query_does_not_speak_for_the_flow(preset):
    info = preset.aspect(Naming("preset").flow, "dataFlowInfo")
    assert info["description"] == "\n\n".join([DAG.description, DAG.doc_md])


def test_one_flow_holding_the_tasks_the_query_and_in_the_converters_naming_the_dag(sent):
    naming, delivered = sent
    assert delivered.urns("dataFlow") == {naming.flow}
    jobs = {naming.job(t) for t in TASKS} | {naming.query_job()}
    if naming.mode == "converter":
        jobs.add(naming.dag_template())  # the converter's job for the DAG itself
    assert delivered.urns("dataJob") == jobs
    assert delivered.urns("dataProcessInstance") == {naming.task_run(t) for t in TASKS} | {
        naming.dag_run(), f"urn:li:dataProcessInstance:{_ol_run_id(QUERY_JOB)}"}


def test_under_the_preset_the_query_run_is_a_child_of_its_task_run(preset):
    relationships = preset.aspect(f"urn:li:dataProcessInstance:{_ol_run_id(QUERY_JOB)}",
                                  "dataProcessInstanceRelationships")  # fmt: skip
    assert relationships["parentInstance"] == Naming("preset").task_run("export_report")


def _query_parent(tmp: pathlib.Path, state: str, jobs: list[str]) -> str | None:
    """``bridge send`` of the events of ``jobs`` under the preset, with the state directory ``state``;
    the query run's ``parentInstance`` in GMS (None: not written)."""
    events = tmp / f"{len(list(tmp.glob('*.jsonl')))}.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS if e["job"]["name"] in jobs))
    delivered = _send(tmp, MODES["preset"], events=events, state=state)
    value = delivered.aspects.get((f"urn:li:dataProcessInstance:{_ol_run_id(QUERY_JOB)}",
                                   "dataProcessInstanceRelationships"))  # fmt: skip
    return value["parentInstance"] if value else None


def test_the_query_finds_its_task_run_after_a_restart(tmp_path):
    """The task's events and the query's reach the bridge in two runs (a restart, another worker sharing
    the state): the query still names its task run as the plugin does."""
    task_run, plain = Naming("preset").task_run("export_report"), Naming("converter").task_run("export_report")
    assert task_run != plain
    # nothing saw the task run: the query can only name it by its OpenLineage run id
    assert _query_parent(tmp_path, "alone", [QUERY_JOB]) == plain
    assert _query_parent(tmp_path, "shared", [f"{DAG.dag_id}.export_report"]) is None
    assert _query_parent(tmp_path, "shared", [QUERY_JOB]) == task_run
