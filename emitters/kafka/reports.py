"""What librdkafka reports back: delivery reports, global client errors, its log lines.

* :class:`DeliveryLedger` turns delivery reports into the caller's callbacks and
  remembers the failures until the next ``flush()`` reports them, so none is lost
  silently;
* :class:`ClientErrors` is the producer's ``error_cb``: it keeps the last global
  error (broker down, auth failure) to explain later failures, and warns once per
  kind of error instead of once per reconnect attempt;
* :class:`LibrdkafkaLog` sends librdkafka's own log lines to ``logging``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from bridge.errors import AuthError, ConnectionFailedError, DeliveryError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Callback

from .producer import kafka_error

__all__ = ["AUTH_ERRORS", "ClientErrors", "DeliveryLedger", "KafkaMessage", "LibrdkafkaLog", "Unsent", "call_safely"]

log = logging.getLogger("emitters.kafka.emitter")

MAX_ERRORS_KEPT = 10
#: librdkafka global errors that mean "the broker refused our credentials".
AUTH_ERRORS = frozenset({"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL"})


class KafkaMessage(str):
    """The message a callback gets: text, as every emitter's callback gets (``delivered <urn> <aspect>``,
    or the error's message), that also answers like the confluent-kafka ``Message`` DataHub's Kafka
    emitter passes: ``message.topic()``, ``.partition()``, ``.offset()``, ``.key()``, ``.value()``.

    A message that never reached librdkafka (its record could not be written, the Schema Registry
    did not answer) answers with its topic and key, partition -1 and offset -1001 (librdkafka's
    "unassigned" and "invalid"), so a callback written for DataHub's emitter never fails on it.
    """

    __slots__ = ("_message",)

    def __new__(cls, text: str, message: Any) -> KafkaMessage:
        self = super().__new__(cls, text)
        self._message = message
        return self

    def topic(self) -> str:
        return self._message.topic()

    def partition(self) -> int:
        return self._message.partition()

    def offset(self) -> int:
        return self._message.offset()

    def key(self) -> bytes | None:
        return self._message.key()

    def value(self) -> bytes | None:
        return self._message.value()


class Unsent:
    """What :class:`KafkaMessage` answers for a message librdkafka never had."""

    __slots__ = ("_topic", "_key")

    def __init__(self, topic: str, key: str | None) -> None:
        self._topic, self._key = topic, key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return -1

    def offset(self) -> int:
        return -1001

    def key(self) -> bytes | None:
        return self._key.encode("utf-8") if self._key is not None else None

    def value(self) -> bytes | None:
        return None


def call_safely(callback: Callback, error: BaseException, message: Any) -> None:
    """Call a user's callback with a failure: ``message`` is librdkafka's message, or an :class:`Unsent`.
    An exception in the callback is logged, never raised into librdkafka's poll loop or the caller."""
    try:
        callback(error, KafkaMessage(str(error), message))
    except Exception:
        log.exception("kafka delivery callback raised")


class LibrdkafkaLog:
    """Where librdkafka's own log lines go: ``logging`` at DEBUG, not raw to stderr.

    librdkafka logs every failed reconnect; what matters reaches ``error_cb``
    (:class:`ClientErrors`), which warns once per kind of error.
    """

    def __init__(self) -> None:
        self._logger = logging.getLogger("emitters.kafka.librdkafka")

    def log(self, level: int, msg: str, *args: Any) -> None:
        self._logger.log(logging.CRITICAL if level >= logging.CRITICAL else logging.DEBUG, msg, *args)


