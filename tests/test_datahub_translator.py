"""Behaviour of the DataHub translator on hand-built neutral events."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bridge.model import (
    ColumnLineage,
    Dataset,
    DatasetEvent,
    DatasetStatistics,
    ErrorInfo,
    InputField,
    Job,
    JobEvent,
    Owner,
    ParentRun,
    Run,
    RunEvent,
    SchemaField,
    Symlink,
    Tag,
)
from tests._datahub_reference import check_mcp
from tests.servers.gms_state import held
from translators.datahub import DataHubTranslator, TranslatorConfig, orchestrator_from_producer


def translate(event, config=None):
    """The event's aspects as whole values; how each is written (PATCH, CREATE...) is tested in test_writes.py."""
    return DataHubTranslator(config).translate_aspects(event)


T0 = dt.datetime(2024, 11, 26, 13, 5, 23, 809955, tzinfo=dt.UTC)
T0_MS = 1732626323809
SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark"
PG = "postgres://db:5432"


def run_event(
    event_type: str = "COMPLETE",
    *,
    job: Job | None = None,
    run: Run | None = None,
    inputs: tuple[Dataset, ...] = (),
    outputs: tuple[Dataset, ...] = (),
    producer: str = SPARK,
) -> RunEvent:
    return RunEvent(
        event_type=event_type,
        event_time=T0,
        run=run or Run(run_id="r-1"),
        job=job or Job(namespace="etl", name="app.step"),
        producer=producer,
        inputs=inputs,
        outputs=outputs,
    )


def by_name(mcps, urn_part: str = "") -> dict[str, dict]:
    return {m.aspect_name: m.aspect_value for m in mcps if urn_part in m.entity_urn}


def aspects_of(mcps, entity_type: str) -> dict[str, dict]:
    return {m.aspect_name: m.aspect_value for m in mcps if m.entity_type == entity_type}


@pytest.mark.parametrize(
    ("event_type", "status", "result"),
    [
        ("START", "STARTED", None),
        ("RUNNING", "STARTED", None),
        ("COMPLETE", "COMPLETE", "SUCCESS"),
        ("FAIL", "COMPLETE", "FAILURE"),
        ("ABORT", "COMPLETE", "SKIPPED"),
    ],
)
def test_run_states(event_type, status, result):
    mcps = translate(run_event(event_type))
    run = aspects_of(mcps, "dataProcessInstance")["dataProcessInstanceRunEvent"]
    assert run["status"] == status and run["timestampMillis"] == T0_MS and run["attempt"] == 1
    if result is None:
        assert "result" not in run
    else:
        assert run["result"] == {"type": result, "nativeResultType": event_type}
    for m in mcps:
        check_mcp(m)


def test_other_event_carries_metadata_but_no_run_state():
    mcps = translate(run_event("OTHER"))
    dpi = aspects_of(mcps, "dataProcessInstance")
    assert "dataProcessInstanceRunEvent" not in dpi
    assert dpi["dataProcessInstanceProperties"]["customProperties"]["eventType"] == "OTHER"


def test_failure_message_and_stack_go_to_run_properties():
    run = Run(run_id="r-9", error=ErrorInfo(message="boom", stack_trace="Traceback...", language="PYTHON"))
    props = aspects_of(translate(run_event("FAIL", run=run)), "dataProcessInstance")[
        "dataProcessInstanceProperties"
    ]["customProperties"]
    assert (props["errorMessage"], props["errorStackTrace"], props["errorLanguage"]) == (
        "boom", "Traceback...", "PYTHON",
    )  # fmt: skip


def test_long_values_are_cut():
    run = Run(run_id="r", error=ErrorInfo(message="x" * 50))
    config = TranslatorConfig(max_property_length=10)
    props = aspects_of(translate(run_event("FAIL", run=run), config), "dataProcessInstance")[
        "dataProcessInstanceProperties"
    ]["customProperties"]
    assert props["errorMessage"] == "x" * 9 + "\u2026"


