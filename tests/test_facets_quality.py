"""Facets DataHub can show: quality assertions, profiles, statistics, code, failures, column lineage kinds.

Corpus events where the shared corpus has the facet (``outputStatistics``, ``sql``,
``sourceCode``, column lineage with transformation types); events written from the
OpenLineage spec where it has none (``dataQualityAssertions`` and ``dataQualityMetrics``
as the dbt and Great Expectations integrations send them, Spark's ``spark.exception``
as the Spark integration's ``ErrorFacet`` serialises). Every MCP is checked with
acryl-datahub's classes, and the GMS test server (validating with the same classes)
stores them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import pathlib
import uuid

import pytest

from emitters.rest import RestEmitter
from tests._datahub_reference import check_mcp
from tests.servers.gms import GmsServer
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.openlineage import parse_event

CORPUS = pathlib.Path(__file__).parent / "corpus" / "openlineage"
SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark"
DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/dbt"
P = {"_producer": DBT, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/X.json"}
ORDERS = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.orders,PROD)"


def corpus(name: str) -> dict:
    return json.loads((CORPUS / name).read_text())


def aspects(event: dict, config: dict | None = None, translator: DataHubTranslator | None = None) -> list:
    translator = translator or DataHubTranslator(TranslatorConfig.from_dict(config or {}))
    mcps = translator.translate_aspects(parse_event(event))
    for mcp in translator.to_writes(mcps):
        check_mcp(mcp)
    return mcps


def only(mcps: list, urn_part: str, aspect: str) -> list[dict]:
    return [m.aspect_value for m in mcps if urn_part in m.entity_urn and m.aspect_name == aspect]


def java_name_uuid(text: str) -> str:
    """``java.util.UUID.nameUUIDFromBytes`` (what DataHub's converter uses), spelled out bit by bit."""
    md5 = bytearray(hashlib.md5(text.encode(), usedforsecurity=False).digest())
    md5[6] = (md5[6] & 0x0F) | 0x30  # version 3
    md5[8] = (md5[8] & 0x3F) | 0x80  # IETF variant
    h = md5.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def dbt_test_event(run_id: str = "6d4a7c0e-5c4a-4b57-9f1b-1d2c3e4f5a6b", *, users_ok: bool = True) -> dict:
    """A dbt ``test`` run as the OpenLineage dbt integration reports it: assertions on the tested model."""
    return {
        "eventType": "COMPLETE",
        "eventTime": "2024-11-26T13:05:23.809Z",
        "producer": DBT,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "dbt", "name": "shop.public.orders.test",
                "facets": {"jobType": {**P, "processingType": "BATCH", "integration": "DBT", "jobType": "TEST"}}},
        "inputs": [{
            "namespace": "postgres://db:5432",
            "name": "shop.public.orders",
            "inputFacets": {"dataQualityAssertions": {**P, "assertions": [
                {"assertion": "not_null", "success": True, "column": "id"},
                {"assertion": "unique", "success": False, "column": "id", "failures": 3, "severity": "error"},
                {"assertion": "relationships", "success": users_ok, "column": "user_id"},
                {"assertion": "row_count_positive", "success": True},
                {"assertion": "", "success": True},  # unusable: skipped
            ]}},
        }],
        "outputs": [],
    }  # fmt: skip


# -- dataQualityAssertions ---------------------------------------------------------------------


