"""Whether the broker answers: librdkafka's logs, errors and statistics (:class:`KafkaWatch`) kept in
a :class:`ConsumeHealth`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.logs import LogThrottle, log_fields
from bridge.secrets import secret_values

__all__ = ["ConsumeHealth", "KafkaWatch"]

kafka_log = logging.getLogger("bridge.consume.kafka")


@attrs.define
class ConsumeHealth:
    """What a running :func:`consume` knows about its health; ``/readyz`` of ``bridge consume`` reads it.

    Attributes:
        kafka: ``connecting`` (no broker answered yet), ``reachable`` or ``unreachable``.
        kafka_error: the last connection error librdkafka reported (secrets removed).
        spool_error: why the last spool write failed; ``None`` once one works again.
        dead_letter_error: why dead letters cannot be sent to the dead-letter topic (their partitions
            wait); ``None`` while they can.
    """

    kafka: str = "connecting"
    kafka_error: str | None = None
    spool_error: str | None = None
    dead_letter_error: str | None = None

    @property
    def ready(self) -> bool:
        return self.kafka == "reachable" and self.spool_error is None and self.dead_letter_error is None


_NUMBERS = re.compile(r"\d+")
_THREAD = re.compile(r"^\[thrd:[^\]]*\]: ")


class KafkaWatch:
    """librdkafka's logs, errors and statistics as a few key=value lines, and whether the broker answers.

    Given to confluent-kafka as ``logger``, ``error_cb`` and ``stats_cb`` (they run in the polling
    thread). A line that says the same as one before (numbers aside) is logged at most once per
    :attr:`every` seconds, then with how many were ``suppressed``. Configured secret values are
    replaced by ``***`` in everything logged.
    """

    def __init__(self, bootstrap: str, health: ConsumeHealth, consumer_config: Mapping[str, Any]) -> None:
        self.bootstrap = bootstrap
        self.health = health
        self._secrets = secret_values(consumer_config)
        self._throttle = LogThrottle(every=60.0)

    @property
    def every(self) -> float:
        """Seconds between two lines that say the same thing."""
        return self._throttle.every

    @every.setter
    def every(self, value: float) -> None:
        self._throttle.every = value

    def client_config(self) -> dict[str, Any]:
        return {"logger": self, "error_cb": self.on_error, "stats_cb": self.on_stats, "statistics.interval.ms": 1000}

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def emit(self, level: int, msg: str, key: str, *, to: logging.Logger = kafka_log, **fields: Any) -> None:
        """Log to ``to`` unless the same ``key`` was logged less than :attr:`every` seconds ago (then count it)."""
        self._throttle.log(to, level, self.scrub(msg), key, **{k: self.scrub(str(v)) for k, v in fields.items()})

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
            stats = json.loads(text)
            brokers = stats.get("brokers") or {}
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
