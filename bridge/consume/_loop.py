"""The consume loop (:func:`consume`): poll a batch, spool it, then commit its offsets."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs

from bridge.consume._decode import DEAD_BODY_LIMIT, Decoded, decode_message, storable
from bridge.consume._kafka import ConsumeHealth, KafkaWatch
from bridge.errors import ConfigError, DeliveryError, require
from bridge.logs import log_fields
from bridge.spool import SpoolClosedError, SpoolService

__all__ = ["ConsumeSettings", "ConsumeStats", "consume"]

log = logging.getLogger("bridge.consume")

_REASON_LIMIT = 2000
_BACKOFF = (1.0, 30.0)  # first and longest pause before reading a batch again after a spool failure


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
        max_message_bytes: a larger message is dead-lettered unread (its first
            :data:`DEAD_BODY_LIMIT` characters are kept; the message stays in Kafka).
        consumer_config: extra librdkafka settings (security, SASL, ...); never logged.
    """

    topic: str
    bootstrap: str
    group_id: str = "lineage-bridge"
    batch_size: int = 500
    poll_timeout: float = 0.5
    auto_offset_reset: str = "earliest"
    max_message_bytes: int = 16 * 1024 * 1024
    consumer_config: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsumeSettings:
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigError(f"bad consume settings: {exc}", key="consume") from exc


@attrs.define
class ConsumeStats:
    """What :func:`consume` did (messages counted once they are spooled, dead-lettered or skipped)."""

    messages: int = 0
    spooled: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    commits: int = 0


@attrs.frozen
class _Polled:
    topic: str
    partition: int
    offset: int
    location: str
    decoded: Decoded


class _SpoolDown(Exception):
    """The spool failed for a reason of its own; ``index``: the first polled message not stored."""

    def __init__(self, error: BaseException, index: int) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.index = index


def _spool_down(exc: BaseException) -> bool:
    """Whether a spool write failed for a reason no message causes (disk full, I/O error, closed database)."""
    import sqlite3

    if isinstance(exc, (sqlite3.DataError, sqlite3.IntegrityError)):
        return False  # about the row's values: the message's fault
    return isinstance(exc, (sqlite3.Error, OSError))


def _dead_row(polled: _Polled, reason: str, body: str | None = None) -> tuple[str, str, str]:
    raw = polled.decoded.raw if body is None else body
    return f"kafka:{polled.location}", storable(raw, DEAD_BODY_LIMIT), storable(reason, _REASON_LIMIT)


def _write(service: SpoolService, batch: list[_Polled]) -> None:
    good = [event for polled in batch for event in polled.decoded.events]
    dead = [_dead_row(p, p.decoded.reason) for p in batch if p.decoded.reason is not None]
    if good:
        service.submit(good).result()
    if dead:
        cast(Any, service.spool).add_dead(dead).result()


def _store(service: SpoolService, batch: list[_Polled], stats: ConsumeStats) -> None:
    """Spool the batch's events and dead letters; if the spool refuses them, find the message(s) it refuses.

    Raises:
        _SpoolDown: the spool itself failed; messages from ``index`` on are not stored.
        SpoolClosedError: the spool was closed.
    """
    culprits = 0
    try:
        _write(service, batch)
    except SpoolClosedError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified: the spool's own failure, or one message's
        if _spool_down(exc):
            raise _SpoolDown(exc, 0) from exc
        log.warning("spooling a polled batch failed: spooling its messages one by one",
                    extra=log_fields(error=f"{type(exc).__name__}: {exc}", messages=len(batch)))
        for index, polled in enumerate(batch):
            try:
                _write(service, [polled])
                continue
            except SpoolClosedError:
                raise
            except Exception as one:  # noqa: BLE001 - classified as above
                if _spool_down(one):
                    raise _SpoolDown(one, index) from one
                reason = polled.decoded.reason or f"{polled.location}: could not be spooled: {type(one).__name__}: {one}"
            # Only this message is refused: dead-letter it (or, if even that fails, its reason alone).
            rows = [_dead_row(polled, reason), _dead_row(polled, ascii(reason), body="")]
            for row in rows:
                try:
                    cast(Any, service.spool).add_dead([row]).result()
                    break
                except Exception as dead:  # noqa: BLE001 - classified as above
                    if _spool_down(dead) or row is rows[-1]:
                        raise _SpoolDown(dead, index) from dead
            batch[index] = attrs.evolve(polled, decoded=Decoded(reason=reason))
            culprits += 1
    dead = sum(p.decoded.reason is not None for p in batch)
    skipped = sum(p.decoded.skip for p in batch)
    spooled = sum(len(p.decoded.events) for p in batch)
    stats.messages += len(batch)
    stats.spooled += spooled
    stats.dead_lettered += dead
    stats.skipped += skipped
    service.metrics.inc("received", spooled + dead)
    service.metrics.inc("dead_lettered", dead)
    for reason, count in (("invalid_event", dead - culprits), ("unstorable", culprits), ("tombstone", skipped)):
        if count:
            service.metrics.reject(reason, count)


