"""The status page's routes: ``GET /`` (the page), ``/ui/static/*`` and the JSON endpoints ``/ui/api/*``.

Authorization is the intake's: when the bridge has a token, every JSON endpoint needs
``Authorization: Bearer <token>`` (401 without, 403 with a wrong one). The page itself is a
static shell that holds no data; it asks for the token and keeps it in the tab's
``sessionStorage``. Retrying a dead letter needs the token always: a bridge without one
cannot retry from the page (``bridge spool retry`` can).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import attrs

from bridge.ui._views import EDGES, MAX_DEPTH, MAX_EDGES, Views

__all__ = ["COUNTERS", "UiBackend", "ui_routes"]

#: The counters ``/ui/api/now`` reports (the names of :class:`bridge.spool.Metrics` counters).
COUNTERS = ("received", "spooled", "delivered", "retried", "dead_lettered", "mcps_emitted", "mcps_unchanged")


@attrs.frozen(kw_only=True)
class UiBackend:
    """What the routes read from and act on.

    Attributes:
        views: the page's data.
        token: the bridge token (``None``: the JSON is open and retry is off).
        now: the live part of ``/ui/api/now`` (counters, emitter health), by mode.
        retry: re-queue one dead letter by id; returns how many moved (blocking; run in a thread).
    """

    views: Views
    token: str | None
    now: Callable[[], Awaitable[dict[str, Any]]]
    retry: Callable[[int], int]


def _static_dir() -> str:
    return str(resources.files("bridge.ui") / "static")


def ui_routes(backend: UiBackend) -> list[Any]:
    """The Starlette routes of the page and its JSON endpoints."""
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from bridge.intake._app import refused
    from bridge.intake._body import Refused, check_token

    static = _static_dir()
    views = backend.views

    def guarded(handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Response]]:
        async def route(request: Any) -> Response:
            try:
                check_token(request.headers, backend.token)
            except Refused as exc:
                return refused(exc)
            result = await handler(request)
            if isinstance(result, Response):
                return result
            return JSONResponse(result, headers={"Cache-Control": "no-store"})

        return route

    def number(request: Any, name: str, default: int, top: int) -> int:
        try:
            return max(1, min(int(request.query_params.get(name, default)), top))
        except ValueError:
            return default

    async def page(request: Any) -> Response:
        return FileResponse(f"{static}/index.html", headers={"Cache-Control": "no-store"})

    async def now(request: Any) -> dict[str, Any]:
        spool, journal = await asyncio.gather(asyncio.to_thread(views.reader.spool_status),
                                              asyncio.to_thread(views.reader.journal_count))
        live = await backend.now()
        return {"time": time.time(), **live, "spool": spool, "journal_events": journal,
                "can_retry": backend.token is not None}

    async def runs(request: Any) -> dict[str, Any]:
        search = request.query_params.get("q") or None
        return await asyncio.to_thread(views.runs, search=search, limit=number(request, "limit", 100, 1000))

    async def run(request: Any) -> Any:
        found = await asyncio.to_thread(views.run, request.path_params["run_id"])
        if found is None:
            return refused(Refused(404, "not_found", "no such run in the journal"))
        return found

    async def dead(request: Any) -> dict[str, Any]:
        return await asyncio.to_thread(views.dead, limit=number(request, "limit", 100, 1000))

    async def retry(request: Any) -> Response:
        if backend.token is None:  # (guarded: with a token, only its holder gets here)
            return refused(Refused(403, "forbidden", "retrying from the page needs the bridge's token: "
                                   "start it with --bridge-token (or use `bridge spool retry`)"))
        letter_id = int(request.path_params["letter_id"])
        moved = await asyncio.to_thread(backend.retry, letter_id)
        if not moved:
            return refused(Refused(404, "not_found", f"no dead letter {letter_id}"))
        return JSONResponse({"requeued": moved})

    async def lineage(request: Any) -> Any:
        urn = request.query_params.get("urn")
        if not urn:
            return refused(Refused(400, "invalid", "give ?urn=<job or dataset URN>", field="urn"))
        return await asyncio.to_thread(views.lineage, urn, depth=number(request, "depth", 2, MAX_DEPTH),
                                       limit=number(request, "limit", EDGES, MAX_EDGES))

    async def search(request: Any) -> dict[str, Any]:
        return await asyncio.to_thread(views.search, request.query_params.get("q", ""))

    return [
        Route("/", page, methods=["GET"]),
        Mount("/ui/static", app=StaticFiles(directory=static), name="ui-static"),
        Route("/ui/api/now", guarded(now), methods=["GET"]),
        Route("/ui/api/runs", guarded(runs), methods=["GET"]),
        Route("/ui/api/runs/{run_id:path}", guarded(run), methods=["GET"]),
        Route("/ui/api/dead", guarded(dead), methods=["GET"]),
        Route("/ui/api/dead/{letter_id:int}/retry", guarded(retry), methods=["POST"]),
        Route("/ui/api/lineage", guarded(lineage), methods=["GET"]),
        Route("/ui/api/search", guarded(search), methods=["GET"]),
    ]
