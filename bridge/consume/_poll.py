"""One batch of messages from the consumer (:func:`poll`), bounded in count and in bytes, each decoded;
a record batch librdkafka cannot read becomes one dead letter, and :class:`Unreadable` moves the
partition past the whole batch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from bridge.consume._decode import Decoded
from bridge.consume._kafka import KafkaWatch
from bridge.consume._store import Polled
from bridge.errors import DeliveryError
from bridge.logs import log_fields

__all__ = ["Unreadable", "poll"]

log = logging.getLogger("bridge.consume")


def poll(consumer: Any, ck: Any, settings: Any, decode: Callable[[bytes | None, str], Decoded],
         watch: KafkaWatch, unreadable: Unreadable) -> list[Polled]:
    """Read up to ``settings.batch_size`` messages and about ``settings.batch_bytes`` of them, decoded.

    librdkafka's ``consume(n)`` bounds only the count, and 500 messages near the size limit are
    gigabytes: each call asks for as many as fit in the bytes left if every one were
    ``max_message_bytes`` long (at least one). Only the first call waits ``poll_timeout``; the batch
    ends when a call finds fewer messages waiting than it asked for. A partition whose record batch
    librdkafka cannot read is moved on by ``unreadable``; its dead letter comes once the batch's end is found.

    Returns:
        The decoded messages (and dead letters).

    Raises:
        DeliveryError: a fatal Kafka error.
    """
    batch: list[Polled] = []
    size, timeout = 0, settings.poll_timeout
    while len(batch) < settings.batch_size and size < settings.batch_bytes:
        want = min(settings.batch_size - len(batch),
                   max(1, (settings.batch_bytes - size) // max(settings.max_message_bytes, 1)))
        got, read = _take(consumer.consume(num_messages=want, timeout=timeout), ck, decode, watch, batch, unreadable)
        size, timeout = size + read, 0
        if got < want:
            break  # nothing more waiting
    return batch


def _take(messages: list[Any], ck: Any, decode: Callable[[bytes | None, str], Decoded], watch: KafkaWatch,
          batch: list[Polled], unreadable: Unreadable) -> tuple[int, int]:
    """Decode ``messages`` into ``batch``; returns how many there were and their bytes (values and keys).
    (The messages themselves, their values, are let go on return: only the decoded batch stays.)"""
    size = 0
    moved: set[tuple[str, int]] = set()  # partitions sought elsewhere: the rest of ``messages`` is stale there
    for message in messages:
        error = message.error()
        if error is not None and error.fatal():
            raise DeliveryError(f"fatal Kafka consumer error: {watch.scrub(str(error))}")
        place = _unreadable_place(message, ck) if error is not None else None
        if error is not None and place is None:
            watch.emit(logging.WARNING, "kafka consumer error", f"error:{error.code()}", error=str(error))
            continue
        key = (message.topic(), message.partition())
        if key in moved:
            continue
        if place is not None or key in unreadable.searches:
            offset = place[2] if place is not None else message.offset()
            done = unreadable.answer(key, offset, bad=place is not None,
                                     error=watch.scrub(error.str()) if error is not None else "")
            if place is not None or done is not None or key in unreadable.searches:
                moved.add(key)
                if done is not None:
                    batch.append(done)
                continue
        value, key_bytes = message.value(), message.key()
        size += len(value or b"") + len(key_bytes or b"")
        location = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        batch.append(Polled(message.topic(), message.partition(), message.offset(), location, decode(value, location)))
    return len(messages), size


#: Errors librdkafka reports for a record batch it cannot read (corrupt, or a compressed batch inflating past
#: ``receive.message.max.bytes``): at the batch's first offset, for any offset inside it, fetching it again forever.
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


@attrs.define
class _Search:
    """The end of one unreadable record batch, looked for: ``inside`` < end <= ``past``."""

    bad: int  # the offset librdkafka reports the batch at (its first)
    first: int  # the first offset skipped, where the dead letter goes (``bad``, unless the log's end misled)
    error: str
    inside: int  # the highest offset known to fetch the batch again
    probe: int  # where the partition was sought last
    past: int | None = None  # the lowest offset known to fetch something else (``None``: none yet)


class Unreadable:
    """Moves partitions past record batches librdkafka cannot read, one dead letter for each batch.

    librdkafka reports such a batch at its first offset X, and fetches the whole batch again for any offset
    inside it, so seeking to X+1 lands in it again when it holds more than one record. Its end is found by
    seeking: X+1, X+2, X+4, ... until a seek fetches something else (or reaches the log's end), then back down
    by halves to the first offset past it. Each probe is one seek and one fetch; a batch of n records costs
    about 2·log2(n). The messages a probe fetches are let go (they are read again once the partition is moved
    past the batch). The dead letter, at X, names the offsets skipped; it stands for all of them
    (:attr:`Polled.through`), so the partition's offset moves past them only once it is stored (or in the
    dead-letter topic).

    A probe never goes past the log's end (the broker's high watermark): Kafka would say the offset is out
    of range and librdkafka would move the partition to ``auto.offset.reset``. The batch ends there at the
    latest. A broker whose high watermark is inside the batch (tansu gives the last batch's first offset + 1)
    is not believed: the same error after the seek there goes on looking from there, and the rest of the
    batch is a second dead letter, at that offset (X is dead-lettered once).
    """

    def __init__(self, consumer: Any, ck: Any) -> None:
        self.consumer = consumer
        self.ck = ck
        self.searches: dict[tuple[str, int], _Search] = {}
        self.ended: dict[tuple[str, int], tuple[int, int]] = {}  # per partition: the last batch skipped, its end

    def forget(self, keys: Iterable[tuple[str, int]]) -> None:
        """Stop looking on these partitions (let go of, or sought back to read a batch again)."""
        for key in keys:
            self.searches.pop(key, None)
            self.ended.pop(key, None)

    def answer(self, key: tuple[str, int], offset: int, *, bad: bool, error: str) -> Polled | None:
        """What a fetch of ``key`` gave: librdkafka's error at ``offset`` (``bad``) or a message there.

        Seeks the partition on. Returns the dead letter once the batch's end is found. A message not
        answering a probe (no search, or one before where the partition was sought) is the caller's to read:
        the search, if any, is dropped and the partition left where it is.
        """
        search = self.searches.get(key)
        if search is None:
            if not bad:
                return None
            bad_at, end = self.ended.pop(key, (None, offset))
            first = end if bad_at == offset else offset  # sought past it, the same batch again: look on from there
            search = self.searches[key] = _Search(bad=offset, first=first, error=error, inside=first, probe=first)
        elif bad and offset == search.bad:
            search.inside = max(search.inside, search.probe)
        elif offset >= search.probe or bad:
            search.past = search.probe if search.past is None else min(search.past, search.probe)
        else:
            del self.searches[key]  # sought back by someone else: read on from there
            return None
        return self._next(key, search)

    def _next(self, key: tuple[str, int], search: _Search) -> Polled | None:
        """Seek to the next probe, or, the end found, past the batch (returning its dead letter)."""
        if search.past is None:
            probe = search.bad + max(1, 2 * (search.inside - search.bad))
            high = self._high(key)
            if high is not None and search.inside < high <= probe:
                search.past = max(high, search.inside + 1)  # the batch ends at the log's end at the latest
        if search.past is not None:
            if search.past - search.inside <= 1:
                del self.searches[key]
                self.ended[key] = (search.bad, search.past)
                self._seek(key, search.past)
                return _dead_letter(key, search)
            probe = (search.inside + search.past) // 2
        search.probe = probe
        self._seek(key, probe)
        return None

    def _high(self, key: tuple[str, int]) -> int | None:
        """The partition's end (its high watermark), or ``None`` when the broker does not say."""
        try:
            _low, high = self.consumer.get_watermark_offsets(self.ck.TopicPartition(*key), timeout=5.0)
        except self.ck.KafkaException:
            return None
        return int(high) if high is not None and high >= 0 else None

    def _seek(self, key: tuple[str, int], offset: int) -> None:
        try:
            self.consumer.seek(self.ck.TopicPartition(*key, offset))
        except self.ck.KafkaException as exc:
            # A rebalance took the partition away: its next owner finds the batch again.
            self.searches.pop(key, None)
            log.info("cannot move past an unreadable record batch",
                     extra=log_fields(partition=f"{key[0]}[{key[1]}]", error=str(exc)))


def _dead_letter(key: tuple[str, int], search: _Search) -> Polled:
    """An unreadable record batch as one message to dead-letter (it has no text to keep), at its first offset."""
    topic, partition = key
    first, last = search.first, search.past - 1 if search.past is not None else search.first
    location = f"{topic}[{partition}]@{first}"
    skipped = f"offset {first}" if last == first else f"offsets {first}..{last}"
    batch = "" if first == search.bad else f" (the rest of the batch at offset {search.bad}, dead-lettered there)"
    reason = (f"{location}: the Kafka record batch holding this message{batch} cannot be read ({search.error}): it is corrupt, "
              "or compressed and larger decompressed than the consumer takes (receive.message.max.bytes); "
              f"dead-lettered unread: {skipped} of {topic}[{partition}] were skipped unread (the batch's records). "
              f"They stay in Kafka while it keeps them: a consumer with a larger receive.message.max.bytes reads "
              f"them from offset {first}")
    return Polled(topic, partition, first, location, Decoded(reason=reason, kind="unreadable"), through=last)
