"""``bridge consume``: OpenLineage events from a Kafka topic into the durable spool.

Producers write events with openlineage-python's Kafka transport (one JSON
event per message, keyed by job so a run's events share a partition). Any
number of ``bridge consume`` workers share the topic as one consumer group.
Offsets are committed only after the polled events are committed to the spool,
so a crash re-reads, never loses (at-least-once; DataHub UPSERTs are
idempotent).

One message never stops a partition: whatever it holds (not UTF-8, not JSON,
nested past the recursion limit, a lone surrogate, not an event, too large),
it is dead-lettered with the reason and its place (``topic[partition]@offset``)
and the next message is read. A failure of the spool itself (disk full, I/O
error) is not the message's fault: nothing is dead-lettered and nothing
committed; the batch is read again after a pause.

librdkafka's own logs go through the ``bridge.consume.kafka`` logger as
key=value lines, each distinct line at most once a minute; an unreachable broker
is said plainly once, and again when it is back (see :class:`ConsumeHealth`).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs

from bridge.errors import ConfigError, DeliveryError, InvalidEventError, require
from bridge.logs import log_fields
from bridge.spool import SpoolClosedError, SpoolService, event_key

__all__ = ["ConsumeHealth", "ConsumeSettings", "ConsumeStats", "Decoded", "KafkaWatch", "consume", "decode_message"]

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")

#: Dead-lettered message text is cut to this many characters (the message itself stays in Kafka).
DEAD_BODY_LIMIT = 1024 * 1024
_REASON_LIMIT = 2000
_BACKOFF = (1.0, 30.0)  # first and longest pause before reading a batch again after a spool failure
#: What a message can make the decoder or the validator raise; anything else is a bug and is raised.
_MESSAGE_ERRORS = (ValueError, TypeError, LookupError, AttributeError, RecursionError, OverflowError)


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


@attrs.define
class ConsumeHealth:
    """What a running :func:`consume` knows about its health; ``/readyz`` of ``bridge consume`` reads it.

    Attributes:
        kafka: ``connecting`` (no broker answered yet), ``reachable`` or ``unreachable``.
        kafka_error: the last connection error librdkafka reported (secrets removed).
        spool_error: why the last spool write failed; ``None`` once one works again.
    """

    kafka: str = "connecting"
    kafka_error: str | None = None
    spool_error: str | None = None

    @property
    def ready(self) -> bool:
        return self.kafka == "reachable" and self.spool_error is None


@attrs.frozen(kw_only=True)
class Decoded:
    """One message, decoded.

    Attributes:
        events: ``(ordering key, event JSON)`` pairs to spool (text that encodes to UTF-8).
        reason: why the message is unusable (it is dead-lettered); ``None`` if usable.
        raw: the message as text, storable as UTF-8 (undecodable bytes escaped), for the dead letter.
        skip: a tombstone (no value): nothing to spool, nothing to dead-letter.
    """

    events: tuple[tuple[str, str], ...] = ()
    reason: str | None = None
    raw: str = ""
    skip: bool = False


def storable(text: str, limit: int | None = None) -> str:
    """``text`` cut to ``limit`` characters, with what UTF-8 cannot encode (lone surrogates) escaped."""
    if limit is not None and len(text) > limit:
        text = text[:limit]
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogate(exc: UnicodeEncodeError) -> str:
    bad = exc.object[exc.start] if isinstance(exc.object, str) else "?"
    return (f"a string holds a lone surrogate \\u{ord(bad):04x} (half of a UTF-16 pair), which is not "
            "valid Unicode and cannot be stored as UTF-8")


def decode_message(value: bytes | None, location: str, *, parse_event: Callable[..., Any] | None = None,
                   max_bytes: int | None = None) -> Decoded:
    """Decode one Kafka message into events to spool, or the reason it cannot be used. Never raises for input.

    Args:
        value: the message value (``None`` for a tombstone).
        location: ``topic[partition]@offset``, put in front of every reason.
        parse_event: the validator (``translators.openlineage.parse_event`` by default).
        max_bytes: longer values are refused unread.

    Returns:
        A :class:`Decoded`: events (one message may hold a JSON array of them) or a reason.
    """
    if value is None:
        return Decoded(skip=True)
    if parse_event is None:
        from translators.openlineage import parse_event
    if max_bytes is not None and len(value) > max_bytes:
        raw = value[:DEAD_BODY_LIMIT].decode("utf-8", "backslashreplace")
        return Decoded(reason=f"{location}: message of {len(value)} bytes is over the {max_bytes}-byte limit "
                              f"(dead letter keeps its first {len(raw)} characters)", raw=raw)
    raw = value.decode("utf-8", "backslashreplace")
    try:
        text = value.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Decoded(reason=f"{location}: not valid UTF-8 at byte {exc.start}", raw=raw)
    if not text.strip():
        return Decoded(reason=f"{location}: empty message", raw=raw)
    try:
        data = json.loads(text)
    except RecursionError:
        return Decoded(reason=f"{location}: not usable JSON: nested too deeply", raw=raw)
    except ValueError as exc:
        return Decoded(reason=f"{location}: not valid JSON: {exc}", raw=raw)
    items = data if type(data) is list else [data]
    if not items:
        return Decoded(reason=f"{location}: the array holds no events", raw=raw)
    out = []
    for index, obj in enumerate(items):
        where = location if len(items) == 1 else f"{location}[{index}]"
        try:
            parse_event(obj, location=where)
            key = event_key(obj)
            body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
            body.encode("utf-8")
            key.encode("utf-8")
        except InvalidEventError as exc:
            return Decoded(reason=str(exc) if exc.location else f"{where}: {exc}", raw=raw)
        except UnicodeEncodeError as exc:
            return Decoded(reason=f"{where}: {_surrogate(exc)}", raw=raw)
        except _MESSAGE_ERRORS as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
            return Decoded(reason=f"{where}: cannot read event: {detail}", raw=raw)
        out.append((key, body))
    return Decoded(events=tuple(out), raw=raw)


_SECRET_KEY = re.compile(r"password|secret|token|jaas|pem|credential", re.IGNORECASE)
_NUMBERS = re.compile(r"\d+")
_THREAD = re.compile(r"^\[thrd:[^\]]*\]: ")


class KafkaWatch:
    """librdkafka's logs, errors and statistics as a few key=value lines, and whether the broker answers.

    Given to confluent-kafka as ``logger``, ``error_cb`` and ``stats_cb`` (they run in the polling
    thread). A line that says the same as one before (numbers aside) is logged at most once per
    :attr:`every` seconds, then with how many were ``suppressed``. Configured secret values are
    replaced by ``***`` in everything logged.
    """

    every = 60.0

    def __init__(self, bootstrap: str, health: ConsumeHealth, consumer_config: Mapping[str, Any]) -> None:
        self.bootstrap = bootstrap
        self.health = health
        self._secrets = [str(v) for k, v in consumer_config.items() if _SECRET_KEY.search(k) and len(str(v)) > 3]
        self._seen: dict[str, list[float]] = {}  # key -> [when last logged, how many suppressed since]

    def client_config(self) -> dict[str, Any]:
        return {"logger": self, "error_cb": self.on_error, "stats_cb": self.on_stats, "statistics.interval.ms": 1000}

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def emit(self, level: int, msg: str, key: str, *, to: logging.Logger = kafka_log, **fields: Any) -> None:
        """Log to ``to`` unless the same ``key`` was logged less than :attr:`every` seconds ago (then count it)."""
        if not to.isEnabledFor(level):
            return
        now, seen = time.monotonic(), self._seen.get(key)
        if seen is not None and now - seen[0] < self.every:
            seen[1] += 1
            return
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = [now, 0]
        if seen and seen[1]:
            fields["suppressed"] = int(seen[1])
        to.log(level, self.scrub(msg), extra=log_fields(**{k: self.scrub(str(v)) for k, v in fields.items()}))

    def log(self, level: int, fmt: str, *args: Any) -> None:
        """confluent-kafka's ``logger`` interface: ``log(level, "%s [%s] %s", facility, client, text)``."""
        facility, client, text = args if len(args) == 3 else ("", "", fmt % args if args else fmt)
        text = _THREAD.sub("", str(text))
        if facility == "FAIL":
            self.health.kafka_error = self.scrub(text)
            if self.health.kafka == "unreachable":
                level = logging.DEBUG  # said plainly once already
        self.emit(level, text, f"log:{facility}:{_NUMBERS.sub('#', text)}", facility=facility, client=client)

    def on_error(self, error: Any) -> None:
        name = error.name()
        if name == "_ALL_BROKERS_DOWN":
            self.unreachable()
        elif name in ("_TRANSPORT", "_RESOLVE"):
            self.health.kafka_error = self.scrub(error.str())  # librdkafka's FAIL log line says the same
        else:
            self.emit(logging.ERROR if error.fatal() else logging.WARNING, "Kafka client error",
                      f"error:{name}", code=name, error=error.str())

    def on_stats(self, text: str) -> None:
        try:
            brokers = json.loads(text).get("brokers") or {}
        except (ValueError, AttributeError):
            return
        if any(isinstance(b, dict) and b.get("state") == "UP" for b in brokers.values()):
            self.reachable()

    def unreachable(self) -> None:
        if self.health.kafka != "unreachable":
            self.health.kafka = "unreachable"
            kafka_log.error(f"Kafka broker unreachable at {self.bootstrap}",
                            extra=log_fields(error=self.health.kafka_error or "all brokers are down"))

    def reachable(self) -> None:
        if self.health.kafka != "reachable":
            was, self.health.kafka, self.health.kafka_error = self.health.kafka, "reachable", None
            kafka_log.log(logging.WARNING if was == "unreachable" else logging.INFO,
                          f"Kafka broker reachable{' again' if was == 'unreachable' else ''} at {self.bootstrap}")


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
