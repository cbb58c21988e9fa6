"""openlineage-python event objects, built with the real client classes, go through from_client_event."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bridge.errors import InvalidEventError
from bridge.model import DatasetEvent, EventType, JobEvent, RunEvent
from translators.openlineage import from_client_event, parse_event, to_openlineage

from .openlineage_compare import compare_event_json

pytest.importorskip("openlineage.client")

from openlineage.client import event_v2  # noqa: E402
from openlineage.client.generated import (  # noqa: E402
    column_lineage_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_job,
    parent_run,
    schema_dataset,
    sql_job,
    symlinks_dataset,
    tags_run,
)

UTC = dt.UTC
RUN_ID = "0190c5e1-0000-7000-8000-000000000001"
PARENT_ID = "0190c5e1-0000-7000-8000-000000000002"


def client_run_event() -> event_v2.RunEvent:
    orders_in = event_v2.InputDataset(
        namespace="postgres://db:5432",
        name="shop.public.orders",
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="id", type="int", ordinal_position=1),
                    schema_dataset.SchemaDatasetFacetFields(
                        name="addr",
                        type="struct",
                        fields=[schema_dataset.SchemaDatasetFacetFields(name="city", type="string")],
                    ),
                ]
            )
        },
    )
    orders_out = event_v2.OutputDataset(
        namespace="s3://bucket",
        name="clean/orders",
        facets={
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(namespace="glue://x", name="db.orders", type="TABLE")
                ]
            ),
            "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
                fields={
                    "id": column_lineage_dataset.Fields(
                        inputFields=[
                            column_lineage_dataset.InputField(
                                namespace="postgres://db:5432",
                                name="shop.public.orders",
                                field="id",
                                transformations=[
                                    column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")
                                ],
                            )
                        ]
                    )
                }
            ),
        },
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=7, size=70
            )
        },
    )
    return event_v2.RunEvent(
        eventType=event_v2.RunState.FAIL,
        eventTime="2024-05-01T10:00:00.5Z",
        run=event_v2.Run(
            runId=RUN_ID,
            facets={
                "parent": parent_run.ParentRunFacet(
                    run=parent_run.Run(runId=PARENT_ID), job=parent_run.Job(namespace="pn", name="pj")
                ),
                "nominalTime": nominal_time_run.NominalTimeRunFacet(nominalStartTime="2024-05-01T00:00:00Z"),
                "errorMessage": error_message_run.ErrorMessageRunFacet(
                    message="boom", programmingLanguage="PYTHON"
                ),
                "tags": tags_run.TagsRunFacet(tags=[tags_run.TagsRunFacetFields(key="env", value="prod")]),
            },
        ),
        job=event_v2.Job(
            namespace="ns",
            name="etl",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="DAGSTER", jobType="ASSET"
                ),
                "sql": sql_job.SQLJobFacet(query="SELECT 1"),
                "ownership": ownership_job.OwnershipJobFacet(owners=[ownership_job.Owner(name="user:ann")]),
            },
        ),
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.20.0/client/python",
        inputs=[orders_in],
        outputs=[orders_out],
    )


def test_event_v2_run_event() -> None:
    e = from_client_event(client_run_event(), location="client")
    assert isinstance(e, RunEvent)
    assert e.event_type is EventType.FAIL
    assert e.event_time == dt.datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert e.run.run_id == RUN_ID
    assert (e.run.parent.run_id, e.run.parent.job_name) == (PARENT_ID, "pj")
    assert e.run.nominal_start_time == dt.datetime(2024, 5, 1, tzinfo=UTC)
    assert e.run.error.message == "boom"
    assert [(t.key, t.value) for t in e.run.tags] == [("env", "prod")]
    assert (e.job.integration, e.job.job_type, e.job.sql) == ("DAGSTER", "ASSET", "SELECT 1")
    assert [o.name for o in e.job.owners] == ["user:ann"]
    (src,) = e.inputs
    assert [(f.name, f.ordinal_position) for f in src.fields] == [("id", 1), ("addr", None)]
    assert src.fields[1].fields[0].name == "city"
    (dst,) = e.outputs
    assert dst.symlinks[0].name == "db.orders"
    assert dst.column_lineage[0].inputs[0].transformations[0].subtype == "IDENTITY"
    assert (dst.output_statistics.row_count, dst.output_statistics.size_bytes) == (7, 70)


def test_dumped_event_matches_the_clients_own_json() -> None:
    """Everything the official client serialises comes back out of to_openlineage."""
    from openlineage.client.serde import Serde

    client_event = client_run_event()
    original = Serde.to_dict(client_event)
    dumped = json.loads(json.dumps(to_openlineage(from_client_event(client_event))))
    compare_event_json(original, dumped)
    assert from_client_event(client_event) == parse_event(dumped)


def test_event_v2_job_and_dataset_events() -> None:
    job_event = event_v2.JobEvent(
        eventTime="2024-05-01T10:00:00Z",
        producer="p",
        job=event_v2.Job(
            namespace="ns", name="design", facets={"sql": sql_job.SQLJobFacet(query="SELECT 2")}
        ),
        inputs=[event_v2.InputDataset(namespace="s3://b", name="in")],
        outputs=[],
    )
    parsed = from_client_event(job_event)
    assert isinstance(parsed, JobEvent) and parsed.job.sql == "SELECT 2" and parsed.inputs[0].name == "in"

    ds_event = event_v2.DatasetEvent(
        eventTime="2024-05-01T10:00:00Z",
        producer="p",
        dataset=event_v2.StaticDataset(
            namespace="s3://b",
            name="table",
            facets={
                "schema": schema_dataset.SchemaDatasetFacet(
                    fields=[schema_dataset.SchemaDatasetFacetFields(name="x")]
                )
            },
        ),
    )
    parsed_ds = from_client_event(ds_event)
    assert isinstance(parsed_ds, DatasetEvent)
    assert parsed_ds.dataset.key == ("s3://b", "table") and parsed_ds.dataset.fields[0].name == "x"


def test_legacy_run_module_events() -> None:
    from openlineage.client import facet, run

    legacy = run.RunEvent(
        eventType=run.RunState.COMPLETE,
        eventTime="2024-05-01T10:00:00+02:00",
        run=run.Run(
            runId=RUN_ID,
            facets={"nominalTime": facet.NominalTimeRunFacet(nominalStartTime="2024-05-01T00:00:00Z")},
        ),
        job=run.Job(namespace="ns", name="old", facets={"sql": facet.SqlJobFacet(query="SELECT 3")}),
        producer="legacy",
        inputs=[run.Dataset(namespace="s3://b", name="in")],
        outputs=[],
    )
    parsed = from_client_event(legacy)
    assert isinstance(parsed, RunEvent) and parsed.event_type is EventType.COMPLETE
    assert parsed.event_time == dt.datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert parsed.job.sql == "SELECT 3"
    assert parsed.run.nominal_start_time == dt.datetime(2024, 5, 1, tzinfo=UTC)


def test_not_a_client_event() -> None:
    with pytest.raises(InvalidEventError):
        from_client_event(object())
