"""One batch of messages from the consumer (:func:`poll`), bounded in count and in bytes, each decoded;
records librdkafka cannot read become dead letters (:func:`skip_unreadable` moves past them)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridge.consume._decode import Decoded
from bridge.consume._kafka import KafkaWatch
from bridge.consume._store import Polled
from bridge.errors import DeliveryError
from bridge.logs import log_fields

__all__ = ["poll", "skip_unreadable"]

log = logging.getLogger("bridge.consume")


def poll(consumer: Any, ck: Any, settings: Any, decode: Callable[[bytes | None, str], Decoded],
         watch: KafkaWatch) -> tuple[list[Polled], set[tuple[str, int, int]]]:
    """Read up to ``settings.batch_size`` messages and about ``settings.batch_bytes`` of them, decoded.

    librdkafka's ``consume(n)`` bounds only the count, and 500 messages near the size limit are
    gigabytes: each call asks for as many as fit in the bytes left if every one were
    ``max_message_bytes`` long (at least one). Only the first call waits ``poll_timeout``; the batch
    ends when a call finds fewer messages waiting than it asked for.

    Returns:
        The decoded messages and the places ``(topic, partition, offset)`` of unreadable records among them.

    Raises:
        DeliveryError: a fatal Kafka error.
    """
    batch: list[Polled] = []
    unreadable: set[tuple[str, int, int]] = set()
    size, timeout = 0, settings.poll_timeout
    while len(batch) < settings.batch_size and size < settings.batch_bytes:
        want = min(settings.batch_size - len(batch),
                   max(1, (settings.batch_bytes - size) // max(settings.max_message_bytes, 1)))
        got, read = _take(consumer.consume(num_messages=want, timeout=timeout), ck, decode, watch, batch, unreadable)
        size, timeout = size + read, 0
        if got < want or unreadable:
            break  # nothing more waiting, or librdkafka must first be moved past an unreadable record
    return batch, unreadable


def _take(messages: list[Any], ck: Any, decode: Callable[[bytes | None, str], Decoded], watch: KafkaWatch,
          batch: list[Polled], unreadable: set[tuple[str, int, int]]) -> tuple[int, int]:
    """Decode ``messages`` into ``batch``; returns how many there were and their bytes (values and keys).
    (The messages themselves, their values, are let go on return: only the decoded batch stays.)"""
    size = 0
    for message in messages:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise DeliveryError(f"fatal Kafka consumer error: {watch.scrub(str(error))}")
            place = _unreadable_place(message, ck)
            if place is not None and place not in unreadable:
                unreadable.add(place)
                batch.append(_unreadable(place, watch.scrub(error.str())))
            elif place is None:
                watch.emit(logging.WARNING, "kafka consumer error", f"error:{error.code()}", error=str(error))
            continue
        value, key = message.value(), message.key()
        size += len(value or b"") + len(key or b"")
        location = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        batch.append(Polled(message.topic(), message.partition(), message.offset(), location, decode(value, location)))
    return len(messages), size


#: Errors librdkafka reports for one place of a partition whose record batch it cannot read (corrupt, or a
#: compressed batch inflating past ``receive.message.max.bytes``): it fetches the same batch again forever.
_UNREADABLE = ("_BAD_COMPRESSION", "_BAD_MSG", "CORRUPT_MESSAGE", "INVALID_RECORD")


def _unreadable_place(message: Any, ck: Any) -> tuple[str, int, int] | None:
    """``(topic, partition, offset)`` of a record librdkafka cannot read, or ``None`` for other errors."""
    error = message.error()
    codes = {getattr(ck.KafkaError, name, None) for name in _UNREADABLE}
    if error.code() not in codes or not message.topic() or message.partition() is None:
        return None
    if message.partition() < 0 or message.offset() is None or message.offset() < 0:
        return None
    return message.topic(), message.partition(), message.offset()


def _unreadable(place: tuple[str, int, int], error: str) -> Polled:
    """A record librdkafka cannot read, as a message to dead-letter (it has no text to keep)."""
    topic, partition, offset = place
    location = f"{topic}[{partition}]@{offset}"
    reason = (f"{location}: the Kafka record batch holding this message cannot be read ({error}): it is corrupt, "
              "or compressed and larger decompressed than the consumer takes (receive.message.max.bytes); "
              "dead-lettered unread")
    return Polled(topic, partition, offset, location, Decoded(reason=reason, kind="unreadable"))


def skip_unreadable(consumer: Any, ck: Any, batch: list[Polled], places: set[tuple[str, int, int]]) -> None:
    """Make the next poll read past the unreadable records (now dead letters): librdkafka stays at them."""
    ends: dict[tuple[str, int], int] = {}
    for polled in batch:
        key = (polled.topic, polled.partition)
        ends[key] = max(ends.get(key, -1), polled.offset + 1)
    for topic, partition, _offset in places:
        try:
            consumer.seek(ck.TopicPartition(topic, partition, ends[(topic, partition)]))
        except ck.KafkaException as exc:
            # A rebalance took the partition away: its next owner finds the record and its dead letter.
            log.info("cannot move past an unreadable record", extra=log_fields(partition=f"{topic}[{partition}]",
                                                                              error=str(exc)))


