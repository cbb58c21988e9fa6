"""How delivery workers behave: settings and the circuit breaker."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError

__all__ = ["CircuitBreaker", "DeliveryConfig"]


@attrs.frozen(kw_only=True)
class DeliveryConfig:
    """How the delivery workers behave.

    Args:
        workers: delivery threads (each owns a share of the jobs; one keeps strict global order).
        batch_size: most events per round.
        batch_bytes: most event JSON per round, in bytes (a round always takes at least one event, so an
            event larger than this is delivered alone). What a round translates is held in memory at once
            (about ten times the JSON for heavy column lineage), so this bounds a round's memory whatever
            the events are; ``batch_size`` alone would let 500 events of several MiB each into one round.
        backoff_initial: first retry delay of an event, seconds (doubles per attempt, with jitter).
        backoff_max: longest retry delay, seconds.
        breaker_threshold: rounds in a row that delivered nothing before the breaker opens.
        max_attempts: give up (dead-letter) after this many retriable failures; 0 = never.
        idle_wait: seconds to sleep when nothing is due (new events wake the worker at once).
        linger: seconds a worker waits after a round that was not full, so the next round
            delivers (and commits) more events at once: fewer, larger spool transactions, which
            the intake's commits then rarely have to wait for.
        run_memory_days: how long the memory of a run (its merged lineage and what was delivered
            for it) is kept after its last event; jobs, flows and datasets are remembered for good.
            A run's later events arriving after that are delivered as if they were its first. 0 = forever.
        nice: niceness added to a delivery child process (``bridge serve``'s default delivery):
            on a busy machine the intake's acknowledgements get the CPU first and delivery uses
            what is left; the spool holds the difference. 0 = same priority as the intake.
    """

    workers: int = 1
    batch_size: int = 500
    batch_bytes: int = 16 << 20
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    breaker_threshold: int = 2
    max_attempts: int = 0
    idle_wait: float = 1.0
    linger: float = 0.2
    run_memory_days: float = 7.0
    nice: int = 19

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryConfig:
        known = {a.name for a in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown delivery setting(s): {', '.join(sorted(unknown))}", key="serve.delivery")
        try:
            config = cls(**{k: type(getattr(cls(), k))(v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad delivery setting: {exc}", key="serve.delivery") from exc
        if config.workers < 1 or config.batch_size < 1 or config.batch_bytes < 1:
            raise ConfigError("workers, batch_size and batch_bytes must be at least 1", key="serve.delivery")
        return config


class CircuitBreaker:
    """Stops delivery attempts for a while after rounds that delivered nothing.

    Closed: rounds run. After ``threshold`` failed rounds in a row it opens for a
    delay that doubles each time (up to ``maximum``); when it expires one probe
    round runs; a round that delivers anything closes it.
    """

    def __init__(self, *, threshold: int = 2, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.threshold = threshold
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self.opened = 0
        self._until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._until

    @property
    def failing(self) -> bool:
        """Opened and not closed by a round that worked since: open, or between two probes."""
        return self.failures >= self.threshold

    def remaining(self) -> float:
        return max(0.0, self._until - time.monotonic())

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self._until = 0.0

    def failure(self) -> float:
        """Record a round that delivered nothing; returns how long the breaker is now open."""
        with self._lock:
            self.failures += 1
            if self.failures < self.threshold:
                return 0.0
            delay = min(self.maximum, self.initial * 2 ** (self.failures - self.threshold))
            delay *= random.uniform(0.8, 1.0)
            self._until = time.monotonic() + delay
            self.opened += 1
            return delay
