"""Hardened intake (issue 12): what a client can send to a real ``bridge serve`` process and what it costs.

Each attack is followed by a good request that must still get 201, and the refusal
must be counted in ``/metrics``.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import uuid

import requests

from tests.servers.bridge_process import BridgeProcess

LINEAGE = "/api/v1/lineage"


def _event(name: str = "job") -> dict:
    return {"eventType": "COMPLETE", "eventTime": "2026-12-05T10:00:00Z", "producer": "https://example.com/t",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "attack", "name": name},
            "inputs": [{"namespace": "postgres://db:5432", "name": "db.public.a"}]}


def _refused(url: str, reason: str) -> int:
    for line in requests.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(f'bridge_events_rejected_total{{reason="{reason}"}}'):
            return int(line.split()[-1])
    return 0


def _ok(url: str) -> None:
    assert requests.post(url + LINEAGE, json=_event(), timeout=10).status_code == 201


def _bridge(tmp_path, **serve: object) -> BridgeProcess:
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in serve.items())
    (tmp_path / "bridge.toml").write_text(f"[serve]\n{lines}\n")
    return BridgeProcess(tmp_path / "state", "--config", str(tmp_path / "bridge.toml"))


def test_oversized_headers_get_431_before_they_are_kept(tmp_path):
    with _bridge(tmp_path, max_header_bytes=8192) as bridge:
        sock = socket.create_connection(("127.0.0.1", bridge.port))
        try:
            sock.sendall(b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nX-Pad: ")
            for _ in range(64):  # 4 MiB of one header value, unless the server closes first
                sock.sendall(b"a" * 65536)
        except OSError:
            pass  # closed by the server part-way: what is asked
        answer = sock.recv(200)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert _refused(bridge.url, "header_too_large") == 1
        _ok(bridge.url)


def test_idle_and_slow_connections_are_closed_and_slow_bodies_get_408(tmp_path):
    with _bridge(tmp_path, header_timeout=1.0, body_timeout=1.5) as bridge:
        idle = socket.create_connection(("127.0.0.1", bridge.port))
        idle.settimeout(30)
        assert idle.recv(100) == b""  # closed by the server, nothing said
        slow = socket.create_connection(("127.0.0.1", bridge.port))
        slow.settimeout(30)
        slow.sendall(b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(40):
                slow.sendall(b"X-Drip: 1\r\n")
                time.sleep(0.1)
        except OSError:
            pass
        assert slow.recv(100).startswith(b"HTTP/1.1 408 ")
        body = socket.create_connection(("127.0.0.1", bridge.port))
        body.settimeout(30)
        body.sendall(b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")
        assert body.recv(100).startswith(b"HTTP/1.1 408 ")
        for sock in (idle, slow, body):
            sock.close()
        assert (_refused(bridge.url, "idle_connection"), _refused(bridge.url, "header_timeout"),
                _refused(bridge.url, "body_timeout")) == (1, 1, 1)
        _ok(bridge.url)


def test_connections_over_the_bound_get_503_and_the_server_recovers(tmp_path):
    with _bridge(tmp_path, max_connections=20, header_timeout=60.0) as bridge:
        held = [socket.create_connection(("127.0.0.1", bridge.port)) for _ in range(40)]
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", bridge.port))
        extra.settimeout(30)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert extra.recv(100).startswith(b"HTTP/1.1 503 ")
        for sock in [*held, extra]:
            sock.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                _ok(bridge.url)
                break
            except (AssertionError, requests.RequestException):
                time.sleep(0.1)
        _ok(bridge.url)
        assert _refused(bridge.url, "too_many_connections") >= 20


def test_a_lone_surrogate_fails_only_its_own_request(tmp_path):
    bad = json.dumps(_event("bad\ud800name"), ensure_ascii=True)  # the JSON escape \ud800: valid JSON text
    with _bridge(tmp_path) as bridge:
        answers: list[int] = []
        stop = time.monotonic() + 3

        def good() -> None:
            with requests.Session() as session:
                while time.monotonic() < stop:
                    answers.append(session.post(bridge.url + LINEAGE, json=_event(), timeout=10).status_code)

        threads = [threading.Thread(target=good) for _ in range(4)]
        for thread in threads:
            thread.start()
        bad_answers = []
        with requests.Session() as session:
            while time.monotonic() < stop:
                r = session.post(bridge.url + LINEAGE, data=bad, headers={"Content-Type": "application/json"},
                                 timeout=10)
                bad_answers.append((r.status_code, r.json().get("field")))
        for thread in threads:
            thread.join()
        assert answers and set(answers) == {201}
        assert set(bad_answers) == {(422, "job.name")}
        assert "Traceback" not in bridge.log_tail(200_000)


def test_field_and_event_limits_name_what_is_too_long(tmp_path):
    with _bridge(tmp_path, max_event_bytes=64 * 1024) as bridge:
        huge_name = gzip.compress(json.dumps(_event("j" * 15 * 1024 * 1024)).encode())
        r = requests.post(bridge.url + LINEAGE, data=huge_name, timeout=30,
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert r.status_code == 422 and r.json()["field"] == "job.name"
        assert "512-character limit" in r.json()["reason"]
        big = _event()
        big["run"]["facets"] = {"pad": {"_producer": "x", "_schemaURL": "x", "text": "p" * 100_000}}
        r = requests.post(bridge.url + LINEAGE, json=[_event(), big], timeout=30)
        assert r.status_code == 422 and r.json()["reason"].startswith("event [1]: the event is ")
        spool = (tmp_path / "state" / "spool.sqlite3").stat().st_size
        assert spool < 4 * 1024 * 1024  # nothing of the 15 MiB name was stored
        _ok(bridge.url)


def test_multi_member_gzip_is_read_whole(tmp_path):
    with _bridge(tmp_path) as bridge:
        body = gzip.compress(b'[' + json.dumps(_event("a")).encode()) + gzip.compress(
            b"," + json.dumps(_event("b")).encode() + b"]")
        r = requests.post(bridge.url + LINEAGE, data=body, timeout=10,
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert (r.status_code, r.json()) == (201, {"accepted": 2})


def test_a_client_leaving_mid_body_is_logged_without_a_traceback(tmp_path):
    with _bridge(tmp_path) as bridge:
        sock = socket.create_connection(("127.0.0.1", bridge.port))
        sock.sendall(b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n" + b"[" * 1000)
        time.sleep(0.3)
        sock.close()
        deadline = time.monotonic() + 10
        while _refused(bridge.url, "client_disconnected") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _refused(bridge.url, "client_disconnected") == 1
        assert "Traceback" not in bridge.log_tail(200_000)
        _ok(bridge.url)
