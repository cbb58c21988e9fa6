"""Group commit: the spool writes of concurrent requests made durable together."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from bridge.intake._settings import BACKGROUND_FLUSH_EVERY
from bridge.logs import log_fields
from bridge.spool import SpoolService

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)


class GroupCommit:
    """Makes the spool writes of concurrent requests durable together.

    Requests add their events to a batch on the event loop (no lock: only the loop touches
    it) and wait on an asyncio future. Once per loop iteration -- after every request whose
    bytes arrived in that iteration has been validated -- the batch is written to the spool
    in one transaction, right there on the loop, without flushing it (tens of microseconds,
    no thread hand-off). The flush thread then fdatasyncs the write-ahead log and answers
    those requests with one wake-up of the loop. While a flush runs the loop keeps reading
    and validating; what arrives meanwhile is written in one transaction as soon as the
    flush returns, and flushed next, so a flush's cost is shared by many requests under
    load. Nothing is acknowledged before the flush after its write returned: the durability
    of ``synchronous=FULL`` (see :meth:`bridge.spool.Spool.sync_wal`). With
    ``synchronous=NORMAL`` requests are answered once written, and the flush thread flushes
    what was written at most :data:`BACKGROUND_FLUSH_EVERY` seconds later.

    The loop never waits for a lock: when the delivery side holds the database (its
    transactions are short and rare), the batch goes to the commit thread instead, which
    waits for it and commits durably; later batches follow it there until it is idle, so a
    request is never committed before an earlier one.

    A group write that fails is written again one request at a time (on the commit thread),
    so an event the spool cannot store fails its own request only, never its bystanders.
    """

    def __init__(self, service: SpoolService) -> None:
        self.service = service
        self.batch: list[tuple[str, str]] = []
        self.batch_waiters: list[tuple[asyncio.Future, int]] = []
        self.scheduled = False
        self.in_thread = 0  # batches handed to the commit thread and not answered yet (loop-side count)
        self.flushing = False  # a write of the loop's is being flushed (loop-side)
        # With synchronous=NORMAL (survives kill -9) a request does not wait for the flush.
        self.flush = service.synchronous.upper() != "NORMAL"
        self.lock = threading.Lock()
        self.items: list[tuple[str, str]] = []
        self.waiters: list[tuple[asyncio.Future, int]] = []
        self.handed = 0  # batches in self.items (under self.lock)
        self.pending = threading.Event()
        self.unflushed: list[tuple[asyncio.Future, int]] = []  # written, waiting for a flush (under self.lock)
        self.flush_pending = threading.Event()
        self.flush_error: str | None = None  # the last flush's error; None once one works again
        self.thread = threading.Thread(target=self._run, name="spool-commit", daemon=True)
        self.thread.start()
        self.flusher = threading.Thread(target=self._flush_loop, name="spool-flush", daemon=True)
        self.flusher.start()

    def add(self, items: list[tuple[str, str]]) -> asyncio.Future:
        """Queue ``items``; the returned future resolves to their count once they are durable."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.batch += items
        self.batch_waiters.append((future, len(items)))
        if not self.scheduled:
            # Runs after the callbacks already queued: the other requests read in this iteration.
            self.scheduled = True
            loop.call_soon(self._write)
        return future

    def _write(self) -> None:
        self.scheduled = False
        if self.flushing and not self.in_thread:
            return  # written together right after the flush in flight (see _flushed)
        batch, waiters = self.batch, self.batch_waiters
        if not waiters:
            return
        self.batch, self.batch_waiters = [], []
        if not self.in_thread:
            try:
                written = self.service.append_now(batch, wait=False, sync=not self.flush)
            except Exception as exc:  # noqa: BLE001 - answered (503, or 422 for what cannot be stored)
                if len(waiters) == 1:
                    _answer(waiters, exc)
                    return
                written = None  # the commit thread writes them one request at a time
            if written is not None and not self.flush:
                _answer(waiters, None)  # synchronous=NORMAL: committed is all that was asked for
                self.flush_pending.set()  # ... and flushed in the background
                return
            if written is not None:
                self.flushing = True
                with self.lock:
                    self.unflushed += waiters
                self.flush_pending.set()
                return
        self.in_thread += 1
        with self.lock:
            self.items += batch
            self.waiters += waiters
            self.handed += 1
        self.pending.set()

    def _flushed(self, waiters: list[tuple[asyncio.Future, int]], error: BaseException | None) -> None:
        self.flushing = False
        _answer(waiters, error)
        self._write()  # what arrived during the flush: one write, and the next flush at once

    def _flush_loop(self) -> None:
        while not self.service.stopped:
            if not self.flush_pending.wait(1.0):
                continue
            if not self.flush:
                self._flush_in_background()
                continue
            with self.lock:
                # Everything in this list was written before the flush below starts.
                waiters, self.unflushed = self.unflushed, []
                self.flush_pending.clear()
            if not waiters:
                continue
            # A failed flush: not durable, so every waiting request answers 503.
            if not self._reply(waiters, self._sync(), flushed=True):
                return

    def _sync(self) -> BaseException | None:
        """fdatasync the write-ahead log; returns the error, also kept in :attr:`flush_error` for /readyz."""
        try:
            self.service.sync_wal()
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            self.service.metrics.inc("wal_flush_errors")
            self.flush_error = f"{type(exc).__name__}: {exc}"
            return exc
        self.service.metrics.inc("wal_flushes")
        self.flush_error = None
        return None

    def _flush_in_background(self) -> None:
        """``synchronous=NORMAL``: flush what was committed (already answered), then rest a moment."""
        self.flush_pending.clear()
        failing = self.flush_error is not None
        if self._sync() is not None:
            # The requests were answered already: say so loudly, once (and /readyz says 503 until a
            # flush works again).
            if not failing:
                log.error("spool flush failed: acknowledged events are not on disk yet",
                          extra=log_fields(error=self.flush_error))
            self.flush_pending.set()  # try again after the pause
        elif failing:
            log.warning("spool flush works again")
        time.sleep(BACKGROUND_FLUSH_EVERY)

    def _answer_from_thread(self, waiters: list[tuple[asyncio.Future, int]], errors: list[BaseException | None],
                            batches: int) -> None:
        self.in_thread -= batches
        for waiter, error in zip(waiters, errors, strict=True):
            _answer([waiter], error)

    def _reply(self, waiters: list[tuple[asyncio.Future, int]], error: Any,
               batches: int = 0, *, flushed: bool = False) -> bool:
        """Answer on the loop: ``error`` is one error for all after a flush, else one per waiter."""
        loop = waiters[0][0].get_loop()
        try:
            if flushed:
                loop.call_soon_threadsafe(self._flushed, waiters, error)
            else:
                loop.call_soon_threadsafe(self._answer_from_thread, waiters, error, batches)
        except RuntimeError:
            return False  # the loop is closed: the server is gone
        return True

    def _run(self) -> None:
        while not self.service.stopped:
            if not self.pending.wait(1.0):
                continue
            with self.lock:
                items, waiters, batches = self.items, self.waiters, self.handed
                self.items, self.waiters, self.handed = [], [], 0
                self.pending.clear()
            if not waiters:
                continue
            try:
                self.service.append_now(items)
                errors: list[BaseException | None] = [None] * len(waiters)
            except Exception as exc:  # noqa: BLE001 - answered (503, or 422 for what cannot be stored)
                errors = self._one_by_one(items, waiters) if len(waiters) > 1 else [exc]
            if not self.flush and any(error is None for error in errors):
                self.flush_pending.set()
            if not self._reply(waiters, errors, batches):
                return

    def _one_by_one(self, items: list[tuple[str, str]],
                    waiters: list[tuple[asyncio.Future, int]]) -> list[BaseException | None]:
        """After a failed group write: each request's events on their own, so only a culprit fails."""
        errors: list[BaseException | None] = []
        start = 0
        for _, count in waiters:
            try:
                self.service.append_now(items[start:start + count])
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - that request's answer
                errors.append(exc)
            start += count
        return errors


def _answer(waiters: list[tuple[asyncio.Future, int]], error: BaseException | None) -> None:
    for future, count in waiters:
        if future.done():
            continue
        if error is None:
            future.set_result(count)
        else:
            future.set_exception(error)