def test_identity_follows_datahubs_converter():
    mcps = translate(run_event(job=Job(namespace="default", name="app.execute_insert.t2")))
    job = next(m for m in mcps if m.entity_type == "dataJob")
    assert job.entity_urn == "urn:li:dataJob:(urn:li:dataFlow:(spark,app,default),app.execute_insert.t2)"
    info = aspects_of(mcps, "dataJob")["dataJobInfo"]
    assert info["name"] == "execute_insert.t2" and info["type"] == {"string": "spark"}
    assert info["flowUrn"] == "urn:li:dataFlow:(spark,app,default)"
    dpi = next(m for m in mcps if m.entity_type == "dataProcessInstance")
    assert dpi.entity_urn == "urn:li:dataProcessInstance:r-1"


def test_parent_run_is_linked_run_to_run():
    parent = ParentRun(
        run_id="p-1", job_namespace="etl", job_name="app", root_run_id="root-1", root_job_name="app"
    )
    rel = aspects_of(translate(run_event(run=Run(run_id="c-1", parent=parent))), "dataProcessInstance")[
        "dataProcessInstanceRelationships"
    ]
    assert rel == {
        "upstreamInstances": [],
        "parentTemplate": "urn:li:dataJob:(urn:li:dataFlow:(spark,app,etl),app.step)",
        "parentInstance": "urn:li:dataProcessInstance:p-1",
    }


def test_a_run_named_as_its_own_parent_gets_no_parent_instance():
    # Some producers name the run itself as its parent (a Spark application's own event); DataHub would
    # show a run that is its own parent.
    parent = ParentRun(run_id="c-1", job_namespace="etl", job_name="app", root_run_id="c-1", root_job_name="app")
    mcps = translate(run_event(run=Run(run_id="c-1", parent=parent)))
    rel = aspects_of(mcps, "dataProcessInstance")["dataProcessInstanceRelationships"]
    assert "parentInstance" not in rel and rel["parentTemplate"].endswith(",app.step)")
    for mcp in mcps:
        check_mcp(mcp)


@pytest.mark.parametrize(
    ("naming", "flow_id"),
    [
        ("prefix", "dag"),
        ("parent", "parent_job"),
        ("root", "root_job"),
        ("namespace", "etl"),
        ("job", "dag.task"),
    ],
)
def test_flow_naming(naming, flow_id):
    parent = ParentRun(
        run_id="p", job_namespace="etl", job_name="parent_job", root_run_id="q", root_job_name="root_job"
    )
    event = run_event(job=Job(namespace="etl", name="dag.task"), run=Run(run_id="r", parent=parent))
    translator = DataHubTranslator(TranslatorConfig(flow_naming=naming))
    assert translator.get_flow_urn(event) == f"urn:li:dataFlow:(spark,{flow_id},etl)"


def test_flow_naming_by_function_and_cluster_and_orchestrator_overrides():
    config = TranslatorConfig(flow_naming=lambda ev: ev.job.name.upper(), cluster="prod", orchestrator="mywf")
    assert DataHubTranslator(config).get_flow_urn(run_event()) == "urn:li:dataFlow:(mywf,APP.STEP,prod)"


def test_flow_own_event_speaks_for_the_flow():
    job = Job(namespace="airflow", name="dag", description="Daily orders", owners=(Owner(name="user:ann"),),
              tags=(Tag(key="tier", value="gold"),))  # fmt: skip
    flow = aspects_of(
        translate(run_event("START", job=job, producer="https://github.com/apache/airflow/")), "dataFlow"
    )
    assert flow["dataFlowInfo"]["name"] == "dag" and flow["dataFlowInfo"]["description"] == "Daily orders"
    assert flow["ownership"]["owners"][0]["owner"] == "urn:li:corpuser:ann"
    assert flow["globalTags"] == {"tags": [{"tag": "urn:li:tag:tier:gold"}]}
    assert flow["browsePathsV2"] == {"path": [{"id": "airflow"}]}


