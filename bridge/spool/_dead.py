"""Dead letters: events given up on, with the reason; listed, re-queued or purged by ``bridge spool``.

The writes are operations for the spool's writer (:class:`bridge.spool._writer.GroupCommit`);
the reads take the spool's read function.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from bridge.spool._records import DeadLetter, Read, Source, bucket_of
from bridge.spool._writer import Op

__all__ = ["add_op", "count", "forward_count", "forwarded_op", "ids_clause", "letters", "purge_op", "requeue_op",
           "to_forward", "trim_op"]

def ids_clause(ids: Sequence[int] | None) -> tuple[str, tuple]:
    """``WHERE id IN (...)`` for those ids, or nothing (all) for ``None``."""
    if ids is None:
        return "", ()
    ids = tuple(int(i) for i in ids)
    return f"WHERE id IN ({','.join('?' * len(ids)) or 'NULL'})", ids


def add_op(items: Iterable[tuple[str, str, str]], sources: Sequence[Source] | None = None) -> Op:
    """Dead-letter events that never made it into the queue (``(key, body, reason)``); returns how many.

    ``sources``: where each came from (a Kafka message): such a dead letter waits to be forwarded to
    the dead-letter topic, and one from a place already dead-lettered is left out.
    """
    now = time.time()
    items = list(items)
    wheres = [(None, None, None)] * len(items) if sources is None else list(sources)
    rows = [(key, body, now, now, 0, reason, *where, where[0] is not None)
            for (key, body, reason), where in zip(items, wheres, strict=True)]

    def op(conn: Any) -> int:
        return conn.executemany(
            "INSERT OR IGNORE INTO dead(key, body, received, failed_at, attempts, reason, source, source_offset,"
            " source_part, forward) VALUES (?,?,?,?,?,?,?,?,?,?)", rows
        ).rowcount

    return op


def to_forward(read: Read, *, limit: int, max_chars: int | None = None) -> list[DeadLetter]:
    """Dead letters of consumed events waiting to be sent to the dead-letter topic, oldest first; with
    ``max_chars``, only as many as hold that many characters of text (at least one)."""
    if max_chars is None:
        return _letters(read, "WHERE forward = 1 AND source IS NOT NULL", (), limit)
    sizes = read("SELECT id, length(body) + length(reason) FROM dead WHERE forward = 1 AND source IS NOT NULL"
                 " ORDER BY id LIMIT ?", (limit,))
    ids, total = [], 0
    for letter_id, size in sizes:
        total += size or 0
        if ids and total > max_chars:
            break
        ids.append(letter_id)
    return _letters(read, f"WHERE id IN ({','.join('?' * len(ids))})", tuple(ids), limit) if ids else []


def forward_count(read: Read) -> int:
    """How many dead letters of consumed events wait for the dead-letter topic."""
    return read("SELECT count(*) FROM dead WHERE forward = 1 AND source IS NOT NULL", ())[0][0]


#: Characters a dead letter is counted as besides its key, body and reason (its row's other columns).
DEAD_ROW = 100


def trim_op(max_chars: int, *, forwarding: bool) -> Op:
    """Delete the oldest dead letters of consumed messages (read from Kafka; with ``forwarding``, those
    not waiting for the dead-letter topic) beyond the newest ones holding ``max_chars`` characters;
    returns how many went.

    The messages are still in Kafka (their place is their key) while it keeps them; a worker's spool
    is a cache, and a stream of poison must not fill its disk.
    """
    where = "source IS NOT NULL" + (" AND forward = 0" if forwarding else "")

    def op(conn: Any) -> int:
        total = 0
        rows = conn.execute(f"SELECT id, length(key) + length(body) + length(reason) FROM dead WHERE {where}"  # noqa: S608
                            " ORDER BY id DESC")
        for letter_id, size in rows:
            total += (size or 0) + DEAD_ROW
            if total > max_chars:
                return conn.execute(f"DELETE FROM dead WHERE {where} AND id <= ?", (letter_id,)).rowcount  # noqa: S608
        return 0

    return op


def forwarded_op(ids: Sequence[int]) -> Op:
    """Note that these dead letters are in the dead-letter topic."""

    def op(conn: Any) -> None:
        conn.executemany("UPDATE dead SET forward = 0 WHERE id = ?", [(i,) for i in ids])

    return op


def requeue_op(ids: Sequence[int] | None) -> Op:
    """Move dead letters (all, or those ids) back to the queue; returns how many moved."""

    def op(conn: Any) -> int:
        where, args = ids_clause(ids)
        rows = conn.execute(f"SELECT id, key, body, received FROM dead {where} ORDER BY id", args).fetchall()
        conn.executemany(
            "INSERT INTO events(bucket, key, body, received) VALUES (?,?,?,?)",
            [(bucket_of(key), key, body, received) for _, key, body, received in rows],
        )
        conn.executemany("DELETE FROM dead WHERE id = ?", [(r[0],) for r in rows])
        return len(rows)

    return op


def purge_op(ids: Sequence[int] | None) -> Op:
    """Delete dead letters (all, or those ids); returns how many were deleted."""

    def op(conn: Any) -> int:
        where, args = ids_clause(ids)
        return conn.execute(f"DELETE FROM dead {where}", args).rowcount

    return op


def letters(read: Read, *, limit: int, ids: Sequence[int] | None) -> list[DeadLetter]:
    """Dead letters (all, or those ids), oldest first."""
    where, args = ids_clause(ids)
    return _letters(read, where, args, limit)


def of_keys(read: Read, keys: Sequence[str]) -> list[DeadLetter]:
    """Every dead letter of these ordering keys, oldest first."""
    return _letters(read, f"WHERE key IN ({','.join('?' * len(keys))})", tuple(keys), -1) if keys else []


def _letters(read: Read, where: str, args: tuple, limit: int) -> list[DeadLetter]:
    rows = read(
        "SELECT id, key, body, received, failed_at, attempts, reason, urn, aspect, status, source, source_offset"
        f" FROM dead {where} ORDER BY id LIMIT ?",  # noqa: S608 - fixed text
        (*args, limit),
    )
    return [
        DeadLetter(
            id=r[0], key=r[1], body=r[2], received=r[3], failed_at=r[4], attempts=r[5],
            reason=r[6], urn=r[7], aspect=r[8], status=r[9], source=r[10], source_offset=r[11],
        )
        for r in rows
    ]


def count(read: Read) -> int:
    return read("SELECT count(*) FROM dead", ())[0][0]
