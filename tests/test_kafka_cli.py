"""``bridge emit`` / ``bridge send`` / ``bridge check`` with the Kafka emitter, against a real broker and registry."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka")

from click.testing import CliRunner  # noqa: E402

from bridge.cli import main  # noqa: E402
from bridge.mcp import MetadataChangeProposalWrapper  # noqa: E402
from tests.servers.kafka_broker import free_port, kafka_broker, read_topic  # noqa: E402

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
TOPIC = "MetadataChangeProposal_v1"
CLEAN_ENV = {
    name: None
    for name in (
        "BRIDGE_CONFIG",
        "BRIDGE_EMITTER",
        "BRIDGE_STATE_DIR",
        "BRIDGE_KAFKA_BOOTSTRAP",
        "BRIDGE_SCHEMA_REGISTRY_URL",
        "DATAHUB_GMS_URL",
        "DATAHUB_GMS_HOST",
        "DATAHUB_GMS_TOKEN",
    )
}


@pytest.fixture()
def broker():
    """A broker of this test's own, so counting the default topic's messages is exact."""
    with kafka_broker(topics=[TOPIC]) as running:
        yield running


def run(tmp_path: Path, *args: str, env: dict | None = None):
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    with contextlib.chdir(workdir):  # no ./bridge.toml from elsewhere
        return CliRunner().invoke(main, list(args), env={**CLEAN_ENV, **(env or {})}, catch_exceptions=False)


def kafka_flags(bootstrap: str, registry_url: str) -> list[str]:
    return ["--emitter", "kafka", "--kafka-bootstrap", bootstrap, "--schema-registry-url", registry_url]


def decode(messages, registry_url: str):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    from datahub.metadata.schema_classes import MetadataChangeProposalClass

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    return [MetadataChangeProposalClass.from_obj(deserializer(m.value(), ctx)) for m in messages]


def test_check_reports_broker_topic_and_schema_id(tmp_path, broker, schema_registry):
    result = run(tmp_path, "check", *kafka_flags(broker.bootstrap, schema_registry.url))
    assert result.exit_code == 0, result.output
    assert "ok: kafka emitter" in result.output
    assert f"topic={TOPIC}" in result.output
    schema_id = schema_registry.registry.subjects[f"{TOPIC}-value"][0]
    assert f"schema_id={schema_id}" in result.output


def test_check_from_environment(tmp_path, broker, schema_registry):
    env = {
        "BRIDGE_EMITTER": "kafka",
        "BRIDGE_KAFKA_BOOTSTRAP": broker.bootstrap,
        "BRIDGE_SCHEMA_REGISTRY_URL": schema_registry.url,
    }
    result = run(tmp_path, "check", env=env)
    assert result.exit_code == 0, result.output
    assert f"bootstrap={broker.bootstrap}" in result.output


def test_check_says_when_the_broker_is_down(tmp_path, schema_registry):
    bootstrap = f"127.0.0.1:{free_port()}"
    result = run(tmp_path, "check", *kafka_flags(bootstrap, schema_registry.url))
    assert result.exit_code != 0
    assert f"no Kafka broker answered at {bootstrap}" in result.output


def test_check_says_when_the_registry_is_down(tmp_path, broker):
    url = f"http://127.0.0.1:{free_port()}"
    result = run(tmp_path, "check", *kafka_flags(broker.bootstrap, url))
    assert result.exit_code != 0
    assert f"Schema Registry {url} unreachable" in result.output


def test_emit_mcp_file(tmp_path, broker, schema_registry):
    mcps = [
        MetadataChangeProposalWrapper(
            entity_urn=f"urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.t{i},PROD)",
            aspect_name="datasetProperties",
            aspect={"name": f"t{i}", "customProperties": {"i": str(i)}},
        )
        for i in range(40)
    ]
    path = tmp_path / "mcps.json"
    path.write_text(json.dumps([m.to_obj() for m in mcps]))
    result = run(tmp_path, "emit", str(path), *kafka_flags(broker.bootstrap, schema_registry.url))
    assert result.exit_code == 0, result.output
    received = decode(
        read_topic(broker.bootstrap, TOPIC, count=len(mcps) + 1, timeout=3), schema_registry.url
    )
    assert [(r.entityUrn, r.aspectName, json.loads(r.aspect.value)) for r in received] == [
        (m.entity_urn, m.aspect_name, m.aspect_value) for m in mcps
    ]


def test_send_translates_and_delivers(tmp_path, broker, schema_registry):
    result = run(
        tmp_path, "send", str(CORPUS / "airflow"), *kafka_flags(broker.bootstrap, schema_registry.url)
    )
    assert result.exit_code == 0, result.output
    reported = int(re.search(r"MCPs: (\d+)", result.output).group(1))
    assert reported > 0
    received = decode(read_topic(broker.bootstrap, TOPIC, count=reported + 1, timeout=3), schema_registry.url)
    assert len(received) == reported
    assert all(r.validate() and r.entityUrn.startswith("urn:li:") for r in received)
    assert {r.entityType for r in received} >= {"dataFlow", "dataJob", "dataset"}


def test_emit_with_registry_down_fails_clearly(tmp_path, broker):
    path = tmp_path / "mcps.json"
    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataset:x", aspect_name="status", aspect={"removed": False}
    )
    path.write_text(json.dumps([mcp.to_obj()]))
    url = f"http://127.0.0.1:{free_port()}"
    result = run(tmp_path, "emit", str(path), *kafka_flags(broker.bootstrap, url))
    assert result.exit_code != 0
    assert "unreachable" in result.output and url in result.output


def test_emit_an_oversized_mcp_fails_alone(tmp_path, broker, schema_registry):
    mcps = [
        MetadataChangeProposalWrapper(
            entity_urn=f"urn:li:dataset:(urn:li:dataPlatform:hive,t{i},PROD)",
            aspect_name="datasetProperties",
            aspect={"description": "x" * (20_000 if i == 5 else 10)},
        )
        for i in range(8)
    ]
    (tmp_path / "mcps.json").write_text(json.dumps([m.to_obj() for m in mcps]))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    (workdir / "bridge.toml").write_text(
        f'emitter = "kafka"\n'
        f"[emitters.kafka.connection]\n"
        f'bootstrap = "{broker.bootstrap}"\n'
        f'schema_registry_url = "{schema_registry.url}"\n'
        f"[emitters.kafka.connection.producer_config]\n"
        f'"message.max.bytes" = 10000\n'
    )
    result = run(tmp_path, "emit", str(tmp_path / "mcps.json"))
    assert result.exit_code == 1
    assert "too large" in result.output
    keys = [m.key().decode() for m in read_topic(broker.bootstrap, TOPIC, count=8, timeout=3)]
    assert keys == [m.entity_urn for i, m in enumerate(mcps) if i != 5]
