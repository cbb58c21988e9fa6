"""The intake's commit path: a write that never waits for a lock, and a WAL flush done apart from the write.

``bridge serve`` writes each batch on its event loop with ``append_now(wait=False, sync=False)``
and answers 201 only after ``sync_wal()`` returned; when the delivery side holds the write
lock it falls back to a waiting, synchronous commit on its commit thread.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from bridge.spool import Spool


def _event(i: int) -> str:
    return json.dumps({"i": i, "job": {"namespace": "ns", "name": "j"}})


def _bodies(path) -> list[int]:
    conn = sqlite3.connect(path / "spool.sqlite3")
    try:
        return [json.loads(b)["i"] for (b,) in conn.execute("SELECT body FROM events ORDER BY id")]
    finally:
        conn.close()


def test_unsynced_write_then_sync_wal_is_committed_and_survives_reopen(tmp_path):
    with Spool(tmp_path) as spool:
        assert spool.append_now([("job:a", _event(1)), ("job:a", _event(2))], wait=False, sync=False) == 2
        spool.sync_wal()
        assert spool.append_now([("job:a", _event(3))], wait=False, sync=False) == 1
        spool.sync_wal()
        # Another connection (another process's view) sees the commits.
        assert _bodies(tmp_path) == [1, 2, 3]
    with Spool(tmp_path) as spool:
        assert [json.loads(e.body)["i"] for e in spool.pending(limit=10)] == [1, 2, 3]


def test_no_wait_write_returns_none_while_another_writer_holds_the_lock(tmp_path):
    with Spool(tmp_path) as spool:
        other = sqlite3.connect(tmp_path / "spool.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # what a delivery round's transaction does
        try:
            assert spool.append_now([("job:a", _event(1))], wait=False, sync=False) is None
            assert spool.append_now([("job:a", _event(1))], wait=False) is None
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert spool.depth() == 0  # nothing was written by the refused attempts
        assert spool.append_now([("job:a", _event(2))], wait=False, sync=False) == 1
        spool.sync_wal()
        assert _bodies(tmp_path) == [2]


def test_a_waiting_write_must_be_synchronous(tmp_path):
    with Spool(tmp_path) as spool, pytest.raises(ValueError, match="sync=False"):
        spool.append_now([("job:a", _event(1))], wait=True, sync=False)
