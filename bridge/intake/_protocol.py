"""Connection guards in front of the app: what a client may cost before its request is even read.

uvicorn's HTTP protocol (httptools) keeps every header byte a client sends until the
headers end, never closes a connection that sends nothing or dribbles its headers, and
accepts connections until the process runs out of file descriptors. :func:`guarded_protocol`
makes a subclass that, before anything reaches the app (and so before the token is checked):

* answers 431 and closes once the request line and headers pass ``max_header_bytes``;
* closes a connection that has not finished its headers ``header_timeout`` seconds after it
  opened or after its request's first byte (408 when it had sent something): idle and
  slowloris connections;
* answers a request that is not HTTP/1.1 with a JSON 400 (``invalid_http``, not uvicorn's plain
  text) and closes the connection;
* answers 503 and closes new connections while ``max_connections`` are open, or while the same
  client (remote IP address) has ``max_connections_per_client`` open, so one client cannot take
  them all.

Each refusal is counted in ``bridge_events_rejected_total{reason=...}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bridge.intake._body import Refused
from bridge.intake._settings import ServeSettings
from bridge.logs import LogThrottle
from bridge.spool import Metrics

__all__ = ["guarded_protocol"]

log = logging.getLogger(__name__)

_HEADERS_END = b"\r\n\r\n"
_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def _response(status: int, error: str, reason: str) -> bytes:
    """The raw HTTP answer (no app yet to build it) with the app's JSON error body (:class:`Refused`)."""
    body = json.dumps(Refused(status, error, reason).body).encode()
    return (f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


def guarded_protocol(settings: ServeSettings, metrics: Metrics | None) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the guards above, for ``uvicorn.Config(http=...)``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.protocols.utils import get_remote_addr

    max_header_bytes = settings.max_header_bytes
    header_timeout = settings.header_timeout
    max_connections = settings.max_connections
    per_client = settings.max_connections_per_client  # (over max_connections, the server's bound comes first)
    open_by_client: dict[str, int] = {}  # remote IP -> connections open (counted ones only)

    throttle = LogThrottle()

    def refused(reason: str, client: tuple[str, int] | None, status: int | None = None,
                level: int = logging.WARNING) -> None:
        if metrics is not None:
            metrics.reject(reason)
        throttle.log(log, level, "connection closed", reason, reason=reason, status=status,
                     client=f"{client[0]}:{client[1]}" if client else None)

    class GuardedProtocol(HttpToolsProtocol):  # type: ignore[misc]
        _closed = False
        _in_headers = True
        _header_bytes = 0
        _tail = b""
        _timer: asyncio.TimerHandle | None = None
        _counted: str | None = None  # the remote IP this connection is counted under

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            peer = get_remote_addr(transport)  # (what uvicorn's protocol takes as the client)
            host = peer[0] if peer is not None else None
            if len(self.connections) >= max_connections:
                self._turn_away(transport, "too_many_connections",
                                f"the server has {max_connections} connections open; try again", peer)
                return
            if host is not None and open_by_client.get(host, 0) >= per_client:
                self._turn_away(transport, "too_many_client_connections",
                                f"{host} has {per_client} connections open, its share of the server's "
                                "(serve.max_connections_per_client); reuse one or try again", peer)
                return
            if host is not None:
                open_by_client[host] = open_by_client.get(host, 0) + 1
                self._counted = host
            super().connection_made(transport)
            self._arm()

        def _turn_away(self, transport: Any, error: str, reason: str, peer: tuple[str, int] | None) -> None:
            self.transport = transport  # (connection_lost reads it)
            self._closed = True
            refused(error, peer, status=503)
            transport.write(_response(503, error, reason))
            transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted is not None:
                left = open_by_client.pop(self._counted) - 1
                if left:
                    open_by_client[self._counted] = left
                self._counted = None
            if self._closed and self.flow is None:  # refused before it was set up
                return
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._closed:
                return
            if self._in_headers:
                if self._timer is None:
                    self._arm()
                seen = self._tail + data
                end = seen.find(_HEADERS_END)
                self._header_bytes += len(data) if end < 0 else max(0, end + len(_HEADERS_END) - len(self._tail))
                if self._header_bytes > max_header_bytes:
                    self._refuse(431, "header_too_large",
                                 f"the request line and headers are over the {max_header_bytes}-byte limit")
                    return
                self._tail = seen[-(len(_HEADERS_END) - 1):]
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._disarm()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_headers, self._header_bytes, self._tail = True, 0, b""  # the next request's headers

        def _arm(self) -> None:
            self._timer = self.loop.call_later(header_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _timed_out(self) -> None:
            self._timer = None
            if not self._in_headers or self._closed or self.transport.is_closing():
                return
            if self._header_bytes:
                self._refuse(408, "header_timeout", f"the headers took over {header_timeout:g} s to arrive")
            else:
                refused("idle_connection", self.client, level=logging.INFO)
                self._closed = True
                self.transport.close()

        def send_400_response(self, msg: str) -> None:  # (uvicorn's, for a request httptools cannot parse)
            self._refuse(400, "invalid_http", f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})")

        def _refuse(self, status: int, error: str, reason: str) -> None:
            refused(error, self.client, status)
            self._closed = True
            self._disarm()
            self.transport.write(_response(status, error, reason))
            self.transport.close()

    return GuardedProtocol
