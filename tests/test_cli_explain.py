"""``bridge explain``: the URN of each job and dataset and the rule that chose it; which URNs GMS lacks.

The rules are checked one by one on datasets written for them; the URNs against what
``bridge translate`` writes for the whole corpus; the GMS lookup against the GMS test server,
whose key-aspect answers DataHub's own client (``DataHubGraph.exists``) is shown to agree with.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.model import Dataset, EventType, Job, ParentRun, Run, RunEvent, Symlink
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.datahub.explain import explain_dataset, explain_job
from translators.datahub.platform_config import PlatformConfig

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
SHAKESPEARE = CORPUS / "spark_dataproc_bigquery_shakespare"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def why(namespace: str, name: str, symlinks=(), **settings):
    config = PlatformConfig.from_dict(settings)
    translator = DataHubTranslator(TranslatorConfig(platforms=config))
    dataset = Dataset(namespace=namespace, name=name, symlinks=symlinks)
    return explain_dataset(dataset, translator.get_dataset_urn(dataset), config)


# -- each dataset rule -------------------------------------------------------------


def test_namespace_as_platform():
    got = why("bigquery", "proj.ds.t")
    assert (got.platform, got.dataset_name, got.env, got.platform_instance) == ("bigquery", "proj.ds.t", "PROD", None)
    assert got.rule == "the namespace bigquery is the platform"
    assert got.env_rule == "the translator's env (default)"
    assert got.instance_rule == "none set"
    assert got.urn == "urn:li:dataset:(urn:li:dataPlatform:bigquery,proj.ds.t,PROD)"


def test_uri_scheme_path_and_path_spec():
    got = why("postgres://db:5432", "shop.public.orders")
    assert got.rule.startswith("URI namespace: the scheme postgres makes platform postgres")
    got = why("gs://bucket", "a/b.csv")
    assert (got.platform, got.dataset_name) == ("gcs", "bucket/a/b.csv")
    assert got.rule.startswith("path: the URI scheme gs:// makes platform gcs")
    got = why("s3://bucket", "/orders/2024/x.parquet",
              path_specs=[{"platform": "s3", "path_spec_list": ["s3://bucket/{table}/*"], "platform_instance": "lake"}])
    assert got.dataset_name == "bucket/orders"
    assert "cut at {table} by a path spec" in got.rule
    assert (got.platform_instance, got.instance_rule) == ("lake", "the path spec of platform s3")


def test_symlink_glue_and_hive():
    glue = why("s3://bucket", "/warehouse/t", (Symlink(namespace="arn:aws:glue:us-east-1:123", name="table/db/t",
                                                       type="TABLE"),))
    assert (glue.platform, glue.dataset_name) == ("glue", "db.t")
    assert glue.rule.startswith("symlink: the last TABLE symlink arn:aws:glue:us-east-1:123 table/db/t names it, "
                                "a Glue table")
    hive = why("hdfs://nn:8020", "/warehouse/t", (Symlink(namespace="hive://h:9083", name="db.t", type="TABLE"),))
    assert hive.platform == "hive" and "hive_platform_alias" in hive.rule


def test_fallback_override_lowercase_env_and_instance():
    got = why("://no-scheme", "x")
    assert got.platform == "unknown" and got.rule.startswith("fallback:")
    got = why("postgres://DB1:5432", "Shop.Orders", lowercase_urns=True, env="DEV",
              namespace_overrides={"postgres://db1": {"platform_instance": "db1", "env": "QA"}})
    assert (got.dataset_name, got.env, got.platform_instance) == ("shop.orders", "QA", "db1")
    assert "lower-cased (lowercase_urns)" in got.rule
    assert got.env_rule == "namespace override 'postgres://db1'"
    assert got.instance_rule == "namespace override 'postgres://db1'"
    got = why("postgres://db2:5432", "t", env="DEV", platform_instance="wh",
              namespace_overrides={"postgres://db2": {"platform": "redshift"}})
    assert got.platform == "redshift" and "platform redshift set by namespace override 'postgres://db2'" in got.rule
    assert (got.env_rule, got.instance_rule) == ("the translator's env", "the translator's dataset_platform_instance")


def test_a_customised_translator_is_named_not_explained_away():
    class Mine(DataHubTranslator):
        def get_dataset_urn(self, dataset):
            return "urn:li:dataset:(urn:li:dataPlatform:mine,x,PROD)"

    dataset = Dataset(namespace="bigquery", name="t")
    translator = Mine()
    got = explain_dataset(dataset, translator.get_dataset_urn(dataset), translator.config.platforms)
    assert got.custom and got.platform is None and "customised translator" in got.rule


# -- jobs ----------------------------------------------------------------------------


def _event(name: str, *, parent: str | None = None, producer: str = "https://example.com/x") -> RunEvent:
    parent_run = (ParentRun(run_id="01900000-0000-7000-8000-000000000001", job_namespace="ns", job_name=parent)
                  if parent else None)
    return RunEvent(event_type=EventType.START, event_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                    run=Run(run_id="01900000-0000-7000-8000-000000000002", parent=parent_run),
                    job=Job(namespace="ns", name=name), producer=producer)


def test_job_rules_follow_flow_naming_and_compat():
    event = _event("dag.task", parent="dag")
    got = explain_job(DataHubTranslator(), event)
    assert (got.orchestrator, got.flow_id, got.cluster) == ("x", "dag", "ns")
    assert got.orchestrator_rule == "the producer 'https://example.com/x'"
    assert got.flow_rule == "flow_naming=prefix: the job name up to its first '.' (DataHub's converter)"
    assert got.cluster_rule == "the job namespace (as DataHub's converter)"
    assert got.urn == "urn:li:dataJob:(urn:li:dataFlow:(x,dag,ns),dag.task)"
    got = explain_job(DataHubTranslator(TranslatorConfig(flow_naming="parent", cluster="prod")), _event("t", parent="p"))
    assert (got.flow_id, got.flow_rule, got.cluster_rule) == ("p", "flow_naming=parent: the parent run's job",
                                                             "the cluster setting")
    airflow = _event("dag.task", parent="dag", producer="https://github.com/apache/airflow/tree/3.0/x")
    got = explain_job(DataHubTranslator(TranslatorConfig(compat="datahub-airflow-plugin")), airflow)
    assert (got.flow_urn, got.job_id) == ("urn:li:dataFlow:(airflow,dag,prod)", "task")
    assert got.flow_rule.startswith("compat datahub-airflow-plugin") and got.job_rule.endswith("the task id")
    dbt = _event("db.sch.proj.model", parent="dbt-run-proj", producer="https://github.com/OpenLineage/OpenLineage/"
                 "tree/1.0.0/integration/dbt")
    got = explain_job(DataHubTranslator(), dbt)
    assert got.flow_id == "dbt-run-proj" and got.flow_rule.startswith("dbt_flow_naming=project")


# -- the command ---------------------------------------------------------------------


def test_explain_gives_the_urns_translate_writes(tmp_path):
    """Every entity URN of the corpus's jobs and datasets that `bridge translate` writes is explained."""
    out = tmp_path / "mcps.json"
    assert run("translate", str(CORPUS), "-o", str(out)).exit_code == 0
    written = {m["entityUrn"] for m in json.loads(out.read_text())
               if m["entityType"] in ("dataset", "dataJob", "dataFlow", "dataProcessInstance")}
    result = run("explain", str(CORPUS), "--json", "--offline")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # every flow, job, run and dataset translate writes -- datasets only column lineage names too
    assert {u for e in doc["entities"] for u in (e.get("flow_urn"), e["urn"]) if u} == written
    assert any("column lineage input" in e["roles"] for e in doc["entities"])
    runs = [e for e in doc["entities"] if e["kind"] == "run"]
    assert runs and all(e["rule"] == "the OpenLineage run id (as DataHub's converter)" for e in runs)
    assert doc["events"] == 74 and doc["rejected"] == 0 and doc["missing"] is None
    assert all(e["rule"] for e in doc["entities"] if e["kind"] == "dataset")


