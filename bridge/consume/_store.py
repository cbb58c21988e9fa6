"""Polled messages into the spool (:func:`store`): their events queued, their dead letters kept, each
with where it was read from; a message the spool refuses is found and dead-lettered alone."""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, cast

import attrs

from bridge.consume._decode import DEAD_BODY_LIMIT, Decoded, storable
from bridge.consume._partitions import source_of
from bridge.logs import LogThrottle, log_fields
from bridge.spool import DEAD_ROW, Spool, SpoolClosedError, SpoolService

__all__ = ["DeadLetters", "Polled", "SpoolDown", "store"]

log = logging.getLogger("bridge.consume")

_REASON_LIMIT = 2000


@attrs.frozen
class Polled:
    topic: str
    partition: int
    offset: int
    location: str
    decoded: Decoded
    #: The last offset this message stands for, when it stands for several: an unreadable record batch,
    #: dead-lettered at its first offset (``None``: only its own).
    through: int | None = None

    @property
    def last(self) -> int:
        """The last offset this message stands for: the partition was read past it once it is stored."""
        return self.offset if self.through is None else self.through

    @property
    def source(self) -> str:
        return source_of(self.topic, self.partition)


class SpoolDown(Exception):
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


def _dead_row(polled: Polled, reason: str, body: str | None = None) -> tuple[str, str, str]:
    if body is None:  # a usable message keeps no text of its own: its events are what it held
        events = [event for _key, event in polled.decoded.events]
        body = polled.decoded.raw or (events[0] if len(events) == 1 else f"[{','.join(events)}]")
    raw = body
    return f"kafka:{polled.location}", storable(raw, DEAD_BODY_LIMIT), storable(reason, _REASON_LIMIT)


def _write(service: SpoolService, batch: list[Polled]) -> None:
    good, sources = [], []
    for polled in batch:
        for part, event in enumerate(polled.decoded.events):
            good.append(event)
            sources.append((polled.source, polled.offset, part))
    bad = [p for p in batch if p.decoded.reason is not None]
    if good:
        service.submit(good, sources).result()
    if bad:
        cast(Any, service.spool).add_dead([_dead_row(p, cast(str, p.decoded.reason)) for p in bad],
                                          [(p.source, p.offset, 0) for p in bad]).result()


def store(service: SpoolService, batch: list[Polled], stats: Any) -> None:
    """Spool the batch's events and dead letters; if the spool refuses them, find the message(s) it refuses.

    Raises:
        SpoolDown: the spool itself failed; messages from ``index`` on are not stored.
        SpoolClosedError: the spool was closed.
    """
    try:
        _write(service, batch)
    except SpoolClosedError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified: the spool's own failure, or one message's
        if _spool_down(exc):
            raise SpoolDown(exc, 0) from exc
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
                    raise SpoolDown(one, index) from one
                reason = polled.decoded.reason or f"{polled.location}: could not be spooled: {type(one).__name__}: {one}"
            # Only this message is refused: dead-letter it (or, if even that fails, its reason alone).
            rows = [_dead_row(polled, reason), _dead_row(polled, ascii(reason), body="")]
            for row in rows:
                try:
                    cast(Any, service.spool).add_dead([row], [(polled.source, polled.offset, 0)]).result()
                    break
                except Exception as dead:  # noqa: BLE001 - classified as above
                    if _spool_down(dead) or row is rows[-1]:
                        raise SpoolDown(dead, index) from dead
            batch[index] = attrs.evolve(polled, decoded=Decoded(reason=reason, kind="unstorable"))
    dead = sum(p.decoded.reason is not None for p in batch)
    skipped = sum(p.decoded.skip for p in batch)
    spooled = sum(len(p.decoded.events) for p in batch)
    stats.messages += len(batch)
    stats.spooled += spooled
    stats.dead_lettered += dead
    stats.skipped += skipped
    service.metrics.inc("received", spooled + dead)
    service.metrics.inc("dead_lettered", dead)
    kinds = collections.Counter(p.decoded.kind for p in batch if p.decoded.reason is not None)
    for reason, count in (*kinds.items(), ("tombstone", skipped)):
        if count:
            service.metrics.reject(reason, count)


class DeadLetters:
    """The dead letters of what the worker read: said in the log (each kind at most once a minute, with
    how many more), and the spool's kept within ``max_chars`` characters (see :meth:`Spool.trim_dead`).

    The spool is trimmed once dead letters of about a quarter of ``max_chars`` were added, and once a
    minute when the count changed (delivery dead-letters events too).
    """

    def __init__(self, spool: Spool, max_chars: int, *, forwarding: bool, every: float = 60.0) -> None:
        self.spool = spool
        self.forwarding = forwarding
        self.max_chars = max_chars
        self.every = every
        self.dropped = 0
        self._added = 0
        self._throttle = LogThrottle(every=every)
        self._checked = (time.monotonic(), -1)  # when the spool was last trimmed, and its count then

    def stored(self, batch: list[Polled]) -> None:
        """Note a stored batch's dead letters; trim the spool if enough were added."""
        for polled in batch:
            reason = polled.decoded.reason
            if reason is None:
                continue
            self._added += min(len(polled.decoded.raw), DEAD_BODY_LIMIT) + min(len(reason), _REASON_LIMIT) + DEAD_ROW
            self._throttle.log(log, logging.WARNING, "message dead-lettered", f"dead:{polled.decoded.kind}",
                               kind=polled.decoded.kind, reason=reason[:_REASON_LIMIT])  # (log fields are redacted)
        if self._added >= self.max_chars // 4:
            self.trim()

    def tick(self) -> None:
        """Trim the spool if a minute passed and its dead letters changed (counted at most once a minute)."""
        if time.monotonic() - self._checked[0] < self.every:
            return
        count = self.spool.dead_count()
        if count != self._checked[1]:
            self.trim()
        else:
            self._checked = (time.monotonic(), count)

    def trim(self) -> int:
        dropped = cast(int, self.spool.trim_dead(self.max_chars, forwarding=self.forwarding).result())
        self._added, self._checked = 0, (time.monotonic(), self.spool.dead_count())
        if dropped:
            self.dropped += dropped
            self._throttle.log(log, logging.WARNING, "oldest dead letters dropped from the spool: they are over "
                               "max_dead_bytes (the messages stay in Kafka while it keeps them)", "dead:trim",
                               dropped=dropped, dropped_total=self.dropped, max_dead_bytes=self.max_chars)
        return dropped
