"""The dead-letter topic: what ``bridge consume`` gives up on goes to Kafka, not only to a worker's disk.

:class:`DeadLetterTopic` sends the spool's dead letters of consumed events (messages that are not
usable events, events DataHub rejects) to ``--dead-letter-topic`` with an idempotent producer
(``acks=all``). A partition's offset moves past a dead letter only once the broker has acked it, so a
bad message never blocks its partition and is never only on a disk that can vanish.

Each dead-letter message holds the message (or event) as text and these headers:

==========================  ====================================================
``bridge.reason``           why it was given up on (the server's message, if any)
``bridge.source.topic``     the topic it was read from
``bridge.source.partition`` its partition
``bridge.source.offset``    its offset there
``bridge.failed_at``        when (epoch seconds)
``bridge.truncated``        only on a dead letter cut to fit the topic: the size in bytes of
                            the text it was cut from (the worker keeps at most ``DEAD_BODY_LIMIT``
                            characters of a message; the message itself is still at its place in
                            the source topic while Kafka keeps it)
==========================  ====================================================

A dead letter is cut to fit the producer's ``message.max.bytes`` (librdkafka's default, 1,000,000
bytes: a broker's default limit too), and cut shorter when the broker refuses it as too large (its
topic takes less), so one large poison message never keeps the dead letters behind it waiting.

:func:`replay_dead` (``bridge replay-dead --from-topic``) sends them back to the topic they came
from, once what made them fail is fixed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError, DeliveryError, require
from bridge.logs import LogThrottle, log_fields
from bridge.spool import Spool

__all__ = ["DeadLetterTopic", "ReplayStats", "producer_settings", "replay_dead"]

#: Header of a dead letter cut to fit the dead-letter topic (:func:`replay_dead` does not send it back).
TRUNCATED = "bridge.truncated"
#: Bytes kept for a record's framing besides its key, value and headers.
_FRAMING = 512
#: Most characters of dead letters read from the spool per send (a poison stream's are up to a MiB each).
_CHUNK = 16 * 1024 * 1024
#: The least a dead letter's size limit is cut down to when the broker refuses dead letters as too large.
_LEAST = 4096

log = logging.getLogger("bridge.consume")

_SOURCE = re.compile(r"^(?P<topic>.+)\[(?P<partition>\d+)\]$")
#: Settings a consumer's configuration shares with a producer on the same cluster (security, network).
_SHARED = ("security.", "sasl.", "ssl.", "socket.", "broker.", "client.", "enable.ssl", "api.version")


def producer_settings(bootstrap: str, consumer_config: Mapping[str, Any]) -> dict[str, Any]:
    """An idempotent, ``acks=all`` producer for the cluster a consumer reads (its security settings kept)."""
    from emitters.kafka.producer import NO_LOSS  # (the Kafka emitter's package: only when producing)

    shared = {k: v for k, v in consumer_config.items() if k.startswith(_SHARED)}
    return {"bootstrap.servers": bootstrap, **shared, **NO_LOSS, "linger.ms": 5, "message.timeout.ms": 30000}


class DeadLetterTopic:
    """Sends the spool's waiting dead letters to the topic, and notes those the broker acked.

    Args:
        topic: the dead-letter topic.
        producer_config: librdkafka settings (see :func:`producer_settings`).
        scrub: removes configured secrets from what is logged.
    """

    def __init__(self, topic: str, producer_config: Mapping[str, Any], scrub: Any = str) -> None:
        ck = self._ck = require("confluent_kafka", "kafka")
        self.topic = topic
        self._scrub = scrub
        self._throttle = LogThrottle(every=60.0)
        try:
            self._producer = ck.Producer(dict(producer_config))
        except ck.KafkaException as exc:
            raise ConfigError(f"cannot create the dead-letter producer: {scrub(str(exc))}",
                              key="dead_letter_topic") from exc
        self.sent = 0
        self.error: str | None = None  # why the last send failed; ``None`` once one works again
        #: Largest dead letter sent (key, value and headers); halved when the broker says one is too large.
        self.max_bytes = int(producer_config.get("message.max.bytes", 1_000_000))

    def forward(self, spool: Spool, *, timeout: float = 10.0) -> int:
        """Send what waits (a batch at most); returns how many the broker acked. Never raises for Kafka."""
        letters = spool.to_forward(max_chars=_CHUNK)
        if not letters:
            return 0
        acked: list[int] = []
        failed: list[str] = []
        too_large: list[int] = []

        def delivered(error: Any, _message: Any, letter_id: int) -> None:
            if error is None:
                acked.append(letter_id)
            else:
                failed.append(str(error))
                if error.code() == ck.KafkaError.MSG_SIZE_TOO_LARGE:
                    too_large.append(letter_id)

        ck = self._ck
        for letter in letters:
            key, value, headers = self._record(letter)
            try:
                self._producer.produce(self.topic, value=value, key=key, headers=headers,
                                       on_delivery=lambda e, m, i=letter.id: delivered(e, m, i))
            except BufferError:
                break  # the producer's queue is full: the rest go next time
            except Exception as exc:  # noqa: BLE001 - KafkaException and too-large values: reported below
                failed.append(str(exc))
                if isinstance(exc, ck.KafkaException) and exc.args[0].code() == ck.KafkaError.MSG_SIZE_TOO_LARGE:
                    too_large.append(letter.id)
                break
        self._producer.flush(timeout)
        if acked:
            spool.forwarded(acked).result()
            self.sent += len(acked)
        if too_large and self.max_bytes > _LEAST:
            self.max_bytes = max(self.max_bytes // 2, _LEAST)
            log.warning("the dead-letter topic refused a dead letter as too large: dead letters are cut shorter",
                        extra=log_fields(topic=self.topic, max_bytes=self.max_bytes))
        self.error = self._scrub(failed[-1]) if failed else None
        if failed:
            self._throttle.log(log, logging.ERROR, "dead letters not yet in the dead-letter topic; "
                               "their partitions wait for them", "dlt", topic=self.topic,
                               waiting=len(letters) - len(acked), error=self._scrub(failed[-1]))
        return len(acked)

    def _record(self, letter: Any) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """The dead letter's key, value and headers, its value cut to fit :attr:`max_bytes`."""
        match = _SOURCE.match(letter.source or "")
        topic, partition = (match["topic"], match["partition"]) if match else (letter.source or "", "")
        headers = [("bridge.reason", letter.reason.encode("utf-8", "backslashreplace")),
                   ("bridge.source.topic", topic.encode()), ("bridge.source.partition", partition.encode()),
                   ("bridge.source.offset", str(letter.source_offset).encode()),
                   ("bridge.failed_at", f"{letter.failed_at:.3f}".encode())]
        key = letter.key.encode("utf-8", "backslashreplace")
        value = letter.body.encode("utf-8", "backslashreplace")
        room = self.max_bytes - _FRAMING - len(key) - sum(len(k) + len(v) + 16 for k, v in headers)
        if len(value) > room:
            headers.append((TRUNCATED, str(len(value)).encode()))
            value = value[:max(room - len(TRUNCATED) - 32, 0)].decode("utf-8", "ignore").encode("utf-8")
        return key, value, headers

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)


