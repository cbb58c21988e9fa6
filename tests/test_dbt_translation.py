"""dbt-ol's events, shaped as openlineage-dbt 1.54 sends them: one flow per dbt project, and the
datasets that only column lineage names (dbt seeds) as table-level inputs.

tests/test_dbt_real.py runs the real dbt-ol; these pin each rule and its settings on small events.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ConfigError
from tests._datahub_reference import check_mcp
from tests.servers.gms_state import job_edges
from translators.datahub import FLOW_NAMING, DataHubTranslator, TranslatorConfig
from translators.datahub.dbt_flows import DBT_FLOW_NAMING, is_dbt_event
from translators.openlineage import parse_event

DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt"
WH = "duckdb:///tmp/x/warehouse.duckdb"
NS = "jaffle-dev"
INVOCATION_RUN = "01a24a47-0000-7000-8000-000000000001"


def _job_type(kind: str) -> dict[str, Any]:
    return {"jobType": {"integration": "DBT", "jobType": kind, "processingType": "BATCH"}}


def _engine() -> dict[str, Any]:
    return {"processing_engine": {"name": "dbt", "version": "1.11.16", "openlineageAdapterVersion": "1.54.0"}}


def invocation(parent: dict[str, Any] | None = None, *, engine: bool = True) -> dict[str, Any]:
    facets = {**(_engine() if engine else {}), **({"parent": parent} if parent else {})}
    return {
        "eventType": "START", "eventTime": "2026-12-06T07:33:45Z", "producer": DBT,
        "run": {"runId": INVOCATION_RUN, "facets": facets},
        "job": {"namespace": NS, "name": "dbt-run-jaffle", "facets": _job_type("JOB")},
    }  # fmt: skip


def _parent() -> dict[str, Any]:
    return {"run": {"runId": INVOCATION_RUN}, "job": {"namespace": NS, "name": "dbt-run-jaffle"}}


def node(name: str, kind: str, *, inputs=(), outputs=(), run_id: str = "01a24a47-0000-7000-8000-0000000000aa"):
    return {
        "eventType": "COMPLETE", "eventTime": "2026-12-06T07:33:47Z", "producer": DBT,
        "run": {"runId": run_id, "facets": {**_engine(), "parent": _parent()}},
        "job": {"namespace": NS, "name": name, "facets": _job_type(kind)},
        "inputs": list(inputs), "outputs": list(outputs),
    }  # fmt: skip


def _lineage(columns: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {"columnLineage": {"fields": {
        out: {"inputFields": [{"namespace": WH, "name": table, "field": col, "transformations": []}]}
        for out, (table, col) in columns.items()
    }}}  # fmt: skip


STG_CUSTOMERS = node("warehouse.main.jaffle.stg_customers", "MODEL", outputs=[{
    "namespace": WH, "name": "warehouse.main.stg_customers",
    "facets": _lineage({"customer_id": ("warehouse.main.raw_customers", "id"),
                        "first_name": ("warehouse.main.raw_customers", "first_name")}),
}])  # fmt: skip
SINGULAR_TEST = node("test.jaffle.assert_totals_not_negative", "TEST",
                     inputs=[{"namespace": WH, "name": "warehouse.main.customer_orders"}])  # fmt: skip


def urn(table: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:duckdb,warehouse.main.{table},PROD)"


def aspects(event: dict[str, Any], **config: Any) -> dict[tuple[str, str], dict[str, Any]]:
    mcps = DataHubTranslator(TranslatorConfig.from_dict(config)).translate_aspects(parse_event(event))
    return {(m.entity_urn, m.aspect_name): m.aspect_value for m in mcps}


def entities(event: dict[str, Any], kind: str, **config: Any) -> set[str]:
    return {u for u, _ in aspects(event, **config) if u.startswith(f"urn:li:{kind}:")}


# -- seeds named only in column lineage ------------------------------------------------------------


def _job_io(got: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return next(v for (_, a), v in got.items() if a == "dataJobInputOutput")


def test_a_dataset_only_column_lineage_names_is_an_input_of_the_job_and_the_run_and_materialised():
    got = aspects(STG_CUSTOMERS)
    io = _job_io(got)
    assert sorted(job_edges(io, "inputDatasetEdges")) == [urn("raw_customers")]
    assert sorted(job_edges(io, "outputDatasetEdges")) == [urn("stg_customers")]
    run = next(v for (_, a), v in got.items() if a == "dataProcessInstanceInput")
    assert run["inputs"] == [urn("raw_customers")]
    assert got[(urn("raw_customers"), "status")] == {"removed": False}
    # Only a status: the event says nothing else about the seed (no operation: it was read).
    assert {a for u, a in got if u == urn("raw_customers")} == {"status"}
    for m in DataHubTranslator().translate(parse_event(STG_CUSTOMERS)):
        check_mcp(m)


def test_column_lineage_inputs_can_be_turned_off():
    got = aspects(STG_CUSTOMERS, column_lineage_inputs=False)
    io = _job_io(got)
    assert not job_edges(io, "inputDatasetEdges")
    assert not any(a == "dataProcessInstanceInput" for _, a in got)
    assert (urn("raw_customers"), "status") not in got
    # The column lineage itself is kept, pointing at the seed's columns.
    assert any("raw_customers" in up for f in io["fineGrainedLineages"] for up in f["upstreams"])


def test_a_dataset_already_an_input_is_not_added_twice_and_an_output_never_becomes_an_input():
    incremental = node("warehouse.main.jaffle.orders_inc", "MODEL", inputs=[
        {"namespace": WH, "name": "warehouse.main.stg_orders"},
    ], outputs=[{
        "namespace": WH, "name": "warehouse.main.orders_inc",
        # An incremental model reads its own table (is_incremental()), and its staging input.
        "facets": _lineage({"id": ("warehouse.main.orders_inc", "id"), "amount": ("warehouse.main.stg_orders", "amount")}),
    }])  # fmt: skip
    got = aspects(incremental)
    io = _job_io(got)
    assert sorted(job_edges(io, "inputDatasetEdges")) == [urn("stg_orders")]
    assert next(v for (_, a), v in got.items() if a == "dataProcessInstanceInput")["inputs"] == [urn("stg_orders")]


def test_column_lineage_of_an_input_dataset_adds_no_input():
    # An input's columnLineage facet says how *another* job built it: not what this job read.
    event = node("warehouse.main.jaffle.customer_orders", "MODEL", inputs=[{
        "namespace": WH, "name": "warehouse.main.stg_customers",
        "facets": _lineage({"customer_id": ("warehouse.main.raw_customers", "id")}),
    }])  # fmt: skip
    io = _job_io(aspects(event))
    assert sorted(job_edges(io, "inputDatasetEdges")) == [urn("stg_customers")]


# -- one flow per dbt project ----------------------------------------------------------------------

FLOW = f"urn:li:dataFlow:(dbt,dbt-run-jaffle,{NS})"


def test_the_invocation_its_models_and_its_tests_share_one_flow_which_the_invocation_owns():
    assert entities(invocation(), "dataFlow") == {FLOW}
    assert aspects(invocation())[(FLOW, "dataFlowInfo")]["name"] == "dbt-run-jaffle"
    for event in (STG_CUSTOMERS, SINGULAR_TEST):
        got = aspects(event)
        assert {u for u, _ in got if u.startswith("urn:li:dataFlow:")} == {FLOW}
        # A node is the flow's child: it names the flow (patched in) and says nothing else of it.
        assert got[(FLOW, "dataFlowInfo")] == {"name": "dbt-run-jaffle", "customProperties": {"namespace": NS}}
        assert (FLOW, "ownership") not in got and (FLOW, "globalTags") not in got
        assert entities(event, "dataJob") == {f"urn:li:dataJob:({FLOW},{event['job']['name']})"}


def test_the_first_event_of_an_invocation_without_an_engine_facet_is_still_dbts():
    # dbt-ol's START is sent before dbt runs: no processing_engine yet (the seed command's
    # invocation never gets one); its job type facet (integration DBT) says it is dbt's.
    assert entities(invocation(engine=False), "dataFlow") == {FLOW}
    bare = invocation(engine=False)
    bare["job"].pop("facets")
    assert is_dbt_event(parse_event(bare))  # the producer alone
    assert entities(bare, "dataFlow") == {FLOW}


def test_an_invocation_started_by_an_airflow_task_stays_in_its_projects_flow():
    airflow = {"run": {"runId": "01a24a47-0000-7000-8000-0000000000ff"},
               "job": {"namespace": "airflow", "name": "shop_dag.run_dbt"}}  # fmt: skip
    got = aspects(invocation(parent=airflow))
    assert {u for u, _ in got if u.startswith("urn:li:dataFlow:")} == {FLOW}
    assert got[(FLOW, "dataFlowInfo")]["name"] == "dbt-run-jaffle"


def test_prefix_naming_gives_datahubs_converters_flows_for_dbt():
    assert entities(invocation(), "dataFlow", dbt_flow_naming="prefix") == {FLOW}
    assert entities(STG_CUSTOMERS, "dataFlow", dbt_flow_naming="prefix") == {f"urn:li:dataFlow:(dbt,warehouse,{NS})"}
    assert entities(SINGULAR_TEST, "dataFlow", dbt_flow_naming="prefix") == {f"urn:li:dataFlow:(dbt,test,{NS})"}


def test_other_producers_keep_flow_naming():
    spark = {**STG_CUSTOMERS, "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/spark",
             "job": {"namespace": NS, "name": "app.step"}}  # fmt: skip
    spark["run"] = {"runId": "r-1", "facets": {"parent": _parent()}}
    assert entities(spark, "dataFlow") == {f"urn:li:dataFlow:(spark,app,{NS})"}
    assert entities(spark, "dataFlow", flow_naming="parent") == {f"urn:li:dataFlow:(spark,dbt-run-jaffle,{NS})"}
    # flow_naming does not reach dbt's events while dbt_flow_naming is "project".
    assert entities(STG_CUSTOMERS, "dataFlow", flow_naming="job") == {FLOW}


def test_dbt_flow_naming_takes_project_and_every_flow_naming_value():
    assert (DBT_FLOW_NAMING[0], DBT_FLOW_NAMING[1:]) == ("project", FLOW_NAMING)
    assert TranslatorConfig().dbt_flow_naming == "project"
    assert TranslatorConfig().column_lineage_inputs is True


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dbt_flow_naming": "projet"}, r"dbt_flow_naming.*did you mean 'project'"),
        ({"dbt_flows": "project"}, r"unknown setting 'dbt_flows' \(did you mean 'dbt_flow_naming'\?\)"),
        ({"column_lineage_input": False}, r"did you mean 'column_lineage_inputs'"),
        ({"column_lineage_inputs": "sometimes"}, "true or false"),
    ],
)
def test_bad_settings_are_config_errors_that_suggest_the_right_one(data, message):
    with pytest.raises(ConfigError, match=message):
        TranslatorConfig.from_dict(data)
