"""Kafka emitter configuration: DataHub's KafkaEmitterConfig shape, validation, producer settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from emitters.base import create_emitter
from emitters.kafka import DEFAULT_MCP_TOPIC, KafkaConnectionConfig, KafkaEmitter, KafkaEmitterConfig
from emitters.kafka.producer import producer_settings


def test_exported_names():
    import emitters.kafka

    assert sorted(emitters.kafka.__all__) == [
        "DEFAULT_MCP_TOPIC",
        "DatahubKafkaEmitter",
        "KafkaConnectionConfig",
        "KafkaEmitter",
        "KafkaEmitterConfig",
    ]


def test_datahub_shape_is_accepted_verbatim():
    # A datahub-kafka sink config, as DataHub users write it.
    config = KafkaEmitterConfig.from_dict(
        {
            "connection": {
                "bootstrap": "broker-1:9092,broker-2:9092",
                "schema_registry_url": "https://registry:8081/",
                "schema_registry_config": {"basic.auth.user.info": "user:secret"},
                "producer_config": {"security.protocol": "SASL_SSL", "sasl.password": "pw"},
            },
            "topic_routes": {"MetadataChangeProposal": "MCP_custom", "MetadataChangeEvent": "MCE_v4"},
        }
    )
    assert config.connection.bootstrap == "broker-1:9092,broker-2:9092"
    assert config.connection.schema_registry_url == "https://registry:8081"
    assert config.mcp_topic == "MCP_custom"
    assert config.schema_registration == "register"
    # Secrets never show in the repr.
    assert "secret" not in repr(config) and "pw" not in repr(config)


def test_flat_form_and_defaults():
    config = KafkaEmitterConfig.from_dict(
        {
            "kind": "kafka",
            "bootstrap": "127.0.0.1:1234",
            "schema_registry_url": "http://r:8081",
            "delivery_timeout_seconds": "5",
        }
    )
    assert config.connection.bootstrap == "127.0.0.1:1234"
    assert config.mcp_topic == DEFAULT_MCP_TOPIC
    assert config.delivery_timeout_seconds == 5.0
    # None means "default" (what CLI layers pass for unset flags).
    config = KafkaEmitterConfig.from_dict({"connection": {"bootstrap": None, "schema_registry_url": None}})
    assert config.connection == KafkaConnectionConfig()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"connection": {"bootstrap": "no-port"}}, "connection.bootstrap"),
        ({"connection": {"schema_registry_url": "ftp://registry:8081"}}, "connection.schema_registry_url"),
            ({"connection": {"schema_registry_url": "registry:99999"}}, "connection.schema_registry_url"),
        ({"connection": {"producer_config": ["x"]}}, "connection.producer_config"),
        ({"connection": {"bogus": 1}}, "connection"),
        ({"schema_registration": "sometimes"}, "schema_registration"),
        ({"delivery_timeout_seconds": 0}, "delivery_timeout_seconds"),
        ({"max_queue_full_block_seconds": "soon"}, "max_queue_full_block_seconds"),
        ({"topic_routes": "MCP"}, "topic_routes"),
        ({"tpoic_routes": {}}, "kafka"),
        ({"connection": "broker:9092"}, "connection"),
    ],
)
def test_bad_settings_name_the_key(data, key):
    with pytest.raises(ConfigError) as info:
        KafkaEmitterConfig.from_dict(data)
    assert info.value.key == key


def test_a_registry_url_without_scheme_gets_http_as_a_gms_url_does():
    config = KafkaEmitterConfig.from_dict({"connection": {"schema_registry_url": "registry:8081, https://r2:8081/"}})
    assert config.connection.schema_registry_url == "http://registry:8081,https://r2:8081"


def test_producer_defaults_are_safe_and_overridable():
    settings = producer_settings(KafkaEmitterConfig.from_dict({"delivery_timeout_seconds": 7}))
    assert settings["enable.idempotence"] is True
    assert settings["acks"] == "all"
    assert settings["message.timeout.ms"] == 7000
    assert settings["allow.auto.create.topics"] is False
    assert settings["bootstrap.servers"] == "localhost:9092"

    user = {
        "acks": "1",
        "enable.idempotence": False,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "u",
        "sasl.password": "p",
        "delivery.timeout.ms": 1234,
    }
    settings = producer_settings(KafkaEmitterConfig.from_dict({"connection": {"producer_config": user}}))
    for key, value in user.items():
        assert settings[key] == value
    assert "message.timeout.ms" not in settings  # the user's alias wins


def test_create_emitter_does_no_network_io():
    # Nothing listens on port 1: a constructor that connected would fail or hang.
    emitter = create_emitter(
        "kafka", {"connection": {"bootstrap": "127.0.0.1:1", "schema_registry_url": "http://127.0.0.1:1"}}
    )
    assert isinstance(emitter, KafkaEmitter)
    assert emitter.subject == "MetadataChangeProposal_v1-value"
    emitter.close()  # nothing was started, nothing to flush


def test_constructor_takes_only_its_config():
    with pytest.raises(ConfigError):
        KafkaEmitter({"bootstrap": "x:1"})  # type: ignore[arg-type]


def test_importing_the_package_does_not_import_kafka_or_avro_libraries():
    import subprocess
    import sys

    code = (
        "import sys, emitters.kafka, emitters.base; "
        "emitters.base.create_emitter('kafka', {}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('confluent_kafka', 'fastavro', 'orjson')))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_bad_registry_or_producer_settings_are_config_errors_on_first_use():
    from bridge.mcp import MetadataChangeProposalWrapper

    mcp = MetadataChangeProposalWrapper(entity_urn="urn:li:dataset:x", aspect_name="status", aspect={})
    base = {"bootstrap": "127.0.0.1:1", "schema_registry_url": "http://127.0.0.1:1"}
    emitter = create_emitter("kafka", {"connection": {**base, "schema_registry_config": {"bogus.key": 1}}})
    with pytest.raises(ConfigError) as info:
        emitter.emit(mcp)
    assert info.value.key == "connection.schema_registry_config" and "bogus.key" in str(info.value)
    emitter.close()
    emitter = create_emitter("kafka", {"connection": {**base, "producer_config": {"acks": "sometimes"}}})
    with pytest.raises(ConfigError) as info:
        emitter.emit(mcp)
    assert info.value.key == "connection.producer_config"
    emitter.close()
