"""``bridge serve --to-topic``: accepted events go to a Kafka topic, and 201 means the broker has them.

Nothing is kept locally -- no spool, no delivery workers, no state directory -- so any number of
serve instances can run behind a load balancer; ``bridge consume`` workers read the topic and
deliver. Each event is one message: the value is the event's JSON as accepted, the key is the one
openlineage-python's Kafka transport gives it (:func:`bridge.intake._keys.message_key`), so events
posted over HTTP and events a transport writes to the same topic are partitioned alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from typing import Any

from bridge.errors import (
    AuthError,
    ConfigError,
    ConnectionFailedError,
    DeliveryError,
    RejectedError,
    RetriableError,
    require,
)
from bridge.intake._body import Refused
from bridge.intake._keys import message_key
from bridge.intake._settings import ServeSettings, producer_settings
from bridge.intake._topic_metrics import TopicMetrics
from bridge.logs import LogThrottle, log_fields
from bridge.secrets import secret_values
from bridge.spool import Metrics

__all__ = ["TopicSink"]

log = logging.getLogger(__name__)

#: What a fatal producer error did to the messages it held: they are produced again by the new producer.
_LOST_TO_FATAL = {"UNKNOWN_PRODUCER_ID", "OUT_OF_ORDER_SEQUENCE_NUMBER", "INVALID_PRODUCER_EPOCH", "_FATAL",
                  "_PURGE_QUEUE", "_PURGE_INFLIGHT"}
_TOO_LARGE = {"MSG_SIZE_TOO_LARGE", "_MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"}
_AUTH = {"TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "SASL_AUTHENTICATION_FAILED",
         "_AUTHENTICATION", "_SSL"}


class _Request:
    """One request's messages on their way: answered once the last one is reported."""

    __slots__ = ("count", "deadline", "error", "future", "waiting")

    def __init__(self, future: asyncio.Future, count: int) -> None:
        self.future = future
        self.count = count
        self.waiting = 0
        self.error: Any = None  # the first failure: a KafkaError or a DeliveryError
        self.deadline: asyncio.TimerHandle | None = None


class _LibrdkafkaLog:
    """librdkafka's own lines, at DEBUG: what matters reaches ``error_cb`` and the requests' answers."""

    def log(self, level: int, fmt: str, *args: Any) -> None:
        log.debug(fmt, *args)