def test_each_assertion_becomes_an_assertion_with_the_converters_urn():
    mcps = aspects(dbt_test_event())
    infos = {m.entity_urn: m.aspect_value for m in mcps if m.aspect_name == "assertionInfo"}
    expected = {
        f"urn:li:assertion:{java_name_uuid(f'{ORDERS}:{column}:{name}')}": (name, column)
        for name, column in (("not_null", "id"), ("unique", "id"), ("relationships", "user_id"),
                             ("row_count_positive", ""))
    }  # fmt: skip
    assert set(infos) == set(expected)
    for urn, (name, column) in expected.items():
        info = infos[urn]
        # What DataHub's converter writes for the same check (ours adds scope, operator, nativeType).
        assert info["type"] == "CUSTOM" and info["source"] == {"type": "EXTERNAL"} and info["description"] == name
        custom = info["customAssertion"]
        assert custom["type"] == "OpenLineage Data Quality Assertion"
        assert (custom["entity"], custom["nativeType"], custom["logic"], custom["operator"]) == (
            ORDERS, name, name, "_NATIVE_")
        if column:
            assert custom["field"] == f"urn:li:schemaField:({ORDERS},{column})"
            assert custom["scope"] == "DATASET_COLUMN"
        else:
            assert "field" not in custom and custom["scope"] == "DATASET_ROWS"
    platforms = only(mcps, "urn:li:assertion:", "dataPlatformInstance")
    assert platforms == [{"platform": "urn:li:dataPlatform:dbt"}] * 4


def test_each_run_reports_success_or_failure_per_assertion():
    mcps = aspects(dbt_test_event())
    events = {e["assertionUrn"]: e for e in only(mcps, "urn:li:assertion:", "assertionRunEvent")}
    assert len(events) == 4
    unique = events[f"urn:li:assertion:{java_name_uuid(f'{ORDERS}:id:unique')}"]
    assert unique == {
        "timestampMillis": 1732626323809, "runId": "6d4a7c0e-5c4a-4b57-9f1b-1d2c3e4f5a6b",
        "asserteeUrn": ORDERS, "status": "COMPLETE", "assertionUrn": unique["assertionUrn"],
        "result": {"type": "FAILURE", "unexpectedCount": 3, "nativeResults": {"severity": "error"}},
    }  # fmt: skip
    assert sorted(e["result"]["type"] for e in events.values()) == ["FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"]


def test_the_same_check_in_a_later_run_is_the_same_assertion_with_a_new_result():
    first = aspects(dbt_test_event())
    later = aspects(dbt_test_event("0b9d3f6e-0000-4000-8000-000000000002", users_ok=False))
    assert {m.entity_urn for m in first if m.aspect_name == "assertionInfo"} == {
        m.entity_urn for m in later if m.aspect_name == "assertionInfo"}
    relationships = f"urn:li:assertion:{java_name_uuid(f'{ORDERS}:user_id:relationships')}"
    (result,) = [m.aspect_value for m in later if m.entity_urn == relationships and m.aspect_name == "assertionRunEvent"]
    assert (result["runId"], result["result"]["type"]) == ("0b9d3f6e-0000-4000-8000-000000000002", "FAILURE")


def test_a_job_event_declares_assertions_without_results():
    event = dbt_test_event()
    for key in ("eventType", "run"):
        event.pop(key)
    event["schemaURL"] = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"
    mcps = aspects(event)
    assert len(only(mcps, "urn:li:assertion:", "assertionInfo")) == 4
    assert not only(mcps, "urn:li:assertion:", "assertionRunEvent")


# -- dataQualityMetrics ------------------------------------------------------------------------


def metrics_event() -> dict:
    """Great Expectations' OpenLineage action: column metrics of the validated table."""
    event = dbt_test_event()
    event["inputs"][0]["inputFacets"] = {"dataQualityMetrics": {**P, "rowCount": 1200, "bytes": 48_000, "fileCount": 3,
        "columnMetrics": {
            "total": {"nullCount": 2, "distinctCount": 950, "sum": 6000.0, "count": 1198, "min": 0.5, "max": 99.0,
                      "quantiles": {"0.25": 1.5, "0.5": 4.0, "0.75": 8.25}},
            "status": {"nullCount": 0, "distinctCount": 4},
        }}}  # fmt: skip
    return event