def _rewind(consumer: Any, ck: Any, remaining: list[_Polled]) -> None:
    """Make the next poll read ``remaining`` again (their offsets are not committed)."""
    first: dict[tuple[str, int], int] = {}
    for polled in remaining:
        first.setdefault((polled.topic, polled.partition), polled.offset)
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(ck.TopicPartition(topic, partition, offset))
        except ck.KafkaException as exc:
            # A rebalance took the partition away: its next owner reads from the committed offset.
            log.info("cannot rewind", extra=log_fields(partition=f"{topic}[{partition}]", error=str(exc)))


def consume(
    service: SpoolService,
    settings: ConsumeSettings,
    *,
    stop: threading.Event | None = None,
    on_commit: Any = None,
    health: ConsumeHealth | None = None,
    decode: Callable[[bytes | None, str], Decoded] | None = None,
) -> ConsumeStats:
    """Read the topic into the spool until ``stop`` is set.

    Args:
        service: a started :class:`~bridge.spool.SpoolService` (its workers deliver).
        settings: topic, bootstrap, group.
        stop: set it to end the loop (after the current batch is spooled and committed).
        on_commit: called with the :class:`ConsumeStats` after each commit (progress, tests).
        health: kept up to date while the loop runs (for a readiness probe).
        decode: ``(value, location) -> Decoded`` for one message; :func:`decode_message` by default.

    Returns:
        The counts.

    Raises:
        MissingDependencyError: confluent-kafka is not installed (the ``kafka`` extra).
        DeliveryError: the consumer hit a fatal Kafka error.
        SpoolClosedError: the spool was closed under the loop.
    """
    ck = require("confluent_kafka", "kafka")
    stop = stop or threading.Event()
    health = health if health is not None else ConsumeHealth()
    if decode is None:
        decode = functools.partial(decode_message, max_bytes=settings.max_message_bytes)
    watch = KafkaWatch(settings.bootstrap, health, settings.consumer_config)
    config = {
        "bootstrap.servers": settings.bootstrap,
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": settings.auto_offset_reset,
        "enable.partition.eof": False,
        **watch.client_config(),
        **dict(settings.consumer_config),
    }
    try:
        consumer = ck.Consumer(config)
    except ck.KafkaException as exc:
        raise ConfigError(f"cannot create the Kafka consumer: {watch.scrub(str(exc))}", key="consume") from exc
    consumer.subscribe([settings.topic])
    service.metrics.gauge("bridge_kafka_reachable", "1 while the Kafka broker answers, else 0.",
                          lambda: float(health.kafka == "reachable"))
    stats = ConsumeStats()
    log.warning(
        "bridge consume reading",
        extra=log_fields(topic=settings.topic, bootstrap=settings.bootstrap, group=settings.group_id),
    )
    pause = _BACKOFF[0]
    try:
        while not stop.is_set():
            messages = consumer.consume(num_messages=settings.batch_size, timeout=settings.poll_timeout)
            batch: list[_Polled] = []
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise DeliveryError(f"fatal Kafka consumer error: {watch.scrub(str(error))}")
                    watch.emit(logging.WARNING, "kafka consumer error", f"error:{error.code()}", error=str(error))
                    continue
                location = f"{message.topic()}[{message.partition()}]@{message.offset()}"
                batch.append(_Polled(message.topic(), message.partition(), message.offset(), location,
                                     decode(message.value(), location)))
            if not batch:
                continue
            watch.reachable()
            try:
                _store(service, batch, stats)
            except _SpoolDown as exc:
                # Not the messages' fault: keep them, commit nothing, read them again after a pause.
                health.spool_error = str(exc)
                watch.emit(logging.ERROR, "spool write failed: offsets not committed, reading the batch again",
                           "spool", to=log, error=str(exc), pause=pause)
                _rewind(consumer, ck, batch[exc.index:])
                stop.wait(pause)
                pause = min(pause * 2, _BACKOFF[1])
                continue
            if health.spool_error is not None:
                log.warning("spool writes work again")
            health.spool_error, pause = None, _BACKOFF[0]
            # Only now that every polled event is durable may Kafka forget them.
            try:
                consumer.commit(asynchronous=False)
            except ck.KafkaException as exc:
                # A rebalance took the partitions away: the next owner re-reads (at-least-once).
                log.warning("offset commit failed", extra=log_fields(error=watch.scrub(str(exc))))
                continue
            stats.commits += 1
            if on_commit is not None:
                on_commit(stats)
    finally:
        consumer.close()
    return stats
