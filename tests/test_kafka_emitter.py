"""The Kafka emitter against a real broker (tansu) and the Schema Registry test server.

Round trip: MCPs from the OpenLineage corpus are produced, read back with a
real consumer, decoded by confluent-kafka's AvroDeserializer (magic byte,
schema id looked up in the registry) into DataHub's own MetadataChangeProposal
class, and compared field by field.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka")

from bridge.errors import AuthError, DeliveryError, InvalidEventError, RejectedError  # noqa: E402
from bridge.mcp import MetadataChangeProposalWrapper  # noqa: E402
from emitters.base import create_emitter  # noqa: E402
from emitters.kafka import KafkaEmitter  # noqa: E402
from emitters.kafka.avro import load_mcp_schema  # noqa: E402
from tests.servers.kafka_broker import read_topic  # noqa: E402

CORPUS = Path(__file__).parent / "corpus" / "openlineage"


def _corpus_mcps() -> list[MetadataChangeProposalWrapper]:
    from translators.datahub import translate
    from translators.openlineage import parse_event

    mcps: list[MetadataChangeProposalWrapper] = []
    for path in sorted(CORPUS.rglob("*.json")):
        mcps.extend(translate(parse_event(json.loads(path.read_text()))))
    return mcps


def _extra_mcps() -> list[MetadataChangeProposalWrapper]:
    urn = "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.ordérs,PROD)"
    return [
        MetadataChangeProposalWrapper(
            entity_urn=urn,
            aspect_name="datasetProperties",
            aspect={"name": "ordérs ✓", "customProperties": {"rows": "12"}},
            system_metadata={
                "runId": "run-42",
                "lastObserved": 1700000000123,
                "properties": {"by": "bridge"},
            },
        ),
        MetadataChangeProposalWrapper(
            entity_urn=urn, aspect_name="status", aspect={"removed": True}, change_type="DELETE"
        ),
    ]


@pytest.fixture()
def topic(kafka_broker_server) -> str:
    name = f"mcp-{uuid.uuid4().hex[:10]}"
    kafka_broker_server.create_topics([name], partitions=2)
    return name


def _emitter(kafka_broker: str, registry_url: str, topic: str, **extra) -> KafkaEmitter:
    config = {
        "connection": {
            "bootstrap": kafka_broker,
            "schema_registry_url": registry_url,
            **extra.pop("connection", {}),
        },
        "topic_routes": {"MetadataChangeProposal": topic},
        **extra,
    }
    emitter = create_emitter("kafka", config)
    assert isinstance(emitter, KafkaEmitter)
    return emitter


def _datahub_records(kafka_broker: str, registry_url: str, topic: str, count: int):
    """Read ``count`` messages and decode them as DataHub does: registry schema by id, DataHub's class."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    from datahub.metadata.schema_classes import MetadataChangeProposalClass

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    out = []
    for msg in read_topic(kafka_broker, topic, count=count):
        record = deserializer(msg.value(), SerializationContext(topic, MessageField.VALUE))
        mcp = MetadataChangeProposalClass.from_obj(record)
        assert mcp.validate()
        out.append((msg.key().decode(), mcp, msg.value()))
    return out


def test_round_trip_field_by_field(kafka_broker, schema_registry, topic):
    sent = _corpus_mcps() + _extra_mcps()
    assert len(sent) > 100  # the corpus translates to hundreds of MCPs
    assert {m.change_type for m in sent} >= {"UPSERT", "PATCH", "CREATE"}  # every write mode rides Kafka
    delivered: list[tuple[BaseException | None, str]] = []
    with _emitter(kafka_broker, schema_registry.url, topic) as emitter:
        for mcp in sent:
            emitter.emit(mcp, callback=lambda err, msg: delivered.append((err, msg)))
    # close() flushed: every callback has run, all successes.
    assert len(delivered) == len(sent)
    assert [err for err, _ in delivered if err is not None] == []

    received = _datahub_records(kafka_broker, schema_registry.url, topic, len(sent))
    assert len(received) == len(sent)
    schema_id = schema_registry.registry.subjects[f"{topic}-value"][0]
    # Per key (= URN) the order is kept (one partition per key); compare per URN in order.
    by_urn: dict[str, list] = {}
    for key, theirs, raw in received:
        assert raw[:5] == b"\x00" + schema_id.to_bytes(4, "big")
        by_urn.setdefault(key, []).append(theirs)
    for mcp in sent:
        theirs = by_urn[mcp.entity_urn].pop(0)
        assert theirs.entityType == mcp.entity_type
        assert theirs.entityUrn == mcp.entity_urn
        assert theirs.changeType == mcp.change_type
        assert theirs.aspectName == mcp.aspect_name
        assert theirs.aspect.contentType == mcp.content_type
        assert theirs.headers == (dict(mcp.headers) if mcp.headers else None)
        assert json.loads(theirs.aspect.value) == mcp.aspect_value
        if mcp.system_metadata:
            assert theirs.systemMetadata.runId == mcp.system_metadata["runId"]
            assert theirs.systemMetadata.lastObserved == mcp.system_metadata["lastObserved"]
            assert theirs.systemMetadata.properties == mcp.system_metadata["properties"]
        else:
            assert theirs.systemMetadata is None
    assert all(not rest for rest in by_urn.values())


def test_schema_registered_once_as_datahubs_schema(kafka_broker, schema_registry, topic):
    with _emitter(kafka_broker, schema_registry.url, topic) as emitter:
        for mcp in _extra_mcps() * 50:
            emitter.emit(mcp)
    writes = [r for r in schema_registry.requests if r[0] == "POST"]
    assert writes == [("POST", f"/subjects/{topic}-value/versions")]
    (schema_id,) = schema_registry.registry.subjects[f"{topic}-value"]
    assert json.loads(schema_registry.registry.schemas[schema_id]) == json.loads(load_mcp_schema())


