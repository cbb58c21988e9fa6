"""The Dagster sensor delivering through the real emitters: REST to a GMS test server, Kafka to a real broker.

Also: nothing connects anywhere when Dagster loads the definitions, and a GMS
outage keeps the run for a later tick instead of dropping it.
"""

import json
import uuid

import pytest

from dagster_plugin import DagsterPluginConfig, SensorCursor, make_datahub_sensor, step_run_id
from tests.dagster_helpers import datajob, dataset, example_defs, execute, flow, shown, tick
from tests.servers.gms import GmsServer


@pytest.fixture()
def gms():
    with GmsServer(validate_aspects=True) as server:  # every aspect parsed by acryl-datahub's schema classes
        yield server



def test_loading_definitions_connects_nowhere_and_a_tick_delivers_over_rest(gms, instance):
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"server": gms.url}, dagster_url="http://dagster:3000")
    sensor = make_datahub_sensor(config)
    defs = example_defs(sensor)
    defs.get_repository_def()  # what Dagster does when it loads a code location
    assert gms.requests == []

    run = execute(defs, instance, "raw_assets")
    out = tick(sensor, defs, instance, None)
    assert "reported 1 run(s)" in out.skip_message
    stored = gms.aspects
    assert stored[(flow("raw_assets"), "dataFlowInfo")]["name"] == "raw_assets"
    assert set(shown(stored, datajob("raw_assets", "customers"), "dataJobInputOutput")["outputDatasets"]) >= {
        dataset("dagster", "customers"), dataset("postgres", "shop.public.customers")}
    assert [f["fieldPath"] for f in stored[(dataset("dagster", "customers"), "schemaMetadata")]["fields"]] == [
        "id", "name", "email"]
    run_urn = f"urn:li:dataProcessInstance:{run.run_id}"
    assert stored[(run_urn, "dataProcessInstanceRelationships")]["parentTemplate"] == flow("raw_assets")
    step_urn = f"urn:li:dataProcessInstance:{step_run_id(run.run_id, 'orders')}"
    assert stored[(step_urn, "dataProcessInstanceRelationships")]["parentInstance"] == run_urn


def test_gms_outage_keeps_the_run_for_a_later_tick(gms, instance, caplog):
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"server": gms.url, "retry_max_times": 0})
    sensor = make_datahub_sensor(config)
    defs = example_defs(sensor)
    run = execute(defs, instance, "failing_job")
    gms.fail_next(10_000, status=503, retry_after=0)
    out1 = tick(sensor, defs, instance, None)
    assert run.run_id in SensorCursor.parse(out1.cursor).retry
    assert f"could not deliver the metadata of run {run.run_id}" in caplog.text
    assert not [p for p in gms.proposals if run.run_id in p["entityUrn"]]

    gms.clear_faults()
    second = execute(defs, instance, "events_pipeline")
    out2 = tick(sensor, defs, instance, out1.cursor)
    assert "reported 2 run(s)" in out2.skip_message
    assert SensorCursor.parse(out2.cursor).retry == {}
    finished = [p for p in gms.proposals if p["aspectName"] == "dataProcessInstanceRunEvent"
                and p["entityUrn"] in (f"urn:li:dataProcessInstance:{run.run_id}",
                                       f"urn:li:dataProcessInstance:{second.run_id}")
                and '"COMPLETE"' in p["aspect"]["value"]]
    assert len(finished) == 2  # each run's end reported exactly once
    assert "reported 0 run(s)" in tick(sensor, defs, instance, out2.cursor).skip_message


def test_nothing_listening_stops_the_tick_and_keeps_every_run(instance):
    with GmsServer() as server:
        url = server.url  # a port that then closes
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"server": url, "retry_max_times": 0})
    sensor = make_datahub_sensor(config)
    defs = example_defs(sensor)
    runs = [execute(defs, instance, "failing_job").run_id for _ in range(2)]
    out = tick(sensor, defs, instance, None)
    cursor = SensorCursor.parse(out.cursor)
    # the first run is on the retry list; the tick stopped before the second, which is still ahead
    assert list(cursor.retry) == [runs[0]]
    assert "1 failed" in out.skip_message


def test_kafka_delivery_to_a_real_broker(kafka_broker_server, schema_registry, instance):
    from confluent_kafka import Consumer, TopicPartition

    from emitters.kafka.avro import MCPAvroEncoder

    topic = f"dagster-mcp-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    config = DagsterPluginConfig(backfill=True, datahub_client_config={
        "kind": "kafka",
        "connection": {"bootstrap": kafka_broker_server.bootstrap, "schema_registry_url": schema_registry.url},
        "topic_routes": {"MetadataChangeProposal": topic},
    })
    sensor = make_datahub_sensor(config)
    defs = example_defs(sensor)
    run = execute(defs, instance, "raw_assets")
    out = tick(sensor, defs, instance, None)
    assert "reported 1 run(s)" in out.skip_message

    consumer = Consumer({"bootstrap.servers": kafka_broker_server.bootstrap, "group.id": topic,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    decoder = MCPAvroEncoder()
    seen = []
    try:
        for _ in range(40):
            for msg in consumer.consume(500, 0.5):
                assert msg.error() is None
                seen.append(decoder.decode(msg.value()))
            if any(m["entityUrn"] == f"urn:li:dataProcessInstance:{run.run_id}"
                   and m["aspectName"] == "dataProcessInstanceRunEvent" and b"COMPLETE" in m["aspect"]["value"]
                   for m in seen):
                break
    finally:
        consumer.close()
    kinds = {(m["entityType"], m["aspectName"]) for m in seen}
    assert {("dataFlow", "dataFlowInfo"), ("dataJob", "dataJobInputOutput"), ("dataset", "schemaMetadata"),
            ("dataProcessInstance", "dataProcessInstanceRunEvent")} <= kinds


def test_a_new_emitter_gets_everything_though_the_memory_remembers_the_old_one(instance, gms, tmp_path):
    # The sensor's memory lives beside the instance and outlives the switch; it is kept per destination.
    out = tmp_path / "mcps.json"
    to_file = make_datahub_sensor(DagsterPluginConfig(backfill=True, datahub_client_config={"kind": "file",
                                                                                     "filename": str(out)}))
    defs = example_defs(to_file)
    execute(defs, instance, "raw_assets")
    tick(to_file, defs, instance, None)
    in_file = {(m["entityUrn"], m["aspectName"]) for m in json.loads(out.read_text())}
    assert len(in_file) > 30
    to_gms = make_datahub_sensor(DagsterPluginConfig(backfill=True, datahub_client_config={"server": gms.url}))
    tick(to_gms, example_defs(to_gms), instance, None)  # a new cursor: the run is reported again, to GMS
    assert {(p["entityUrn"], p["aspectName"]) for p in gms.proposals} == in_file