def test_child_event_names_its_flow_and_leaves_the_rest_to_the_flows_own_job():
    # the DAG's own event never arrived: the flow still gets its name from its task's event
    parent = ParentRun(run_id="p", job_namespace="airflow", job_name="dag")
    job = Job(namespace="airflow", name="dag.task", description="a task", owners=(Owner(name="bob"),))
    mcps = translate(run_event(job=job, run=Run(run_id="r", parent=parent)))
    flow = aspects_of(mcps, "dataFlow")
    assert flow["dataFlowInfo"] == {"customProperties": {"namespace": "airflow"}, "name": "dag"}
    assert "ownership" not in flow and "globalTags" not in flow
    # the DAG's own event described the flow: the task's patch, landing after it, keeps that
    dag = run_event(job=Job(namespace="airflow", name="dag", description="the DAG", owners=(Owner(name="ann"),)),
                    run=Run(run_id="p"))
    task = run_event(job=job, run=Run(run_id="r", parent=parent))
    flow_urn = next(m.entity_urn for m in mcps if m.entity_type == "dataFlow")
    shown = held([*DataHubTranslator().translate(dag), *DataHubTranslator().translate(task)])  # as written
    assert shown[(flow_urn, "dataFlowInfo")]["description"] == "the DAG"
    assert shown[(flow_urn, "dataFlowInfo")]["name"] == "dag"
    assert shown[(flow_urn, "ownership")]["owners"][0]["owner"] == "urn:li:corpuser:ann"
    job_aspects = aspects_of(mcps, "dataJob")
    assert job_aspects["dataJobInfo"]["description"] == "a task"
    assert job_aspects["ownership"]["owners"][0]["owner"] == "urn:li:corpuser:bob"


def test_orphan_flow_gets_a_minimal_info():
    flow = aspects_of(translate(run_event(job=Job(namespace="etl", name="a.b"))), "dataFlow")
    assert flow["dataFlowInfo"] == {"customProperties": {"namespace": "etl"}, "name": "a"}
    assert "ownership" not in flow


def test_platform_instance_of_the_orchestrator():
    mcps = translate(run_event(), TranslatorConfig(platform_instance="eu"))
    instance = "urn:li:dataPlatformInstance:(urn:li:dataPlatform:spark,eu)"
    for entity_type in ("dataFlow", "dataJob", "dataProcessInstance"):
        assert aspects_of(mcps, entity_type)["dataPlatformInstance"] == {
            "platform": "urn:li:dataPlatform:spark", "instance": instance,
        }  # fmt: skip
    flow_urns = {m.entity_urn for m in mcps if m.entity_type == "dataFlow"}
    assert flow_urns == {"urn:li:dataFlow:(spark,app,eu)"}
    for m in mcps:
        check_mcp(m)


@pytest.mark.parametrize(
    ("producer", "orchestrator"),
    [
        (SPARK, "spark"),
        ("https://github.com/apache/airflow/tree/providers-openlineage/1.14.0", "airflow"),
        ("https://github.com/trinodb/trino/432", "trino"),
        ("https://github.com/acme/tools/blob/v1/Client", "client"),
        ("producer", "producer"),
        ("", "openlineage"),
        ("https://example.com/", "openlineage"),
        ("not a uri at all (really)", "not a uri at all (really)"),
    ],
)
def test_unknown_producers_never_fail(producer, orchestrator):
    assert orchestrator_from_producer(producer) == orchestrator
    mcps = translate(run_event(producer=producer))
    for m in mcps:
        check_mcp(m)


def test_processing_engine_and_integration_win_over_producer():
    event = run_event(run=Run(run_id="r", processing_engine="Airflow"), producer="x")
    assert DataHubTranslator().get_orchestrator(event) == "airflow"
    event = run_event(job=Job(namespace="n", name="j", integration="DBT"), producer="x")
    assert DataHubTranslator().get_orchestrator(event) == "dbt"


