"""The 74 real OpenLineage events: every one parses, the content is right, and it round-trips."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from bridge.model import EventType, RunEvent
from translators.openlineage import parse_event, to_openlineage
from translators.openlineage._dump import FACET_SCHEMAS

from .openlineage_compare import compare_event_json, norm

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
FILES = sorted(CORPUS.rglob("*.json"))
IDS = [str(p.relative_to(CORPUS)) for p in FILES]
UTC = dt.UTC


def load(rel: str) -> dict[str, Any]:
    return json.loads((CORPUS / rel).read_text())


def test_corpus_has_all_74_events() -> None:
    assert len(FILES) == 74


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_corpus_event_parses(path: Path) -> None:
    raw = json.loads(path.read_bytes())
    event = parse_event(raw, location=str(path))
    assert isinstance(event, RunEvent)
    assert event.run.run_id == raw["run"]["runId"]
    assert event.job.key == (raw["job"]["namespace"], raw["job"]["name"])
    assert event.event_type.value == raw["eventType"]
    assert event.event_time is not None and event.event_time.tzinfo is not None
    assert [d.key for d in event.inputs] == [(d["namespace"], d["name"]) for d in raw["inputs"]]
    assert [d.key for d in event.outputs] == [(d["namespace"], d["name"]) for d in raw["outputs"]]
    assert event.producer == raw["producer"]


def test_spark_symlinks() -> None:
    event = parse_event(load("spark_dataproc_simple_producer_test/1.json"))
    (source,) = event.inputs
    assert source.key == ("hdfs://dataproc-producer-test-m", "/user/hive/warehouse/t1")
    assert [(s.namespace, s.name, s.type) for s in source.symlinks] == [
        ("hive://dataproc-producer-test-m:9083", "default.t1", "TABLE")
    ]
    assert event.job.sql == "CREATE TABLE IF NOT EXISTS t2 AS SELECT * FROM t1;"
    # the Spark-specific run facets are kept verbatim
    assert "spark_properties" in event.run.facets
    assert event.run.processing_engine == "spark"


def test_cll_column_lineage_with_transformations() -> None:
    event = parse_event(load("CLL/5.json"))
    output = next(d for d in event.outputs if d.name == "/tmp/cll_test/tbl1")
    by_column = {c.output_field: c for c in output.column_lineage}
    ident = by_column["ident"]
    first = ident.inputs[0]
    assert (first.namespace, first.name, first.field) == ("file", "/tmp/cll_test/cll_source1", "a")
    assert [(t.type, t.subtype, t.masking) for t in first.transformations] == [
        ("DIRECT", "IDENTITY", False),
        ("INDIRECT", "GROUP_BY", False),
        ("INDIRECT", "JOIN", False),
        ("INDIRECT", "FILTER", False),
    ]
    assert [(i.name, i.field) for i in ident.inputs] == [
        ("/tmp/cll_test/cll_source1", "a"),
        ("/tmp/cll_test/cll_source1", "b"),
        ("/tmp/cll_test/cll_source2", "a"),
    ]
    assert output.lifecycle_state == "CREATE"
    assert [s.name for s in output.symlinks] == ["default.tbl1"]


def test_cll_output_statistics() -> None:
    event = parse_event(load("CLL/7.json"))
    stats = [d.output_statistics for d in event.outputs if d.output_statistics is not None]
    assert [(s.row_count, s.size_bytes) for s in stats] == [(0, 0)]


def test_airflow_task_start() -> None:
    raw = load("airflow/line_14.json")
    event = parse_event(raw)
    job, run = event.job, event.run
    assert (job.integration, job.job_type, job.processing_type) == ("AIRFLOW", "TASK", "BATCH")
    assert [(o.name, o.type) for o in job.owners] == [("***", None)]
    assert job.source_language == "python"
    assert job.source_code.startswith("def upload_for_deletion():\n")
    expected = dt.datetime(2024, 11, 26, 13, 10, 35, 729678, tzinfo=UTC)
    assert run.nominal_start_time == expected and run.nominal_end_time == expected
    assert run.parent is not None
    assert (run.parent.run_id, run.parent.job_namespace, run.parent.job_name) == (
        "01936898-5bd1-70bf-9ca2-4953116e45e1",
        "airflow",
        "gcs_hook",
    )
    assert "airflow" in run.facets  # the provider's own facet, verbatim
    assert run.facets["airflow"] == raw["run"]["facets"]["airflow"]


def test_airflow_bigquery_column_lineage_and_schema() -> None:
    event = parse_event(load("airflow/line_05.json"))
    (output,) = event.outputs
    assert [(f.name, f.type) for f in output.fields] == [(c, "INTEGER") for c in "abcd"]
    assert [
        (c.output_field, c.transformation_type, [i.field for i in c.inputs]) for c in output.column_lineage
    ] == [(c, "IDENTITY", [c]) for c in "abcd"]
    assert event.run.facets["externalQuery"]["source"] == "bigquery"


def test_spark_event_time_with_two_fraction_digits() -> None:
    event = parse_event(load("CLL/1.json"))
    assert event.event_time == dt.datetime(2024, 8, 6, 13, 26, 49, 980000, tzinfo=UTC)
    assert event.event_type is EventType.START


def test_non_uri_producer_and_non_uuid_run_id() -> None:
    event = parse_event(load("simple_run_event/simple_run_event.json"))
    assert event.producer == "producer"
    assert event.run.run_id == "run_id"


# -- round trip ---------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_model_round_trip(path: Path) -> None:
    event = parse_event(json.loads(path.read_bytes()))
    dumped = json.loads(json.dumps(to_openlineage(event)))
    again = parse_event(dumped)
    assert again == event
    # model equality ignores the raw facet dicts; compare them too
    assert attrs.asdict(again) == attrs.asdict(event)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_standard_facets_survive_json_round_trip(path: Path) -> None:
    raw = json.loads(path.read_bytes())
    dumped = json.loads(json.dumps(to_openlineage(parse_event(raw))))
    assert dumped["schemaURL"] == raw["schemaURL"]
    compare_event_json(raw, dumped)


def test_structural_comparison_notices_a_lost_transformation() -> None:
    """The comparison above is able to fail: a changed transformation subtype is caught."""
    raw = load("CLL/5.json")
    dumped = json.loads(json.dumps(to_openlineage(parse_event(raw))))
    compare_event_json(raw, dumped)
    out = next(d for d in dumped["outputs"] if d["name"] == "/tmp/cll_test/tbl1")
    out["facets"]["columnLineage"]["fields"]["ident"]["inputFields"][0]["transformations"][1]["subtype"] = "X"
    with pytest.raises(AssertionError, match="columnLineage"):
        compare_event_json(raw, dumped)
    assert norm({"a": [], "b": None, "masking": False, "_producer": "p"}) == {}


def test_dumped_facets_name_the_spec_schema_and_producer() -> None:
    raw = load("airflow/line_14.json")
    dumped = to_openlineage(parse_event(raw))
    facet = dumped["job"]["facets"]["sourceCode"]
    assert facet["_producer"] == raw["producer"]
    assert facet["_schemaURL"].endswith("SourceCodeJobFacet.json#/$defs/SourceCodeJobFacet")


def test_facet_schema_urls_match_the_openlineage_client() -> None:
    """Our facet schema table must agree with the classes the official client generates."""
    from openlineage.client.generated import (
        column_lineage_dataset,
        parent_run,
        schema_dataset,
        sql_job,
        symlinks_dataset,
    )

    def file_of(url: str) -> str:
        return url.split("#")[0].rsplit("/", 1)[1]

    pairs = {
        "dataset.schema": schema_dataset.SchemaDatasetFacet,
        "dataset.columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet,
        "dataset.symlinks": symlinks_dataset.SymlinksDatasetFacet,
        "run.parent": parent_run.ParentRunFacet,
        "job.sql": sql_job.SQLJobFacet,
    }
    for key, cls in pairs.items():
        assert file_of(FACET_SCHEMAS[key]) == file_of(cls._get_schema()), key
