"""Every refusal of a real ``bridge serve`` has a JSON body of one shape: Starlette's 404 / 405, the
400 for a request that is not HTTP/1.1 and what the spool refuses too, not only the app's own refusals."""

from __future__ import annotations

import json
import socket

import requests

from tests.test_serve_attacks import LINEAGE, _bridge, _ok, _refused


def test_a_wrong_method_or_path_is_answered_in_json(tmp_path):
    with _bridge(tmp_path) as bridge:
        wrong = requests.get(bridge.url + LINEAGE, timeout=10)
        assert wrong.status_code == 405
        assert wrong.headers["content-type"] == "application/json"
        assert wrong.headers["allow"] == "POST"
        answer = wrong.json()
        assert (answer["error"], answer["field"]) == ("method_not_allowed", None)
        assert answer["reason"] == f"GET {LINEAGE}: the method is not allowed here (allowed: POST)"
        put = requests.put(bridge.url + "/healthz", timeout=10)
        assert (put.status_code, put.json()["error"], put.headers["allow"]) == (405, "method_not_allowed", "GET, HEAD")
        missing = requests.post(bridge.url + "/api/v2/lineage", json={}, timeout=10)
        assert missing.status_code == 404
        assert missing.json() == {"error": "not_found", "field": None,
                                  "reason": f"POST /api/v2/lineage: no such route (events go to POST {LINEAGE})"}
        _ok(bridge.url)


def test_a_request_that_is_not_http_gets_a_json_400(tmp_path):
    with _bridge(tmp_path) as bridge:
        sock = socket.create_connection(("127.0.0.1", bridge.port))
        sock.settimeout(30)
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        sock.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        assert b"content-type: application/json" in head.lower()
        assert json.loads(body) == {"error": "invalid_http", "field": None,
                                    "reason": "the request is not valid HTTP/1.1 (Invalid HTTP request received)"}
        assert _refused(bridge.url, "invalid_http") == 1
        _ok(bridge.url)