def test_owners_and_types():
    tr = DataHubTranslator(TranslatorConfig(default_owner_type="DATA_STEWARD"))
    assert tr.get_owner(Owner(name="user:ann", type="BUSINESS_OWNER")) == (
        "urn:li:corpuser:ann",
        "BUSINESS_OWNER",
    )
    assert tr.get_owner(Owner(name="team:bi")) == ("urn:li:corpGroup:bi", "DATA_STEWARD")
    assert tr.get_owner(Owner(name="urn:li:corpGroup:x", type="maintainer")) == (
        "urn:li:corpGroup:x",
        "DATA_STEWARD",
    )
    assert tr.get_owner(Owner(name="carl", type="technical owner")) == (
        "urn:li:corpuser:carl",
        "TECHNICAL_OWNER",
    )


def orders(**kw) -> Dataset:
    fields = (SchemaField(name="id", type="int"), SchemaField(name="amount", type="decimal(10,2)"))
    return Dataset(namespace=PG, name="shop.public.orders", fields=fields, **kw)


def raw() -> Dataset:
    return Dataset(namespace=PG, name="shop.public.raw", fields=(SchemaField(name="id", type="int"),))


def test_datasets_and_column_lineage():
    lineage = ColumnLineage(
        output_field="id", inputs=(InputField(namespace=PG, name="shop.public.raw", field="id"),)
    )
    event = run_event(inputs=(raw(),), outputs=(orders(column_lineage=(lineage,),
                                                       output_statistics=DatasetStatistics(row_count=12)),))  # fmt: skip
    mcps = translate(event, TranslatorConfig(emit_upstream_lineage=True))
    for m in mcps:
        check_mcp(m)
    out_urn = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.orders,PROD)"
    in_urn = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.raw,PROD)"
    io = aspects_of(mcps, "dataJob")["dataJobInputOutput"]
    assert io["inputDatasets"] == [in_urn] and io["outputDatasets"] == [out_urn]
    assert io["fineGrainedLineages"] == [{
        "upstreamType": "FIELD_SET", "upstreams": [f"urn:li:schemaField:({in_urn},id)"],
        "downstreamType": "FIELD", "downstreams": [f"urn:li:schemaField:({out_urn},id)"], "confidenceScore": 1.0,
    }]  # fmt: skip
    out = by_name(mcps, "shop.public.orders")
    assert out["upstreamLineage"]["upstreams"][0]["dataset"] == in_urn
    assert out["upstreamLineage"]["fineGrainedLineages"] == io["fineGrainedLineages"]
    assert out["operation"] == {"timestampMillis": T0_MS, "operationType": "UPDATE",
                                "lastUpdatedTimestamp": T0_MS, "numAffectedRows": 12}  # fmt: skip
    types = [f["type"]["type"] for f in out["schemaMetadata"]["fields"]]
    assert types == [{"com.linkedin.schema.NumberType": {}}] * 2
    assert "upstreamLineage" not in by_name(mcps, "shop.public.raw")
    # No description: datasetProperties would only erase what DataHub's native source wrote.
    assert "datasetProperties" not in out


def test_column_lineage_inputs_follow_symlinks():
    source = Dataset(namespace="hdfs://nn", name="/warehouse/raw",
                     symlinks=(Symlink(namespace="hive://meta:9083", name="db.raw", type="TABLE"),))  # fmt: skip
    lineage = ColumnLineage(
        output_field="a", inputs=(InputField(namespace="hdfs://nn", name="/warehouse/raw", field="a"),)
    )
    event = run_event(
        inputs=(source,), outputs=(Dataset(namespace="hive", name="db.out", column_lineage=(lineage,)),)
    )
    io = aspects_of(translate(event), "dataJob")["dataJobInputOutput"]
    assert io["inputDatasets"] == ["urn:li:dataset:(urn:li:dataPlatform:hive,db.raw,PROD)"]
    assert io["fineGrainedLineages"][0]["upstreams"] == [
        "urn:li:schemaField:(urn:li:dataset:(urn:li:dataPlatform:hive,db.raw,PROD),a)"
    ]


