"""What the spool stores: its SQLite schema and the records passed in and out."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

__all__ = ["BUCKETS", "SCHEMA", "Source", "DeadLetter", "PendingEvent", "PendingEvents", "Read", "Scan", "Settlement",
           "bucket_of"]

BUCKETS = 1024

#: How the spool's modules read: ``read(sql, args)`` -> rows, on the spool's reading connection.
Read = Callable[[str, Sequence[Any]], list[tuple]]
#: ``scan(sql, args, take)`` -> ``take(rows)``: ``take`` reads the rows as they come and may stop early.
Scan = Callable[[str, Sequence[Any], Callable[[Iterator[tuple]], Any]], Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket INTEGER NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    received REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    source TEXT,
    source_offset INTEGER,
    source_part INTEGER
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
    status INTEGER,
    source TEXT,
    source_offset INTEGER,
    source_part INTEGER,
    forward INTEGER NOT NULL DEFAULT 0
);
-- After a write failed for lack of space, the readiness probe writes (and takes back) a row here
-- to see whether writes work again.
CREATE TABLE IF NOT EXISTS probe(id INTEGER PRIMARY KEY, at REAL NOT NULL, pad BLOB);
DROP TABLE IF EXISTS lineage;
DROP TABLE IF EXISTS delivered;
"""
#: Columns added since the first release: ``(table, column, declaration)``, added to an older spool on open.
#: ``source`` / ``source_offset`` / ``source_part``: where a ``bridge consume`` event came from (``topic[partition]``,
#: the message's offset, the event's index in the message); ``forward``: 1 while a dead letter waits to be
#: sent to the dead-letter topic.
_ADDED = (
    ("events", "source", "TEXT"), ("events", "source_offset", "INTEGER"), ("events", "source_part", "INTEGER"),
    ("dead", "source", "TEXT"), ("dead", "source_offset", "INTEGER"), ("dead", "source_part", "INTEGER"),
    ("dead", "forward", "INTEGER NOT NULL DEFAULT 0"),
)
_INDEXES = """
-- One row per Kafka message event: a message read again (after a rewind) is not spooled twice, and
-- the lowest undelivered offset of a partition is one index lookup.
CREATE UNIQUE INDEX IF NOT EXISTS events_source ON events(source, source_offset, source_part)
    WHERE source IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS dead_source ON dead(source, source_offset, source_part) WHERE source IS NOT NULL;
-- The few dead letters waiting for the dead-letter topic, found without reading the rest.
CREATE INDEX IF NOT EXISTS dead_forward ON dead(source, source_offset) WHERE forward = 1;
-- The status page's dead letters of a job (dead letters are few: the index costs nothing that matters).
CREATE INDEX IF NOT EXISTS dead_key ON dead(key);
"""


def upgrade(conn: Any) -> None:
    """Bring a spool written by an earlier version to the current schema (after :data:`SCHEMA`)."""
    for table, column, declaration in _ADDED:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    conn.executescript(_INDEXES)


# (``lineage``/``delivered``: the lineage memory of earlier versions, before it was keyed by
# destination and moved to ``memory.sqlite3``; see :mod:`bridge.lineage`.)


#: Where a consumed event came from: ``(topic[partition], offset, index of the event in the message)``.
Source = tuple[str, int, int]


@attrs.frozen
class PendingEvent:
    """One spooled event waiting for delivery."""

    id: int
    key: str
    body: str
    received: float
    attempts: int


class PendingEvents(list[PendingEvent]):
    """The events one read of the queue took, oldest first, and ``size``: the bytes of their JSON,
    as summed while they were taken (against ``max_bytes``)."""

    size = 0


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
    source: str | None = None
    source_offset: int | None = None

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
