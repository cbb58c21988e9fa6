"""The OpenLineage HTTP endpoint: a small Starlette app.

``POST /api/v1/lineage`` (the OpenLineage HTTP transport's default, Marquez's
path) and ``POST /openapi/openlineage/api/v1/lineage`` (DataHub GMS's path)
take one event or a JSON array, optionally gzip-compressed. The answer is 201
only once every event of the request is durable in the app's sink (the spool,
or with ``--to-topic`` a Kafka topic; see :mod:`bridge.intake._sink`). Bad input
is a 4xx with a JSON body naming the field and the reason, never a 5xx; one
request's bad input never fails another's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

from bridge.errors import require
from bridge.intake._body import Refused, check_token, decode_body, parse_events, read_body
from bridge.intake._settings import ServeSettings
from bridge.intake._sink import Sink, SpoolSink
from bridge.logs import log_fields
from bridge.spool import Metrics, SpoolService, event_key

__all__ = ["LINEAGE_ROUTES", "create_app"]

log = logging.getLogger(__name__)

LINEAGE_ROUTES = ("/api/v1/lineage", "/openapi/openlineage/api/v1/lineage")
NOOP_ROUTE = "/_noop/api/v1/lineage"
VALIDATE_ROUTE = "/_validate/api/v1/lineage"
#: Bodies larger than this, compressed or once decompressed (16 KB of gzip can be 16 MiB of JSON), are
#: decoded and validated in a thread, so the event loop keeps answering other requests meanwhile.
PARSE_IN_THREAD_BYTES = 256 * 1024
#: Such bodies parsed at once: decoded JSON takes up to ~30 times its text, so this bounds what
#: concurrent large requests cost (parsing holds the GIL: more threads would not be faster).
PARSE_THREADS = 2


def refused(exc: Refused, headers: Mapping[str, str] | None = None) -> Any:
    """Every JSON error answer (intake's, the sink's, Starlette's 404 / 405, the status page's):
    ``exc.body`` with ``exc.status`` and ``headers``; a 401 says how to authenticate, a 408 closes
    the connection."""
    from starlette.responses import JSONResponse

    headers = dict(headers or {})
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="lineage-bridge"'
    if exc.status == 408:
        headers["Connection"] = "close"  # the rest of the body may still come: not another request
    return JSONResponse(exc.body, status_code=exc.status, headers=headers or None)


def create_app(service: SpoolService | None, settings: ServeSettings, *, metrics: Metrics | None = None,
               sink: Sink | None = None) -> Any:
    """Build the ASGI app.

    Args:
        service: the running spool service events go to, through a :class:`SpoolSink`
            (``None`` with ``sink``, or for an app of probes and benchmark routes only).
        settings: token, body limit, routes.
        metrics: the registry to update and expose; the sink's (the service's) by default.
        sink: where events go instead of ``service`` (``--to-topic``: a :class:`~bridge.intake._topic.TopicSink`).

    Returns:
        A Starlette application.
    """
    require("starlette", "serve")
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from translators.openlineage import validate_event

    if sink is None and service is not None:
        sink = SpoolSink(service, metrics)
    metrics = metrics or (sink.metrics if sink is not None else Metrics())
    # Only the probes and the benchmark routes exist without a sink (see the routes below).
    key = sink.event_key if sink is not None else event_key
    target = cast(Sink, sink)  # (the routes that use it exist only with a sink)
    limit = settings.max_body_bytes
    # The status page (GET /): with a local spool only; its journal keeps the newest events for it.
    journal = None
    if service is not None and sink is not None and isinstance(sink, SpoolSink):
        from bridge.secrets import Secrets
        from bridge.ui import Journal

        journal = Journal.in_state_dir(service.config.state_dir, keep=settings.journal_events,
                                       max_bytes=settings.journal_bytes,
                                       secrets=Secrets.from_settings(service.config.translator))

    parse_slots = asyncio.Semaphore(PARSE_THREADS)

    def events_of(data: bytes) -> list[tuple[str, str]]:
        return parse_events(data, validate_event, settings.max_event_bytes, key=key,
                            max_events=settings.max_batch_events)

    async def read_events(request: Any) -> list[tuple[str, str]]:
        check_token(request.headers, settings.token)
        body = await read_body(request, limit, settings.body_timeout)
        encoding = request.headers.get("content-encoding")
        if len(body) <= PARSE_IN_THREAD_BYTES:
            inline = min(limit, PARSE_IN_THREAD_BYTES)
            try:  # the usual small gzip body: inflated here, as far as the threshold at most
                small = decode_body(body, encoding, inline)
            except Refused as exc:
                if exc.status != 413 or inline == limit:
                    raise
            else:
                return events_of(small)
        async with parse_slots:
            return await asyncio.to_thread(lambda: events_of(decode_body(body, encoding, limit)))

    def disconnected(request: Any) -> Response:
        metrics.reject("client_disconnected")
        log.info("client went away before sending its whole body", extra=log_fields(client=_client(request)))
        return Response(status_code=400)  # (nobody reads it)

    async def lineage(request: Any) -> Response:
        started = time.perf_counter()
        try:
            items = await read_events(request)
        except Refused as exc:
            metrics.reject(exc.body["error"])
            if exc.status in (401, 403, 408):
                log.info("request refused", extra=log_fields(status=exc.status, client=_client(request)))
            return refused(exc)
        except ClientDisconnect:
            return disconnected(request)
        metrics.inc("received", len(items))
        try:
            await target.add(items)
        except Exception as exc:  # noqa: BLE001 - the sink says what it means: 422 (cannot help) or 503 (retry)
            return refused(target.refusal(exc))
        metrics.observe_acceptance(time.perf_counter() - started)
        if journal is not None:
            journal.record(items)
        return JSONResponse({"accepted": len(items)}, status_code=201)

    async def noop(request: Any) -> Response:
        try:
            check_token(request.headers, settings.token)
            await read_body(request, limit, settings.body_timeout)
        except Refused as exc:
            return refused(exc)
        except ClientDisconnect:
            return disconnected(request)
        return JSONResponse({"accepted": 1}, status_code=201)

    async def validate_only(request: Any) -> Response:
        try:
            items = await read_events(request)
        except Refused as exc:
            return refused(exc)
        except ClientDisconnect:
            return disconnected(request)
        return JSONResponse({"accepted": len(items)}, status_code=201)

    async def healthz(request: Any) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Any) -> Response:
        ok, checks = await target.readiness()
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    async def metrics_route(request: Any) -> Response:
        text = await asyncio.to_thread(metrics.render)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [Route(path, lineage, methods=["POST"]) for path in LINEAGE_ROUTES] if sink is not None else []
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
    ]
    if sink is not None:
        routes.append(Route("/readyz", readyz, methods=["GET"]))
    if journal is not None:
        from bridge.ui import serving_backend, ui_routes

        routes += ui_routes(serving_backend(service, settings.token, target.readiness))
    if settings.noop_route:
        routes.append(Route(NOOP_ROUTE, noop, methods=["POST"]))
        routes.append(Route(VALIDATE_ROUTE, validate_only, methods=["POST"]))
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


async def http_error(request: Any, exc: Any) -> Any:
    """Starlette's own refusals (no such route, a method the route does not take) as JSON, like the
    app's: ``{"error": "not_found" | "method_not_allowed", "field": null, "reason": ...}``, with their
    headers (``Allow`` for a 405)."""
    status, headers = exc.status_code, dict(exc.headers or {})
    where = f"{request.method} {request.url.path}"
    if status == 405:  # (Starlette builds Allow from a set: sorted, it is the same every time)
        allowed = headers["Allow"] = ", ".join(sorted(m.strip() for m in headers.get("Allow", "").split(",")))
        error, reason = "method_not_allowed", f"{where}: the method is not allowed here (allowed: {allowed})"
    elif status == 404:
        error, reason = "not_found", f"{where}: no such route (events go to POST {LINEAGE_ROUTES[0]})"
    else:
        error, reason = "http_error", f"{where}: {exc.detail}"
    return refused(Refused(status, error, reason), headers)


def _client(request: Any) -> str:
    from uvicorn.protocols.utils import get_client_addr

    return get_client_addr(request.scope) or "unknown"