def test_switches_turn_parts_off():
    lineage = ColumnLineage(
        output_field="id", inputs=(InputField(namespace=PG, name="shop.public.raw", field="id"),)
    )
    event = run_event(inputs=(raw(),), outputs=(orders(column_lineage=(lineage,)),))
    mcps = translate(event, TranslatorConfig(materialize_datasets=False, emit_column_lineage=False))
    assert not [m for m in mcps if m.entity_type == "dataset"]
    assert "fineGrainedLineages" not in aspects_of(mcps, "dataJob")["dataJobInputOutput"]


def test_raw_facets_are_kept_when_asked():
    run = Run(run_id="r", facets={"acme_cost": {"dollars": 3}})
    job = Job(namespace="n", name="j", facets={"acme_team": {"name": "bi"}})
    event = run_event(
        run=run, job=job, outputs=(Dataset(namespace=PG, name="t", facets={"acme_q": {"ok": True}}),)
    )
    mcps = translate(event, TranslatorConfig(capture_raw_facets=True))
    assert (
        aspects_of(mcps, "dataJob")["dataJobInfo"]["customProperties"]["facet.acme_team"] == '{"name":"bi"}'
    )
    props = aspects_of(mcps, "dataProcessInstance")["dataProcessInstanceProperties"]["customProperties"]
    assert props["facet.acme_cost"] == '{"dollars":3}'
    assert (
        aspects_of(mcps, "dataset")["datasetProperties"]["customProperties"]["facet.acme_q"] == '{"ok":true}'
    )
    assert "facet.acme_cost" not in str(translate(event))  # off by default


def test_airflow_task_instance_gives_duration_and_log_link():
    url = "http://airflow.example/log?task_id=t"
    run = Run(run_id="r", facets={"airflow": {"taskInstance": {"duration": 4.0589, "log_url": url}}})
    done = aspects_of(translate(run_event("COMPLETE", run=run)), "dataProcessInstance")
    assert done["dataProcessInstanceRunEvent"]["durationMillis"] == 4059
    assert done["dataProcessInstanceRunEvent"]["externalUrl"] == url
    assert done["dataProcessInstanceProperties"]["externalUrl"] == url
    started = aspects_of(translate(run_event("START", run=run)), "dataProcessInstance")
    assert "durationMillis" not in started["dataProcessInstanceRunEvent"]


def test_airflow_try_number_is_the_attempt():
    run = Run(run_id="r", facets={"airflow": {"taskInstance": {"try_number": 3}}})
    assert (
        aspects_of(translate(run_event(run=run)), "dataProcessInstance")["dataProcessInstanceRunEvent"][
            "attempt"
        ]
        == 3
    )


def test_job_event_has_no_run_and_dataset_event_only_the_dataset():
    job_event = JobEvent(event_time=T0, job=Job(namespace="n", name="j"), producer="p", outputs=(orders(),))
    mcps = translate(job_event)
    assert {m.entity_type for m in mcps} == {"dataFlow", "dataJob", "dataset"}
    dataset_event = DatasetEvent(event_time=T0, dataset=orders(description="Orders"), producer="p")
    mcps = translate(dataset_event, TranslatorConfig(materialize_datasets=False))
    assert {m.entity_type for m in mcps} == {"dataset"}
    assert aspects_of(mcps, "dataset")["datasetProperties"]["description"] == "Orders"
    for m in mcps:
        check_mcp(m)


