"""The test servers themselves: the tansu broker and the Schema Registry speak the real protocols."""

from __future__ import annotations

import json
import uuid

import pytest

pytest.importorskip("confluent_kafka")

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.error import SchemaRegistryError  # noqa: E402

RECORD_V1 = json.dumps({"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}]})
RECORD_V2_OPTIONAL = json.dumps(
    {
        "type": "record",
        "name": "A",
        "fields": [{"name": "x", "type": "int"}, {"name": "y", "type": ["null", "string"], "default": None}],
    }
)
RECORD_V2_REQUIRED = json.dumps(
    {"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}, {"name": "y", "type": "string"}]}
)


def test_broker_round_trip(kafka_broker_server):
    topic = f"servers-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    producer = Producer({"bootstrap.servers": kafka_broker_server.bootstrap, "enable.idempotence": True})
    results = []
    for i in range(50):
        producer.produce(
            topic, key=f"k{i}".encode(), value=f"v{i}".encode(), on_delivery=lambda e, m: results.append(e)
        )
    assert producer.flush(15) == 0
    assert results == [None] * 50

    # A consumer group join works too but tansu holds the first rebalance for
    # about session.timeout.ms; direct assignment keeps the test quick.
    consumer = Consumer(
        {"bootstrap.servers": kafka_broker_server.bootstrap, "group.id": topic, "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = []
    try:
        for _ in range(60):
            for msg in consumer.consume(100, 0.5):
                assert msg.error() is None
                seen.append((msg.key(), msg.value()))
            if len(seen) >= 50:
                break
    finally:
        consumer.close()
    assert seen == [(f"k{i}".encode(), f"v{i}".encode()) for i in range(50)]


def test_broker_reports_unknown_topic_when_auto_create_is_off(kafka_broker):
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": kafka_broker, "allow.auto.create.topics": False})
    producer = Producer({"bootstrap.servers": kafka_broker, "allow.auto.create.topics": False})
    name = f"absent-{uuid.uuid4().hex[:8]}"
    meta = producer.list_topics(topic=name, timeout=10)
    assert meta.topics[name].error is not None
    assert name not in admin.list_topics(timeout=10).topics


def test_registry_register_lookup_and_get(schema_registry):
    client = SchemaRegistryClient({"url": schema_registry.url})
    schema_id = client.register_schema("t-value", Schema(RECORD_V1, "AVRO"))
    # Same schema, different whitespace: same id, no new version.
    again = SchemaRegistryClient({"url": schema_registry.url}).register_schema(
        "t-value", Schema(json.dumps(json.loads(RECORD_V1), indent=2), "AVRO")
    )
    assert again == schema_id
    found = SchemaRegistryClient({"url": schema_registry.url}).lookup_schema(
        "t-value", Schema(RECORD_V1, "AVRO")
    )
    assert (found.schema_id, found.version) == (schema_id, 1)
    assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(RECORD_V1)
    assert client.get_subjects() == ["t-value"]
    assert client.get_latest_version("t-value").schema_id == schema_id
    v2 = client.register_schema("t-value", Schema(RECORD_V2_OPTIONAL, "AVRO"))
    assert v2 != schema_id
    assert client.get_versions("t-value") == [1, 2]


@pytest.mark.parametrize(
    ("action", "status", "code"),
    [
        ("lookup_unknown_subject", 404, 40401),
        ("lookup_unknown_schema", 404, 40403),
        ("get_unknown_id", 404, 40403),
        ("register_invalid", 422, 42201),
        ("register_incompatible", 409, 409),
        ("register_read_only", 422, 42205),
        ("register_denied", 403, 40301),
    ],
)
def test_registry_errors_match_confluent(schema_registry, action, status, code):
    schema_registry.register("t-value", RECORD_V1)
    client = SchemaRegistryClient({"url": schema_registry.url, "max.retries": 0})
    calls = {
        "lookup_unknown_subject": lambda: client.lookup_schema("nope-value", Schema(RECORD_V1, "AVRO")),
        "lookup_unknown_schema": lambda: client.lookup_schema("t-value", Schema(RECORD_V2_OPTIONAL, "AVRO")),
        "get_unknown_id": lambda: client.get_schema(999),
        "register_invalid": lambda: client.register_schema("u-value", Schema('{"type": "recrd"}', "AVRO")),
        "register_incompatible": lambda: client.register_schema(
            "t-value", Schema(RECORD_V2_REQUIRED, "AVRO")
        ),
        "register_read_only": lambda: client.register_schema("t-value", Schema(RECORD_V1, "AVRO")),
        "register_denied": lambda: client.register_schema("u-value", Schema(RECORD_V1, "AVRO")),
    }
    schema_registry.read_only = action == "register_read_only"
    schema_registry.deny_writes = action == "register_denied"
    with pytest.raises(SchemaRegistryError) as info:
        calls[action]()
    assert (info.value.http_status_code, info.value.error_code) == (status, code)
    assert info.value.error_message


def test_registry_stop_refuses_connections_and_restart_keeps_state(schema_registry):
    schema_id = schema_registry.register("t-value", RECORD_V1)
    client = SchemaRegistryClient({"url": schema_registry.url, "max.retries": 0})
    assert client.get_subjects() == ["t-value"]  # opens a keep-alive connection
    schema_registry.stop()
    with pytest.raises(Exception) as info:
        client.get_subjects()
    assert not isinstance(info.value, SchemaRegistryError)  # a transport error, not an HTTP answer
    schema_registry.start()
    assert SchemaRegistryClient({"url": schema_registry.url}).get_schema(schema_id).schema_str == RECORD_V1