class TopicSink:
    """Produces each accepted event to ``settings.to_topic``; a request is answered once the broker acked
    all of its events (see :class:`bridge.intake._sink.Sink`).

    Requests produce on the event loop (librdkafka only queues them there, so the messages of many
    concurrent requests go to the broker in the same batches) and wait on an asyncio future. A thread
    polls the producer: delivery reports are collected there and handed to the loop in one wake-up,
    where each request is answered when its last message is reported. A message the broker refuses,
    or does not acknowledge within ``message.timeout.ms``, fails its own request only (503, or 422
    when the event is too large for the topic). After a fatal producer error (the broker forgot the
    idempotent producer, say) the producer is replaced, and the new one sends what the old one held.

    Args:
        settings: ``to_topic``, ``topic_bootstrap`` and ``producer_config``.
        metrics: where to count; a new :class:`TopicMetrics` by default.
    """

    def __init__(self, settings: ServeSettings, *, metrics: Metrics | None = None) -> None:
        if not settings.to_topic:
            raise ConfigError("no topic to produce to", key="serve.to_topic")
        self.topic = settings.to_topic
        self.bootstrap = str(settings.topic_bootstrap)
        self.config = producer_settings(settings)
        self.metrics = metrics or TopicMetrics()
        timeout_ms = self.config.get("message.timeout.ms", self.config.get("delivery.timeout.ms", 300_000))
        self.timeout = int(timeout_ms) / 1000
        self.last_error: str | None = None  # the last broker error, to explain a timeout
        self.producer: Any = None
        self._secrets = secret_values(self.config)
        self._kafka: Any = None
        # (request, error, the failed message or None): only the polling thread touches it
        self._reports: list[tuple[_Request, Any, Any]] = []
        self._fatal: tuple[Any, str] | None = None  # (the producer, its fatal error)
        self._replaced: str | None = None  # why the producer was last replaced
        self._retired: list[Any] = []  # replaced producers, polled until their last report is out
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._throttle = LogThrottle(every=60.0)
        self._ready_lock = asyncio.Lock()
        self._ready_state: str | None = None
        self._ready_at = 0.0

    def start(self) -> TopicSink:
        """Create the producer and start polling it (the broker is contacted in the background).

        Raises:
            ConfigError: librdkafka refuses the producer settings.
            MissingDependencyError: confluent-kafka is not installed (the ``kafka`` extra).
        """
        self._kafka = require("confluent_kafka", "kafka")
        self.producer = self._new_producer()
        self.metrics.gauge("bridge_topic_producer_queue", "Events produced and not yet acknowledged.",
                           lambda: len(self.producer))
        self._thread = threading.Thread(target=self._poll, name="topic-poll", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop polling, and wait up to ``timeout`` seconds for what is still unacknowledged."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join()
        if self.producer is not None:
            left = self.producer.flush(timeout)
            if left:
                log.warning("Kafka did not acknowledge every event before shutdown",
                            extra=log_fields(topic=self.topic, unacknowledged=left))

    def _new_producer(self) -> Any:
        created: list[Any] = []  # (its error_cb says which producer failed)
        on_error = lambda err: self._on_error(err, created[0] if created else None)  # noqa: E731
        try:
            producer = self._kafka.Producer({**self.config, "error_cb": on_error, "logger": _LibrdkafkaLog()})
        except self._kafka.KafkaException as exc:
            raise ConfigError(f"Kafka producer: {self._scrub(exc.args[0].str())}",
                              key="serve.producer_config") from None
        created.append(producer)
        return producer

    def _failed_fatally(self, producer: Any, error: str) -> None:
        """Have the polling thread replace ``producer`` (unless it was replaced already)."""
        if producer is self.producer and self._fatal is None:
            self._fatal = (producer, self._scrub(error))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- the event loop's side -------------------------------------------------------------------------

    def event_key(self, event: Any) -> str:
        return message_key(event)

    def add(self, items: list[tuple[str, str]]) -> asyncio.Future:
        """Produce ``items``; the future resolves to their count once the broker acked every one."""
        loop = asyncio.get_running_loop()
        request = _Request(loop.create_future(), len(items))
        report = functools.partial(self._report, request)
        producer, topic = self.producer, self.topic
        produce = producer.produce
        produced = 0
        for key, value in items:
            try:
                produce(topic, value.encode(), key.encode(), on_delivery=report)
            except BufferError:
                request.error = RetriableError(
                    f"the producer's queue for topic {self.topic!r} is full (queue.buffering.max.messages): "
                    f"Kafka at {self.bootstrap} is slow or unreachable{self._last()}")
                break
            except self._kafka.KafkaException as exc:
                request.error = exc.args[0]
                if request.error.fatal() or request.error.name() == "_FATAL":
                    self._failed_fatally(producer, f"{request.error.name()}: {request.error.str()}")
                break
            produced += 1
        request.waiting = produced
        self.metrics.inc("produced", produced)
        if produced < len(items):
            self.metrics.inc("failed", len(items) - produced)
        if not produced:
            self._finish(request)
        else:  # (librdkafka reports every message by then; this is only a net under that promise)
            request.deadline = loop.call_later(self.timeout + 10, self._expire, request)
        return request.future

    def _expire(self, request: _Request) -> None:
        request.error = request.error or ConnectionFailedError(
            f"no acknowledgement from Kafka for topic {self.topic!r} at {self.bootstrap} within "
            f"{self.timeout + 10:g} s{self._last()}")
        self._finish(request)

    def _settle(self, reports: list[tuple[_Request, Any, Any]]) -> None:
        """On the loop: count the reports, answer the requests whose last message was reported."""
        failed = 0
        for request, error, _ in reports:
            if error is not None:
                failed += 1
                if request.error is None:
                    request.error = error
            request.waiting -= 1
            if request.waiting == 0:
                self._finish(request)
        self.metrics.inc("acked", len(reports) - failed)
        self.metrics.inc("failed", failed)
        if failed < len(reports):
            self.last_error = None  # the broker answers again

    def _finish(self, request: _Request) -> None:
        if request.deadline is not None:
            request.deadline.cancel()
        if request.future.done():
            return
        if request.error is None:
            request.future.set_result(request.count)
        else:
            error = request.error
            request.future.set_exception(error if isinstance(error, BaseException) else self._error(error))

    def _error(self, err: Any) -> DeliveryError:
        """A librdkafka error as the project's: what the client should do follows from its class."""
        name = err.name()
        said = f"{name}: {self._scrub(err.str())}"
        where = f"topic {self.topic!r} at {self.bootstrap}"
        if name in _TOO_LARGE:
            return RejectedError(
                f"the event is too large for {where} (producer message.max.bytes="
                f"{self.config.get('message.max.bytes', 1_000_000)}); raise message.max.bytes "
                "(--producer-config) and the topic's max.message.bytes", server_message=said)
        if name in _AUTH:
            return AuthError(f"Kafka refused access to {where}; check the credentials and ACLs "
                             "(--producer-config)", server_message=said + self._last())
        if name in ("_PURGE_QUEUE", "_PURGE_INFLIGHT", "_FATAL"):
            return RetriableError(f"the Kafka producer for {where} failed fatally and was replaced "
                                  f"({self._replaced}); send the events again", server_message=said)
        if name in ("_MSG_TIMED_OUT", "_TIMED_OUT"):
            return ConnectionFailedError(f"Kafka did not acknowledge the events within {self.timeout:g} s "
                                         f"(message.timeout.ms) on {where}", server_message=said + self._last())
        return RetriableError(f"Kafka did not take the events for {where}", server_message=said + self._last())

    def _last(self) -> str:
        return f"; last broker error: {self.last_error}" if self.last_error else ""

    def refusal(self, error: BaseException) -> Refused:
        if isinstance(error, RejectedError):
            self.metrics.reject("too_large_for_topic")
            log.info("event too large for the topic", extra=log_fields(topic=self.topic, error=str(error)))
            return Refused(422, "invalid_event", str(error))
        if not isinstance(error, DeliveryError):  # a bug: said plainly, never as a traceback to the client
            log.error("producing to Kafka failed", exc_info=error, extra=log_fields(topic=self.topic))
            error = RetriableError(f"could not produce to topic {self.topic!r}: {type(error).__name__}: {error}")
        self._throttle.log(log, logging.WARNING, "events not acknowledged by Kafka: 503",
                           f"refused:{type(error).__name__}", topic=self.topic, error=str(error))
        return Refused(503, "topic_unavailable", str(error), topic=self.topic)

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Ready while the broker answers with the topic's metadata (checked at most every 5 s while it does)."""
        async with self._ready_lock:  # one metadata request at a time, however many probes come
            if self._ready_state != "ok" or self.last_error is not None or time.monotonic() - self._ready_at > 5:
                try:
                    await asyncio.wait_for(asyncio.to_thread(self._check_topic), 10)
                    self._ready_state = "ok"
                except Exception as exc:  # noqa: BLE001 - reported, not raised
                    self._ready_state = self._scrub(str(exc) or type(exc).__name__)
                self._ready_at = time.monotonic()
        state = self._ready_state or "unknown"
        if self._fatal is not None:
            state = f"producer restarting after a fatal error: {self._fatal[1]}"
        return state == "ok", {"kafka": state, "topic": self.topic}

    def _check_topic(self) -> None:
        try:
            metadata = self.producer.list_topics(self.topic, timeout=5)
        except self._kafka.KafkaException as exc:
            raise ConnectionFailedError(f"Kafka at {self.bootstrap} does not answer: {exc.args[0].str()}"
                                        f"{self._last()}") from None
        self.last_error = None  # the broker answers
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            why = topic.error.str() if topic is not None else "not in the metadata"
            raise RejectedError(f"topic {self.topic!r} is not on the Kafka cluster at {self.bootstrap}: {why}")
        if not topic.partitions or any(p.leader < 0 for p in topic.partitions.values()):
            raise ConnectionFailedError(f"topic {self.topic!r} has partitions without a leader")

    # -- the polling thread's side ---------------------------------------------------------------------

    def _report(self, request: _Request, err: Any, msg: Any, *, again: bool = False) -> None:
        """confluent-kafka's ``on_delivery``, in the thread that polls (``again``: produced a second time)."""
        self._reports.append((request, err, msg if err is not None and not again else None))

    def _on_error(self, err: Any, producer: Any) -> None:
        """confluent-kafka's ``error_cb``: keep the broker's last error to explain failures, warn once a minute."""
        said = f"{err.name()}: {self._scrub(err.str())}"
        if err.fatal():
            self._failed_fatally(producer, said)
            return
        if err.name() != "_ALL_BROKERS_DOWN" or self.last_error is None:  # keep the cause, not the consequence
            self.last_error = said
        self._throttle.log(log, logging.WARNING, "Kafka client error", f"error:{err.name()}",
                           topic=self.topic, bootstrap=self.bootstrap, error=said)

    def _poll(self) -> None:
        while not self._closing.is_set():
            producer = self.producer
            try:
                producer.poll(0.1)
            except Exception as exc:  # noqa: BLE001 - librdkafka raises its fatal errors from poll
                fatal = _fatal_error(exc)
                if fatal is None:
                    log.error("polling the Kafka producer failed", exc_info=exc)
                    time.sleep(0.1)
                else:
                    self._failed_fatally(producer, fatal)
            if self._fatal is not None:
                self._restart()
            for old in list(self._retired):
                with contextlib.suppress(Exception):  # (its fatal error again: handled)
                    old.poll(0)  # the reports of what it held
                if not len(old):
                    self._retired.remove(old)
            self._hand_over()

    def _restart(self) -> None:
        """Replace a producer that failed fatally; what it still held is purged (those requests get 503)."""
        if self._fatal is None:
            return
        old, why = self._fatal
        try:
            self.producer = self._new_producer()
        except ConfigError as exc:
            log.error("could not start a new Kafka producer", extra=log_fields(error=str(exc)))
            time.sleep(1.0)
            return
        self._replaced, self._fatal = why, None
        log.error("the Kafka producer failed fatally: started a new one, which sends what the old one held",
                  extra=log_fields(topic=self.topic, error=why))
        self.metrics.inc("producer_restarts")
        old.purge()
        self._retired.append(old)

    def _produce_again(self, request: _Request, err: Any, msg: Any) -> bool:
        """Give a message the failed producer lost to the new one, once; ``False``: report the failure."""
        if msg is None or err.name() not in _LOST_TO_FATAL or self._fatal is not None:
            return False
        try:
            self.producer.produce(self.topic, msg.value(), msg.key(),
                                  on_delivery=functools.partial(self._report, request, again=True))
        except (BufferError, self._kafka.KafkaException):
            return False
        return True

    def _hand_over(self) -> None:
        if not self._reports:
            return
        reports, self._reports = self._reports, []
        reports = [report for report in reports if not self._produce_again(*report)]
        by_loop: dict[Any, list[tuple[_Request, Any, Any]]] = {}
        for report in reports:
            by_loop.setdefault(report[0].future.get_loop(), []).append(report)
        for loop, batch in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone, nobody waits
                loop.call_soon_threadsafe(self._settle, batch)


def _fatal_error(exc: BaseException) -> str | None:
    """The fatal librdkafka error behind ``exc`` (confluent-kafka chains it to a SystemError), if any."""
    seen: BaseException | None = exc
    for _ in range(8):  # (a chain, not a cycle)
        if seen is None:
            break
        err: Any = seen.args[0] if seen.args else None
        if hasattr(err, "fatal") and err.fatal():
            return f"{err.name()}: {err.str()}"
        seen = seen.__cause__ or seen.__context__
    return None