def test_text_output_and_stdin():
    event = (SHAKESPEARE / "1729097588979.json").read_text()
    result = run("explain", "-", input=event)
    assert result.exit_code == 0, result.output
    assert "  flow  urn:li:dataFlow:(spark,shakespeare_on_spark,default)" in result.stdout
    assert "orchestrator spark: the run's processing_engine facet" in result.stdout
    assert "not looked up in DataHub" in result.stdout
    assert "events read: 1, rejected: 0" in result.stderr


def test_rejected_events_make_exit_1():
    result = run("explain", "-", input='{"eventType": "START"}')
    assert result.exit_code == 1
    assert "rejected:" in result.stderr


def test_gms_says_which_urns_do_not_exist_yet():
    from tests.servers.gms import GmsServer

    with GmsServer(token="s3cret-token") as gms:
        flow = "urn:li:dataFlow:(spark,shakespeare_on_spark,default)"
        dataset = "urn:li:dataset:(urn:li:dataPlatform:bigquery,bigquery-public-data.samples.shakespeare,PROD)"
        gms.seed(flow, "dataFlowInfo", {"name": "shakespeare_on_spark", "customProperties": {}})
        gms.seed(dataset, "status", {"removed": False})
        result = run("explain", str(SHAKESPEARE), "--gms-server", gms.url, "--gms-token", "s3cret-token", "--json")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["gms"] == gms.url
        everything = {u for e in doc["entities"] for u in (e.get("flow_urn"), e["urn"], e.get("parent_urn")) if u}
        # 2 jobs, 3 runs (the application's, the parent of the other two), 2 datasets, 1 flow
        assert set(doc["missing"]) == everything - {flow, dataset} and len(doc["missing"]) == 7
        by_urn = {e["urn"]: e for e in doc["entities"]}
        assert by_urn[dataset]["exists"] is True
        assert all(e["flow_exists"] is True for e in doc["entities"] if e["kind"] == "job")
        asked = [r for r in gms.requests if r.path.startswith("/aspects/")]
        assert {r.query["aspect"] for r in asked} >= {"dataFlowKey", "dataJobKey", "datasetKey", "dataProcessInstanceKey"}

        text = run("explain", str(SHAKESPEARE), "--gms-server", gms.url, "--gms-token", "s3cret-token")
        assert text.exit_code == 0
        assert f"{dataset}  (in DataHub)" in text.stdout
        assert f"7 of 9 URNs are not in DataHub at {gms.url} yet" in text.stdout
        assert "s3cret-token" not in text.output

        wrong = run("explain", str(SHAKESPEARE), "--gms-server", gms.url, "--gms-token", "nope")
        assert wrong.exit_code != 0 and "refused the token" in wrong.output and "nope" not in wrong.output