def test_acryl_datahub_emitter_and_ours_share_the_subject(kafka_broker, schema_registry, topic):
    """DataHub's own emitter registers the same schema: same id, and its messages decode like ours."""
    from datahub.emitter.kafka_emitter import DatahubKafkaEmitter
    from datahub.emitter.kafka_emitter import KafkaEmitterConfig as AcrylConfig
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as AcrylMCP
    from datahub.metadata.schema_classes import StatusClass

    urn = "urn:li:dataset:(urn:li:dataPlatform:hive,db.shared,PROD)"
    connection = {"bootstrap": kafka_broker, "schema_registry_url": schema_registry.url}
    theirs = DatahubKafkaEmitter(
        AcrylConfig.model_validate(
            {"connection": connection, "topic_routes": {"MetadataChangeProposal": topic}}
        )
    )
    theirs.emit(AcrylMCP(entityUrn=urn, aspect=StatusClass(removed=False)))
    theirs.close()
    with _emitter(kafka_broker, schema_registry.url, topic) as ours:
        ours.emit(
            MetadataChangeProposalWrapper(entity_urn=urn, aspect_name="status", aspect={"removed": False})
        )
    assert len(schema_registry.registry.subjects[f"{topic}-value"]) == 1
    records = _datahub_records(kafka_broker, schema_registry.url, topic, 2)
    assert len(records) == 2
    (_, first, raw_theirs), (_, second, raw_ours) = records
    assert raw_theirs[:5] == raw_ours[:5]
    # DataHub writes the aspect JSON with spaces, we write it compact: same JSON.
    assert json.loads(first.aspect.value) == json.loads(second.aspect.value)
    first.aspect.value = second.aspect.value = ""
    assert first.to_obj() == second.to_obj()


def test_lookup_mode_against_read_only_registry(kafka_broker, schema_registry, topic):
    schema_id = schema_registry.register(f"{topic}-value", load_mcp_schema())
    schema_registry.read_only = True
    with _emitter(kafka_broker, schema_registry.url, topic, schema_registration="lookup") as emitter:
        emitter.emit_many(_extra_mcps())
        assert emitter.test_connection()["schema_id"] == schema_id
    assert [r for r in schema_registry.requests if r[1].endswith("/versions")] == []
    assert len(read_topic(kafka_broker, topic, count=2)) == 2


def test_register_mode_against_read_only_registry_says_what_to_do(kafka_broker, schema_registry, topic):
    schema_registry.register(f"{topic}-value", load_mcp_schema())
    schema_registry.read_only = True
    emitter = _emitter(kafka_broker, schema_registry.url, topic)
    seen: list[BaseException | None] = []
    with pytest.raises(AuthError) as info:
        emitter.emit(_extra_mcps()[0], callback=lambda err, msg: seen.append(err))
    assert "read-only" in str(info.value) and "schema_registration='lookup'" in str(info.value)
    assert info.value.status == 422 and "42205" in info.value.server_message
    assert seen == [info.value]
    emitter.close()


def test_register_mode_with_write_denied_key(kafka_broker, schema_registry, topic):
    schema_registry.deny_writes = True
    emitter = _emitter(kafka_broker, schema_registry.url, topic)
    with pytest.raises(AuthError) as info:
        emitter.emit(_extra_mcps()[0])
    assert info.value.status == 403
    emitter.close()


def test_lookup_mode_schema_not_registered(kafka_broker, schema_registry, topic):
    emitter = _emitter(kafka_broker, schema_registry.url, topic, schema_registration="lookup")
    with pytest.raises(RejectedError) as info:
        emitter.emit(_extra_mcps()[0])
    assert "not registered" in str(info.value) and f"{topic}-value" in str(info.value)
    assert "40401" in info.value.server_message
    emitter.close()


def test_incompatible_subject_is_rejected(kafka_broker, schema_registry, topic):
    other = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]}
    schema_registry.register(f"{topic}-value", json.dumps(other))
    emitter = _emitter(kafka_broker, schema_registry.url, topic)
    with pytest.raises(RejectedError) as info:
        emitter.emit(_extra_mcps()[0])
    assert info.value.status == 409
    emitter.close()


def test_test_connection_reports_what_it_found(kafka_broker, schema_registry, topic):
    with _emitter(kafka_broker, schema_registry.url, topic) as emitter:
        found = emitter.test_connection()
    assert found["topic"] == topic and found["partitions"] == 2
    assert found["brokers"] == 1 and found["bootstrap"] == kafka_broker
    assert found["subject"] == f"{topic}-value"
    assert found["schema_id"] == schema_registry.registry.subjects[f"{topic}-value"][0]


def test_emit_rejects_what_is_not_an_mcp(kafka_broker, schema_registry, topic):
    emitter = _emitter(kafka_broker, schema_registry.url, topic)
    with pytest.raises(InvalidEventError):
        emitter.emit({"entityUrn": "urn:li:dataset:x"})  # type: ignore[arg-type]
    emitter.close()


def test_closed_emitter_refuses_more(kafka_broker, schema_registry, topic):
    emitter = _emitter(kafka_broker, schema_registry.url, topic)
    emitter.emit(_extra_mcps()[0])
    emitter.close()
    emitter.close()  # safe twice
    with pytest.raises(DeliveryError, match="closed"):
        emitter.emit(_extra_mcps()[0])
    assert len(read_topic(kafka_broker, topic, count=1)) == 1
