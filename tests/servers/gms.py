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
    The stored aspect as ``{"aspect": {<record name>: value}, "version": 0}`` or 404. The key
    aspect (``datasetKey``, ``dataJobKey``...) exists, derived from the URN, once any aspect of the
    entity was written, as GMS writes it with the first: that is how DataHub's client
    (``DataHubGraph.exists``) and ``bridge explain`` ask whether an entity exists (404: it does not).
``/openapi/v3/entity/<entityType>`` (POST, PATCH, DELETE) and ``POST /openapi/v1/trace/write/<traceId>``
    GMS's OpenAPI ingestion and write-trace API, with the same store: see
    :mod:`tests.servers.gms_openapi` (``openapi=False``: 404 there, like a GMS without them;
    ``tracing=False``: no ``traceparent`` header). ``gms.trace_outcome(urn, aspect, "failed"
    | "pending" | "search-failed", polls=n, message=...)`` steers what the trace reports.

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

Modules: :mod:`tests.servers.gms_http` (the HTTP server and recorded requests),
:mod:`tests.servers.gms_restli` and :mod:`tests.servers.gms_openapi` (the routes),
:mod:`tests.servers.gms_checks` and :mod:`tests.servers.gms_state` (what a write must be and
how it is applied), :mod:`tests.servers.gms_process` (a child-process server).

