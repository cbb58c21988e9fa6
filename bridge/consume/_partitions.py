"""The partitions a worker owns (:class:`Partitions`): how far each was read, what may be committed,
rebalances, and pausing while delivery cannot keep up.

Kafka is the log; the spool is a cache. A partition's committed offset is the lowest offset whose
events are not delivered yet (still in the spool, or a dead letter not yet in the dead-letter topic),
or, when all are delivered, the offset after the last message read. So a worker that vanishes with its
disk loses nothing: whoever gets its partitions reads the undelivered events again from Kafka.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from bridge.logs import log_fields
from bridge.spool import Spool

__all__ = ["Partitions", "source_of"]

log = logging.getLogger("bridge.consume")


def source_of(topic: str, partition: int) -> str:
    """How the spool names a partition: ``topic[partition]``."""
    return f"{topic}[{partition}]"


class Partitions:
    """What this worker owns and how far it got; given to the consumer as its rebalance callbacks.

    Args:
        consumer: the confluent-kafka consumer.
        ck: the confluent_kafka module.
        spool: the worker's spool (it knows what is undelivered, per partition).
        forwarding: dead letters go to a dead-letter topic (an offset waits for them to be sent).
        metrics: the worker's metrics (rebalances are counted).
        cooperative: the assignment strategy is incremental (``cooperative-sticky``).
        let_go: called with the partitions let go of (revoked or lost).
    """

    def __init__(self, consumer: Any, ck: Any, spool: Spool, *, forwarding: bool, metrics: Any,
                 cooperative: bool = True, let_go: Callable[[list[tuple[str, int]]], None] | None = None) -> None:
        self.consumer = consumer
        self.let_go = let_go
        self.cooperative = cooperative
        self.ck = ck
        self.spool = spool
        self.forwarding = forwarding
        self.metrics = metrics
        self.read_to: dict[tuple[str, int], int] = {}  # the offset after the last message stored
        self.committed: dict[tuple[str, int], int] = {}
        self.owned: set[tuple[str, int]] = set()
        self.paused = False
        self.lag: dict[str, int] = {}  # per partition: messages not delivered (see refresh_lag)
        self._lag_next = 0  # where refresh_lag goes on
        self.first_read: dict[tuple[str, int], int] = {}

    # -- progress --------------------------------------------------------------

    def stored(self, messages: Iterable[tuple[str, int, int]]) -> None:
        """Note ``(topic, partition, offset)`` of messages now in the spool (delivered or dead-lettered there)."""
        for topic, partition, offset in messages:
            key = (topic, partition)
            if key in self.owned and offset + 1 > self.read_to.get(key, -1):
                self.read_to[key] = offset + 1
                self.first_read.setdefault(key, offset)

    def positions(self, keys: Iterable[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """The offsets that may be committed now (only those that moved on since the last commit)."""
        undelivered = self.spool.undelivered(forwarding=self.forwarding)
        out = {}
        for key in list(self.read_to if keys is None else keys):
            read_to = self.read_to.get(key)
            if read_to is None:
                continue
            position = min(read_to, undelivered.get(source_of(*key), read_to))
            if position > self.committed.get(key, -1):
                out[key] = position
        return out

    def commit(self, keys: Iterable[tuple[str, int]] | None = None) -> bool:
        """Commit what was delivered; returns whether anything was committed."""
        positions = self.positions(keys)
        if not positions:
            return False
        offsets = [self.ck.TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except self.ck.KafkaException as exc:
            # A rebalance took a partition away: its next owner reads from the last commit (at-least-once).
            log.warning("offset commit failed", extra=log_fields(error=str(exc)))
            return False
        self.committed.update(positions)
        return True

    def refresh_lag(self, budget: float = 0.25, timeout: float = 1.0) -> None:
        """Per owned partition: the log's end minus what is delivered (the committed offset, or the first
        offset read while nothing is committed yet).

        Each partition's end is one request to the broker. The loop that reads messages waits for these,
        so one call starts no request after ``budget`` seconds (each waits at most ``timeout``): it asks
        partitions in turn, starting where the last call stopped, and the partitions it did not reach keep
        their last value until a later call.
        """
        keys = sorted(self.owned)
        if not keys:
            return
        deadline = time.monotonic() + budget
        start = self._lag_next % len(keys)
        for step in range(len(keys)):
            key = keys[(start + step) % len(keys)]
            if step and time.monotonic() >= deadline:
                self._lag_next = start + step
                return
            base = self.committed.get(key, self.first_read.get(key))
            if base is None:
                continue
            try:
                _low, high = self.consumer.get_watermark_offsets(self.ck.TopicPartition(*key), timeout=timeout)
            except self.ck.KafkaException:
                continue
            self.lag[source_of(*key)] = max(high - base, 0)
        self._lag_next = start

    # -- pausing ---------------------------------------------------------------

    def pause(self, why: str) -> None:
        if not self.paused:
            self.paused = True
            self._each(self.consumer.pause, self.owned)
            log.warning("partitions paused: reading stops until delivery catches up",
                        extra=log_fields(reason=why, partitions=len(self.owned)))

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._each(self.consumer.resume, self.owned)
            log.warning("partitions resumed", extra=log_fields(partitions=len(self.owned)))

    def _each(self, call: Any, keys: Iterable[tuple[str, int]]) -> None:
        partitions = [self.ck.TopicPartition(topic, partition) for topic, partition in keys]
        if partitions:
            try:
                call(partitions)
            except self.ck.KafkaException as exc:
                log.info("pause/resume failed", extra=log_fields(error=str(exc)))

    # -- rebalances (confluent-kafka calls these from inside poll) --------------

    def on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self.owned.update(keys)
        self.metrics.inc("kafka_rebalances")
        log.info("partitions assigned", extra=log_fields(partitions=_names(keys), owned=len(self.owned)))
        if self.paused:
            # Assigned after the rest were paused: they wait too (the library assigns them first).
            if self.cooperative:
                consumer.incremental_assign(partitions)
            else:
                consumer.assign(partitions)
            self._each(consumer.pause, keys)

    def on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Commit what was delivered from them, then stop working on them (their next owner re-reads the rest)."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        started = time.monotonic()
        self.commit([k for k in keys if k in self.owned])
        self._let_go(keys)
        self.metrics.inc("kafka_rebalances")
        log.info("partitions revoked", extra=log_fields(partitions=_names(keys), owned=len(self.owned),
                                                           took_s=round(time.monotonic() - started, 3)))

    def on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        """Taken away without a chance to commit (the session timed out): only let go."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._let_go(keys)
        self.metrics.inc("kafka_rebalances")
        log.warning("partitions lost", extra=log_fields(partitions=_names(keys), owned=len(self.owned)))

    def _let_go(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            self.owned.discard(key)
            self.read_to.pop(key, None)
            self.committed.pop(key, None)
            self.first_read.pop(key, None)
            self.lag.pop(source_of(*key), None)
        if keys and self.let_go is not None:
            self.let_go(keys)
        if keys:
            self.spool.forget_sources([source_of(*key) for key in keys], dead=self.forwarding).result()


def _names(keys: list[tuple[str, int]]) -> str:
    return ",".join(source_of(*key) for key in sorted(keys))