def test_offline_skips_gms(gms_server):
    result = run("explain", str(SHAKESPEARE), "--gms-server", gms_server.url, "--offline")
    assert result.exit_code == 0 and "not looked up in DataHub" in result.stdout
    assert not [r for r in gms_server.requests if r.path.startswith("/aspects")]


@pytest.mark.parametrize("entity", ["dataset", "dataFlow", "dataJob"])
def test_test_server_answers_existence_as_datahubs_client_reads_it(gms_server, entity):
    """DataHubGraph.exists (acryl-datahub, as validator) reads the key aspect: 404 unknown, 200 once written."""
    from datahub.ingestion.graph.client import DatahubClientConfig, DataHubGraph

    urn = {"dataset": "urn:li:dataset:(urn:li:dataPlatform:s3,b/x,PROD)",
           "dataFlow": "urn:li:dataFlow:(spark,app,default)",
           "dataJob": "urn:li:dataJob:(urn:li:dataFlow:(spark,app,default),app.step)"}[entity]
    graph = DataHubGraph(DatahubClientConfig(server=gms_server.url))
    assert graph.exists(urn) is False
    gms_server.seed(urn, "status", {"removed": False})
    assert graph.exists(urn) is True


def test_dataset_and_job_events_are_explained_too():
    dataset_event = {"eventTime": "2026-01-01T00:00:00Z", "producer": "p",
                     "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
                     "dataset": {"namespace": "s3://bucket", "name": "/data/orders"}}
    job_event = {"eventTime": "2026-01-01T00:00:00Z", "producer": "p",
                 "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
                 "job": {"namespace": "ns", "name": "app.step"}, "inputs": [{"namespace": "s3://bucket",
                                                                          "name": "/data/orders"}]}
    lines = "\n".join(json.dumps(e) for e in (dataset_event, job_event))
    result = run("explain", "-", "--json", input=lines)
    assert result.exit_code == 0, result.output
    (job,) = [e for e in json.loads(result.stdout)["entities"] if e["kind"] == "job"]
    (dataset,) = [e for e in json.loads(result.stdout)["entities"] if e["kind"] == "dataset"]
    assert dataset["roles"] == ["dataset", "input"]
    assert (dataset["platform"], dataset["dataset_name"]) == ("s3", "bucket/data/orders")
    assert job["flow_urn"] == "urn:li:dataFlow:(p,app,ns)" and job["roles"] == ["job"]


