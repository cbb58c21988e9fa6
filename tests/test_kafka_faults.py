"""Kafka emitter faults, with real parts: a broker that is down or comes up late, a dead registry,
a missing topic, an oversized message, a full local queue. Every MCP is either delivered or reported
(callback and flush); nothing hangs, nothing is lost silently."""

from __future__ import annotations

import time
import uuid

import pytest

pytest.importorskip("confluent_kafka")

from bridge.errors import (  # noqa: E402
    ConnectionFailedError,
    QueueFullError,
    RejectedError,
    UndeliveredError,
)
from bridge.mcp import MetadataChangeProposalWrapper  # noqa: E402
from emitters.kafka import KafkaEmitter, KafkaEmitterConfig  # noqa: E402
from tests.servers.kafka_broker import TansuBroker, free_port, read_topic  # noqa: E402


def _mcps(n: int, *, size: int = 0) -> list[MetadataChangeProposalWrapper]:
    return [
        MetadataChangeProposalWrapper(
            entity_urn=f"urn:li:dataset:(urn:li:dataPlatform:hive,db.table_{i},PROD)",
            aspect_name="datasetProperties",
            aspect={"name": f"table_{i}", "description": "x" * size},
        )
        for i in range(n)
    ]


def _emitter(bootstrap: str, registry_url: str, topic: str, producer_config=None, **extra) -> KafkaEmitter:
    return KafkaEmitter(
        KafkaEmitterConfig.from_dict(
            {
                "connection": {
                    "bootstrap": bootstrap,
                    "schema_registry_url": registry_url,
                    "producer_config": producer_config or {},
                    "client_timeout_seconds": 2,
                },
                "topic_routes": {"MetadataChangeProposal": topic},
                **extra,
            }
        )
    )


