"""SQLite helpers shared by the two durable lineage memories (the spool's and the Dagster plugin's)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

__all__ = ["RUN_URNS", "add_touched_columns", "forget_runs"]

#: The key range of run URNs (``dataProcessInstance``), ``[start, end)``. What is remembered of a
#: run -- its merged lineage, the digests of what was delivered for it -- matters only while its
#: events arrive, and every run adds rows; jobs, flows and datasets are few and kept for good.
RUN_URNS = ("urn:li:dataProcessInstance:", "urn:li:dataProcessInstance;")


def add_touched_columns(conn: sqlite3.Connection, tables: Iterable[str], now: float) -> None:
    """Give ``tables`` (written by an earlier version) the ``touched`` column :func:`forget_runs` reads.

    Their rows count as written ``now``, so an upgrade drops nothing at once: every row gets the
    full retention period.
    """
    for table in tables:
        if "touched" not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN touched REAL NOT NULL DEFAULT 0")
            conn.execute(f"UPDATE {table} SET touched = ?", (now,))


def forget_runs(conn: sqlite3.Connection, tables: Iterable[str], before: float) -> int:
    """Delete the rows of run URNs whose ``touched`` time is before ``before``; returns how many."""
    return sum(
        conn.execute(f"DELETE FROM {table} WHERE urn >= ? AND urn < ? AND touched < ?", (*RUN_URNS, before)).rowcount
        for table in tables
    )
