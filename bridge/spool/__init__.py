"""The durable spool between intake (``bridge serve`` / ``bridge consume``) and delivery.

* :class:`Spool` -- SQLite (WAL) queue with group commits and a dead-letter table;
* :class:`DeliveryWorker` / :class:`DeliveryConfig` / :class:`CircuitBreaker` -- translate + emit in
  batches, retry with backoff, dead-letter what GMS rejects;
* :class:`SpoolService` -- all of it wired together from a :class:`bridge.BridgeConfig`;
* :class:`Metrics` -- the counters behind ``GET /metrics``;
* :class:`SpoolCorruptError` / :class:`SpoolFullError` -- the spool's file is damaged / its disk is full.
"""

from __future__ import annotations

from bridge.spool._dead import DEAD_ROW
from bridge.spool._delivery import DeliveryWorker, deliver_round
from bridge.spool._health import SpoolCorruptError, SpoolFullError
from bridge.spool._metrics import Metrics
from bridge.spool._policy import CircuitBreaker, DeliveryConfig
from bridge.spool._service import SpoolService, event_key
from bridge.spool._store import (
    DeadLetter,
    PendingEvent,
    Settlement,
    Spool,
    SpoolClosedError,
    SpoolLockedError,
)

__all__ = [
    "DEAD_ROW",
    "CircuitBreaker",
    "DeadLetter",
    "DeliveryConfig",
    "DeliveryWorker",
    "Metrics",
    "PendingEvent",
    "Settlement",
    "Spool",
    "SpoolClosedError",
    "SpoolCorruptError",
    "SpoolFullError",
    "SpoolLockedError",
    "SpoolService",
    "deliver_round",
    "event_key",
]
