"""The consume loop (:func:`consume`): poll a batch, spool it, and commit each partition's offset up to
what the destination has acknowledged (see :mod:`bridge.consume._partitions`)."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from bridge.consume._dead_topic import DeadLetterTopic, producer_settings
from bridge.consume._decode import Decoded, decode_message
from bridge.consume._kafka import ConsumeHealth, KafkaWatch
from bridge.consume._partitions import Partitions
from bridge.consume._poll import Unreadable, poll
from bridge.consume._store import DeadLetters, Polled, SpoolDown, store
from bridge.errors import ConfigError, require
from bridge.logs import log_fields
from bridge.spool import SpoolService

__all__ = ["ConsumeSettings", "ConsumeStats", "consume"]

log = logging.getLogger("bridge.consume")

_BACKOFF = (1.0, 30.0)  # first and longest pause before reading a batch again after a spool failure
_COMMIT_EVERY = 0.5  # seconds between two commits of what was delivered
_LAG_EVERY = 5.0  # seconds between two looks at the partitions' ends (for the lag gauge)
#: Dead letters waiting for the dead-letter topic (it is failing) at which reading pauses.
DEAD_WAITING = 256


@attrs.frozen(kw_only=True)
class ConsumeSettings:
    """Where to read from.

    Args:
        topic: the OpenLineage topic.
        bootstrap: Kafka bootstrap servers.
        group_id: consumer group shared by all workers.
        batch_size: most messages per poll.
        batch_bytes: most bytes of message values (and keys) per poll: a batch of messages near
            ``max_message_bytes`` holds a few of them, not ``batch_size`` (at least one message).
        poll_timeout: seconds to wait for messages per poll.
        auto_offset_reset: where a new group starts (``earliest`` reads what was written before).
        max_message_bytes: a larger message is dead-lettered unread (its first
            :data:`DEAD_BODY_LIMIT` characters are kept; the message stays in Kafka).
        max_pending: read events not delivered yet, at most; reading pauses there (and while the
            destination is down) and resumes at half.
        drain_timeout: seconds a stopping worker waits for what it read to be delivered (not when the
            destination is failing); what is left is read again by the partition's next owner.
        dead_letter_topic: send dead letters here (and let a partition's offset move past one only
            once the broker has it); ``None``: dead letters stay in this worker's spool only.
        max_dead_bytes: the spool keeps the newest dead letters of consumed messages holding about this
            many characters (those waiting for the dead-letter topic aside); older ones are dropped
            (the messages stay in Kafka while it keeps them). Reading pauses while
            :data:`DEAD_WAITING` dead letters wait for the dead-letter topic.
        consumer_config: extra librdkafka settings (security, SASL, ...); never logged.
    """

    topic: str
    bootstrap: str
    group_id: str = "lineage-bridge"
    batch_size: int = 500
    batch_bytes: int = 32 * 1024 * 1024
    poll_timeout: float = 0.5
    auto_offset_reset: str = "earliest"
    max_message_bytes: int = 16 * 1024 * 1024
    max_pending: int = 5000
    drain_timeout: float = 10.0
    dead_letter_topic: str | None = None
    max_dead_bytes: int = 256 * 1024 * 1024
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
    forwarded: int = 0


def _rewind(consumer: Any, ck: Any, remaining: list[Polled], unreadable: Unreadable) -> None:
    """Make the next poll read ``remaining`` again (their offsets are not committed)."""
    first: dict[tuple[str, int], int] = {}
    for polled in remaining:
        first.setdefault((polled.topic, polled.partition), polled.offset)
    unreadable.forget(first)  # a batch's end being looked for there is looked for again when it is reached
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(ck.TopicPartition(topic, partition, offset))
        except ck.KafkaException as exc:
            # A rebalance took the partition away: its next owner reads from the committed offset.
            log.info("cannot rewind", extra=log_fields(partition=f"{topic}[{partition}]", error=str(exc)))


def _consumer_config(settings: ConsumeSettings, watch: KafkaWatch) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap,
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": settings.auto_offset_reset,
        "enable.partition.eof": False,
        # Incremental rebalances: a worker joining or leaving moves only the partitions that must move.
        "partition.assignment.strategy": "cooperative-sticky",
        # Polling goes on while the partitions are paused, so a long outage never drops a worker from the group.
        "max.poll.interval.ms": 300000,
        **watch.client_config(),
        **dict(settings.consumer_config),
    }


def consume(
    service: SpoolService,
    settings: ConsumeSettings,
    *,
    stop: threading.Event | None = None,
    on_commit: Any = None,
    health: ConsumeHealth | None = None,
    decode: Callable[[bytes | None, str], Decoded] | None = None,
) -> ConsumeStats:
    """Read the topic into the spool until ``stop`` is set; commit offsets as events are delivered.

    Args:
        service: a started :class:`~bridge.spool.SpoolService` (its workers deliver).
        settings: topic, bootstrap, group.
        stop: set it to end the loop (what was delivered by then is committed).
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
    config = _consumer_config(settings, watch)
    spool = service.spool
    assert spool is not None, "SpoolService.start() was not called"
    dead_topic = None
    try:
        consumer = ck.Consumer(config)
        if settings.dead_letter_topic:
            dead_topic = DeadLetterTopic(settings.dead_letter_topic,
                                         producer_settings(settings.bootstrap, settings.consumer_config), watch.scrub)
    except ck.KafkaException as exc:
        raise ConfigError(f"cannot create the Kafka consumer: {watch.scrub(str(exc))}", key="consume") from exc
    # What an earlier run spooled and did not deliver was never committed: Kafka gives it again to
    # whoever owns its partition now, so the spool keeps no second copy.
    dropped = spool.forget_sources(dead=dead_topic is not None).result()
    if dropped:
        log.info("undelivered events of an earlier run dropped: they are read again from Kafka",
                    extra=log_fields(events=dropped))
    unreadable = Unreadable(consumer, ck)
    partitions = Partitions(consumer, ck, spool, forwarding=dead_topic is not None, metrics=service.metrics,
                            cooperative="cooperative" in str(config["partition.assignment.strategy"]),
                            let_go=unreadable.forget)
    consumer.subscribe([settings.topic], on_assign=partitions.on_assign, on_revoke=partitions.on_revoke,
                       on_lost=partitions.on_lost)
    _gauges(service, health, partitions)
    stats = ConsumeStats()
    log.info(
        "bridge consume reading",
        extra=log_fields(topic=settings.topic, bootstrap=settings.bootstrap, group=settings.group_id,
                         dead_letter_topic=settings.dead_letter_topic),
    )
    dead = DeadLetters(spool, settings.max_dead_bytes, forwarding=dead_topic is not None)
    dead.trim()
    pause = _BACKOFF[0]
    last_commit = last_lag = 0.0
    try:
        while not stop.is_set():
            _pace(service, settings, partitions, spool.forward_count() if dead_topic is not None else 0)
            batch = poll(consumer, ck, settings, decode, watch, unreadable)
            if batch:
                watch.reachable()
                try:
                    store(service, batch, stats)
                except SpoolDown as exc:
                    # Not the messages' fault: keep them unread, read them again after a pause.
                    partitions.stored((p.topic, p.partition, p.last) for p in batch[:exc.index])
                    health.spool_error = str(exc)
                    watch.emit(logging.ERROR, "spool write failed: reading the batch again after a pause",
                               "spool", to=log, error=str(exc), pause=pause)
                    _rewind(consumer, ck, batch[exc.index:], unreadable)
                    stop.wait(pause)
                    pause = min(pause * 2, _BACKOFF[1])
                    continue
                partitions.stored((p.topic, p.partition, p.last) for p in batch)
                dead.stored(batch)
                if health.spool_error is not None:
                    log.warning("spool writes work again")
                health.spool_error, pause = None, _BACKOFF[0]
            if dead_topic is not None:
                stats.forwarded += dead_topic.forward(spool)
                health.dead_letter_error = dead_topic.error
            dead.tick()
            if health.kafka == "reachable" and time.monotonic() - last_lag >= _LAG_EVERY:
                last_lag = time.monotonic()
                partitions.refresh_lag()
            if time.monotonic() - last_commit >= _COMMIT_EVERY or stop.is_set():
                last_commit = time.monotonic()
                if partitions.commit():
                    stats.commits += 1
                    if on_commit is not None:
                        on_commit(stats)
        _drain(consumer, service, settings, partitions, dead_topic)
        if partitions.commit():
            stats.commits += 1
    finally:
        if dead_topic is not None:
            dead_topic.close()
        consumer.close()
    return stats