class Outcomes:
    """Collects every callback: (urn, error)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, BaseException | None, str]] = []

    def for_(self, mcp: MetadataChangeProposalWrapper):
        def callback(error: BaseException | None, message: str) -> None:
            self.calls.append((mcp.entity_urn, error, message))

        return callback

    @property
    def delivered(self) -> list[str]:
        return [urn for urn, err, _ in self.calls if err is None]

    @property
    def failed(self) -> list[tuple[str, BaseException]]:
        return [(urn, err) for urn, err, _ in self.calls if err is not None]


def test_broker_comes_up_late_every_mcp_delivered_once(schema_registry):
    broker = TansuBroker(port=free_port())  # clients point at it before it runs
    topic = "late-broker"
    mcps = _mcps(300)
    outcomes = Outcomes()
    emitter = _emitter(
        broker.bootstrap,
        schema_registry.url,
        topic,
        {"reconnect.backoff.max.ms": 500},
        delivery_timeout_seconds=60,
    )
    try:
        for mcp in mcps:
            emitter.emit(mcp, callback=outcomes.for_(mcp))
        time.sleep(1.0)  # the broker is really down while messages wait
        assert outcomes.calls == []  # nothing settled yet, nothing dropped
        broker.start()
        broker.create_topics([topic])
        emitter.flush()
        assert sorted(outcomes.delivered) == sorted(m.entity_urn for m in mcps)
        assert outcomes.failed == []
        # Exactly once on the topic (idempotent producer), in emit order.
        keys = [m.key().decode() for m in read_topic(broker.bootstrap, topic, count=len(mcps) + 1, timeout=5)]
        assert keys == [m.entity_urn for m in mcps]
    finally:
        emitter.close()
        broker.stop()


def test_broker_never_up_every_mcp_reported_failed(schema_registry):
    bootstrap = f"127.0.0.1:{free_port()}"
    emitter = _emitter(bootstrap, schema_registry.url, "nowhere", delivery_timeout_seconds=2)
    outcomes = Outcomes()
    with_callback, without = _mcps(20), _mcps(25)[20:]
    for mcp in with_callback:
        emitter.emit(mcp, callback=outcomes.for_(mcp))
    for mcp in without:
        emitter.emit(mcp)
    with pytest.raises(UndeliveredError) as info:
        emitter.flush()
    assert info.value.failed == 25
    assert sorted(urn for urn, _ in outcomes.failed) == sorted(m.entity_urn for m in with_callback)
    assert all(isinstance(err, ConnectionFailedError) for _, err in outcomes.failed)
    # each callback's message is the error's text, answering as the failed librdkafka message (DataHub's callbacks)
    reports = [(err, msg) for _, err, msg in outcomes.calls if err is not None]
    assert reports and all(msg == str(err) and msg.topic() == "nowhere" and msg.key() == err.urn.encode()
                           for err, msg in reports)  # fmt: skip
    first = info.value.errors[0]
    assert isinstance(first, ConnectionFailedError)
    assert bootstrap in str(first) and first.urn and first.aspect == "datasetProperties"
    # Failures emitted without a callback are named too (read back from the message).
    named = {e.urn for e in info.value.errors}
    assert len(info.value.errors) == 10 and all(e.aspect == "datasetProperties" for e in info.value.errors)
    assert named <= {m.entity_urn for m in with_callback + without}
    emitter.flush()  # reported once: the next flush starts clean
    emitter.close()


def test_full_local_queue_waits_bounded_then_raises(schema_registry):
    bootstrap = f"127.0.0.1:{free_port()}"
    emitter = _emitter(
        bootstrap,
        schema_registry.url,
        "nowhere",
        {"queue.buffering.max.messages": 5},
        delivery_timeout_seconds=2,
        max_queue_full_block_seconds=0.3,
    )
    mcps = _mcps(6)
    for mcp in mcps[:5]:
        emitter.emit(mcp)
    outcomes = Outcomes()
    with pytest.raises(QueueFullError) as info:
        emitter.emit(mcps[5], callback=outcomes.for_(mcps[5]))
    assert info.value.urn == mcps[5].entity_urn and bootstrap in str(info.value)
    assert [err for _, err in outcomes.failed] == [info.value]
    with pytest.raises(UndeliveredError) as undelivered:
        emitter.flush()
    assert undelivered.value.failed == 5  # the five queued ones; the refused one was raised
    emitter.close()


def test_registry_unreachable_is_a_clear_error(kafka_broker):
    url = f"http://127.0.0.1:{free_port()}"
    emitter = _emitter(kafka_broker, url, "MetadataChangeProposal_v1")
    outcomes = Outcomes()
    mcp = _mcps(1)[0]
    with pytest.raises(ConnectionFailedError) as info:
        emitter.emit(mcp, callback=outcomes.for_(mcp))
    assert url in str(info.value) and "unreachable" in str(info.value)
    assert [err for _, err in outcomes.failed] == [info.value]
    with pytest.raises(ConnectionFailedError):
        emitter.test_connection()
    emitter.close()


def test_registry_going_down_after_first_use_does_not_matter(kafka_broker_server, schema_registry):
    topic = f"reg-down-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    emitter = _emitter(kafka_broker_server.bootstrap, schema_registry.url, topic)
    mcps = _mcps(20)
    emitter.emit(mcps[0])
    schema_registry.stop()  # the schema id is cached
    emitter.emit_many(mcps[1:])
    emitter.close()
    assert len(read_topic(kafka_broker_server.bootstrap, topic, count=20)) == 20


def test_unknown_topic_is_reported_not_created(kafka_broker, schema_registry):
    topic = f"missing-{uuid.uuid4().hex[:8]}"
    emitter = _emitter(kafka_broker, schema_registry.url, topic, {"topic.metadata.propagation.max.ms": 1000})
    outcomes = Outcomes()
    mcp = _mcps(1)[0]
    emitter.emit(mcp, callback=outcomes.for_(mcp))
    with pytest.raises(UndeliveredError) as info:
        emitter.flush()
    assert info.value.failed == 1
    ((_, error),) = outcomes.failed
    assert isinstance(error, RejectedError) and topic in str(error) and "does not exist" in str(error)
    with pytest.raises(RejectedError, match="does not exist"):
        emitter.test_connection()
    emitter.close()
    from confluent_kafka.admin import AdminClient

    assert topic not in AdminClient({"bootstrap.servers": kafka_broker}).list_topics(timeout=10).topics


def test_oversized_message_is_rejected_at_once_and_others_go_through(kafka_broker_server, schema_registry):
    topic = f"big-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    emitter = _emitter(
        kafka_broker_server.bootstrap, schema_registry.url, topic, {"message.max.bytes": 10_000}
    )
    big = _mcps(1, size=20_000)[0]
    outcomes = Outcomes()
    with pytest.raises(RejectedError) as info:
        emitter.emit(big, callback=outcomes.for_(big))
    assert "too large" in str(info.value) and "message.max.bytes=10000" in str(info.value)
    assert info.value.urn == big.entity_urn and info.value.aspect == "datasetProperties"
    assert [err for _, err in outcomes.failed] == [info.value]
    emitter.emit_many(_mcps(3))
    emitter.close()
    assert len(read_topic(kafka_broker_server.bootstrap, topic, count=3)) == 3


def test_test_connection_with_broker_down(schema_registry):
    bootstrap = f"127.0.0.1:{free_port()}"
    emitter = _emitter(bootstrap, schema_registry.url, "MetadataChangeProposal_v1")
    with pytest.raises(ConnectionFailedError) as info:
        emitter.test_connection()
    assert bootstrap in str(info.value)
    emitter.close()


def test_a_raising_callback_does_not_break_delivery(kafka_broker_server, schema_registry):
    topic = f"cb-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    emitter = _emitter(kafka_broker_server.bootstrap, schema_registry.url, topic)
    outcomes = Outcomes()

    def bad(error, message):
        raise RuntimeError("user bug")

    mcps = _mcps(4)
    emitter.emit(mcps[0], callback=bad)
    for mcp in mcps[1:]:
        emitter.emit(mcp, callback=outcomes.for_(mcp))
    emitter.close()
    assert sorted(outcomes.delivered) == sorted(m.entity_urn for m in mcps[1:])


def test_sasl_settings_reach_the_broker_and_refused_credentials_are_auth_errors(schema_registry):
    """producer_config SASL settings pass straight through: an authenticating broker sees a SCRAM login."""
    from bridge.errors import AuthError

    sasl = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "nobody",
        "sasl.password": "not-the-password",
    }
    with TansuBroker(authentication=True) as broker:
        emitter = _emitter(broker.bootstrap, schema_registry.url, "secured", sasl, delivery_timeout_seconds=2)
        with pytest.raises(AuthError) as info:
            emitter.test_connection()
        assert "refused our credentials" in str(info.value) and "SASL" in str(info.value)
        assert "not-the-password" not in str(info.value)
        outcomes = Outcomes()
        mcp = _mcps(1)[0]
        emitter.emit(mcp, callback=outcomes.for_(mcp))
        with pytest.raises(UndeliveredError) as undelivered:
            emitter.flush()
        assert isinstance(undelivered.value.errors[0], AuthError)
        assert [type(err) for _, err in outcomes.failed] == [AuthError]
        emitter.close()
