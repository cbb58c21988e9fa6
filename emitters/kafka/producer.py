"""The librdkafka producer settings, and librdkafka errors -> the project's errors.

Both decisions live here, in one place: what the producer is configured with
(safe and fast defaults, the user's ``producer_config`` on top) and which
project error class a librdkafka error becomes.
"""

from __future__ import annotations

from typing import Any

from bridge.errors import AuthError, ConnectionFailedError, DeliveryError, RejectedError, RetriableError

from .config import KafkaEmitterConfig

__all__ = ["NO_LOSS", "delivery_timeout_ms", "kafka_error", "producer_settings"]

#: What every producer of the project that must lose nothing sets (the MCP topic here, ``bridge serve
#: --to-topic``, consume's dead-letter topic): an ack means every in-sync replica has the message, and a
#: retried send is never written twice or out of order.
NO_LOSS: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}

# Defaults that neither lose nor reorder messages (idempotence implies
# acks=all, bounded in-flight requests, infinite retries within
# message.timeout.ms), and batch well: a few ms of linger lets librdkafka
# fill large compressed batches, which is where the throughput comes from.
_DEFAULTS: dict[str, Any] = {
    **NO_LOSS,
    "linger.ms": 10,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    # Our producer never creates topics behind the operator's back: a missing
    # topic is reported ("unknown topic") instead of being created with
    # broker defaults. producer_config can turn it back on.
    "allow.auto.create.topics": False,
    "client.id": "lineage-bridge",
}


def producer_settings(config: KafkaEmitterConfig) -> dict[str, Any]:
    """The producer's librdkafka config: our defaults, then the user's ``producer_config``.

    ``message.timeout.ms`` comes from ``delivery_timeout_seconds`` unless the user
    set it (or its alias ``delivery.timeout.ms``). How long an unknown topic is
    waited for is capped by the same timeout.
    """
    user = dict(config.connection.producer_config)
    settings: dict[str, Any] = {"bootstrap.servers": config.connection.bootstrap, **_DEFAULTS}
    timeout_ms = int(config.delivery_timeout_seconds * 1000)
    if "message.timeout.ms" not in user and "delivery.timeout.ms" not in user:
        settings["message.timeout.ms"] = timeout_ms
    settings["topic.metadata.propagation.max.ms"] = min(30_000, timeout_ms)
    settings.update(user)
    return settings


def delivery_timeout_ms(settings: dict[str, Any]) -> int:
    """The effective ``message.timeout.ms`` (librdkafka's default is 300 s)."""
    value = settings.get("message.timeout.ms", settings.get("delivery.timeout.ms", 300_000))
    return int(value)


# librdkafka error names -> what the caller should do.
_REJECTED = {
    "MSG_SIZE_TOO_LARGE",
    "_MSG_SIZE_TOO_LARGE",
    "RECORD_LIST_TOO_LARGE",
    "INVALID_RECORD",
    "CORRUPT_MESSAGE",
    "INVALID_TOPIC_EXCEPTION",
    "UNKNOWN_TOPIC_OR_PART",
    "_UNKNOWN_TOPIC",
    "_UNKNOWN_PARTITION",
    "_INVALID_ARG",
}
_AUTH = {
    "TOPIC_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    "SASL_AUTHENTICATION_FAILED",
    "_AUTHENTICATION",
    "_SSL",
}
_UNREACHABLE = {
    "_MSG_TIMED_OUT",
    "_TIMED_OUT",
    "_TRANSPORT",
    "_ALL_BROKERS_DOWN",
    "NETWORK_EXCEPTION",
    "_RESOLVE",
}


def kafka_error(
    err: Any,
    *,
    topic: str,
    bootstrap: str,
    urn: str | None = None,
    aspect: str | None = None,
    size: int | None = None,
    max_size: int | None = None,
) -> DeliveryError:
    """Turn a librdkafka ``KafkaError`` into the project's error, with a plain explanation.

    Args:
        err: the ``KafkaError``.
        topic: the topic the message was for.
        bootstrap: the broker addresses (named in the message).
        urn: entity URN of the proposal, if known.
        aspect: aspect name of the proposal, if known.
        size: the message's size in bytes, for "too large" errors.
        max_size: the producer's ``message.max.bytes``, for "too large" errors.
    """
    name = err.name() if hasattr(err, "name") else str(err)
    text = err.str() if hasattr(err, "str") else str(err)
    details: dict[str, Any] = {"urn": urn, "aspect": aspect, "server_message": f"{name}: {text}"}
    if name in ("MSG_SIZE_TOO_LARGE", "_MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"):
        limit = f" (producer message.max.bytes={max_size})" if max_size else ""
        got = f"{size} bytes" if size else "the message"
        return RejectedError(
            f"{got} is too large for Kafka topic {topic!r}{limit}; raise message.max.bytes "
            "(producer_config and the topic's max.message.bytes) or send it over REST",
            **details,
        )
    if name in ("UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC", "INVALID_TOPIC_EXCEPTION"):
        return RejectedError(
            f"topic {topic!r} does not exist on the Kafka cluster at {bootstrap}; create it or fix topic_routes",
            **details,
        )
    if name in _AUTH:
        return AuthError(
            f"Kafka at {bootstrap} refused access to topic {topic!r}; check credentials/ACLs", **details
        )
    if name in _REJECTED:
        return RejectedError(f"Kafka at {bootstrap} rejected the message for topic {topic!r}", **details)
    if name in _UNREACHABLE:
        return ConnectionFailedError(
            f"not delivered to Kafka at {bootstrap} (topic {topic!r}) in time; is the broker reachable?",
            **details,
        )
    if hasattr(err, "retriable") and err.retriable():
        return RetriableError(
            f"Kafka at {bootstrap} failed to take the message for topic {topic!r}", **details
        )
    if hasattr(err, "fatal") and err.fatal():
        return DeliveryError(
            f"the Kafka producer for {bootstrap} failed fatally (topic {topic!r})", **details
        )
    return DeliveryError(f"Kafka at {bootstrap} did not take the message for topic {topic!r}", **details)