def test_run_rules_and_datasets_named_only_by_column_lineage():
    from bridge.model import ColumnLineage, InputField
    from translators.datahub.explain import explain_event
    from translators.openlineage import parse_event

    events = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "airflow3" / "events.jsonl")
              .read_text().splitlines() if line.strip()]  # fmt: skip
    task = next(parse_event(e) for e in events if e["job"]["name"] == "sales_daily.export_report")
    query = next(parse_event(e) for e in events if e["job"]["name"] == "sales_daily.export_report.query.1")
    preset = DataHubTranslator(TranslatorConfig(compat="datahub-airflow-plugin"))
    roles = dict(explain_event(preset, task))
    assert roles["run"].urn == preset.get_run_urn(task) != f"urn:li:dataProcessInstance:{task.run.run_id}"
    assert roles["run"].rule.startswith("compat datahub-airflow-plugin: the plugin's guid")
    (got,) = [x for role, x in explain_event(preset, query) if role == "run"]
    assert got.parent_urn == f"urn:li:dataProcessInstance:{task.run.run_id}"
    assert got.parent_rule.startswith("the parent facet's run id (") and "delivery links" in got.parent_rule
    assert got.parent_renamed  # so `bridge explain --gms-server` does not report it as dangling
    plain = dict(explain_event(DataHubTranslator(), query))["run"]
    assert not plain.parent_renamed and "delivery links" not in plain.parent_rule
    own = _event("t")
    assert dict(explain_event(DataHubTranslator(), own))["run"].parent_rule == "no parent facet"

    out = Dataset(namespace="hive", name="db.out", column_lineage=(
        ColumnLineage(output_field="a", inputs=(InputField(namespace="hive", name="db.seed", field="x"),
                                                InputField(namespace="hive", name="db.out", field="b"))),))  # fmt: skip
    event = _event("t")
    event = RunEvent(event_type=event.event_type, event_time=event.event_time, run=event.run, job=event.job,
                     producer=event.producer, outputs=[out])  # fmt: skip
    explained = [(role, x.urn) for role, x in explain_event(DataHubTranslator(), event) if role != "job"]
    assert [r for r, _ in explained] == ["run", "output", "column lineage input"]
    assert explained[2][1] == "urn:li:dataset:(urn:li:dataPlatform:hive,db.seed,PROD)"
    # with neither column lineage nor its inputs written, nothing names the seed
    quiet = DataHubTranslator(TranslatorConfig(emit_column_lineage=False, column_lineage_inputs=False))
    assert [role for role, _ in explain_event(quiet, event) if role != "job"] == ["run", "output"]