def test_users_customise_by_subclassing():
    class MyTranslator(DataHubTranslator):
        def get_flow_id(self, event):
            return "team-" + event.job.namespace

        def get_run_url(self, event):
            return f"https://scheduler.example/runs/{event.run.run_id}"

    mcps = MyTranslator().translate_aspects(run_event())
    assert aspects_of(mcps, "dataJob")["dataJobInfo"]["flowUrn"] == "urn:li:dataFlow:(spark,team-etl,etl)"
    props = aspects_of(mcps, "dataProcessInstance")["dataProcessInstanceProperties"]
    assert props["externalUrl"] == "https://scheduler.example/runs/r-1"


def test_translator_rejects_other_objects():
    with pytest.raises(TypeError, match="RunEvent, JobEvent or DatasetEvent"):
        DataHubTranslator().translate({"eventType": "START"})


def test_event_without_any_time_is_an_invalid_event_naming_event_time():
    import attrs

    from bridge.errors import InvalidEventError

    with pytest.raises(InvalidEventError) as info:
        translate(attrs.evolve(run_event(), event_time=None))
    assert info.value.field == "eventTime"


def _airflow(name: str):
    import json
    from pathlib import Path

    from translators.openlineage import parse_event

    path = Path(__file__).parent / "corpus" / "openlineage" / "airflow" / name
    return parse_event(json.loads(path.read_text()))


def test_airflow_upstream_tasks_are_input_jobs_with_the_urns_of_their_own_events():
    translator = DataHubTranslator()
    # download_to_data (COMPLETE, reads a GCS file) runs after rewrite_task and copy_task.
    io = by_name(translator.translate_aspects(_airflow("line_29.json")))["dataJobInputOutput"]
    upstream_own_urns = {
        next(m.entity_urn for m in translator.translate(_airflow(name)) if m.aspect_name == "dataJobInfo")
        for name in ("line_22.json", "line_23.json")  # rewrite_task's and copy_task's own START events
    }
    assert set(io["inputDatajobs"]) == upstream_own_urns
    assert io["inputDatasets"]  # sent together with the task's datasets
    for mcp in translator.translate(_airflow("line_29.json")):  # as written: a patch GMS accepts
        check_mcp(mcp)


def test_airflow_upstream_tasks_without_datasets_are_patched_alone():
    # BQ.copy's START has an upstream task (upload) but no datasets: only that edge is added,
    # nothing that could erase lineage (issue 17: the task graph must not lose edges).
    translator = DataHubTranslator()
    (io,) = [m for m in translator.translate(_airflow("line_04.json")) if m.aspect_name == "dataJobInputOutput"]
    upload = next(m.entity_urn for m in translator.translate(_airflow("line_02.json")) if m.aspect_name == "dataJobInfo")
    assert io.change_type == "PATCH"
    assert [op["path"] for op in io.patch_ops] == [f"/inputDatajobEdges/{upload.replace('/', '~1')}"]
    check_mcp(io)


def test_airflow_upstream_task_ids_as_a_list_or_repr_and_names_that_do_not_match():
    from bridge.model import Run
    from translators.datahub.properties import airflow_upstream_jobs

    def run(task):
        return Run(run_id="r-1", facets={"airflow": {"task": task}})

    assert airflow_upstream_jobs(run({"task_id": "c", "upstream_task_ids": ["a", "b"]}), "dag.c") == ("dag.a", "dag.b")
    assert airflow_upstream_jobs(run({"task_id": "c", "upstream_task_ids": "['b', 'a', 'c']"}), "dag.c") == (
        "dag.a", "dag.b")
    assert airflow_upstream_jobs(run({"task_id": "c", "upstream_task_ids": "[]"}), "dag.c") == ()
    assert airflow_upstream_jobs(run({"task_id": "c", "upstream_task_ids": "not a list"}), "dag.c") == ()
    assert airflow_upstream_jobs(run({"task_id": "c", "upstream_task_ids": ["a"]}), "other_name") == ()
    assert airflow_upstream_jobs(Run(run_id="r-1"), "dag.c") == ()


