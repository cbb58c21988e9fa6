"""The HTTP plumbing of the GMS test server: an HTTP/1.1 (or HTTPS) server on an asyncio loop
in a background thread, with keep-alive, chunked bodies, and what it answers with.

:class:`ThreadedHttpServer` serves; a subclass answers each request in ``_handle``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Self

__all__ = ["Fault", "RecordedRequest", "Response", "ThreadedHttpServer"]

_REASONS = {
    200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (after its body was read)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body_size: int
    status: int | None  # what was answered; None when the connection was dropped
    body: bytes = b""  # kept when the server stores (store=True)
    peer: tuple[str, int] | None = None  # client address: one per connection, so keep-alive is visible


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, status: int, obj: Any, **kw: Any) -> Response:
        return cls(status, json.dumps(obj).encode(), **kw)

    def encode(self, keep_alive: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: keep-alive" if keep_alive else "Connection: close",
        ]
        lines.extend(f"{k}: {v}" for k, v in self.headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class Fault:
    kind: str  # "status" | "drop" | "slow"
    status: int = 503
    retry_after: float | None = None
    message: str | None = None
    seconds: float = 0.0


class ThreadedHttpServer:
    """An HTTP/1.1 server on 127.0.0.1 run on an asyncio loop in a background thread.

    Subclasses implement ``_handle(method, target, headers, body, peer) -> Response``.

    Args:
        tls: a :class:`tests.servers.tls.TlsFiles` to serve HTTPS; plain HTTP when ``None``.
        require_client_cert: with ``tls``, demand a client certificate signed by its CA.
        host: the address to bind.
        port: 0 picks a free port.
    """

    def __init__(self, *, tls: Any = None, require_client_cert: bool = False, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
                peer: Any = None) -> Response:
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (``https://localhost:PORT`` with TLS)."""
        if self._server is None:
            raise RuntimeError("server not started")
        scheme, host = ("https", "localhost") if self.tls else ("http", self.host)
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> Self:
        """Start serving in a background thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="gms-test-server", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            raise RuntimeError(f"GMS test server failed to start: {self._start_error}") from self._start_error
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(self._bind())
            self.port = self._server.sockets[0].getsockname()[1]
            self._loop = loop
        except BaseException as exc:  # report bind/TLS errors to start()
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _bind(self) -> asyncio.base_events.Server:
        ssl_ctx = None
        if self.tls is not None:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(str(self.tls.server_cert), str(self.tls.server_key))
            if self.require_client_cert:
                ssl_ctx.verify_mode = ssl.CERT_REQUIRED
                ssl_ctx.load_verify_locations(str(self.tls.ca_cert))
        return await asyncio.start_server(
            self._serve_connection, self.host, self.port, ssl=ssl_ctx, limit=1 << 16, backlog=256
        )

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.get_running_loop().stop()

    # ------------------------------------------------------------------ HTTP
    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ssl.SSLError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                try:
                    if "chunked" in headers.get("transfer-encoding", "").lower():
                        body = await self._read_chunked(reader)
                    else:
                        length = int(headers.get("content-length") or 0)
                        body = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, ConnectionError, ValueError, ssl.SSLError):
                    return
                keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                response = self._handle(method, target, headers, body, writer.get_extra_info("peername"))
                if response.drop:
                    writer.transport.abort()
                    return
                if response.delay:
                    await asyncio.sleep(response.delay)
                writer.write(response.encode(keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled at shutdown: end quietly (a cancelled connection task makes asyncio log noise).
            return
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # trailer end (no trailers expected)
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