def _drain(consumer: Any, service: SpoolService, settings: ConsumeSettings, partitions: Partitions,
           dead_topic: DeadLetterTopic | None) -> None:
    """On stop: read nothing more; give delivery up to ``drain_timeout`` to finish what was read (unless the
    destination is failing), committing as it goes. What is left is read again by the next owner."""
    spool = service.spool
    assert spool is not None
    partitions.pause("stopping")
    deadline = time.monotonic() + settings.drain_timeout
    while time.monotonic() < deadline and not service.delivery_paused:
        if dead_topic is not None:
            dead_topic.forward(spool)
        partitions.commit()
        if not spool.depth() and not (dead_topic is not None and spool.to_forward(1)):
            return
        consumer.consume(num_messages=1, timeout=0.1)  # keeps the membership; paused: reads nothing


def _pace(service: SpoolService, settings: ConsumeSettings, partitions: Partitions, dead_waiting: int) -> None:
    """Pause reading while the destination is down, too much is undelivered or too many dead letters wait
    for the dead-letter topic; resume when it catches up."""
    depth = service.spool.depth() if service.spool is not None else 0
    if service.delivery_paused and depth:
        partitions.pause("the destination is failing")
    elif depth >= settings.max_pending:
        partitions.pause(f"{depth} events read and not delivered yet (max_pending {settings.max_pending})")
    elif dead_waiting >= DEAD_WAITING:
        partitions.pause(f"{dead_waiting} dead letters wait for the dead-letter topic")
    elif partitions.paused and depth <= settings.max_pending // 2 and dead_waiting <= DEAD_WAITING // 2:
        partitions.resume()


def _gauges(service: SpoolService, health: ConsumeHealth, partitions: Partitions) -> None:
    metrics = service.metrics
    metrics.gauge("bridge_kafka_reachable", "1 while the Kafka broker answers, else 0.",
                  lambda: float(health.kafka == "reachable"))
    metrics.gauge("bridge_kafka_partitions_owned", "Partitions this worker reads.", lambda: float(len(partitions.owned)))
    metrics.gauge("bridge_kafka_paused", "1 while reading is paused (destination down or too much undelivered).",
                  lambda: float(partitions.paused))
    metrics.gauge_family("bridge_kafka_consumer_lag", "Messages of a partition not yet delivered (the log end "
                         "minus the committed offset), per owned partition.", "partition", lambda: dict(partitions.lag))
    metrics.gauge("bridge_oldest_undelivered_age_seconds", "Age of the oldest event read and not yet delivered "
                  "(0 when none).", lambda: _oldest_age(service))


def _oldest_age(service: SpoolService) -> float:
    age = service.spool.status()["oldest_pending_age_s"] if service.spool is not None else None
    return float(age or 0.0)
