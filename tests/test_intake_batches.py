"""A rejected batch costs little: a real ``bridge serve`` process given a huge array of bad events
answers quickly with a bounded body, its memory stays bounded and it keeps answering meanwhile."""

from __future__ import annotations

import gzip
import json
import threading
import time

import requests

from tests.test_serve_attacks import LINEAGE, _bridge, _event, _ok

MAX_BODY = 16 * 1024 * 1024 - 1  # the default max_body_bytes, less one


def _ones(size: int) -> bytes:
    """``[1,1,...,1]`` of ``size`` bytes (odd): (size - 1) / 2 elements that are not events."""
    return b"[" + b"1," * ((size - 3) // 2) + b"1]"


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _healthz_while(url: str, busy: threading.Event, answers: list[tuple[object, float, float]]) -> None:
    """Ask ``/healthz`` until ``busy`` is set; each answer's status (or the error), when it was asked and
    when it came. The test's own thread asserts them: a failed assertion here would only end this thread."""
    with requests.Session() as session:
        while not busy.is_set():
            started = time.monotonic()
            try:
                status: object = session.get(url + "/healthz", timeout=30).status_code
            except requests.RequestException as exc:
                status = exc
            answers.append((status, started, time.monotonic()))
            time.sleep(0.005)


def test_a_huge_array_gets_413_and_costs_little_while_healthz_answers(tmp_path):
    body = _ones(MAX_BODY)
    with _bridge(tmp_path) as bridge:
        before = _peak_rss_mb(bridge.process.pid)
        done, answers = threading.Event(), []
        probe = threading.Thread(target=_healthz_while, args=(bridge.url, done, answers))
        probe.start()
        posted = []  # (asked, answered) of each big request
        try:
            for data, headers in ((body, {}), (gzip.compress(body), {"Content-Encoding": "gzip"})):
                started = time.monotonic()
                r = requests.post(bridge.url + LINEAGE, data=data, timeout=60,
                                  headers={"Content-Type": "application/json", **headers})
                posted.append((started, time.monotonic()))
                assert r.status_code == 413, r.text[:300]
                assert len(r.content) < 1000
                answer = r.json()
                assert answer["error"] == "too_many_events"
                assert (answer["limit"], answer["count"]) == (10_000, (MAX_BODY - 1) // 2)
                assert "10000-event limit" in answer["reason"] and "max_batch_events" in answer["reason"]
        finally:
            done.set()
            probe.join()
        # /healthz answered all along: 200 every time, and asked and answered while each big body was
        # in flight (an order, not a time: no timing thresholds in tests; the refusal's cost is bounded by
        # the RSS and body-size checks)
        assert answers and all(status == 200 for status, _, _ in answers), answers
        for start, end in posted:
            assert any(start < asked and answered < end for _, asked, answered in answers), (posted, answers)
        # Refused after decoding: ~225 MB more at peak here (~14 times the body's text), ~240 MB for the
        # gzip one; ~4.4 GB when every bad event's error was kept. The bound: 30 times the body (~480 MB),
        # what decoding JSON may take (see bridge.intake._app.PARSE_THREADS).
        grown = _peak_rss_mb(bridge.process.pid) - before
        assert grown < 30 * MAX_BODY / 2**20, f"peak RSS grew {grown:.0f} MB"
        _ok(bridge.url)


def test_a_batch_of_bad_events_lists_the_first_100_errors_and_counts_the_rest(tmp_path):
    with _bridge(tmp_path, max_batch_events=20_000) as bridge:
        batch = [_event() for _ in range(3)] + [1] * 15_000 + [_event()]
        r = requests.post(bridge.url + LINEAGE, json=batch, timeout=60)
        assert r.status_code == 422
        assert len(r.content) < 30_000
        answer = r.json()
        assert [e["index"] for e in answer["errors"]] == list(range(3, 103))
        assert (answer["error_count"], answer["errors_omitted"]) == (15_000, 14_900)
        assert answer["reason"].startswith("event [3]: ")
        over = requests.post(bridge.url + LINEAGE, json=[_event()] * 20_001, timeout=30)
        assert over.status_code == 413 and over.json()["count"] == 20_001
        _ok(bridge.url)


def test_a_single_bad_event_and_a_small_bad_batch_answer_as_before(tmp_path):
    with _bridge(tmp_path) as bridge:
        bad = _event()
        del bad["job"]["name"]
        r = requests.post(bridge.url + LINEAGE, json=bad, timeout=10)
        assert r.status_code == 422
        assert set(r.json()) == {"error", "field", "reason"}
        r = requests.post(bridge.url + LINEAGE, json=[_event(), bad, bad], timeout=10)
        answer = r.json()
        assert (answer["error_count"], answer["errors_omitted"]) == (2, 0)
        assert [e["field"] for e in answer["errors"]] == ["job.name", "job.name"]
        assert json.loads(r.content)["field"] == "job.name"
