"""Delivery workers: spooled events -> the delivery core -> emitter, in batches.

One round takes the oldest due events (a job's events always go to the same
worker, in order), translates them and hands them to the
:class:`~bridge.delivery.DeliveryCore` as one round (coalesced per aspect,
skipping what the destination already holds), flushes, and settles the outcome
in one spool transaction.

Failures:

* retriable (connection refused, timeouts, 429/5xx, auth): the events stay
  spooled with a per-event backoff; a round that delivered nothing opens the
  circuit breaker so a DataHub that is down is probed, not hammered;
* rejected (GMS said 4xx about a proposal): the round's undecided events are
  re-delivered one at a time, so only the event whose proposals GMS rejects is
  dead-lettered, with GMS's message;
* out of memory while translating: the events translated before it are delivered and the rest
  of the round waits for the next one, which starts with that event; only an event that runs out
  of memory first in its round (alone) is dead-lettered, with its size. Out of memory while
  planning the round's writes: the first half of its events is planned (then a quarter...), the
  rest wait; only an event that cannot be planned alone is dead-lettered, with its size.

A round takes at most ``batch_size`` events and ``batch_bytes`` of their JSON (at least one
event), so what it holds in memory at once is bounded whatever the events are.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from typing import Any, NamedTuple

from bridge._json import read_json
from bridge.delivery import DeliveryCore
from bridge.errors import BridgeError, DeliveryError, InvalidEventError
from bridge.logs import log_fields
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.rounds import is_rejection
from bridge.spool._health import SpoolCorruptError
from bridge.spool._metrics import Metrics
from bridge.spool._policy import CircuitBreaker, DeliveryConfig
from bridge.spool._store import PendingEvent, Settlement, Spool

__all__ = ["DeliveryWorker", "deliver_round"]

log = logging.getLogger(__name__)


class RoundResult(NamedTuple):
    """What one round did: per row the error (None: delivered), the reason a row can never work,
    MCPs sent and found unchanged, per translated row the facets nothing maps, and the rows left for
    the next round."""

    outcome: dict[int, BaseException | None]
    invalid: dict[int, str]
    sent: int
    unchanged: int
    unmapped: dict[int, Counter[str]]
    deferred: frozenset[int] = frozenset()  # not tried (out of memory before them): for the next round


def deliver_round(rows: list[PendingEvent], *, parse: Any, core: DeliveryCore) -> RoundResult:
    """Deliver one batch.

    The facets of each event that nothing maps (:func:`translators.datahub.facets.unmapped_facets`)
    are in the result, for the caller to count once the event is delivered.

    Workers may run rounds side by side: what two jobs share (a dataset's lineage, tags...) is
    written as patches that never erase each other, and a run's own aspects (merged over its
    events) only ever come from its job's events, which always go to the same worker.
    """
    from translators.datahub.facets import unmapped_facets

    invalid: dict[int, str] = {}
    unmapped: dict[int, Counter[str]] = {}
    translated: list[tuple[int, list[MetadataChangeProposalWrapper]]] = []
    deferred: frozenset[int] = frozenset()
    for index, row in enumerate(rows):
        try:
            # An event without a usable eventTime takes the time the intake received it.
            event = parse(read_json(row.body), location=f"spool event {row.id}",
                          received_at=dt.datetime.fromtimestamp(row.received, dt.UTC))
            mcps = core.translator.translate(event)
            facets = unmapped_facets(event)
            translated.append((row.id, mcps))
            unmapped[row.id] = facets
        except MemoryError:
            event = mcps = None  # (what it had built is freed)
            if index:
                # The events translated before it hold memory: they go now; it and the rest wait for
                # the next round, which starts with it.
                deferred = frozenset(r.id for r in rows[index:])
                log.warning("out of memory translating a round: delivering the events before it, the rest "
                            "in the next round", extra=log_fields(event_id=row.id, delivered_now=index,
                                                                 deferred=len(deferred)))
                break
            invalid[row.id] = _out_of_memory(row)
            log.error("out of memory translating an event alone", extra=log_fields(event_id=row.id))
        except InvalidEventError as exc:
            invalid[row.id] = f"invalid event: {exc}"
        except Exception as exc:  # noqa: BLE001 - a translator bug must not block the spool
            invalid[row.id] = f"cannot translate: {type(exc).__name__}: {exc}"
            log.exception("translation failed", extra=log_fields(event_id=row.id))
    try:
        round_ = core.plan(translated)
    except MemoryError:  # the round's own size: planned again below, once the traceback lets go of it
        round_ = None
    except Exception:  # noqa: BLE001 - a bad MCP or a translator hook's bug: find out whose, event by event
        round_ = _plan_apart(core, translated, invalid)
    if round_ is None:  # as many of its first events as fit; the rest wait
        event = mcps = None
        round_, later = _plan_what_fits(core, translated, invalid, {row.id: row for row in rows})
        deferred |= later
    core.send(round_)
    if round_.sent:
        try:
            core.emitter.flush()
        except BridgeError:
            pass  # the callbacks carry each proposal's own error
        except Exception:  # noqa: BLE001 - an emitter bug: every unconfirmed proposal is retried
            log.exception("emitter flush failed")
    core.settle_unconfirmed(round_)
    core.commit()
    return RoundResult(round_.outcome(), invalid, len(round_.sent), round_.unchanged, unmapped, deferred)


def _out_of_memory(row: PendingEvent, doing: str = "translating this event") -> str:
    size = len(row.body.encode("utf-8", "surrogatepass"))
    return (f"cannot {'translate' if doing.startswith('translating') else 'deliver'}: out of memory (MemoryError) "
            f"{doing} alone, {size} bytes of JSON; give the delivery process more memory, then `bridge spool retry` it")


def _plan_what_fits(core: DeliveryCore, translated: list[tuple[int, list[Any]]], invalid: dict[int, str],
                    rows: dict[int, PendingEvent]) -> tuple[Any, frozenset[int]]:
    """Plan the first half of the events, else the first quarter... until it fits in memory; the rest
    (their MCPs let go first) wait for the next round, which starts with them. Only an event that
    cannot be planned alone is dead-lettered, as one that cannot be translated alone is.

    Raises:
        MemoryError: nothing to plan (no event was translated) and still no memory: the round fails
            and its events are tried again after a backoff.
    """
    if not translated:
        raise MemoryError("out of memory planning a round with no translated event")
    keep, later = max(1, len(translated) // 2), frozenset[int]()
    while True:
        later |= {row_id for row_id, _ in translated[keep:]}
        del translated[keep:]  # what the waiting events had built is freed before trying again
        try:
            round_ = core.plan(translated)
        except MemoryError:
            if keep > 1:
                keep //= 2
                continue
            row_id = translated.pop()[0]
            invalid[row_id] = _out_of_memory(rows[row_id], "planning this event's writes")
            log.error("out of memory planning an event alone", extra=log_fields(event_id=row_id))
            return core.plan([]), later
        if later:
            log.warning("out of memory planning a round: delivering its first events, the rest in the "
                        "next round", extra=log_fields(delivered_now=keep, deferred=len(later)))
        return round_, later


def _plan_apart(core: DeliveryCore, translated: list[tuple[int, list[Any]]], invalid: dict[int, str]) -> Any:
    """Plan each event alone; those that cannot be planned can never be delivered (they are dead-lettered)."""
    good = []
    for row_id, mcps in translated:
        try:
            core.plan([(row_id, mcps)])
        except Exception as exc:  # noqa: BLE001 - named in the dead letter
            invalid[row_id] = f"cannot deliver: {type(exc).__name__}: {exc}"
            log.exception("planning the delivery failed", extra=log_fields(event_id=row_id))
        else:
            good.append((row_id, mcps))
    return core.plan(good)


class DeliveryWorker(threading.Thread):
    """One delivery thread.

    Args:
        index: this worker's share (``bucket % workers == index``).
        spool: where events wait.
        core: the delivery core (translator, emitter, lineage memory; shared by all workers).
        config: batch size, backoff, breaker settings.
        metrics: counters to update.
        breaker: shared circuit breaker.
        parse: OpenLineage JSON -> neutral event (``translators.openlineage.parse_event``).
    """

    def __init__(
        self,
        index: int,
        *,
        spool: Spool,
        core: DeliveryCore,
        config: DeliveryConfig,
        metrics: Metrics,
        breaker: CircuitBreaker,
        parse: Any,
    ) -> None:
        super().__init__(name=f"delivery-{index}", daemon=True)
        self.index = index
        self.spool = spool
        self.core = core
        self.config = config
        self.metrics = metrics
        self.breaker = breaker
        self.parse = parse
        self._stopping = threading.Event()
        self.rounds = 0
        self.last_round = 0  # events the last round took
        self.last_round_bytes = 0  # and the bytes of their JSON
        self._failed_rounds = 0  # rounds in a row that raised
        self._failed_with: str | None = None  # the error last logged

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
            except Exception as exc:  # noqa: BLE001 - keep trying; the spool still holds the events
                self._stopping.wait(self._round_failed(exc))
                continue
            if self._failed_rounds:
                log.warning("delivery rounds work again",
                            extra=log_fields(worker=self.index, failed_rounds=self._failed_rounds))
                self._failed_rounds, self._failed_with = 0, None
            if self.index == 0:
                self._housekeeping()
            if not worked:
                self.spool.wait_for_new(self.config.idle_wait)
            elif (self.config.linger > 0 and self.last_round < self.config.batch_size
                  and self.last_round_bytes < self.config.batch_bytes // 2):
                self._stopping.wait(self.config.linger)  # (a round near either limit gains nothing by waiting)

    def _round_failed(self, exc: BaseException) -> float:
        """Count and log a failed round; returns how long to wait before the next one.

        The wait doubles per failure in a row (up to ``backoff_max``), and an error is logged once,
        not on every round: a damaged spool fails every round until someone recovers it. A
        traceback is logged only for what is not the spool's (likely a bug).
        """
        self._failed_rounds += 1
        self.metrics.inc("delivery_round_errors")
        delay = min(self.config.backoff_max, self.config.backoff_initial * 2 ** min(self._failed_rounds - 1, 30))
        error = f"{type(exc).__name__}: {exc}"
        if error != self._failed_with:
            self._failed_with = error
            fields = log_fields(worker=self.index, error=str(exc), retry_in_s=round(delay, 2))
            if isinstance(exc, SpoolCorruptError | sqlite3.Error):
                log.error("delivery round failed: the spool cannot be read or written; "
                          "retrying with backoff, logged again only if the error changes", extra=fields)
            else:
                log.error("delivery round failed; retrying with backoff, logged again only if the error changes",
                          extra=fields, exc_info=exc)
        return delay

    def _housekeeping(self) -> None:
        """Worker 0, after its rounds: forget old runs, expire stale edges (each at most hourly)."""
        try:
            forgotten, expired = self.core.housekeeping()
            if expired:
                self.core.emitter.flush()
                self.core.commit()
        except Exception as exc:  # noqa: BLE001 - only disk space or stale edges are at stake; later
            log.warning("lineage memory housekeeping failed", extra=log_fields(error=str(exc)))
            return
        if forgotten or expired:
            log.info("lineage memory housekeeping", extra=log_fields(
                rows_forgotten=forgotten, edges_expired=expired, run_memory_days=self.config.run_memory_days))

    def run_once(self) -> bool:
        """Run one round; returns whether there was anything to do."""
        rows = self.spool.pending(limit=self.config.batch_size, worker=self.index, workers=self.config.workers,
                                  max_bytes=self.config.batch_bytes)
        self.last_round = len(rows)
        self.last_round_bytes = rows.size  # (as summed while they were taken)
        if not rows:
            return False
        self.rounds += 1
        settlement = Settlement()
        result = deliver_round(rows, parse=self.parse, core=self.core)
        outcome, invalid = result.outcome, result.invalid
        if result.deferred:
            rows = [row for row in rows if row.id not in result.deferred]  # untouched: due again at once
            self.last_round_bytes = self.config.batch_bytes  # (no lingering before the rest)
        rejected = any(e is not None and is_rejection(e) for e in outcome.values())
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
        self._settle(settlement, result)
        if isolate:
            # Someone in this round was rejected: find out exactly who, one event at a time.
            failed_keys: set[str] = set()
            for row in isolate:
                if row.key in failed_keys:
                    self._settle(Settlement(retry=[(row.id, time.time() + self._backoff(row.attempts),
                                                    "waiting for an earlier event")]), None)
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

    def _deliver_alone(self, row: PendingEvent) -> bool:
        """Deliver one event; returns False when it stays in the spool for a retry."""
        settlement = Settlement()
        result = deliver_round([row], parse=self.parse, core=self.core)
        error = result.outcome.get(row.id)
        if row.id in result.invalid:
            settlement.dead.append((row, result.invalid[row.id], None, None, None))
        elif error is None:
            settlement.done.append(row.id)
            self.metrics.observe_delivery(time.time() - row.received)
        elif is_rejection(error):
            settlement.dead.append(_dead_entry(row, error))
        else:
            self._retry_or_give_up(settlement, row, error, time.time())
        self._settle(settlement, result)
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

    def _settle(self, settlement: Settlement, result: RoundResult | None) -> None:
        # Delivery already happened (the emitter confirmed it): count it before the spool forgets
        # the events, so depth + delivered never dips below what was spooled. Should recording
        # fail, the events are delivered again later (at-least-once) and counted again.
        if result is not None:
            self.metrics.inc("mcps_emitted", result.sent)
            self.metrics.inc("mcps_unchanged", result.unchanged)
            for row_id in settlement.done:  # once per event delivered, not per attempt
                self.metrics.count_unmapped_facets(result.unmapped.get(row_id, {}))
        self.metrics.inc("delivered", len(settlement.done))
        self.spool.settle(settlement).result()
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
