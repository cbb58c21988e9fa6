"""A DataHub GMS test server: a real HTTP/1.1 server on 127.0.0.1 that behaves like GMS
where an emitter can tell.

It speaks plain HTTP/1.1 with keep-alive (or HTTPS with a certificate from
:mod:`tests.servers.tls`) on an asyncio loop, either in a background thread
(:class:`GmsServer`, for tests) or in a separate process (:class:`GmsProcess`,
for benchmarks, so the server never competes with the client for the GIL).

Routes (as GMS has them)
------------------------
``GET /config``
    GMS's server-config payload: ``{"noCode": "true", "versions": {"acryldata/datahub":
    {"version": ..., "commit": ...}}, "datahub": {"serverType": ..., "serverEnv": "core"},
    "statefulIngestionCapable": true, "patchCapable": true, "retention": "true", ...}``.
    Unauthenticated, as in GMS (``/config`` and ``/health`` are excluded from its auth
    filter) unless ``config_requires_auth=True``.
``GET /health``
    ``200 GOOD``. Never affected by fault injection.
``POST /aspects?action=ingestProposal``
    Body ``{"proposal": {...}, "async": "true"|"false"}``; answers ``{"value": "<urn>"}``.
``POST /aspects?action=ingestProposalBatch``
    Body ``{"proposals": [...], "async": ...}``; answers ``{"value": ["<urn>", ...]}``.
    Like GMS, one bad proposal fails the whole request (nothing of it is stored).
``GET /aspects/<url-encoded urn>?aspect=<name>&version=0``
    The stored aspect as ``{"aspect": {<name>: value}, "version": 0}`` or 404.

Writes are applied with DataHub's semantics (:mod:`tests.servers.gms_state`): ``UPSERT``
replaces, ``CREATE`` writes only what is absent (``If-None-Match: *`` drops it silently
otherwise, else 422), ``PATCH`` goes through the aspect's patch template (keyed arrays,
the template default for a missing aspect, 500 for an aspect without template, 422 when
the result is not a valid aspect). Tests pre-seed what other sources wrote with
``gms.seed(urn, aspect, value)`` and read back ``gms.aspects[(urn, aspect)]``.

Checks made on ``/aspects`` requests (error bodies are Rest.li's:
``{"exceptionClass": "com.linkedin.restli.server.RestLiServiceException", "message": ...,
"status": ..., "stackTrace": ...}`` with header ``X-RestLi-Error-Response: true``):

* ``X-RestLi-Protocol-Version: 2.0.0`` is required -> else 400;
* ``aspect.contentType`` ``application/json`` (a ``PATCH`` is not checked, as in GMS:
  ``application/json-patch+json`` is what clients send);
* ``Authorization: Bearer <token>`` when the server has a ``token`` -> else 401;
* body size above ``max_body_bytes`` (16,000,000 like GMS) -> 413;
* every proposal's shape: ``entityType``, ``entityUrn`` (``urn:li:<entityType>:...``),
  ``changeType``, ``aspectName``, ``aspect.value`` (a JSON *string* holding an object, or
  for a ``PATCH`` a list of operations or DataHub's keyed form) -> else 422 naming the URN,
  the aspect and the problem;
* with ``validate_aspects=True``: the proposal and its aspect are parsed with
  acryl-datahub's schema classes (test-only) -> 422 on unknown aspects, unknown fields
  or wrong types;
* a URN in ``reject_urns`` -> 422 (for poison-pill tests).

Use
---
::

    from tests.servers.gms import GmsServer

    with GmsServer(token="s3cret") as gms:           # starts on a free port
        gms.url                                      # "http://127.0.0.1:PORT"
        gms.fail_next(3, status=503, retry_after=0)  # next 3 requests -> 503 + Retry-After
        gms.drop_next(1)                             # next request: connection closed, no answer
        gms.slow_next(1, seconds=2.0)                # next request answered after 2 s
        gms.reject_urns.add(urn)                     # any request carrying urn -> 422
        ...
        gms.proposals                                # accepted proposal objects, in order
        gms.aspects[(urn, "datasetProperties")]      # the aspect as GMS would hold it now
        gms.seed(urn, "globalTags", {"tags": [...]})  # what another source or the UI wrote
        gms.requests                                 # every request: RecordedRequest(method, path, query,
                                                     #   headers, body_size, status, body, peer)
        gms.ingest_requests()                        # only the POSTs to /aspects
        gms.wait_for_proposals(10, timeout=5)        # True once 10 proposals were accepted
        gms.wait_for_requests(1, timeout=5)          # True once a request was read (even if still slow)
        gms.reset()                                  # forget proposals, requests and faults

``GmsServer(pretend="frontend")`` answers like datahub-frontend (``/config`` is the
frontend's ``{"application": "datahub-frontend", ...}``, ``/aspects`` is a 404 HTML page);
``pretend="frontend-html"`` answers every GET with the web app's HTML page;
``pretend="frontend-404"`` answers ``/config`` with a 404 JSON body.
``GmsServer(tls=make_tls_files(tmp_path))`` serves HTTPS (see :mod:`tests.servers.tls`),
``require_client_cert=True`` asks for a client certificate signed by the same CA.

Fault injection applies to every route but ``/health``, in the order given, one fault
per request. ``RecordedRequest.peer`` is the client's address: one per connection, so
keep-alive reuse is visible. Pytest fixtures in ``tests/conftest.py``: ``gms_server``
(fresh server per test) and ``tls_files`` (a throw-away CA with server/client certificates).

For benchmarks, ``GmsProcess(store=False)`` runs the same server in a child process
(``python -m tests.servers.gms``); ``GmsProcess.stats()`` reads
``GET /__test__/stats`` -> ``{"proposals": n, "requests": n}`` and ``reset()`` posts
``/__test__/reset``. With ``store=False`` proposals are checked and counted, not kept.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.servers.gms_checks import (
    ProposalError,
    check_proposal,
    record_name,
    validate_aspect,
    validate_with_datahub,
)
from tests.servers.gms_state import AspectStore, Refused

__all__ = ["GmsProcess", "GmsServer", "RecordedRequest", "restli_error"]

RESTLI_EXCEPTION = "com.linkedin.restli.server.RestLiServiceException"
GMS_MAX_BODY_BYTES = 16_000_000
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
_FRONTEND_HTML = (
    b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"/>"
    b"<title>DataHub</title></head><body><noscript>You need to enable JavaScript to run this app."
    b"</noscript><div id=\"root\"></div></body></html>"
)


def restli_error(status: int, message: str) -> dict[str, Any]:
    """The body GMS (Rest.li) answers with on an error."""
    return {
        "exceptionClass": RESTLI_EXCEPTION,
        "stackTrace": f"{RESTLI_EXCEPTION} [HTTP Status:{status}]: {message}\n\tat com.linkedin.metadata"
        ".resources.entity.AspectResource.ingestProposal(AspectResource.java:212)",
        "message": message,
        "status": status,
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
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, status: int, obj: Any, **kw: Any) -> _Response:
        return cls(status, json.dumps(obj).encode(), **kw)

    @classmethod
    def restli(cls, status: int, message: str, **kw: Any) -> _Response:
        resp = cls.json(status, restli_error(status, message), **kw)
        resp.headers["X-RestLi-Error-Response"] = "true"
        return resp

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
class _Fault:
    kind: str  # "status" | "drop" | "slow"
    status: int = 503
    retry_after: float | None = None
    message: str | None = None
    seconds: float = 0.0


class GmsServer:
    """The GMS test server, run on an asyncio loop in a background thread.

    Args:
        token: when set, ``/aspects`` requests need ``Authorization: Bearer <token>``.
        tls: a :class:`tests.servers.tls.TlsFiles` to serve HTTPS; plain HTTP when ``None``.
        require_client_cert: with ``tls``, demand a client certificate signed by its CA.
        validate_aspects: also validate aspects with acryl-datahub's schema classes.
        reject_urns: proposals with these URNs are answered 422 (a mutable set).
        pretend: ``"gms"`` (default), ``"frontend"``, ``"frontend-html"`` or ``"frontend-404"``.
        store: keep accepted proposals (``False`` only counts them; for benchmarks).
        config_requires_auth: make ``/config`` need the token too (GMS does not).
        max_body_bytes: larger bodies are answered 413.
        version: the version ``/config`` reports.
        port: 0 picks a free port.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        tls: Any = None,
        require_client_cert: bool = False,
        validate_aspects: bool = False,
        reject_urns: Iterable[str] = (),
        pretend: str = "gms",
        store: bool = True,
        config_requires_auth: bool = False,
        max_body_bytes: int = GMS_MAX_BODY_BYTES,
        version: str = "v1.0.0",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if pretend not in {"gms", "frontend", "frontend-html", "frontend-404"}:
            raise ValueError(f"unknown pretend={pretend!r}")
        self.token = token
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.validate_aspects = validate_aspects
        self.reject_urns: set[str] = set(reject_urns)
        self.pretend = pretend
        self.store = store
        self.config_requires_auth = config_requires_auth
        self.max_body_bytes = max_body_bytes
        self.version = version
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._faults: collections.deque[_Fault] = collections.deque()
        self.proposals: list[dict[str, Any]] = []
        self.store_state = AspectStore(validate=self._validate_patched)
        self.requests: list[RecordedRequest] = []
        self.proposal_count = 0
        self.request_count = 0
        self._received = 0  # requests read, including ones still being answered slowly
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (``https://localhost:PORT`` with TLS)."""
        if self._server is None:
            raise RuntimeError("server not started")
        scheme, host = ("https", "localhost") if self.tls else ("http", self.host)
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> GmsServer:
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

    def __enter__(self) -> GmsServer:
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

    # ------------------------------------------------------------------ test API
    @property
    def aspects(self) -> dict[tuple[str, str], dict[str, Any]]:
        """``(urn, aspect name) -> value``: every aspect as GMS would hold it now."""
        return self.store_state.aspects

    def seed(self, urn: str, aspect_name: str, value: dict[str, Any]) -> None:
        """Store an aspect as if another source (or a user in the UI) had written it."""
        with self._lock:
            self.store_state.aspects[(urn, aspect_name)] = json.loads(json.dumps(value))

    @staticmethod
    def _validate_patched(urn: str, aspect_name: str, value: dict[str, Any]) -> None:
        try:
            validate_aspect(urn, aspect_name, value)
        except ProposalError as exc:
            raise Refused(422, f"Invalid format for aspect: {exc.message}") from None

    def fail_next(
        self, n: int = 1, *, status: int = 503, retry_after: float | None = None, message: str | None = None
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (Rest.li error body, optional Retry-After)."""
        with self._lock:
            self._faults.extend(_Fault("status", status=status, retry_after=retry_after, message=message)
                                for _ in range(n))

    def drop_next(self, n: int = 1) -> None:
        """Read the next ``n`` requests, then close their connection without answering."""
        with self._lock:
            self._faults.extend(_Fault("drop") for _ in range(n))

    def slow_next(self, n: int = 1, *, seconds: float = 1.0) -> None:
        """Answer the next ``n`` requests normally, but only after ``seconds``."""
        with self._lock:
            self._faults.extend(_Fault("slow", seconds=seconds) for _ in range(n))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget proposals, requests, counts and pending faults."""
        with self._lock:
            self._faults.clear()
            self.proposals.clear()
            self.aspects.clear()
            self.store_state.filtered = 0
            self.requests.clear()
            self.proposal_count = 0
            self.request_count = 0
            self._received = 0

    def wait_for_proposals(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` proposals were accepted; returns whether they were."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proposal_count >= n:
                return True
            time.sleep(0.01)
        return self.proposal_count >= n

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` requests (any route but /health) were received."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._received >= n:
                return True
            time.sleep(0.005)
        return self._received >= n

    def ingest_requests(self) -> list[RecordedRequest]:
        """Recorded requests to ``/aspects?action=ingestProposal[Batch]``."""
        with self._lock:
            return [r for r in self.requests if r.path == "/aspects" and r.method == "POST"]

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
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # trailer end (no trailers expected)
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
                peer: Any = None) -> _Response:
        split = urllib.parse.urlsplit(target)
        path = split.path
        query = dict(urllib.parse.parse_qsl(split.query))
        if path == "/health":
            return _Response(200, b"GOOD", content_type="text/plain")
        if path.startswith("/__test__/"):
            return self._handle_admin(method, path)
        fault = None
        with self._lock:
            self._received += 1
            if self._faults:
                fault = self._faults.popleft()
        response = self._apply_fault(fault) if fault is not None and fault.kind != "slow" else None
        if response is None:
            response = self._route(method, path, query, headers, body)
            if fault is not None:
                response.delay = fault.seconds
        with self._lock:
            self.request_count += 1
            if self.store:
                self.requests.append(RecordedRequest(
                    method, path, query, headers, len(body), None if response.drop else response.status,
                    body, tuple(peer[:2]) if peer else None,
                ))
        return response

    @staticmethod
    def _apply_fault(fault: _Fault) -> _Response:
        if fault.kind == "drop":
            return _Response(0, drop=True)
        message = fault.message or f"injected failure: HTTP {fault.status}"
        resp = _Response.restli(fault.status, message)
        if fault.retry_after is not None:
            resp.headers["Retry-After"] = f"{fault.retry_after:g}"
        return resp

    def _handle_admin(self, method: str, path: str) -> _Response:
        if path == "/__test__/stats":
            return _Response.json(200, {"proposals": self.proposal_count, "requests": self.request_count})
        if path == "/__test__/reset" and method == "POST":
            self.reset()
            return _Response.json(200, {})
        return _Response.json(404, {"message": "unknown test route"})

    def _authorized(self, headers: dict[str, str]) -> bool:
        return self.token is None or headers.get("authorization") == f"Bearer {self.token}"

    def _config_payload(self) -> dict[str, Any]:
        return {
            "models": {},
            "patchCapable": True,
            "versions": {"acryldata/datahub": {"version": self.version, "commit": "0" * 40}},
            "managedIngestion": {"defaultCliVersion": "1.0.0", "enabled": True},
            "statefulIngestionCapable": True,
            "supportsImpactAnalysis": True,
            "timeZone": "GMT",
            "telemetry": {"enabledCli": False, "enabledIngestion": False},
            "datasetUrnNameCasing": False,
            "retention": "true",
            "datahub": {"serverType": "quickstart", "serverEnv": "core"},
            "noCode": "true",
        }

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Response:
        if self.pretend != "gms":
            return self._route_frontend(method, path)
        if path == "/config" and method == "GET":
            if self.config_requires_auth and not self._authorized(headers):
                return _Response.restli(401, "Unauthorized to perform this action.")
            return _Response.json(200, self._config_payload())
        if path == "/aspects" or path.startswith("/aspects/"):
            if headers.get("x-restli-protocol-version") != "2.0.0":
                return _Response.restli(
                    400, "Rest.li protocol version 2.0.0 required (header X-RestLi-Protocol-Version)"
                )
            if not self._authorized(headers):
                return _Response.restli(401, "Unauthorized to perform this action.")
            if method == "GET" and path.startswith("/aspects/"):
                return self._get_aspect(urllib.parse.unquote(path[len("/aspects/"):]), query)
            if method != "POST":
                return _Response.restli(405, f"method {method} not allowed on /aspects")
            if len(body) > self.max_body_bytes:
                return _Response.restli(413, f"request body of {len(body)} bytes exceeds {self.max_body_bytes}")
            action = query.get("action")
            if action not in {"ingestProposal", "ingestProposalBatch"}:
                return _Response.restli(400, f"unsupported action {action!r} on /aspects")
            return self._ingest(action, body)
        return _Response.restli(404, f"No root resource defined for path '{path}'")

    def _route_frontend(self, method: str, path: str) -> _Response:
        if self.pretend == "frontend-html" and method == "GET":
            return _Response(200, _FRONTEND_HTML, content_type="text/html; charset=utf-8")
        if path == "/config" and method == "GET":
            if self.pretend == "frontend-404":
                return _Response.json(404, {"error": "Not Found", "path": path})
            return _Response.json(200, {
                "application": "datahub-frontend", "appVersion": self.version, "isInternal": False,
                "shouldShowDatasetLineage": True, "suggestionConfidenceThreshold": 50,
                "wikiLinks": {}, "tracking": {}, "isStagingBanner": False,
            })
        page = f"<html><head><title>Action Not Found</title></head><body><h1>Action Not Found</h1>" \
               f"<p>For request '{method} {path}'</p></body></html>"
        return _Response(404, page.encode(), content_type="text/html; charset=utf-8")

    def _get_aspect(self, urn: str, query: dict[str, str]) -> _Response:
        name = query.get("aspect", "")
        with self._lock:
            value = self.aspects.get((urn, name))
        if value is None:
            return _Response.restli(404, f"No aspect {name} found for urn {urn}")
        # A VersionedAspect: ``aspect`` is the Aspect union, keyed by the record's full name.
        return _Response.json(200, {"aspect": {record_name(name): value}, "version": 0})

    def _ingest(self, action: str, body: bytes) -> _Response:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return _Response.restli(400, f"Input JSON is not valid: {exc}")
        if not isinstance(payload, dict):
            return _Response.restli(400, "request body must be a JSON object")
        if payload.get("async", "false") not in {"true", "false"}:
            return _Response.restli(400, f"parameter async must be \"true\" or \"false\", got {payload['async']!r}")
        if action == "ingestProposal":
            if "proposal" not in payload:
                return _Response.restli(400, "Parameter 'proposal' is required")
            raw, batch = [payload["proposal"]], False
        else:
            raw = payload.get("proposals")
            if not isinstance(raw, list):
                return _Response.restli(400, "Parameter 'proposals' is required and must be an array")
            batch = True
        checked = []
        try:
            for i, proposal in enumerate(raw):
                urn, aspect_name, value = check_proposal(proposal, i if batch else None)
                if urn in self.reject_urns:
                    raise ProposalError(f"urn={urn} aspect={aspect_name}: rejected by validator (test reject list)")
                if self.validate_aspects:
                    try:
                        validate_with_datahub(proposal, aspect_name, value)
                    except ProposalError as exc:
                        where = f"proposals[{i}]" if batch else "proposal"
                        raise ProposalError(f"{where}: {exc.message}") from None
                checked.append((urn, aspect_name, value, proposal))
        except ProposalError as exc:
            return _Response.restli(422, f"Failed to validate record: {exc.message}")
        with self._lock:
            if self.store:
                try:
                    self.store_state.apply_all([(proposal, value) for _, _, value, proposal in checked])
                except Refused as exc:
                    return _Response.restli(exc.status, exc.message)
                self.proposals.extend(proposal for *_, proposal in checked)
            self.proposal_count += len(checked)
        urns = [c[0] for c in checked]
        return _Response.json(200, {"value": urns if batch else urns[0]})


class GmsProcess:
    """The GMS test server in a child process (for benchmarks).

    Args:
        store: keep proposals in the child (only counts are visible from here either way).
        token: as :class:`GmsServer`.
    """

    def __init__(self, *, store: bool = False, token: str | None = None) -> None:
        self.store = store
        self.token = token
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> GmsProcess:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        cmd = [sys.executable, "-m", "tests.servers.gms", "--port", "0"]
        if not self.store:
            cmd.append("--no-store")
        if self.token:
            cmd += ["--token", self.token]
        self._proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"GMS test server process did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        return self

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/__test__/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/__test__/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> GmsProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.servers.gms [--port P] [--token T] [--no-store]``: serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    parser.add_argument("--no-store", action="store_true")
    parser.add_argument("--validate-aspects", action="store_true")
    args = parser.parse_args(argv)
    server = GmsServer(port=args.port, token=args.token, store=not args.no_store,
                       validate_aspects=args.validate_aspects).start()
    print(f"LISTENING {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
