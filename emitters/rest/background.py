"""Background delivery: a bounded queue and one sender thread that fills batches.

Used when ``delivery = "background"``: ``emit`` only queues (blocking while the
queue is full), the sender takes up to a batch's worth (waiting ``linger_ms``
for more when the queue is short), and hands it to the emitter's delivery
function. ``flush`` waits until the queue is empty and nothing is in flight.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from bridge.errors import QueueFullError
from emitters.rest.batching import Encoded, split_batches

__all__ = ["BackgroundSender"]


class BackgroundSender:
    """Queues encoded proposals and delivers them in batches from one thread.

    Args:
        deliver: called with each batch from the sender thread; must not raise.
        max_batch_size: proposals per batch.
        max_batch_bytes: bytes per batch.
        linger_sec: how long to wait for a short batch to fill.
        max_pending: queue bound.
        queue_timeout_sec: how long ``put`` waits on a full queue.
    """

    def __init__(self, deliver: Callable[[list[Encoded]], None], *, max_batch_size: int, max_batch_bytes: int,
                 linger_sec: float, max_pending: int, queue_timeout_sec: float) -> None:
        self._deliver = deliver
        self._max_size = max_batch_size
        self._max_bytes = max_batch_bytes
        self._linger = linger_sec
        self._max_pending = max_pending
        self._queue_timeout = queue_timeout_sec
        self._queue: collections.deque[Encoded] = collections.deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="rest-emitter-sender", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Proposals queued or in flight."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def put(self, encoded: Encoded) -> None:
        """Queue one proposal.

        Raises:
            QueueFullError: the queue stayed full for ``queue_timeout_sec``.
        """
        with self._cond:
            if len(self._queue) >= self._max_pending:
                deadline = time.monotonic() + self._queue_timeout
                while len(self._queue) >= self._max_pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise QueueFullError(
                            f"the REST emitter's queue stayed full ({self._max_pending} items) for "
                            f"{self._queue_timeout}s; GMS is slower than the producer",
                            urn=encoded.urn, aspect=encoded.aspect,
                        )
                    self._cond.wait(left)
            self._queue.append(encoded)
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued was settled; returns ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Stop the sender thread once the queue is drained."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> list[Encoded] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None  # closing and drained
            if len(self._queue) < self._max_size and self._linger > 0 and not self._closing:
                # Give producers a moment to fill the batch: fewer, larger requests.
                deadline = time.monotonic() + self._linger
                while len(self._queue) < self._max_size and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            batch = next(split_batches(self._queue, self._max_size, self._max_bytes))
            for _ in batch:
                self._queue.popleft()
            self._in_flight += len(batch)
            self._cond.notify_all()
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._deliver(batch)
            finally:
                with self._cond:
                    self._in_flight -= len(batch)
                    self._cond.notify_all()
