"""``bridge consume``: OpenLineage events from a Kafka topic into the durable spool.

Producers write events with openlineage-python's Kafka transport (one JSON
event per message, keyed by job so a run's events share a partition). Any
number of ``bridge consume`` workers share the topic as one consumer group.
Offsets are committed only after the polled events are committed to the spool,
so a crash re-reads, never loses (at-least-once; DataHub UPSERTs are
idempotent). A message that is not a usable event is dead-lettered with the
reason instead of blocking its partition.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any, cast

import attrs

from bridge.errors import ConfigError, DeliveryError, InvalidEventError, require
from bridge.logs import log_fields
from bridge.spool import SpoolService, event_key

__all__ = ["ConsumeSettings", "ConsumeStats", "consume"]

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class ConsumeSettings:
    """Where to read from.

    Args:
        topic: the OpenLineage topic.
        bootstrap: Kafka bootstrap servers.
        group_id: consumer group shared by all workers.
        batch_size: most messages per poll (committed together).
        poll_timeout: seconds to wait for messages per poll.
        auto_offset_reset: where a new group starts (``earliest`` reads what was written before).
        consumer_config: extra librdkafka settings (security, SASL, ...); never logged.
    """

    topic: str
    bootstrap: str
    group_id: str = "lineage-bridge"
    batch_size: int = 500
    poll_timeout: float = 0.5
    auto_offset_reset: str = "earliest"
    consumer_config: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsumeSettings:
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigError(f"bad consume settings: {exc}", key="consume") from exc


@attrs.define
class ConsumeStats:
    """What :func:`consume` did."""

    messages: int = 0
    spooled: int = 0
    dead_lettered: int = 0
    commits: int = 0


def _decode(value: bytes | None, location: str, parse_event: Any) -> tuple[list[tuple[str, str]], str | None, str]:
    """(events to spool, reason if unusable, raw text)."""
    text = (value or b"").decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return [], f"not valid JSON: {exc}", text
    items = data if isinstance(data, list) else [data]
    out = []
    for index, obj in enumerate(items):
        try:
            parse_event(obj, location=location if len(items) == 1 else f"{location}[{index}]")
        except InvalidEventError as exc:
            return [], str(exc), text
        out.append((event_key(obj), json.dumps(obj, separators=(",", ":"), ensure_ascii=False)))
    return out, None, text


def consume(
    service: SpoolService,
    settings: ConsumeSettings,
    *,
    stop: threading.Event | None = None,
    on_commit: Any = None,
) -> ConsumeStats:
    """Read the topic into the spool until ``stop`` is set.

    Args:
        service: a started :class:`~bridge.spool.SpoolService` (its workers deliver).
        settings: topic, bootstrap, group.
        stop: set it to end the loop (after the current batch is spooled and committed).
        on_commit: called with the :class:`ConsumeStats` after each commit (progress, tests).

    Returns:
        The counts.

    Raises:
        MissingDependencyError: confluent-kafka is not installed (the ``kafka`` extra).
        DeliveryError: the consumer hit a fatal Kafka error.
    """
    ck = require("confluent_kafka", "kafka")
    from translators.openlineage import parse_event

    stop = stop or threading.Event()
    config = {
        "bootstrap.servers": settings.bootstrap,
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": settings.auto_offset_reset,
        "enable.partition.eof": False,
        **dict(settings.consumer_config),
    }
    try:
        consumer = ck.Consumer(config)
    except ck.KafkaException as exc:
        raise ConfigError(f"cannot create the Kafka consumer: {exc}", key="consume") from exc
    consumer.subscribe([settings.topic])
    stats = ConsumeStats()
    log.warning(
        "bridge consume reading",
        extra=log_fields(topic=settings.topic, bootstrap=settings.bootstrap, group=settings.group_id),
    )
    try:
        while not stop.is_set():
            messages = consumer.consume(num_messages=settings.batch_size, timeout=settings.poll_timeout)
            if not messages:
                continue
            good: list[tuple[str, str]] = []
            bad: list[tuple[str, str, str]] = []
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise DeliveryError(f"fatal Kafka consumer error: {error}")
                    log.warning("kafka consumer error", extra=log_fields(error=str(error)))
                    continue
                stats.messages += 1
                location = f"{message.topic()}[{message.partition()}]@{message.offset()}"
                events, reason, raw = _decode(message.value(), location, parse_event)
                if reason is None:
                    good.extend(events)
                else:
                    bad.append((f"kafka:{location}", raw, f"{location}: {reason}"))
            service.metrics.inc("received", len(good) + len(bad))
            if good:
                service.submit(good).result()
                stats.spooled += len(good)
            if bad:
                cast(Any, service.spool).add_dead(bad).result()
                service.metrics.reject("invalid_event", len(bad))
                service.metrics.inc("dead_lettered", len(bad))
                stats.dead_lettered += len(bad)
            # Only now that every polled event is durable may Kafka forget them.
            try:
                consumer.commit(asynchronous=False)
            except ck.KafkaException as exc:
                # A rebalance took the partitions away: the next owner re-reads (at-least-once).
                log.warning("offset commit failed", extra=log_fields(error=str(exc)))
                continue
            stats.commits += 1
            if on_commit is not None:
                on_commit(stats)
    finally:
        consumer.close()
    return stats
