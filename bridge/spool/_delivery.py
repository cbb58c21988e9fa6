"""Delivery workers: spooled events -> translator -> MCPs -> emitter, in batches.

One round takes the oldest due events (a job's events always go to the same
worker, in order), translates them, merges lineage aspects with what was
learned before (never backwards), collapses repeated values of the same aspect
inside the batch (only the newest is sent, so an older value can never land
after a newer one), drops values already delivered unchanged, emits, flushes
and settles the outcome in one spool transaction.

Failures:

* retriable (connection refused, timeouts, 429/5xx, auth): the events stay
  spooled with a per-event backoff; a round that delivered nothing opens the
  circuit breaker so a DataHub that is down is probed, not hammered;
* rejected (GMS said 4xx about a proposal): the round's undecided events are
  re-delivered one at a time, so only the event whose proposals GMS rejects is
  dead-lettered, with GMS's message, and its lineage is never merged into the
  memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.errors import BridgeError, DeliveryError, InvalidEventError, RejectedError
from bridge.lineage import MERGED_ASPECTS, aspect_digest, merge_aspect
from bridge.logs import log_fields
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.spool._memory import SqliteLineageMemory
from bridge.spool._metrics import Metrics
from bridge.spool._policy import AspectLocks, CircuitBreaker, DeliveryConfig
from bridge.spool._store import PendingEvent, Settlement, Spool

_fast_loads: Any
try:  # optional (serve extra): reads a spooled event several times faster than json.loads
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - the standard library reads the same text
    _fast_loads = None


def _load_event(body: str) -> Any:
    """Decode a spooled event; what orjson refuses (NaN, huge integers) the standard library reads."""
    if _fast_loads is not None:
        try:
            return _fast_loads(body)
        except ValueError:
            pass
    return json.loads(body)

__all__ = ["DeliveryWorker", "deliver_round"]

log = logging.getLogger(__name__)

#: Seconds between two passes that drop old run memory (see ``DeliveryConfig.run_memory_days``).
_FORGET_EVERY = 3600.0

_FALLBACK_TIMESERIES = frozenset(
    {"dataProcessInstanceRunEvent", "datasetProfile", "operation", "datasetUsageStatistics", "assertionRunEvent"}
)


def _timeseries_aspects() -> frozenset[str]:
    try:
        from translators.datahub.registry import entity_registry

        return frozenset(entity_registry().timeseries) | _FALLBACK_TIMESERIES
    except Exception:  # noqa: BLE001 - the registry is an optimisation; the fallback list is correct for OL
        return _FALLBACK_TIMESERIES


@attrs.define
class _Group:
    """One aspect value to send, and the events it speaks for."""

    mcp: MetadataChangeProposalWrapper
    rows: list[int]
    merged: bool
    digest: str = ""
    error: BaseException | None = None
    settled: bool = False


def _is_rejection(error: BaseException) -> bool:
    return isinstance(error, RejectedError | InvalidEventError)


def deliver_round(
    rows: list[PendingEvent],
    *,
    parse: Any,
    translator: Any,
    emitter: Any,
    memory: SqliteLineageMemory,
    timeseries: frozenset[str],
    locks: AspectLocks | None = None,
) -> tuple[dict[int, BaseException | None], dict[int, str], int, int]:
    """Deliver one batch; returns (per-row error or None, per-row reason it can never work, sent, unchanged).

    Rows absent from both maps were not attempted (only happens when translation of an earlier
    row of the same key failed).

    Args:
        locks: shared by the workers of one spool: the round's merged aspects are held from
            their merge until they are delivered and remembered (see :class:`AspectLocks`).
    """
    invalid: dict[int, str] = {}
    translated: list[tuple[PendingEvent, list[MetadataChangeProposalWrapper]]] = []
    for row in rows:
        try:
            # An event without a usable eventTime takes the time the intake received it.
            event = parse(_load_event(row.body), location=f"spool event {row.id}",
                          received_at=dt.datetime.fromtimestamp(row.received, dt.UTC))
            translated.append((row, translator.translate(event)))
        except InvalidEventError as exc:
            invalid[row.id] = f"invalid event: {exc}"
        except Exception as exc:  # noqa: BLE001 - a translator bug must not block the spool
            invalid[row.id] = f"cannot translate: {type(exc).__name__}: {exc}"
            log.exception("translation failed", extra=log_fields(event_id=row.id))
    slots = {(m.entity_urn, m.aspect_name) for _, mcps in translated for m in mcps}
    merged = {slot for slot in slots if slot[1] in MERGED_ASPECTS}
    with locks.hold(merged) if locks is not None else contextlib.nullcontext():
        # One query per few hundred URNs instead of one per aspect.
        memory.prefetch(slots)
        outcome, sent, unchanged = _send(translated, emitter=emitter, memory=memory, timeseries=timeseries)
    return outcome, invalid, sent, unchanged


def _send(
    translated: list[tuple[PendingEvent, list[MetadataChangeProposalWrapper]]],
    *,
    emitter: Any,
    memory: SqliteLineageMemory,
    timeseries: frozenset[str],
) -> tuple[dict[int, BaseException | None], int, int]:
    """Merge, coalesce, skip what is unchanged, emit, flush; returns (per-row error or None, sent, unchanged)."""

    groups: dict[tuple, _Group] = {}
    order: list[tuple] = []
    overlay: dict[tuple[str, str], Mapping[str, Any]] = {}
    row_groups: dict[int, list[tuple]] = {}
    for row, mcps in translated:
        keys = row_groups.setdefault(row.id, [])
        for _index, mcp in enumerate(mcps):
            slot = (mcp.entity_urn, mcp.aspect_name)
            merged = mcp.aspect_name in MERGED_ASPECTS
            if merged:
                before = overlay.get(slot)
                if before is None:
                    before = memory.get_aspect(*slot)
                value = merge_aspect(mcp.aspect_name, before, mcp.aspect_value)
                overlay[slot] = value
                if value != mcp.aspect_value:
                    mcp = attrs.evolve(mcp, aspect=value)
            # Timeseries points are all sent, but identical ones (Spark's repeated RUNNING) only once.
            digest = aspect_digest(mcp.aspect_json) if mcp.aspect_name in timeseries else ""
            key = (*slot, digest) if digest else slot
            group = groups.get(key)
            if group is None:
                # A timeseries group's key already holds its value's digest (same key, same digest).
                groups[key] = _Group(mcp=mcp, rows=[row.id], merged=merged, digest=digest)
                order.append(key)
            else:
                # A newer value of the same aspect replaces the older one: only the newest is sent.
                group.mcp = mcp
                if row.id not in group.rows:
                    group.rows.append(row.id)
            keys.append(key)

    sent = unchanged = 0
    lock = threading.Lock()

    def callback_for(group: _Group) -> Any:
        def done(error: BaseException | None, message: str) -> None:
            with lock:
                if group.settled:
                    return
                group.settled = True
                group.error = error
            if error is None:
                memory.mark_delivered(group.mcp.entity_urn, group.mcp.aspect_name, group.digest)
                if group.merged:
                    memory.put_aspect(group.mcp.entity_urn, group.mcp.aspect_name, group.mcp.aspect_value)

        return done

    for key in order:
        group = groups[key]
        if not group.digest:
            group.digest = aspect_digest(group.mcp.aspect_json)
        if memory.delivered_digest(group.mcp.entity_urn, group.mcp.aspect_name) == group.digest:
            group.settled = True
            unchanged += 1
            continue
        sent += 1
        try:
            emitter.emit(group.mcp, callback=callback_for(group))
        except Exception as exc:  # noqa: BLE001 - classified below like a callback error
            with lock:
                if not group.settled:
                    group.settled, group.error = True, exc
    if sent:
        try:
            emitter.flush()
        except BridgeError:
            pass  # the callbacks carry each proposal's own error
        except Exception as exc:  # noqa: BLE001 - an emitter bug: every unconfirmed proposal is retried
            log.exception("emitter flush failed")
            for group in groups.values():
                with lock:
                    if not group.settled:
                        group.settled, group.error = True, exc
    for group in groups.values():
        if not group.settled:
            group.settled = True
            group.error = DeliveryError("the emitter did not confirm the proposal", urn=group.mcp.entity_urn)

    outcome: dict[int, BaseException | None] = {}
    for row_id, keys in row_groups.items():
        error = None
        for key in keys:
            err = groups[key].error
            if err is not None and (error is None or _is_rejection(err)):
                error = err
        outcome[row_id] = error
    return outcome, sent, unchanged


class DeliveryWorker(threading.Thread):
    """One delivery thread.

    Args:
        index: this worker's share (``bucket % workers == index``).
        spool: where events wait.
        translator: neutral event -> MCPs (``translate(event)``).
        emitter: where MCPs go.
        memory: durable lineage memory (shared by all workers).
        config: batch size, backoff, breaker settings.
        metrics: counters to update.
        breaker: shared circuit breaker.
        parse: OpenLineage JSON -> neutral event (``translators.openlineage.parse_event``).
        locks: shared by all workers, so two never write the same merged aspect at once.
    """

    def __init__(
        self,
        index: int,
        *,
        spool: Spool,
        translator: Any,
        emitter: Any,
        memory: SqliteLineageMemory,
        config: DeliveryConfig,
        metrics: Metrics,
        breaker: CircuitBreaker,
        parse: Any,
        locks: AspectLocks | None = None,
    ) -> None:
        super().__init__(name=f"delivery-{index}", daemon=True)
        self.index = index
        self.spool = spool
        self.translator = translator
        self.emitter = emitter
        self.memory = memory
        self.config = config
        self.metrics = metrics
        self.breaker = breaker
        self.parse = parse
        self.locks = locks
        self.timeseries = _timeseries_aspects()
        self._stopping = threading.Event()
        self.rounds = 0
        self.last_round = 0
        self._forgot_at = 0.0

    def stop(self) -> None:
        self._stopping.set()
        self.spool.wake()

    def run(self) -> None:
        while not self._stopping.is_set():
            if self.breaker.is_open:
                self._stopping.wait(self.breaker.remaining())
                continue
            try:
                worked = self.run_once()
            except Exception:  # noqa: BLE001 - keep delivering; the spool still holds the events
                log.exception("delivery round failed", extra=log_fields(worker=self.index))
                self._stopping.wait(self.config.backoff_initial)
                continue
            if self.index == 0:
                self._forget_old_runs()
            if not worked:
                self.spool.wait_for_new(self.config.idle_wait)
            elif self.config.linger > 0 and self.last_round < self.config.batch_size:
                self._stopping.wait(self.config.linger)

    def _forget_old_runs(self) -> None:
        """Now and then (worker 0 only) drop the memory of runs older than ``run_memory_days``."""
        keep = self.config.run_memory_days * 86_400
        now = time.time()
        if keep <= 0 or now - self._forgot_at < min(_FORGET_EVERY, keep / 2):
            return
        self._forgot_at = now
        try:
            dropped = self.spool.forget_runs(now - keep).result()
        except Exception as exc:  # noqa: BLE001 - only disk space is at stake; try again later
            log.warning("could not drop old run memory", extra=log_fields(error=str(exc)))
            return
        if dropped:
            log.info("dropped old run memory", extra=log_fields(rows=dropped, days=self.config.run_memory_days))

    def run_once(self) -> bool:
        """Run one round; returns whether there was anything to do."""
        rows = self.spool.pending(limit=self.config.batch_size, worker=self.index, workers=self.config.workers)
        self.last_round = len(rows)
        if not rows:
            return False
        self.rounds += 1
        settlement = Settlement()
        outcome, invalid, sent, unchanged = self._deliver(rows)
        rejected = any(e is not None and _is_rejection(e) for e in outcome.values())
        delivered_any = False
        held_keys: set[str] = set()
        isolate: list[PendingEvent] = []
        now = time.time()
        for row in rows:
            if row.id in invalid:
                settlement.dead.append((row, invalid[row.id], None, None, None))
                continue
            error = outcome.get(row.id)
            if row.key in held_keys:
                # An earlier event of this job was not delivered: keep this one behind it.
                if rejected:
                    isolate.append(row)
                else:
                    settlement.retry.append((row.id, now + self._backoff(row.attempts), "waiting for an earlier event"))
                continue
            if error is None and row.id in outcome:
                settlement.done.append(row.id)
                delivered_any = True
                self.metrics.observe_delivery(now - row.received)
                continue
            held_keys.add(row.key)
            if rejected:
                isolate.append(row)
            else:
                self._retry_or_give_up(settlement, row, error, now)
        self._settle(settlement, sent, unchanged)
        if isolate:
            # Someone in this round was rejected: find out exactly who, one event at a time.
            failed_keys: set[str] = set()
            for row in isolate:
                if row.key in failed_keys:
                    self._settle(Settlement(retry=[(row.id, time.time() + self._backoff(row.attempts),
                                                    "waiting for an earlier event")]), 0, 0)
                elif not self._deliver_alone(row):
                    failed_keys.add(row.key)
            return True
        if delivered_any or not any(outcome.values()):
            self.breaker.success()
        else:
            delay = self.breaker.failure()
            if delay:
                log.warning(
                    "delivery failing; pausing",
                    extra=log_fields(worker=self.index, pause_s=round(delay, 2), error=str(next(
                        e for e in outcome.values() if e is not None))),
                )
        return True

    def _deliver(self, rows: list[PendingEvent]) -> tuple[dict, dict, int, int]:
        return deliver_round(
            rows,
            parse=self.parse,
            translator=self.translator,
            emitter=self.emitter,
            memory=self.memory,
            timeseries=self.timeseries,
            locks=self.locks,
        )

    def _deliver_alone(self, row: PendingEvent) -> bool:
        """Deliver one event; returns False when it stays in the spool for a retry."""
        settlement = Settlement()
        outcome, invalid, sent, unchanged = self._deliver([row])
        error = outcome.get(row.id)
        if row.id in invalid:
            settlement.dead.append((row, invalid[row.id], None, None, None))
        elif error is None:
            settlement.done.append(row.id)
            self.metrics.observe_delivery(time.time() - row.received)
        elif _is_rejection(error):
            settlement.dead.append(_dead_entry(row, error))
        else:
            self._retry_or_give_up(settlement, row, error, time.time())
        self._settle(settlement, sent, unchanged)
        return not settlement.retry

    def _backoff(self, attempts: int) -> float:
        delay = min(self.config.backoff_max, self.config.backoff_initial * 2**attempts)
        return delay * random.uniform(0.5, 1.0)

    def _retry_or_give_up(self, settlement: Settlement, row: PendingEvent, error: BaseException | None, now: float) -> None:
        if self.config.max_attempts and row.attempts + 1 >= self.config.max_attempts:
            entry = _dead_entry(row, error)
            settlement.dead.append((row, f"gave up after {row.attempts + 1} attempts: {entry[1]}", *entry[2:]))
            return
        settlement.retry.append((row.id, now + self._backoff(row.attempts), str(error)))

    def _settle(self, settlement: Settlement, sent: int, unchanged: int) -> None:
        # Delivery already happened (the emitter confirmed it): count it before the spool forgets
        # the events, so depth + delivered never dips below what was spooled. Should recording
        # fail, the events are delivered again later (at-least-once) and counted again.
        self.metrics.inc("mcps_emitted", sent)
        self.metrics.inc("mcps_unchanged", unchanged)
        self.metrics.inc("delivered", len(settlement.done))
        self.memory.drain_into(settlement)
        try:
            self.spool.settle(settlement).result()
        except Exception:
            self.memory.restore(settlement)
            raise
        self.metrics.inc("retried", len(settlement.retry))
        self.metrics.inc("dead_lettered", len(settlement.dead))
        for row, reason, *_ in settlement.dead:
            log.warning("event dead-lettered", extra=log_fields(event_id=row.id, key=row.key, reason=reason))


def _dead_entry(row: PendingEvent, error: BaseException | None) -> tuple:
    if isinstance(error, DeliveryError):
        reason = error.server_message or str(error)
        return (row, reason, error.urn, error.aspect, error.status)
    if isinstance(error, InvalidEventError):
        return (row, str(error), None, None, None)
    return (row, str(error), None, None, None)