For benchmarks, ``GmsProcess(store=False)`` runs the same server in a child process
(``python -m tests.servers.gms``); ``GmsProcess.stats()`` reads
``GET /__test__/stats`` -> ``{"proposals": n, "requests": n}`` and ``reset()`` posts
``/__test__/reset``. With ``store=False`` proposals are checked and counted, not kept.
"""

from __future__ import annotations

import argparse
import collections
import json
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

from tests.servers.gms_checks import ProposalError, validate_aspect
from tests.servers.gms_http import Fault, RecordedRequest, Response, ThreadedHttpServer
from tests.servers.gms_openapi import OpenApiRoutes
from tests.servers.gms_process import GmsProcess
from tests.servers.gms_restli import RESTLI_EXCEPTION, RestliRoutes, restli_error, restli_response
from tests.servers.gms_state import AspectStore, Refused

__all__ = ["GmsProcess", "GmsServer", "RESTLI_EXCEPTION", "RecordedRequest", "restli_error"]

GMS_MAX_BODY_BYTES = 16_000_000
_FRONTEND_HTML = (
    b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"/>"
    b"<title>DataHub</title></head><body><noscript>You need to enable JavaScript to run this app."
    b"</noscript><div id=\"root\"></div></body></html>"
)


class GmsServer(ThreadedHttpServer):
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
        version: the version ``/config`` reports (``v1.0.1`` or later advertises OpenAPI ingestion
            and the trace API, as DataHub's emitter reads it).
        openapi: serve the OpenAPI entity and trace routes (``False``: 404, like an old GMS).
        tracing: send ``traceparent`` on OpenAPI writes (``False``: API tracing off).
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
        openapi: bool = True,
        tracing: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if pretend not in {"gms", "frontend", "frontend-html", "frontend-404"}:
            raise ValueError(f"unknown pretend={pretend!r}")
        super().__init__(tls=tls, require_client_cert=require_client_cert, host=host, port=port)
        self.token = token
        self.validate_aspects = validate_aspects
        self.reject_urns: set[str] = set(reject_urns)
        self.pretend = pretend
        self.store = store
        self.config_requires_auth = config_requires_auth
        self.max_body_bytes = max_body_bytes
        self.version = version
        self.openapi = openapi
        self.tracing = tracing
        self.openapi_routes = OpenApiRoutes(self)
        self.restli_routes = RestliRoutes(self)
        self._lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()
        self.proposals: list[dict[str, Any]] = []
        self.store_state = AspectStore(validate=self._validate_patched)
        self.requests: list[RecordedRequest] = []
        self.proposal_count = 0
        self.request_count = 0
        self._received = 0  # requests read, including ones still being answered slowly

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
            self._faults.extend(Fault("status", status=status, retry_after=retry_after, message=message)
                                for _ in range(n))

    def drop_next(self, n: int = 1) -> None:
        """Read the next ``n`` requests, then close their connection without answering."""
        with self._lock:
            self._faults.extend(Fault("drop") for _ in range(n))

    def slow_next(self, n: int = 1, *, seconds: float = 1.0) -> None:
        """Answer the next ``n`` requests normally, but only after ``seconds``."""
        with self._lock:
            self._faults.extend(Fault("slow", seconds=seconds) for _ in range(n))

    def trace_outcome(self, urn: str, aspect: str, kind: str, *, polls: int | None = 1,
                      message: str = "injected persistence failure") -> None:
        """What the trace API reports for writes of ``(urn, aspect)`` from now on.

        ``"failed"`` (not stored; primary storage ``ERROR`` with ``message``), ``"pending"``
        (the first ``polls`` polls say ``PENDING``; ``None``: forever), ``"search-failed"``
        (stored, search ``ERROR``), ``"persisted"`` (the default).
        """
        self.openapi_routes.trace_outcome(urn, aspect, kind, polls=polls, message=message)

    @property
    def trace_polls(self) -> int:
        """How many times the trace API was asked."""
        return self.openapi_routes.trace_polls

    def openapi_requests(self) -> list[RecordedRequest]:
        """Recorded requests to the OpenAPI entity endpoints."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/openapi/v3/entity/")]

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
        self.openapi_routes.reset()

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

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
                peer: Any = None) -> Response:
        split = urllib.parse.urlsplit(target)
        path = split.path
        query = dict(urllib.parse.parse_qsl(split.query))
        if path == "/health":
            return Response(200, b"GOOD", content_type="text/plain")
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
    def _apply_fault(fault: Fault) -> Response:
        if fault.kind == "drop":
            return Response(0, drop=True)
        message = fault.message or f"injected failure: HTTP {fault.status}"
        resp = restli_response(fault.status, message)
        if fault.retry_after is not None:
            resp.headers["Retry-After"] = f"{fault.retry_after:g}"
        return resp

    def _handle_admin(self, method: str, path: str) -> Response:
        if path == "/__test__/stats":
            return Response.json(200, {"proposals": self.proposal_count, "requests": self.request_count})
        if path == "/__test__/reset" and method == "POST":
            self.reset()
            return Response.json(200, {})
        return Response.json(404, {"message": "unknown test route"})

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
    ) -> Response:
        if self.pretend != "gms":
            return self._route_frontend(method, path)
        if path == "/config" and method == "GET":
            if self.config_requires_auth and not self._authorized(headers):
                return restli_response(401, "Unauthorized to perform this action.")
            return Response.json(200, self._config_payload())
        if path.startswith("/openapi/"):
            status, obj, extra = self.openapi_routes.handle(method, path, query, headers, body)
            if obj is None:
                return Response(status, b"", headers=extra)
            return Response.json(status, obj, headers=extra)
        if path == "/aspects" or path.startswith("/aspects/"):
            return self.restli_routes.handle(method, path, query, headers, body)
        return restli_response(404, f"No root resource defined for path '{path}'")

    def _route_frontend(self, method: str, path: str) -> Response:
        if self.pretend == "frontend-html" and method == "GET":
            return Response(200, _FRONTEND_HTML, content_type="text/html; charset=utf-8")
        if path == "/config" and method == "GET":
            if self.pretend == "frontend-404":
                return Response.json(404, {"error": "Not Found", "path": path})
            return Response.json(200, {
                "application": "datahub-frontend", "appVersion": self.version, "isInternal": False,
                "shouldShowDatasetLineage": True, "suggestionConfidenceThreshold": 50,
                "wikiLinks": {}, "tracking": {}, "isStagingBanner": False,
            })
        page = f"<html><head><title>Action Not Found</title></head><body><h1>Action Not Found</h1>" \
               f"<p>For request '{method} {path}'</p></body></html>"
        return Response(404, page.encode(), content_type="text/html; charset=utf-8")

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
