"""The queue of events waiting for delivery: appended by intake, read and settled by delivery.

Writes are operations for the spool's writer (:class:`bridge.spool._writer.GroupCommit`); reads
take the spool's read function.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from bridge.spool._records import PendingEvent, PendingEvents, Read, Scan, Settlement, Source, bucket_of
from bridge.spool._writer import Op

__all__ = ["append_op", "depth", "forget_op", "pending", "settle_op", "status", "undelivered"]


def append_op(items: Sequence[tuple[str, str]], received: float | None,
              sources: Sequence[Source] | None = None) -> Op:
    """Insert ``(ordering key, event JSON)`` pairs in order; returns how many were new.

    ``sources``: where each came from (see :data:`Source`); an event from a place already spooled
    (a Kafka message read again) is left out.
    """
    now = time.time() if received is None else received
    if sources is None:
        rows = [(bucket_of(key), key, body, now) for key, body in items]
        sql = "INSERT INTO events(bucket, key, body, received) VALUES (?,?,?,?)"
    else:
        rows = [(bucket_of(key), key, body, now, *where) for (key, body), where in zip(items, sources, strict=True)]
        sql = ("INSERT OR IGNORE INTO events(bucket, key, body, received, source, source_offset, source_part)"
               " VALUES (?,?,?,?,?,?,?)")

    def op(conn: Any) -> int:
        return conn.executemany(sql, rows).rowcount

    return op


def undelivered(read: Read, *, forwarding: bool) -> dict[str, int]:
    """Per source (``topic[partition]``), the lowest offset not yet delivered: still queued, or (with
    ``forwarding``) a dead letter not yet sent to the dead-letter topic."""
    rows = read("SELECT source, min(source_offset) FROM events WHERE source IS NOT NULL GROUP BY source", ())
    lowest = dict(rows)
    if forwarding:
        for source, offset in read("SELECT source, min(source_offset) FROM dead"
                                   " WHERE forward = 1 AND source IS NOT NULL GROUP BY source", ()):
            lowest[source] = min(offset, lowest.get(source, offset))
    return lowest


def forget_op(sources: Sequence[str] | None, dead: bool) -> Op:
    """Drop the queued events (and, with ``dead``, the dead letters not yet forwarded) read from these
    sources (``None``: all sources); returns how many events. Their offsets were never committed: Kafka
    gives them again."""
    where = "source IS NOT NULL" if sources is None else f"source IN ({','.join('?' * len(sources)) or 'NULL'})"
    args = () if sources is None else tuple(sources)

    def op(conn: Any) -> int:
        if dead:
            conn.execute(f"DELETE FROM dead WHERE forward = 1 AND {where}", args)  # noqa: S608 - fixed text
        return conn.execute(f"DELETE FROM events WHERE {where}", args).rowcount  # noqa: S608 - fixed text

    return op


def settle_op(settlement: Settlement) -> Op:
    """Record a delivery round: delivered events go, dead letters move, retries are scheduled."""
    now = time.time()

    def op(conn: Any) -> None:
        if settlement.dead:
            # Where a consumed event came from goes with it (for the dead-letter topic); an event
            # already dropped from the queue (its partition went to another worker) is not kept.
            conn.executemany(
                "INSERT OR IGNORE INTO dead(event_id, key, body, received, failed_at, attempts, reason, urn, aspect,"
                " status, source, source_offset, source_part, forward)"
                " SELECT ?,?,?,?,?,?,?,?,?,?, source, source_offset, source_part, source IS NOT NULL"
                " FROM events WHERE id = ?",
                [
                    (e.id, e.key, e.body, e.received, now, e.attempts + 1, reason, urn, aspect, status, e.id)
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


def pending(scan: Scan, *, limit: int, worker: int, workers: int, now: float | None,
            max_bytes: int | None = None) -> PendingEvents:
    """The next events due for delivery for one worker, oldest first (see :meth:`Spool.pending`).

    ``max_bytes``: stop before the event that would take the bodies' total over it (the first event is
    always taken). Rows are read one at a time and reading stops there, so the events after it are
    neither sized nor read.
    """
    now = time.time() if now is None else now

    def take(rows: Iterator[tuple]) -> PendingEvents:
        out = PendingEvents()
        for *row, size in rows:
            if out and max_bytes is not None and out.size + size > max_bytes:
                break
            out.size += size
            out.append(PendingEvent(*row))
        return out

    return scan(
        "SELECT id, key, body, received, attempts, length(CAST(body AS BLOB)) FROM events"
        " WHERE next_attempt <= ?1 AND bucket % ?2 = ?3"
        " AND key NOT IN (SELECT key FROM events WHERE next_attempt > 0 AND next_attempt > ?1)"
        " ORDER BY id LIMIT ?4",
        (now, workers, worker, limit), take,
    )


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