class ClientErrors:
    """The producer's ``error_cb``: librdkafka's global errors, kept to explain later failures.

    Args:
        bootstrap: broker addresses, for the log lines.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.last: str | None = None
        self.last_name: str | None = None
        self.seen: set[str] = set()
        self._last_logged: str | None = None

    def __call__(self, err: Any) -> None:
        name = err.name()
        text = f"{name}: {err.str()}"
        # librdkafka repeats the same error on every reconnect attempt: warn when it changes.
        level = logging.DEBUG if name == self._last_logged else logging.WARNING
        self._last_logged = name
        self.seen.add(name)
        # "all brokers are down" is a consequence; keep the cause (refused, auth, TLS) to explain failures.
        if name != "_ALL_BROKERS_DOWN" or self.last is None:
            self.last, self.last_name = text, name
        log.log(level, "kafka client error bootstrap=%s error=%s", self.bootstrap, text)

    def suffix(self) -> str:
        """``"; last client error: ..."`` to append to a message, or ``""``."""
        return f"; last client error: {self.last}" if self.last else ""


class DeliveryLedger:
    """Delivery reports -> callbacks, and the failures the next ``flush()`` reports.

    Args:
        topic: the topic messages go to (when a report does not say).
        bootstrap: broker addresses, named in errors.
        client_errors: the producer's :class:`ClientErrors`, to explain timeouts.
        decode: reads a message value back into a record dict, to name the aspect of a
            failed message that was emitted without a callback.
    """

    def __init__(
        self,
        *,
        topic: str,
        bootstrap: str,
        client_errors: ClientErrors,
        decode: Callable[[bytes], dict[str, Any]],
    ) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.client_errors = client_errors
        self._decode = decode
        self._lock = threading.Lock()
        self._failed = 0
        self._errors: list[BaseException] = []

    def reporter(self, item: MetadataChangeProposalWrapper, callback: Callback) -> Callable[[Any, Any], None]:
        """The per-message ``on_delivery`` for an MCP emitted with a callback."""
        urn, aspect = item.entity_urn, item.aspect_name

        def report(err: Any, msg: Any) -> None:
            # Runs once per message on the hot path: keep the success branch lean.
            if err is None:
                try:
                    callback(None, KafkaMessage(f"delivered {urn} {aspect}", msg))
                except Exception:
                    log.exception("kafka delivery callback raised")
            else:
                error = self.record_failure(err, msg, urn, aspect)
                call_safely(callback, error, msg)

        return report

    def on_delivery(self, err: Any, msg: Any) -> None:
        """The producer-wide ``on_delivery`` (MCPs emitted without a callback): only failures matter."""
        if err is not None:
            self.record_failure(err, msg, None, None)

    def record_failure(self, err: Any, msg: Any, urn: str | None, aspect: str | None) -> DeliveryError:
        """Convert a failed delivery report to the project's error and remember it for ``flush``."""
        if urn is None:
            urn, aspect = self._identify(msg)
        error = kafka_error(
            err, topic=msg.topic() or self.topic, bootstrap=self.bootstrap, urn=urn, aspect=aspect
        )
        if isinstance(error, ConnectionFailedError) and self.client_errors.last:
            if self.client_errors.last_name in AUTH_ERRORS:
                # Timed out because the broker refused our credentials: fix them, don't retry.
                error = AuthError(
                    f"not delivered: Kafka at {self.bootstrap} refused our credentials{self.client_errors.suffix()}",
                    urn=urn,
                    aspect=aspect,
                    server_message=error.server_message,
                )
            else:
                error.args = (f"{error.args[0]}{self.client_errors.suffix()}",)
        with self._lock:
            self._failed += 1
            if len(self._errors) < MAX_ERRORS_KEPT:
                self._errors.append(error)
        log.warning("kafka delivery failed urn=%s aspect=%s error=%s", urn, aspect, err.name())
        return error

    def take(self) -> tuple[int, list[BaseException]]:
        """How many failed since the last call, and the first errors; starts a new count."""
        with self._lock:
            failed, errors = self._failed, self._errors
            self._failed, self._errors = 0, []
        return failed, errors

    def _identify(self, msg: Any) -> tuple[str | None, str | None]:
        """URN and aspect of a failed message, read back from its key and value (failure path only)."""
        key = msg.key()
        urn = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        aspect = None
        # Best effort, only to name the aspect in the report.
        with contextlib.suppress(Exception):
            aspect = self._decode(msg.value()).get("aspectName")
        return urn, aspect