def test_a_dropped_output_table_is_soft_deleted_and_a_read_one_is_not():
    dropped = Dataset(namespace=PG, name="shop.public.old", lifecycle_state="DROP")
    read = Dataset(namespace=PG, name="shop.public.kept", lifecycle_state="DROP")  # as an input: not this job's drop
    created = Dataset(namespace=PG, name="shop.public.new", lifecycle_state="CREATE")
    mcps = translate(run_event(inputs=(read,), outputs=(dropped, created)))
    status = {m.entity_urn.split(",")[1]: m.aspect_value for m in mcps if m.aspect_name == "status"
              and m.entity_type == "dataset"}
    assert status == {"shop.public.old": {"removed": True}, "shop.public.kept": {"removed": False},
                      "shop.public.new": {"removed": False}}
    for mcp in mcps:
        check_mcp(mcp)


def test_the_dataset_type_facet_becomes_sub_types():
    from translators.openlineage import parse_event, to_openlineage

    view = Dataset(namespace=PG, name="shop.public.v", dataset_type="VIEW", dataset_subtype="MATERIALIZED")
    table = Dataset(namespace=PG, name="shop.public.t", dataset_type="TABLE")
    event = run_event(inputs=(table,), outputs=(view,))
    sub_types = {m.entity_urn.split(",")[1]: m.aspect_value for m in translate(event)
                 if m.aspect_name == "subTypes" and m.entity_type == "dataset"}
    assert sub_types == {"shop.public.v": {"typeNames": ["View", "Materialized View"]},
                         "shop.public.t": {"typeNames": ["Table"]}}
    # Read from and written back to OpenLineage's datasetType facet.
    again = parse_event(to_openlineage(event))
    assert (again.outputs[0].dataset_type, again.outputs[0].dataset_subtype) == ("VIEW", "MATERIALIZED")
    assert to_openlineage(event)["outputs"][0]["facets"]["datasetType"]["subType"] == "MATERIALIZED"
    for mcp in translate(event):
        check_mcp(mcp)


def test_job_dependencies_become_upstream_jobs():
    facet = {"upstream": [{"job": {"namespace": "pipeline.ingest", "name": "extract.orders"}},
                          {"job": {"namespace": "etl", "name": "app.prepare"}, "run": {"runId": "r-0"}},
                          {"job": {"name": "no-namespace"}}],
             "downstream": [{"job": {"namespace": "etl", "name": "app.later"}}]}
    event = run_event(run=Run(run_id="r-1", facets={"jobDependencies": facet}))
    io = [m for m in DataHubTranslator().translate(event) if m.aspect_name == "dataJobInputOutput"]
    edges = {op["path"].split("/", 2)[2].replace("~1", "/") for m in io for op in m.patch_ops
             if op["path"].startswith("/inputDatajobEdges/")}
    assert edges == {"urn:li:dataJob:(urn:li:dataFlow:(spark,extract,pipeline.ingest),extract.orders)",
                     "urn:li:dataJob:(urn:li:dataFlow:(spark,app,etl),app.prepare)"}
    for mcp in io:
        check_mcp(mcp)


def test_environment_variables_become_run_properties_and_secrets_never_leave():
    facets = {
        "environment-variables": {"environmentVariables": [{"name": "DEPLOY_ENV", "value": "prod"},
                                                           {"name": "DB_PASSWORD", "value": "hunter2"}]},
        "spark_properties": {"properties": {"spark.master": "yarn", "spark.hadoop.fs.s3a.secret.key": "s3cr3t",
                                            "spark.hadoop.fs.s3a.access.key": "AKIA123"}},
    }
    event = run_event(run=Run(run_id="r-1", facets=facets))
    for raw in (False, True):
        mcps = translate(event, TranslatorConfig(capture_raw_facets=raw))
        props = aspects_of(mcps, "dataProcessInstance")["dataProcessInstanceProperties"]["customProperties"]
        assert props["env.DEPLOY_ENV"] == "prod" and props["env.DB_PASSWORD"] == "***"
        assert props["spark.master"] == "yarn" and props["spark.hadoop.fs.s3a.secret.key"] == "***"
        assert props["spark.hadoop.fs.s3a.access.key"] == "***"
        written = json.dumps([m.to_obj() for m in mcps])
        assert "hunter2" not in written and "s3cr3t" not in written and "AKIA123" not in written


