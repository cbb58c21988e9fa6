"""The SQLite spool: group commits, order, held keys, settlement, dead letters."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import threading

import pytest

from bridge.spool import Settlement, Spool, SpoolLockedError


def _event(i: int, job: str = "j") -> str:
    return json.dumps({"i": i, "job": {"namespace": "ns", "name": job}})


def test_append_is_durable_once_acknowledged_and_survives_reopen(tmp_path):
    with Spool(tmp_path) as spool:
        assert spool.append([("job:a", _event(1)), ("job:a", _event(2))]).result(5) == 2
    # A plain SQLite connection (another process's view) sees the committed rows.
    conn = sqlite3.connect(tmp_path / "spool.sqlite3")
    assert [json.loads(b)["i"] for (b,) in conn.execute("SELECT body FROM events ORDER BY id")] == [1, 2]
    conn.close()
    with Spool(tmp_path) as spool:
        assert [json.loads(e.body)["i"] for e in spool.pending(limit=10)] == [1, 2]


def test_concurrent_appends_share_commits(tmp_path):
    with Spool(tmp_path) as spool:
        start = threading.Barrier(32)

        def one(i: int) -> int:
            start.wait()
            return spool.append([(f"job:{i % 4}", _event(i))]).result(10)

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            assert sum(pool.map(one, range(32))) == 32
        assert spool.depth() == 32
        # 32 acknowledgements, fewer fsyncs: the writer folded waiting appends together.
        assert spool.commits < 32


def test_pending_keeps_order_and_holds_back_a_key_waiting_for_retry(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append([("job:a", _event(1, "a")), ("job:b", _event(2, "b")), ("job:a", _event(3, "a"))]).result(5)
        rows = spool.pending(limit=10)
        assert [r.key for r in rows] == ["job:a", "job:b", "job:a"]
        first = rows[0]
        spool.settle(Settlement(retry=[(first.id, 1e12, "GMS down")])).result(5)
        # Event 3 of job a must not overtake event 1; job b goes on.
        assert [json.loads(r.body)["i"] for r in spool.pending(limit=10)] == [2]
        status = spool.status()
        assert status["pending"] == 3 and status["retrying"] == 1 and status["last_error"] == "GMS down"


def test_spool_of_an_earlier_version_gets_the_retry_index_and_keeps_holding_keys(tmp_path):
    # Earlier spools indexed every event by next_attempt; now only events waiting for a retry are.
    conn = sqlite3.connect(tmp_path / "spool.sqlite3")
    conn.executescript(
        "CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, bucket INTEGER NOT NULL, key TEXT NOT NULL,"
        " body TEXT NOT NULL, received REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT);"
        "CREATE INDEX events_next_attempt ON events(next_attempt);"
    )
    conn.close()
    with Spool(tmp_path) as spool:
        indexes = {name for (name,) in spool._read("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "events_retrying" in indexes and "events_next_attempt" not in indexes
        spool.append([("job:a", _event(1, "a")), ("job:b", _event(2, "b")), ("job:a", _event(3, "a"))]).result(5)
        first = spool.pending(limit=10)[0]
        spool.settle(Settlement(retry=[(first.id, 1e12, "GMS down")])).result(5)
        assert [json.loads(r.body)["i"] for r in spool.pending(limit=10)] == [2]
        plan = " ".join(row[-1] for row in spool._read(
            "EXPLAIN QUERY PLAN SELECT key FROM events WHERE next_attempt > 0 AND next_attempt > 1"))
        assert "events_retrying" in plan


def test_settle_dead_letters_then_requeue_and_purge(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append([("job:a", _event(1)), ("job:a", _event(2)), ("job:b", _event(3))]).result(5)
        one, two, three = spool.pending(limit=10)
        spool.settle(
            Settlement(done=[one.id], dead=[(two, "422: bad aspect", "urn:li:dataJob:x", "dataJobInfo", 422)])
        ).result(5)
        assert spool.depth() == 1
        (letter,) = spool.dead_letters()
        assert (letter.reason, letter.urn, letter.aspect, letter.status) == (
            "422: bad aspect", "urn:li:dataJob:x", "dataJobInfo", 422)
        assert letter.to_dict()["event"]["i"] == 2
        assert spool.requeue_dead([letter.id]).result(5) == 1
        assert spool.dead_count() == 0
        assert sorted(json.loads(r.body)["i"] for r in spool.pending(limit=10)) == [2, 3]
        spool.add_dead([("kafka:t[0]@5", "not json", "not valid JSON")]).result(5)
        assert spool.dead_letters()[0].to_dict()["raw"] == "not json"
        assert spool.purge_dead(None).result(5) == 1
        assert spool.dead_count() == 0


def test_one_failing_operation_does_not_undo_the_others(tmp_path):
    with Spool(tmp_path) as spool:
        def broken(conn):
            conn.execute("INSERT INTO events(bucket, key, body, received) VALUES (0, 'k', 'x', 0)")
            raise ValueError("boom")

        bad = spool.submit(broken)
        good = spool.append([("job:a", _event(1))])
        assert good.result(5) == 1
        with pytest.raises(ValueError, match="boom"):
            bad.result(5)
        assert spool.depth() == 1


def test_second_process_cannot_take_the_same_spool(tmp_path):
    with Spool(tmp_path):
        with pytest.raises(SpoolLockedError, match="own --state-dir"):
            Spool(tmp_path)
        # Inspection (the spool CLI) does not need the lock.
        with Spool(tmp_path, exclusive=False) as reader:
            assert reader.depth() == 0
