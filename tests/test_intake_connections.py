"""One client cannot take every connection: a real ``bridge serve`` process, real sockets from two
loopback addresses (127.0.0.2 holds idle connections, 127.0.0.1 still gets its requests served)."""

from __future__ import annotations

import select
import socket
import time

import requests

from tests.test_serve_attacks import LINEAGE, _bridge, _event, _refused


def _from(source: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    return sock


def test_one_client_holding_idle_connections_cannot_starve_another(tmp_path):
    with _bridge(tmp_path, max_connections=50, max_connections_per_client=10, header_timeout=60.0) as bridge:
        idle = [_from("127.0.0.2", bridge.port) for _ in range(60)]  # more than the whole server's bound
        try:
            time.sleep(0.3)
            # The ones over its share were answered 503 and closed; its share is still open, silent.
            answered = [sock for sock in idle if select.select([sock], [], [], 0)[0]]
            assert len(answered) == 50
            assert all(sock.recv(200).startswith(b"HTTP/1.1 503 ") for sock in answered)
            with requests.Session() as other:  # 127.0.0.1: another client
                for _ in range(5):
                    assert other.get(bridge.url + "/healthz", timeout=10).status_code == 200
                    assert other.post(bridge.url + LINEAGE, json=_event(), timeout=10).status_code == 201
            extra = _from("127.0.0.2", bridge.port)
            answer = extra.recv(1000)
            extra.close()
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b'"too_many_client_connections"' in answer and b"max_connections_per_client" in answer
        finally:
            for sock in idle:
                sock.close()
        assert _refused(bridge.url, "too_many_client_connections") == 51
        # The share is given back as connections close.
        deadline = time.monotonic() + 10
        again: list[socket.socket] = []
        while len(again) < 10 and time.monotonic() < deadline:
            sock = _from("127.0.0.2", bridge.port)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if sock.recv(100).startswith(b"HTTP/1.1 200 "):
                again.append(sock)
            else:
                sock.close()
                time.sleep(0.1)
        for sock in again:
            sock.close()
        assert len(again) == 10