def test_quality_metrics_become_the_datasets_profile():
    (profile,) = only(aspects(metrics_event()), ORDERS, "datasetProfile")
    assert profile == {
        "timestampMillis": 1732626323809, "rowCount": 1200, "sizeInBytes": 48_000, "columnCount": 2,
        "fieldProfiles": [
            {"fieldPath": "total", "nullCount": 2, "uniqueCount": 950, "min": "0.5", "max": "99.0",
             "mean": repr(6000.0 / 1198), "median": "4.0",
             "quantiles": [{"quantile": "0.25", "value": "1.5"}, {"quantile": "0.5", "value": "4.0"},
                           {"quantile": "0.75", "value": "8.25"}]},
            {"fieldPath": "status", "nullCount": 0, "uniqueCount": 4},
        ],
    }  # fmt: skip
    # What the scan read is the run's read of the dataset (rows; bytes and files as properties).
    (read,) = only(aspects(metrics_event()), ORDERS, "operation")
    assert (read["operationType"], read["customOperationType"], read["numAffectedRows"]) == ("CUSTOM", "READ", 1200)
    assert read["customProperties"] == {"numAffectedBytes": "48000", "fileCount": "3"}


# -- outputStatistics / inputStatistics ------------------------------------------------------------


def test_output_statistics_of_a_running_event_are_kept_whole():
    """Spark reports what it wrote on a RUNNING event: rows, and bytes (were dropped before)."""
    mcps = aspects(corpus("spark_dataproc_simple_producer_test/3.json"))
    (op,) = only(mcps, "hive,default.t2,", "operation")
    assert (op["operationType"], op["numAffectedRows"], op["customProperties"]) == ("UPDATE", 2, {"numAffectedBytes": "8"})
    # An append's counts are not the table's size: no profile from them.
    assert not only(mcps, "hive,default.t2,", "datasetProfile")