@attrs.define
class ReplayStats:
    """What :func:`replay_dead` did."""

    read: int = 0
    sent: int = 0
    by_topic: dict[str, int] = attrs.field(factory=dict)
    #: Dead letters not sent back because they do not hold the whole message (cut to fit the dead-letter
    #: topic, or empty: a record that could not be read): where each message is in its source topic
    #: (``topic[partition]@offset``).
    not_replayed: list[str] = attrs.field(factory=list)


def replay_dead(from_topic: str, bootstrap: str, *, group: str = "bridge-replay-dead", to_topic: str | None = None,
                config: Mapping[str, Any] | None = None, idle: float = 3.0, timeout: float = 30.0) -> ReplayStats:
    """Send the dead-letter topic's messages (those this group has not replayed yet) back to the topic
    each came from (``bridge.source.topic``), or to ``to_topic``; then commit, so each is replayed once.

    A dead letter that does not hold the whole message -- cut to fit the dead-letter topic (header
    ``bridge.truncated``), or empty (a record that could not be read) -- is not sent back:
    :attr:`ReplayStats.not_replayed` names where each message is in its topic.

    Replays what was dead-lettered before it started (message timestamps), so a message that fails
    again while it runs waits for the next replay; stops once every partition reached that point or
    nothing came for ``idle`` seconds.

    Raises:
        MissingDependencyError: confluent-kafka is not installed.
        DeliveryError: the broker cannot be reached, or did not ack every replayed message (then nothing
            is marked replayed: run it again).
        ConfigError: a dead letter names no source topic and ``to_topic`` is not given.
    """
    ck = require("confluent_kafka", "kafka")
    config = dict(config or {})
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                            "auto.offset.reset": "earliest", **config})
    producer = ck.Producer(producer_settings(bootstrap, config))
    stats = ReplayStats()
    try:
        metadata = consumer.list_topics(from_topic, timeout=timeout)
        topic = metadata.topics.get(from_topic)
        if topic is None or topic.error is not None:
            raise DeliveryError(f"cannot read {from_topic}: {topic.error if topic is not None else 'no such topic'}")
        committed = consumer.committed([ck.TopicPartition(from_topic, p) for p in topic.partitions], timeout=timeout)
        consumer.assign([ck.TopicPartition(from_topic, tp.partition, tp.offset if tp.offset >= 0 else ck.OFFSET_BEGINNING)
                         for tp in committed])
        errors: list[str] = []
        done: dict[int, int] = {}  # partition -> the offset after the last message replayed
        reached: set[int] = set()  # partitions read up to when the replay started
        started_ms = time.time() * 1000
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle and len(reached) < len(committed):
            message = consumer.poll(0.2)
            if message is None or message.partition() in reached:
                continue
            if message.error() is not None:
                raise DeliveryError(f"cannot read {from_topic}: {message.error()}")
            quiet_since = time.monotonic()
            if message.timestamp()[1] > started_ms:
                reached.add(message.partition())  # dead-lettered since the replay started: next time
                continue
            headers = dict(message.headers() or [])
            if TRUNCATED in headers or not message.value():
                source = [(headers.get(f"bridge.source.{k}") or b"?").decode("utf-8", "replace")
                          for k in ("topic", "partition", "offset")]
                stats.not_replayed.append(f"{source[0]}[{source[1]}]@{source[2]}")
                done[message.partition()] = message.offset() + 1
                continue
            target = to_topic or (headers.get("bridge.source.topic") or b"").decode()
            if not target:
                raise ConfigError(f"{from_topic}[{message.partition()}]@{message.offset()} names no source topic: "
                                  "give --to-topic")
            producer.produce(target, value=message.value(), key=message.key(),
                             on_delivery=lambda e, m: errors.append(str(e)) if e is not None else None)
            producer.poll(0)
            stats.read += 1
            stats.by_topic[target] = stats.by_topic.get(target, 0) + 1
            done[message.partition()] = message.offset() + 1
        if producer.flush(timeout) or errors:
            raise DeliveryError(f"not every replayed message was acked: {errors[-1] if errors else 'timed out'}; "
                                "nothing was marked as replayed, run it again")
        stats.sent = stats.read
        if done:
            consumer.commit(offsets=[ck.TopicPartition(from_topic, p, offset) for p, offset in done.items()],
                            asynchronous=False)
        log.warning("dead letters replayed", extra=log_fields(topic=from_topic, sent=stats.sent,
                                                              not_replayed=len(stats.not_replayed)))
        return stats
    finally:
        consumer.close()
