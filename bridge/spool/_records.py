"""What the spool stores: its SQLite schema and the records passed in and out."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["BUCKETS", "SCHEMA", "DeadLetter", "PendingEvent", "Read", "Settlement", "bucket_of"]

BUCKETS = 1024

#: How the spool's modules read: ``read(sql, args)`` -> rows, on the spool's reading connection.
Read = Callable[[str, Sequence[Any]], list[tuple]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket INTEGER NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    received REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
-- Only events waiting for a retry are indexed (next_attempt > 0): a new event costs no index write.
CREATE INDEX IF NOT EXISTS events_retrying ON events(next_attempt) WHERE next_attempt > 0;
DROP INDEX IF EXISTS events_next_attempt;
CREATE TABLE IF NOT EXISTS dead(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    received REAL NOT NULL,
    failed_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    urn TEXT,
    aspect TEXT,
    status INTEGER
);
-- After a write failed for lack of space, the readiness probe writes (and takes back) a row here
-- to see whether writes work again.
CREATE TABLE IF NOT EXISTS probe(id INTEGER PRIMARY KEY, at REAL NOT NULL, pad BLOB);
DROP TABLE IF EXISTS lineage;
DROP TABLE IF EXISTS delivered;
"""
# (``lineage``/``delivered``: the lineage memory of earlier versions, before it was keyed by
# destination and moved to ``memory.sqlite3``; see :mod:`bridge.lineage`.)


@attrs.frozen
class PendingEvent:
    """One spooled event waiting for delivery."""

    id: int
    key: str
    body: str
    received: float
    attempts: int


@attrs.frozen(kw_only=True)
class DeadLetter:
    """A dead-lettered event and why it was given up on."""

    id: int
    key: str
    body: str
    received: float
    failed_at: float
    attempts: int
    reason: str
    urn: str | None = None
    aspect: str | None = None
    status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        body = out.pop("body")
        try:
            out["event"] = json.loads(body)
        except ValueError:
            out["raw"] = body  # a Kafka message that was not JSON
        return out


@attrs.define
class Settlement:
    """The outcome of one delivery round, written in one transaction."""

    done: list[int] = attrs.field(factory=list)
    dead: list[tuple[PendingEvent, str, str | None, str | None, int | None]] = attrs.field(factory=list)
    retry: list[tuple[int, float, str]] = attrs.field(factory=list)  # id, next attempt, error


def bucket_of(key: str) -> int:
    """A stable bucket for an ordering key (workers split buckets, so one key stays with one worker)."""
    return zlib.crc32(key.encode("utf-8")) % BUCKETS