def test_statistics_of_a_write_that_replaced_the_table_are_its_profile():
    event = corpus("CLL/7.json")
    out = event["outputs"][0]
    assert out["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "CREATE"
    out["outputFacets"]["outputStatistics"].update(rowCount=42, size=1024, fileCount=2)
    mcps = aspects(event)
    (op,) = only(mcps, "hive,default.tbl1,", "operation")
    assert (op["operationType"], op["numAffectedRows"]) == ("CREATE", 42)
    assert op["customProperties"] == {"numAffectedBytes": "1024", "fileCount": "2"}
    (profile,) = only(mcps, "hive,default.tbl1,", "datasetProfile")
    assert (profile["rowCount"], profile["sizeInBytes"], profile["timestampMillis"]) == (42, 1024, op["timestampMillis"])


def test_input_statistics_are_a_read_operation():
    event = corpus("spark_dataproc_simple_producer_test/3.json")
    event["inputs"][0].setdefault("inputFacets", {})["inputStatistics"] = {**P, "rowCount": 7, "size": 70, "fileCount": 1}
    mcps = aspects(event)
    reads = [op for op in (m.aspect_value for m in mcps if m.aspect_name == "operation")
             if op.get("customOperationType") == "READ"]  # fmt: skip
    assert [(r["numAffectedRows"], r["customProperties"]) for r in reads] == [
        (7, {"numAffectedBytes": "70", "fileCount": "1"})]


def test_every_corpus_event_with_output_statistics_keeps_rows_and_bytes():
    files = [p for p in sorted(CORPUS.rglob("*.json")) if "outputStatistics" in p.read_text()]
    assert len(files) == 6
    for path in files:
        event = json.loads(path.read_text())
        ops = only(aspects(event), "urn:li:dataset:", "operation")
        for out in event["outputs"]:
            stats = out.get("outputFacets", {}).get("outputStatistics")
            if stats:
                assert (stats["rowCount"], str(stats["size"])) in {
                    (op.get("numAffectedRows"), op.get("customProperties", {}).get("numAffectedBytes")) for op in ops
                }, path


# -- sql / sourceCode --------------------------------------------------------------------------


def test_sql_is_the_jobs_transform_logic():
    (logic,) = only(aspects(corpus("spark_dataproc_simple_producer_test/4.json")), "urn:li:dataJob:", "dataTransformLogic")
    assert logic == {"transforms": [
        {"queryStatement": {"value": "CREATE TABLE IF NOT EXISTS t2 AS SELECT * FROM t1;", "language": "SQL"}}]}


def test_source_code_of_every_corpus_event_is_kept():
    files = [p for p in sorted(CORPUS.rglob("*.json")) if '"sourceCode"' in p.read_text()]
    assert len(files) == 20
    for path in files:
        event = json.loads(path.read_text())
        code = event["job"]["facets"]["sourceCode"]
        (logic,) = only(aspects(event), "urn:li:dataJob:", "dataTransformLogic")
        assert {"queryStatement": {"value": code["sourceCode"], "language": "UNKNOWN"}} in logic["transforms"], path


def test_sql_source_code_and_its_location_together():
    event = dbt_test_event()
    event["job"]["facets"].update(
        sql={**P, "query": "select * from orders where id is null", "dialect": "postgres"},
        sourceCode={**P, "language": "SQL", "sourceCode": "select * from {{ ref('orders') }} where id is null"},
        sourceCodeLocation={**P, "type": "git", "url": "https://github.com/acme/shop/blob/main/models/orders.yml"},
    )
    mcps = aspects(event)
    (logic,) = only(mcps, "urn:li:dataJob:", "dataTransformLogic")
    assert [(t["queryStatement"]["language"], t["queryStatement"]["value"][:8]) for t in logic["transforms"]] == [
        ("SQL", "select *"), ("SQL", "select *")]
    (info,) = only(mcps, "urn:li:dataJob:", "dataJobInfo")
    assert info["customProperties"]["sourceCodeLocation.url"] == "https://github.com/acme/shop/blob/main/models/orders.yml"


def test_a_translator_can_keep_code_out_of_datahub():
    class NoCode(DataHubTranslator):
        def get_data_transform_logic(self, event):
            return None

    mcps = aspects(corpus("spark_dataproc_simple_producer_test/4.json"), translator=NoCode())
    assert not [m for m in mcps if m.aspect_name == "dataTransformLogic"]


# -- failures ------------------------------------------------------------------------------------


def failed_spark_event() -> dict:
    """A failed Spark write as the OpenLineage Spark integration reports it: ``spark.exception`` holds the
    exception's ``message`` and ``stackTrace`` (what its ``ErrorFacet`` getters serialise)."""
    message = ("Job aborted due to stage failure: Task 0 in stage 2.0 failed 1 times, most recent failure: "
               "Lost task 0.0 in stage 2.0 (TID 246, executor driver): org.apache.spark.SparkException: "
               "Task failed while writing rows.")  # fmt: skip
    stack = (f"org.apache.spark.SparkException: {message}\n"
             "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2059)\n"
             "Caused by: java.nio.file.AccessDeniedException: delete on s3a://bucket/tmp/daily_stats/_temporary\n")
    return {
        "eventTime": "2023-09-27T13:38:39.278Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.2.2/integration/spark",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "eventType": "FAIL",
        "run": {"runId": "9f06a36e-97c5-4d4a-9e92-0aef9ed2be4c", "facets": {
            "processing_engine": {**P, "version": "3.0.3", "name": "spark"},
            "spark.exception": {**P, "message": message, "stackTrace": stack},
        }},
        "job": {"namespace": "default", "name": "daily_stats.execute_insert_into_hadoop_fs_relation_command"},
        "inputs": [],
        "outputs": [{"namespace": "s3a://bucket", "name": "tmp/daily_stats"}],
    }  # fmt: skip


def test_a_spark_exception_is_on_the_failed_run():
    mcps = aspects(failed_spark_event())
    (props,) = only(mcps, "urn:li:dataProcessInstance:", "dataProcessInstanceProperties")
    assert props["customProperties"]["errorMessage"].startswith("Job aborted due to stage failure")
    assert "AccessDeniedException" in props["customProperties"]["errorStackTrace"]
    (result,) = only(mcps, "urn:li:dataProcessInstance:", "dataProcessInstanceRunEvent")
    assert result["result"] == {"type": "FAILURE", "nativeResultType": "FAIL"}


def test_the_error_message_facet_wins_over_spark_exception():
    event = failed_spark_event()
    event["run"]["facets"]["errorMessage"] = {**P, "message": "boom", "programmingLanguage": "JAVA"}
    (props,) = only(aspects(event), "urn:li:dataProcessInstance:", "dataProcessInstanceProperties")
    assert (props["customProperties"]["errorMessage"], props["customProperties"]["errorLanguage"]) == ("boom", "JAVA")


# -- column lineage: DIRECT and INDIRECT apart -----------------------------------------------------


def fine_grained(mcps: list) -> list[dict]:
    return [f for io in only(mcps, "urn:li:dataJob:", "dataJobInputOutput") for f in io.get("fineGrainedLineages", ())]


def test_direct_and_indirect_lineage_are_separate_entries():
    entries = fine_grained(aspects(corpus("CLL/8.json")))
    by_column = {}
    for f in entries:
        (down,) = f["downstreams"]
        kinds = {op.split(":")[0] for op in f["transformOperation"].split(",")}
        assert len(kinds) == 1, f["transformOperation"]  # never DIRECT and INDIRECT in one entry
        by_column.setdefault(down.rsplit(",", 1)[1][:-1], {})[kinds.pop()] = f
    assert set(by_column) == {"ident", "trans", "agg"}
    field = "urn:li:schemaField:(urn:li:dataset:(urn:li:dataPlatform:hive,default.{},PROD),{})".format
    agg = by_column["agg"]
    assert agg["DIRECT"]["upstreams"] == [field("cll_source2", "c")]
    assert agg["DIRECT"]["transformOperation"] == "DIRECT:AGGREGATION"
    # The join/filter column cll_source2.a chose rows of agg; it is not a source of its value.
    assert field("cll_source2", "a") in agg["INDIRECT"]["upstreams"]
    assert agg["INDIRECT"]["transformOperation"] == "INDIRECT:FILTER,INDIRECT:GROUP_BY,INDIRECT:JOIN"
    # A column used both ways is in both entries.
    assert field("cll_source1", "a") in by_column["ident"]["DIRECT"]["upstreams"]
    assert field("cll_source1", "a") in by_column["ident"]["INDIRECT"]["upstreams"]


def test_indirect_lineage_can_be_left_out():
    entries = fine_grained(aspects(corpus("CLL/8.json"), {"include_indirect_column_lineage": "false"}))
    assert [f["transformOperation"] for f in entries] == ["DIRECT:IDENTITY", "DIRECT:TRANSFORMATION", "DIRECT:AGGREGATION"]


def test_lineage_without_transformations_is_direct():
    event = copy.deepcopy(corpus("CLL/8.json"))
    for spec in event["outputs"][0]["facets"]["columnLineage"]["fields"].values():
        for f in spec["inputFields"]:
            f.pop("transformations", None)
    entries = fine_grained(aspects(event))
    assert len(entries) == 3 and all(f.get("transformOperation") in (None, "IDENTITY", "TRANSFORMATION", "AGGREGATION")
                                     for f in entries)  # fmt: skip


# -- DataHub accepts all of it -----------------------------------------------------------------------


def test_gms_stores_every_new_aspect():
    events = [dbt_test_event(), metrics_event(), failed_spark_event(), corpus("CLL/8.json"),
              corpus("spark_dataproc_simple_producer_test/4.json"), corpus("spark_dataproc_simple_producer_test/3.json")]
    translator = DataHubTranslator()
    mcps = [m for e in events for m in translator.translate(parse_event(e))]
    with GmsServer(validate_aspects=True) as gms, RestEmitter(gms_server=gms.url) as emitter:
        assert emitter.emit_mcps(mcps) == len(mcps)
        stored = {name for _, name in gms.aspects}
    assert {"assertionInfo", "assertionRunEvent", "datasetProfile", "operation", "dataTransformLogic"} <= {
        m.aspect_name for m in mcps}
    assert {"assertionInfo", "dataTransformLogic"} <= stored


@pytest.mark.parametrize("name", ["not_null", "accepted_values"])
def test_assertion_ids_are_name_based_uuids(name):
    from translators.datahub.quality import assertion_urn

    urn = assertion_urn(ORDERS, "id", name)
    assert urn == f"urn:li:assertion:{java_name_uuid(f'{ORDERS}:id:{name}')}"
    assert uuid.UUID(urn.rsplit(":", 1)[1]).version == 3
