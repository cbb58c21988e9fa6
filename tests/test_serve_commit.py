"""The intake's group commit while another writer holds the spool: the request waits, then is 201 and spooled.

The event loop's own commit never waits for a lock; with the database busy (a delivery
round's transaction) the batch goes to the commit thread, which waits for the lock and
commits; requests after it are still answered, in order, once they are durable.
"""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import time
from pathlib import Path

import requests

from tests.waiting import wait_until

CORPUS = Path(__file__).parent / "corpus" / "openlineage"


def test_requests_wait_for_a_busy_spool_then_are_spooled(bridge_serve, tmp_path):
    server = bridge_serve(deliver=False)
    event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
    url = server.url + "/api/v1/lineage"
    assert requests.post(url, json=event, timeout=10).status_code == 201
    other = sqlite3.connect(tmp_path / "state" / "spool.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # hold the write lock, as a delivery round's transaction does
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(requests.post, url, json={**event, "producer": f"p{i}"}, timeout=30)
                   for i in range(4)]
        time.sleep(0.5)
        # Not durable yet, so not acknowledged yet.
        assert not any(f.done() for f in futures)
        # The server still answers other requests meanwhile.
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        other.execute("ROLLBACK")
        other.close()
        assert [f.result().status_code for f in futures] == [201] * 4
    producers = sorted(json.loads(e.body)["producer"] for e in server.service.spool.pending(limit=100))
    assert producers == sorted([event["producer"], "p0", "p1", "p2", "p3"])
    # And the fast path is back once the thread is idle.
    assert requests.post(url, json={**event, "producer": "after"}, timeout=10).status_code == 201
    assert server.service.spool.depth() == 6


def test_synchronous_normal_commits_without_the_flush(bridge_serve):
    server = bridge_serve(deliver=False, synchronous="NORMAL")
    event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: requests.post(server.url + "/api/v1/lineage",
                                                        json={**event, "producer": f"p{i}"}, timeout=10), range(16)))
    assert [a.status_code for a in answers] == [201] * 16
    assert server.service.spool.depth() == 16


def _gate_flushes(server):
    """Hold every WAL flush of ``server`` until the returned event is set (a slow disk, in effect).

    A slow or failing fdatasync cannot be produced for real here, so these tests hold or fail the
    one OS call behind ``SpoolService.sync_wal``; the HTTP server, SQLite and threads are real.
    """
    import threading

    gate = threading.Event()
    real = server.service.sync_wal

    def slow_sync_wal():
        gate.wait(30)
        real()

    server.service.sync_wal = slow_sync_wal
    return gate


def _flushes(server) -> float:
    return server.service.metrics.get("wal_flushes")


def test_synchronous_full_answers_only_after_the_wal_flush(bridge_serve):
    server = bridge_serve(deliver=False, synchronous="FULL")
    event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
    gate = _gate_flushes(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(requests.post, server.url + "/api/v1/lineage", json=event, timeout=30)
        time.sleep(0.5)
        assert not answer.done()  # committed, but not on disk yet: no 201
        assert server.service.spool.depth() == 1
        gate.set()
        assert answer.result().status_code == 201
    assert _flushes(server) >= 1


def test_synchronous_normal_answers_before_the_flush_and_flushes_in_the_background(bridge_serve):
    server = bridge_serve(deliver=False)  # NORMAL is the default
    assert server.service.synchronous == "NORMAL"
    event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
    gate = _gate_flushes(server)
    answer = requests.post(server.url + "/api/v1/lineage", json=event, timeout=10)
    assert answer.status_code == 201  # while the flush is still held
    assert _flushes(server) == 0
    gate.set()
    wait_until(lambda: _flushes(server) >= 1, 5, "the background flush never ran")


def test_a_failing_background_flush_is_counted_logged_and_makes_readyz_503(bridge_serve, caplog):
    server = bridge_serve(deliver=False)  # NORMAL: 201 before the flush
    event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
    real = server.service.sync_wal
    failing = [True]

    def sync_wal():
        if failing[0]:
            raise OSError(5, "Input/output error")
        real()

    server.service.sync_wal = sync_wal
    assert requests.post(server.url + "/api/v1/lineage", json=event, timeout=10).status_code == 201
    wait_until(lambda: server.service.metrics.get("wal_flush_errors") >= 1, 5, "the failing flush was not counted")
    ready = requests.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503
    assert "flush failing" in ready.json()["spool"] and "Input/output error" in ready.json()["spool"]
    assert any("acknowledged events are not on disk yet" in r.getMessage() for r in caplog.records)
    failing[0] = False  # the disk recovers: the retried flush works and the server is ready again
    wait_until(lambda: requests.get(server.url + "/readyz", timeout=10).status_code == 200, 5,
               "readyz stayed 503 after the flush recovered")
    assert _flushes(server) >= 1
