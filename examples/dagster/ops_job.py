"""An ops job whose ``In``/``Out`` metadata names the datasets it reads and writes, plus dynamic ops.

``datahub.inputs`` / ``datahub.outputs`` take dataset URNs (as in DataHub's
plugin); ``dagster/table_name`` + a ``kind`` tag, ``dagster/uri`` and ``path``
name physical datasets. Run it: ``python -m examples.dagster.ops_job``.
"""

from __future__ import annotations

import dagster as dg

from dagster_plugin import DagsterPluginConfig, make_datahub_sensor

SOURCE = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.raw_events,PROD)"


@dg.op(
    ins={"start": dg.In(dg.Nothing, metadata={"datahub.inputs": [SOURCE]})},
    out=dg.Out(metadata={"dagster/uri": "s3://lake/events/clean/"}),
    description="Reads raw events, writes cleaned ones to the lake.",
    tags={"team": "ingest"},
)
def clean_events() -> list[int]:
    return [1, 2, 3]


@dg.op(
    out=dg.Out(metadata={"datahub.outputs": ["urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.public.event_counts,PROD)"]}),
)
def count_events(events: list[int]) -> int:
    return len(events)


@dg.op(out=dg.DynamicOut())
def split_batches(events: list[int]):
    for event in events:
        yield dg.DynamicOutput(event, mapping_key=f"batch_{event}")


@dg.op(ins={"batch": dg.In(metadata={"dagster/uri": "s3://lake/events/clean/"})})
def score_batch(batch: int) -> int:
    return batch * 2


@dg.op
def total(scores: list[int]) -> int:
    return sum(scores)


@dg.job(description="Cleans events, counts them and scores them in dynamic batches.")
def events_pipeline():
    events = clean_events()
    count_events(events)
    total(split_batches(events).map(score_batch).collect())


@dg.op
def will_fail() -> None:
    raise RuntimeError("the source database is down")


@dg.job
def failing_job():
    will_fail()


datahub_sensor = make_datahub_sensor(
    DagsterPluginConfig(datahub_client_config={"kind": "file", "filename": "dagster-example-mcps.json"})
)

defs = dg.Definitions(jobs=[events_pipeline, failing_job], sensors=[datahub_sensor])

if __name__ == "__main__":
    from examples.dagster.run_example import run_example

    run_example(defs, ["events_pipeline", "failing_job"])
