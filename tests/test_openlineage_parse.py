"""parse_event on hand-made events: what is rejected (and how it is named), what is accepted."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import InvalidEventError
from bridge.model import DatasetEvent, EventType, JobEvent, RunEvent
from translators.openlineage import parse_event, to_openlineage

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
UTC = dt.UTC


def base() -> dict[str, Any]:
    return json.loads((CORPUS / "spark_dataproc_simple_producer_test" / "1.json").read_bytes())


def rejected(obj: Any) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as info:
        parse_event(obj, location="t.jsonl:7")
    assert info.value.location == "t.jsonl:7"
    return info.value


# -- rejections ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda e: e["run"].pop("runId"), "run.runId", "is required but missing"),
        (lambda e: e["run"].update(runId=""), "run.runId", "must be a non-empty string, got an empty string"),
        (lambda e: e["run"].update(runId={"a": 1}), "run.runId", "must be a non-empty string, got dict"),
        (lambda e: e.update(run="r"), "run", "must be an object, got string"),
        (lambda e: e["job"].pop("namespace"), "job.namespace", "is required but missing"),
        (lambda e: e["job"].update(name="  "), "job.name", "must be a non-empty string, got an empty string"),
        (lambda e: e.update(job=None), "job", "is required but missing"),
        (lambda e: e.pop("job"), "job", "is required but missing"),
        (lambda e: e["inputs"][0].pop("namespace"), "inputs[0].namespace", "is required but missing"),
        (
            lambda e: e["outputs"][0].update(name=True),
            "outputs[0].name",
            "must be a non-empty string, got bool",
        ),
        (lambda e: e["outputs"].append(3), "outputs[1]", "must be an object, got number"),
        (lambda e: e.update(inputs="t1"), "inputs", "must be an array, got string"),
    ],
)
def test_rejection_names_the_field(mutate: Any, field: str, reason: str) -> None:
    event = base()
    mutate(event)
    err = rejected(event)
    assert err.field == field
    assert err.reason == reason
    assert str(err) == f"t.jsonl:7: {field}: {reason}"


def test_third_input_is_named_by_index() -> None:
    event = base()
    ds = event["inputs"][0]
    event["inputs"] = [ds, ds, {"name": "x", "namespace": None}]
    assert rejected(event).field == "inputs[2].namespace"


def test_not_an_object() -> None:
    assert "must be a JSON object, got array" in rejected([base()]).reason


def test_no_run_job_or_dataset() -> None:
    assert "none of 'run', 'job' or 'dataset'" in rejected({"producer": "p"}).reason


def test_schema_url_names_a_kind_whose_key_is_missing() -> None:
    err = rejected({"schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"})
    assert err.field == "dataset"


def test_dataset_event_without_name() -> None:
    err = rejected({"eventTime": "2024-01-01T00:00:00Z", "dataset": {"namespace": "s3://b"}})
    assert err.field == "dataset.name"


# -- liberal acceptance -------------------------------------------------------------


def test_missing_event_time_is_accepted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    event = base()
    del event["eventTime"]
    with caplog.at_level(logging.WARNING, logger="translators.openlineage"):
        parsed = parse_event(event, location="here")
    assert parsed.event_time is None
    (record,) = [r for r in caplog.records if getattr(r, "ol_field", None) == "eventTime"]
    assert record.ol_location == "here" and "missing" in record.ol_reason
    received = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_event(event, received_at=received).event_time == received


def test_unreadable_event_time_uses_received_at() -> None:
    event = base()
    event["eventTime"] = "yesterday"
    received = dt.datetime(2025, 1, 2, tzinfo=UTC)
    assert parse_event(event, received_at=received).event_time == received


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-06T13:26:49.98Z", dt.datetime(2024, 8, 6, 13, 26, 49, 980000, tzinfo=UTC)),
        ("2024-08-06T13:26:49.123456789Z", dt.datetime(2024, 8, 6, 13, 26, 49, 123456, tzinfo=UTC)),
        ("2024-08-06T13:26:49Z", dt.datetime(2024, 8, 6, 13, 26, 49, tzinfo=UTC)),
        ("2024-08-06t13:26:49z", dt.datetime(2024, 8, 6, 13, 26, 49, tzinfo=UTC)),
        ("2024-08-06T15:26:49+02:00", dt.datetime(2024, 8, 6, 13, 26, 49, tzinfo=UTC)),
        ("2024-08-06T08:56:49.5-0430", dt.datetime(2024, 8, 6, 13, 26, 49, 500000, tzinfo=UTC)),
        ("2024-08-06T13:26:49", dt.datetime(2024, 8, 6, 13, 26, 49, tzinfo=UTC)),  # naive: UTC
        (1722950809980, dt.datetime(2024, 8, 6, 13, 26, 49, 980000, tzinfo=UTC)),  # epoch ms
        (1722950809, dt.datetime(2024, 8, 6, 13, 26, 49, tzinfo=UTC)),  # epoch s
    ],
)
def test_timestamps_of_any_precision_and_offset(text: Any, expected: dt.datetime) -> None:
    event = base()
    event["eventTime"] = text
    parsed = parse_event(event)
    assert parsed.event_time == expected
    assert parsed.event_time.tzinfo is not None


def test_missing_event_type_is_other() -> None:
    event = base()
    del event["eventType"]
    parsed = parse_event(event)
    assert isinstance(parsed, RunEvent) and parsed.event_type is EventType.OTHER


@pytest.mark.parametrize(
    ("given", "expected"),
    [("complete", EventType.COMPLETE), ("FINISHED", EventType.OTHER), (3, EventType.OTHER)],
)
def test_odd_event_types(given: Any, expected: EventType) -> None:
    event = base()
    event["eventType"] = given
    assert parse_event(event).event_type is expected


def test_numeric_ids_are_taken_as_text() -> None:
    event = base()
    event["run"]["runId"] = 12345
    assert parse_event(event).run.run_id == "12345"


def test_missing_producer_and_facets() -> None:
    event = {
        "eventType": "START",
        "eventTime": "2024-01-01T00:00:00Z",
        "run": {"runId": "r"},
        "job": {"namespace": "n", "name": "j"},
    }
    parsed = parse_event(event)
    assert parsed.producer == "" and parsed.inputs == () and parsed.job.facets == {}


def test_malformed_standard_facet_is_kept_verbatim(caplog: pytest.LogCaptureFixture) -> None:
    event = base()
    event["job"]["facets"]["sql"] = {"query": {"not": "a string"}}
    event["run"]["facets"]["parent"] = {"run": {}, "job": {"namespace": "n", "name": "j"}}
    event["inputs"][0]["facets"]["schema"] = {"fields": "a,b"}
    with caplog.at_level(logging.WARNING, logger="translators.openlineage"):
        parsed = parse_event(event)
    assert parsed.job.sql is None and parsed.job.facets["sql"] == {"query": {"not": "a string"}}
    assert parsed.run.parent is None and parsed.run.facets["parent"]["run"] == {}
    assert parsed.inputs[0].fields is None and parsed.inputs[0].facets["schema"] == {"fields": "a,b"}
    fields = {getattr(r, "ol_field", None) for r in caplog.records}
    assert {"job.facets.sql.query", "run.facets.parent.run.runId", "inputs[0].facets.schema.fields"} <= fields
    # and the verbatim facets come back out unchanged
    dumped = to_openlineage(parsed)
    assert dumped["job"]["facets"]["sql"] == {"query": {"not": "a string"}}
    assert dumped["inputs"][0]["facets"]["schema"] == {"fields": "a,b"}


def test_items_without_identity_are_skipped() -> None:
    event = base()
    event["inputs"][0]["facets"]["schema"] = {
        "fields": [{"name": "a", "type": "int"}, {"type": "string"}, {"name": "c", "fields": None}]
    }
    event["inputs"][0]["facets"]["symlinks"] = {
        "identifiers": [{"namespace": "x"}, {"namespace": "y", "name": "z"}]
    }
    parsed = parse_event(event)
    assert [f.name for f in parsed.inputs[0].fields] == ["a", "c"]
    assert [(s.namespace, s.name) for s in parsed.inputs[0].symlinks] == [("y", "z")]


def test_custom_facets_are_kept_verbatim() -> None:
    event = base()
    custom = {"_producer": "me", "nested": {"list": [1, 2, {"x": None}]}}
    event["run"]["facets"]["myCompany_run"] = custom
    event["job"]["facets"]["myCompany_job"] = "just a string"
    event["outputs"][0]["facets"]["myCompany_ds"] = custom
    event["outputs"][0]["outputFacets"] = {"myCompany_out": custom}
    parsed = parse_event(event)
    assert parsed.run.facets["myCompany_run"] == custom
    assert parsed.job.facets["myCompany_job"] == "just a string"
    assert parsed.outputs[0].facets["myCompany_ds"] == custom
    assert parsed.outputs[0].output_facets["myCompany_out"] == custom


def test_deleted_facet_is_kept_verbatim() -> None:
    event = base()
    event["outputs"][0]["facets"]["schema"] = {"_deleted": True}
    parsed = parse_event(event)
    assert parsed.outputs[0].fields is None
    assert parsed.outputs[0].facets["schema"] == {"_deleted": True}


# -- every standard facet -----------------------------------------------------------


def full_event() -> dict[str, Any]:
    p = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s"}
    return {
        "eventType": "FAIL",
        "eventTime": "2024-05-01T10:00:00.123Z",
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {
            "runId": "0190c5e1-0000-7000-8000-000000000001",
            "facets": {
                "parent": {
                    **p,
                    "run": {"runId": "p-run"},
                    "job": {"namespace": "pn", "name": "pj"},
                    "root": {"run": {"runId": "root-run"}, "job": {"namespace": "rn", "name": "rj"}},
                },
                "nominalTime": {
                    **p,
                    "nominalStartTime": "2024-05-01T00:00:00Z",
                    "nominalEndTime": "2024-05-02T00:00:00Z",
                },
                "errorMessage": {
                    **p,
                    "message": "boom",
                    "programmingLanguage": "PYTHON",
                    "stackTrace": "Traceback...",
                },
                "processing_engine": {
                    **p,
                    "name": "spark",
                    "version": "3.5.1",
                    "openlineageAdapterVersion": "1.20.0",
                },
                "tags": {**p, "tags": [{"key": "env", "value": "prod", "source": "USER"}]},
                "externalQuery": {**p, "externalQueryId": "q1", "source": "bigquery"},
            },
        },
        "job": {
            "namespace": "ns",
            "name": "job",
            "facets": {
                "jobType": {**p, "processingType": "STREAMING", "integration": "FLINK", "jobType": "JOB"},
                "documentation": {**p, "description": "does things", "contentType": "text/markdown"},
                "ownership": {
                    **p,
                    "owners": [{"name": "user:ann", "type": "MAINTAINER"}, {"name": "team:data"}],
                },
                "tags": {**p, "tags": [{"key": "tier", "value": "gold"}]},
                "sql": {**p, "query": "SELECT 1", "dialect": "spark"},
                "sourceCode": {**p, "language": "python", "sourceCode": "print(1)"},
                "sourceCodeLocation": {
                    **p,
                    "type": "git",
                    "url": "https://g/x.py",
                    "repoUrl": "https://g.git",
                    "path": "x.py",
                    "version": "abc",
                    "tag": "v1",
                    "branch": "main",
                    "pullRequestNumber": "42",
                },
            },
        },
        "inputs": [
            {
                "namespace": "postgres://db:5432",
                "name": "shop.public.orders",
                "facets": {
                    "schema": {
                        **p,
                        "fields": [
                            {"name": "id", "type": "int", "description": "key", "ordinal_position": 1},
                            {
                                "name": "address",
                                "type": "struct",
                                "fields": [
                                    {"name": "city", "type": "string"},
                                    {
                                        "name": "geo",
                                        "type": "struct",
                                        "fields": [{"name": "lat", "type": "double"}],
                                    },
                                ],
                            },
                        ],
                    },
                    "dataSource": {**p, "name": "postgres://db:5432", "uri": "postgres://db:5432/shop"},
                    "documentation": {**p, "description": "orders"},
                    "ownership": {**p, "owners": [{"name": "user:bob"}]},
                    "tags": {
                        **p,
                        "tags": [{"key": "pii", "value": "true", "source": "CATALOG", "field": "id"}],
                    },
                    "version": {**p, "datasetVersion": "17"},
                    "storage": {**p, "storageLayer": "iceberg", "fileFormat": "parquet"},
                    "datasetType": {**p, "datasetType": "TABLE"},
                },
                "inputFacets": {
                    "dataQualityMetrics": {
                        **p,
                        "rowCount": 10,
                        "bytes": 500,
                        "columnMetrics": {"id": {"nullCount": 0}},
                    },
                },
            },
            {
                "namespace": "s3://bucket",
                "name": "raw/events",
                "inputFacets": {"inputStatistics": {**p, "rowCount": 5, "size": 50, "fileCount": 2}},
            },
        ],
        "outputs": [
            {
                "namespace": "s3://bucket",
                "name": "clean/orders",
                "facets": {
                    "symlinks": {
                        **p,
                        "identifiers": [{"namespace": "glue://arn", "name": "db.orders", "type": "TABLE"}],
                    },
                    "lifecycleStateChange": {
                        **p,
                        "lifecycleStateChange": "RENAME",
                        "previousIdentifier": {"namespace": "s3://bucket", "name": "old/orders"},
                    },
                    "columnLineage": {
                        **p,
                        "fields": {
                            "id": {
                                "inputFields": [
                                    {
                                        "namespace": "postgres://db:5432",
                                        "name": "shop.public.orders",
                                        "field": "id",
                                        "transformations": [
                                            {
                                                "type": "DIRECT",
                                                "subtype": "IDENTITY",
                                                "description": "",
                                                "masking": False,
                                            }
                                        ],
                                    }
                                ],
                                "transformationDescription": "copied",
                                "transformationType": "IDENTITY",
                            },
                            "city_hash": {
                                "inputFields": [
                                    {
                                        "namespace": "postgres://db:5432",
                                        "name": "shop.public.orders",
                                        "field": "address.city",
                                        "transformations": [
                                            {
                                                "type": "DIRECT",
                                                "subtype": "TRANSFORMATION",
                                                "description": "sha256",
                                                "masking": True,
                                            }
                                        ],
                                    }
                                ]
                            },
                        },
                        "dataset": [
                            {
                                "namespace": "postgres://db:5432",
                                "name": "shop.public.orders",
                                "field": "id",
                                "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
                            }
                        ],
                    },
                },
                "outputFacets": {"outputStatistics": {**p, "rowCount": 9, "size": 450, "fileCount": 1}},
            }
        ],
    }


def test_every_standard_facet_fills_the_model() -> None:
    e = parse_event(full_event())
    assert isinstance(e, RunEvent) and e.event_type is EventType.FAIL
    run, job = e.run, e.job
    assert (run.parent.run_id, run.parent.job_namespace, run.parent.job_name) == ("p-run", "pn", "pj")
    assert (run.parent.root_run_id, run.parent.root_job_namespace, run.parent.root_job_name) == (
        "root-run",
        "rn",
        "rj",
    )
    assert run.nominal_start_time == dt.datetime(2024, 5, 1, tzinfo=UTC)
    assert run.nominal_end_time == dt.datetime(2024, 5, 2, tzinfo=UTC)
    assert (run.error.message, run.error.language, run.error.stack_trace) == (
        "boom",
        "PYTHON",
        "Traceback...",
    )
    assert (run.processing_engine, run.processing_engine_version, run.openlineage_adapter_version) == (
        "spark",
        "3.5.1",
        "1.20.0",
    )
    assert [(t.key, t.value, t.source) for t in run.tags] == [("env", "prod", "USER")]
    assert set(run.facets) == {"externalQuery"}
    assert (job.processing_type, job.integration, job.job_type) == ("STREAMING", "FLINK", "JOB")
    assert job.description == "does things"
    assert [(o.name, o.type) for o in job.owners] == [("user:ann", "MAINTAINER"), ("team:data", None)]
    assert [(t.key, t.value) for t in job.tags] == [("tier", "gold")]
    assert (job.sql, job.sql_dialect, job.source_code, job.source_language) == (
        "SELECT 1",
        "spark",
        "print(1)",
        "python",
    )
    loc = job.source_location
    assert (loc.type, loc.url, loc.repo_url, loc.path, loc.version, loc.tag, loc.branch) == (
        "git",
        "https://g/x.py",
        "https://g.git",
        "x.py",
        "abc",
        "v1",
        "main",
    )
    # unmodelled keys of standard facets stay as a residue
    assert job.facets == {
        "documentation": {"contentType": "text/markdown"},
        "sourceCodeLocation": {"pullRequestNumber": "42"},
    }

    orders, raw_events = e.inputs
    assert [(f.name, f.type, f.description, f.ordinal_position) for f in orders.fields] == [
        ("id", "int", "key", 1),
        ("address", "struct", None, None),
    ]
    address = orders.fields[1]
    assert [f.name for f in address.fields] == ["city", "geo"]
    assert address.fields[1].fields[0].name == "lat"
    assert (orders.data_source_name, orders.data_source_uri) == (
        "postgres://db:5432",
        "postgres://db:5432/shop",
    )
    assert orders.description == "orders" and [o.name for o in orders.owners] == ["user:bob"]
    assert [(t.key, t.value, t.source, t.field) for t in orders.tags] == [("pii", "true", "CATALOG", "id")]
    assert (orders.version, orders.storage_layer, orders.file_format) == ("17", "iceberg", "parquet")
    assert (orders.dataset_type, orders.dataset_subtype, orders.facets) == ("TABLE", None, {})
    assert (orders.input_statistics.row_count, orders.input_statistics.size_bytes) == (10, 500)
    assert "dataQualityMetrics" in orders.input_facets
    stats = raw_events.input_statistics
    assert (stats.row_count, stats.size_bytes, stats.file_count) == (5, 50, 2)

    (out,) = e.outputs
    assert [(s.namespace, s.name, s.type) for s in out.symlinks] == [("glue://arn", "db.orders", "TABLE")]
    assert (out.lifecycle_state, out.previous_identifier) == ("RENAME", ("s3://bucket", "old/orders"))
    lineage = {c.output_field: c for c in out.column_lineage}
    assert lineage["id"].transformation_type == "IDENTITY"
    masked = lineage["city_hash"].inputs[0]
    assert (masked.field, masked.transformations[0].subtype, masked.transformations[0].masking) == (
        "address.city",
        "TRANSFORMATION",
        True,
    )
    assert [
        (i.field, i.transformations[0].type, i.transformations[0].subtype) for i in out.dataset_lineage
    ] == [("id", "INDIRECT", "FILTER")]
    assert (
        out.output_statistics.row_count,
        out.output_statistics.size_bytes,
        out.output_statistics.file_count,
    ) == (9, 450, 1)


def test_full_event_round_trips() -> None:
    import attrs

    e = parse_event(full_event())
    dumped = json.loads(json.dumps(to_openlineage(e)))
    again = parse_event(dumped)
    assert again == e and attrs.asdict(again) == attrs.asdict(e)
    # the residue is merged back into the standard facet
    assert dumped["job"]["facets"]["documentation"]["contentType"] == "text/markdown"
    assert dumped["job"]["facets"]["documentation"]["description"] == "does things"
    # statistics that came from dataQualityMetrics are not duplicated as inputStatistics
    assert set(dumped["inputs"][0]["inputFacets"]) == {"dataQualityMetrics"}


def test_job_event_and_dataset_event() -> None:
    full = full_event()
    job_event = {
        "eventTime": full["eventTime"],
        "producer": "p",
        "job": full["job"],
        "inputs": full["inputs"],
        "outputs": full["outputs"],
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
    }
    parsed = parse_event(job_event)
    assert isinstance(parsed, JobEvent) and parsed.job.sql == "SELECT 1" and len(parsed.inputs) == 2
    assert parse_event(json.loads(json.dumps(to_openlineage(parsed)))) == parsed

    ds_event = {
        "eventTime": full["eventTime"],
        "producer": "p",
        "dataset": full["outputs"][0],
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
    }
    parsed_ds = parse_event(ds_event)
    assert isinstance(parsed_ds, DatasetEvent)
    assert parsed_ds.dataset.symlinks[0].name == "db.orders"
    dumped = to_openlineage(parsed_ds)
    assert dumped["schemaURL"].endswith("/DatasetEvent") and "eventType" not in dumped
    assert parse_event(dumped) == parsed_ds


def test_kind_by_shape_without_schema_url() -> None:
    assert isinstance(parse_event({"job": {"namespace": "n", "name": "j"}}), JobEvent)
    assert isinstance(parse_event({"dataset": {"namespace": "n", "name": "d"}}), DatasetEvent)


def test_parse_does_not_modify_its_input() -> None:
    event = full_event()
    before = copy.deepcopy(event)
    to_openlineage(parse_event(event))
    assert event == before