def test_one_way_to_customise_the_dagster_translator_only_overrides_hooks():
    """Every decision is a get_* hook (or emits_job); the Dagster plugin's translator overrides those
    only, never the assembly of MCP lists, so a user's override of a hook applies to Dagster events too."""
    import inspect

    from dagster_plugin.translator import DagsterTranslator

    overridden = {name for name, value in vars(DagsterTranslator).items()
                  if inspect.isfunction(value) and not name.startswith("_") and hasattr(DataHubTranslator, name)}  # fmt: skip
    assert overridden and all(name.startswith("get_") or name == "emits_job" for name in overridden), overridden
    assert "translate_aspects" not in vars(DagsterTranslator) and "translate" not in vars(DagsterTranslator)


@pytest.mark.parametrize("config", [{}, {"compat": "datahub-airflow-plugin"}, {"flow_naming": "parent"}])
def test_flow_identity_is_worked_out_once_per_event_and_never_leaks_to_the_next(config, monkeypatch):
    """The per-event memo of orchestrator and flow: events of different flows and producers (Spark,
    Airflow as the plugin names it, dbt...), translated in turn by one translator, give what a fresh
    translator gives each; the flow naming rules run once per event."""
    import itertools
    from pathlib import Path

    from translators.datahub import jobs
    from translators.datahub.properties import airflow_upstream_jobs, dependency_upstream_jobs
    from translators.openlineage import parse_event

    root = Path(__file__).parent
    blobs = [p.read_text() for p in sorted((root / "corpus" / "openlineage").rglob("*.json"))[::6]]
    blobs += (root / "fixtures" / "airflow3" / "events.jsonl").read_text().splitlines()[::4]
    events = [parse_event(json.loads(b)) for b in blobs if b.strip()]
    assert len({(e.job.namespace, e.job.name.split(".")[0]) for e in events}) >= 5
    shared = DataHubTranslator(TranslatorConfig.from_dict(config))
    for a, b in itertools.pairwise(events + events[:1]):
        for event in (a, b, a):
            fresh = DataHubTranslator(TranslatorConfig.from_dict(config)).translate(event)
            assert [m.to_obj() for m in shared.translate(event)] == [m.to_obj() for m in fresh]
    # once for the event, and once for each upstream job it names (the same rules name both ends)
    compat = DataHubTranslator(TranslatorConfig.from_dict(config)).get_compat
    upstreams = lambda e: (airflow_upstream_jobs(e.run, e.job.name) + dependency_upstream_jobs(e.run)  # noqa: E731
                           if isinstance(e, RunEvent) else [])  # fmt: skip
    expected = sum(1 + len(upstreams(e)) for e in events if compat(e) is None)
    calls = []
    naming = jobs.flow_naming_of
    monkeypatch.setattr(jobs, "flow_naming_of", lambda *args: calls.append(1) or naming(*args))
    for event in events:
        shared.translate(event)
    assert len(calls) == expected


@pytest.mark.parametrize(("hook", "value"), [("get_attempt", 1.5), ("get_attempt", True),
                                             ("get_duration_ms", float("inf")), ("get_duration_ms", 2.0)])
def test_a_hook_giving_a_run_number_that_is_not_whole_is_named(hook, value):
    from bridge.errors import InvalidEventError

    translator = type("Odd", (DataHubTranslator,), {hook: lambda self, event: value})()
    with pytest.raises(InvalidEventError, match="must return a whole number") as raised:
        translator.translate(run_event("COMPLETE"))
    assert raised.value.field == hook
