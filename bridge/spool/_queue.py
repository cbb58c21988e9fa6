"""The queue of events waiting for delivery: appended by intake, read and settled by delivery.

Writes are operations for the spool's writer (:class:`bridge.spool._writer.GroupCommit`); reads
take the spool's read function.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bridge.spool._records import PendingEvent, Read, Settlement, bucket_of
from bridge.spool._writer import Op

__all__ = ["append_op", "depth", "pending", "settle_op", "status"]


def append_op(items: Sequence[tuple[str, str]], received: float | None) -> Op:
    """Insert ``(ordering key, event JSON)`` pairs in order; returns how many."""
    now = time.time() if received is None else received
    rows = [(bucket_of(key), key, body, now) for key, body in items]

    def op(conn: Any) -> int:
        conn.executemany("INSERT INTO events(bucket, key, body, received) VALUES (?,?,?,?)", rows)
        return len(rows)

    return op


def settle_op(settlement: Settlement) -> Op:
    """Record a delivery round: delivered events go, dead letters move, retries are scheduled."""
    now = time.time()

    def op(conn: Any) -> None:
        if settlement.dead:
            conn.executemany(
                "INSERT INTO dead(event_id, key, body, received, failed_at, attempts, reason, urn, aspect, status)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (e.id, e.key, e.body, e.received, now, e.attempts + 1, reason, urn, aspect, status)
                    for e, reason, urn, aspect, status in settlement.dead
                ],
            )
        gone = settlement.done + [e.id for e, *_ in settlement.dead]
        if gone:
            conn.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in gone])
        if settlement.retry:
            conn.executemany(
                "UPDATE events SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                [(when, error[:2000], i) for i, when, error in settlement.retry],
            )

    return op


def pending(read: Read, *, limit: int, worker: int, workers: int, now: float | None) -> list[PendingEvent]:
    """The next events due for delivery for one worker, oldest first (see :meth:`Spool.pending`)."""
    now = time.time() if now is None else now
    rows = read(
        "SELECT id, key, body, received, attempts FROM events"
        " WHERE next_attempt <= ?1 AND bucket % ?2 = ?3"
        " AND key NOT IN (SELECT key FROM events WHERE next_attempt > 0 AND next_attempt > ?1)"
        " ORDER BY id LIMIT ?4",
        (now, workers, worker, limit),
    )
    return [PendingEvent(*row) for row in rows]


def depth(read: Read) -> int:
    return read("SELECT count(*) FROM events", ())[0][0]


def status(read: Read) -> dict[str, Any]:
    """Counts and ages of the queue and the dead letters (without the spool's path)."""
    now = time.time()
    count, oldest, retrying, max_attempts = read(
        "SELECT count(*), min(received), sum(attempts > 0), max(attempts) FROM events", ()
    )[0]
    dead, last_dead = read("SELECT count(*), max(failed_at) FROM dead", ())[0]
    errors = read("SELECT last_error FROM events WHERE last_error IS NOT NULL ORDER BY id LIMIT 1", ())
    return {
        "pending": count,
        "oldest_pending_age_s": round(now - oldest, 3) if oldest else None,
        "retrying": retrying or 0,
        "max_attempts": max_attempts or 0,
        "last_error": errors[0][0] if errors else None,
        "dead": dead,
        "last_dead_at": last_dead,
    }
