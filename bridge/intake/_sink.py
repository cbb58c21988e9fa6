"""Where the intake puts the events it accepted: the seam between the HTTP app and durability.

The app validates a request's events, hands them to its sink and answers 201 once the
sink says they are durable. Two sinks ship with the bridge:

* :class:`SpoolSink` -- the local SQLite spool (group commit, see :mod:`bridge.intake._commit`),
  delivered to DataHub by this process: one machine, the embedded default;
* :class:`bridge.intake._topic.TopicSink` -- a Kafka topic (``bridge serve --to-topic``) that
  ``bridge consume`` workers deliver from: any number of stateless serve instances.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable
from typing import Any, Protocol, cast

from bridge.errors import BridgeError
from bridge.intake._body import Refused
from bridge.intake._commit import GroupCommit
from bridge.logs import log_fields
from bridge.spool import Metrics, SpoolService, event_key

__all__ = ["Sink", "SpoolSink"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    """What the app needs from where events go.

    Attributes:
        metrics: the registry the app counts requests in and ``GET /metrics`` shows.
    """

    metrics: Metrics

    def event_key(self, event: Any) -> str:
        """The key one validated event (decoded JSON) is stored under; it keeps a job's events in order."""

    def add(self, items: list[tuple[str, str]]) -> Awaitable[int]:
        """Take one request's ``(key, event JSON)`` pairs; the awaitable resolves to their count once
        they are durable, or raises. Called on the event loop; must not block it."""

    def refusal(self, error: BaseException) -> Refused:
        """The answer to a request whose :meth:`add` raised ``error`` (4xx when retrying cannot
        help, else 503); also logs and counts it."""

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Whether ``/readyz`` says ready, and what it checked (name -> state)."""


def _unstorable(exc: BaseException) -> bool:
    """The spool refused the events themselves (not the disk or the database): the client's fault."""
    return isinstance(exc, (ValueError, TypeError, sqlite3.InterfaceError, sqlite3.DataError)) and not isinstance(
        exc, BridgeError)


class SpoolSink:
    """The local spool: events are committed to SQLite (group commit), then delivered by this process.

    Args:
        service: the running spool service.
        metrics: the registry to count in (the service's by default).
    """

    def __init__(self, service: SpoolService, metrics: Metrics | None = None) -> None:
        self.service = service
        self.metrics = metrics or service.metrics
        self.commit = GroupCommit(service)
        self._emitter_state: str | None = None
        self._emitter_checked = 0.0

    def event_key(self, event: Any) -> str:
        return event_key(event)

    def add(self, items: list[tuple[str, str]]) -> Awaitable[int]:
        return self.commit.add(items)

    def refusal(self, error: BaseException) -> Refused:
        if _unstorable(error):
            self.metrics.reject("unstorable")
            log.info("events refused by the spool", extra=log_fields(error=str(error)))
            return Refused(422, "invalid_event", f"the events cannot be stored: {type(error).__name__}: {error}")
        log.error("spool write failed", extra=log_fields(error=str(error)))
        return Refused(503, "spool_unavailable", f"could not store the events: {error}")

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        svc = self.service
        checks: dict[str, str] = {}
        ok = True
        try:
            await asyncio.wait_for(asyncio.to_thread(cast(Any, svc.spool).check_writable), 5)
            checks["spool"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["spool"] = f"not writable: {exc or type(exc).__name__}"
            ok = False
        if self.commit.flush_error is not None and ok:
            checks["spool"] = f"write-ahead log flush failing: {self.commit.flush_error}"
            ok = False
        now = time.monotonic()
        if now - self._emitter_checked > 5 or self._emitter_state != "ok":
            try:
                await asyncio.wait_for(asyncio.to_thread(svc.check_emitter), 10)
                self._emitter_state = "ok"
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                self._emitter_state = f"unreachable: {exc or type(exc).__name__}"
            self._emitter_checked = now
        checks["emitter"] = self._emitter_state or "unknown"
        ok = ok and checks["emitter"] == "ok"
        checks["delivery"] = "paused (destination failing)" if svc.delivery_paused else "running"
        return ok, checks
