"""The spool and the status page's journal give disk space back once heavy events are gone (real files)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from bridge.spool import Settlement, Spool
from bridge.spool._records import SCHEMA
from bridge.ui import Journal

MB = 1 << 20


def _size(path: Path) -> int:
    return path.stat().st_size


def _shrinks_below(path: Path, limit: int, timeout: float = 10.0) -> int:
    """The file's size once it is under ``limit`` (it shrinks at a checkpoint), or its size at the timeout."""
    deadline = time.monotonic() + timeout
    while _size(path) >= limit and time.monotonic() < deadline:
        time.sleep(0.05)
    return _size(path)


def _heavy(i: int, size: int = MB) -> str:
    return json.dumps({"eventType": "START", "run": {"runId": f"r{i}"}, "job": {"namespace": "n", "name": f"j{i}"},
                       "pad": "x" * size})


def test_spool_gives_back_the_space_of_delivered_heavy_events(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append([(f"k{i}", _heavy(i)) for i in range(60)]).result(10)
        spool.append([("small", json.dumps({"small": True}))]).result(10)
        with sqlite3.connect(spool.path) as other:
            other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        full = _size(spool.path)
        assert full > 60 * MB
        heavy = [row.id for row in spool.pending(limit=100) if row.key != "small"]
        spool.settle(Settlement(done=heavy)).result(10)
        assert spool.depth() == 1
        assert _shrinks_below(spool.path, 40 * MB) < 40 * MB  # (it may keep a few MiB free for reuse)
        assert [row.key for row in spool.pending(limit=10)] == ["small"]


def _old_spool(state: Path, events: int, pending: int) -> Path:
    """A spool file as earlier versions made it (no incremental vacuuming), heavy events delivered but
    ``pending`` still queued."""
    state.mkdir()
    path = state / "spool.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO events(bucket, key, body, received) VALUES (0, ?, ?, 0)",
                   [(f"k{i}", _heavy(i)) for i in range(events)])
    db.execute("DELETE FROM events WHERE id <= ?", (events - pending,))
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    db.close()
    return path


def test_an_older_spool_file_is_switched_when_it_opens_and_keeps_its_events(tmp_path):
    path = _old_spool(tmp_path / "state", 50, 2)
    before = _size(path)
    assert before > 50 * MB
    with Spool(tmp_path / "state") as spool:
        assert _size(path) < 10 * MB
        assert [row.key for row in spool.pending(limit=10)] == ["k48", "k49"]
        spool.append([(f"n{i}", _heavy(i)) for i in range(40)]).result(10)
        spool.settle(Settlement(done=[row.id for row in spool.pending(limit=100)])).result(10)
        assert _shrinks_below(path, 30 * MB) < 30 * MB  # and gives space back from now on


def test_an_older_spool_file_holding_much_is_left_for_a_later_start(tmp_path, monkeypatch):
    from bridge import sqlite_files as _space

    path = _old_spool(tmp_path / "state", 12, 6)
    monkeypatch.setattr(_space, "CONVERT_BELOW", 4 * MB)  # (6 MiB still queued: not rewritten now)
    with Spool(tmp_path / "state") as spool:
        assert spool.depth() == 6
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    db.close()
    monkeypatch.setattr(_space, "CONVERT_BELOW", 64 * MB)
    with Spool(tmp_path / "state") as spool:
        assert spool.depth() == 6
        assert _size(path) < 8 * MB


def _journal_bytes(path: Path) -> tuple[int, int]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*), coalesce(sum(length(body)), 0) FROM events").fetchone()
    finally:
        db.close()


def test_journal_keeps_a_byte_budget_and_shrinks_once_heavy_events_are_pruned(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path, keep=100, max_bytes=80 * MB, interval=3600)
    journal.record([(f"k{i}", _heavy(i)) for i in range(60)])
    journal.flush()
    assert _journal_bytes(path)[0] == 60
    full = _size(path)
    assert full > 60 * MB
    journal.record([(f"s{i}", json.dumps({"eventType": "START", "i": i})) for i in range(100)])  # heavy ones out
    journal.flush()
    assert _journal_bytes(path)[0] == 100
    assert _shrinks_below(path, full // 2) < full // 2

    small = Journal(path, keep=100, max_bytes=5 * MB, interval=3600)
    small.record([(f"h{i}", _heavy(i)) for i in range(30)])
    assert small._queued_bytes <= 5 * MB  # what waits for the file is bounded too
    small.flush()
    count, stored = _journal_bytes(path)
    assert 4 * MB < stored <= 5 * MB and count == 100  # the newest 4 heavy ones and 96 small ones
    small.record([("huge", _heavy(0, 8 * MB))])  # over the budget alone: the newest is kept anyway
    small.flush()
    assert _journal_bytes(path)[0] == 1


def test_an_older_journal_file_is_pruned_by_bytes_and_shrinks(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript("""CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL NOT NULL,
        key TEXT NOT NULL, digest TEXT NOT NULL, run_id TEXT, job TEXT, event_type TEXT, event_time TEXT,
        datasets TEXT NOT NULL DEFAULT '', body TEXT NOT NULL);
        CREATE INDEX events_run ON events(run_id);""")
    db.executemany("INSERT INTO events(received, key, digest, body) VALUES (0, ?, 'd', ?)",
                   [(f"k{i}", _heavy(i)) for i in range(50)])
    db.close()
    assert _size(path) > 50 * MB
    journal = Journal(path, keep=2000, max_bytes=4 * MB, interval=3600)
    journal.record([("new", json.dumps({"eventType": "START"}))])
    journal.flush()
    count, stored = _journal_bytes(path)
    assert stored <= 4 * MB and count == 4  # three old heavy events and the new one
    assert _size(path) < 10 * MB
    assert os.path.exists(path)



class _NoRoom(sqlite3.Connection):
    def execute(self, sql, *args):
        if sql == "VACUUM":
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def test_an_older_file_that_cannot_be_switched_keeps_working(tmp_path, caplog):
    from bridge import sqlite_files as _space

    path = _old_spool(tmp_path / "state", 4, 2)
    db = sqlite3.connect(path, isolation_level=None, factory=_NoRoom)
    assert _space.enable(db, path) is False  # (logged, not raised: the spool opens as it is)
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 2
    db.close()
    assert "could not switch" in caplog.text
