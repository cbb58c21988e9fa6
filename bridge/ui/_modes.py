"""The page's two homes: inside ``bridge serve`` (live counters, retry through the running spool) and
``bridge ui`` (a state directory read while no server runs)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.config import BridgeConfig
from bridge.ui._reader import StateReader
from bridge.ui._routes import COUNTERS, UiBackend, ui_routes
from bridge.ui._views import Views

__all__ = ["offline_app", "offline_backend", "serving_backend"]

#: Seconds the readiness checks (a spool write, the emitter's test connection) are reused for.
HEALTH_TTL = 3.0


def _translator(config: BridgeConfig) -> Any:
    from translators.datahub import DataHubTranslator, TranslatorConfig

    return DataHubTranslator(TranslatorConfig.from_dict(config.translator))


def serving_backend(service: Any, token: str | None,
                    readiness: Callable[[], Awaitable[tuple[bool, dict[str, str]]]]) -> UiBackend:
    """The page inside ``bridge serve``: ``service`` is its running :class:`~bridge.spool.SpoolService`,
    ``readiness`` what ``/readyz`` answers (reused for :data:`HEALTH_TTL` seconds)."""
    config: BridgeConfig = service.config
    views = Views(StateReader(config.state_dir), _translator(config))
    started = time.time()
    cached: list[Any] = [0.0, None]

    async def now() -> dict[str, Any]:
        if cached[1] is None or time.monotonic() - cached[0] > HEALTH_TTL:
            cached[:] = [time.monotonic(), await readiness()]
        ready, checks = cached[1]
        metrics = service.metrics
        return {
            "mode": "serve", "uptime_s": round(time.time() - started, 1),
            "counters": {name: metrics.get(name) for name in COUNTERS},
            "emitter": {"kind": config.emitter, "health": checks.get("emitter", "unknown")},
            "delivery": checks.get("delivery", "unknown"), "ready": ready, "checks": checks,
        }

    def retry(letter_id: int) -> int:
        moved = service.spool.requeue_dead([letter_id]).result(30)
        service.spool.wake()
        return moved

    return UiBackend(views=views, token=token, now=now, retry=retry)


def offline_backend(config: BridgeConfig, token: str | None) -> UiBackend:
    """The page over a state directory with no server: counters live only in a running server."""
    views = Views(StateReader(config.state_dir), _translator(config))

    async def now() -> dict[str, Any]:
        return {"mode": "offline", "counters": None,
                "emitter": {"kind": config.emitter, "health": "not checked (no server runs; bridge ui only reads "
                            "the state directory)"},
                "delivery": "stopped", "ready": None, "checks": {}}

    def retry(letter_id: int) -> int:
        from bridge.spool import Spool

        # As `bridge spool retry`: without the directory's lock, next to a server that may run meanwhile.
        with Spool(config.state_dir, exclusive=False) as spool:
            return spool.requeue_dead([letter_id]).result(30)

    return UiBackend(views=views, token=token, now=now, retry=retry)


def offline_app(config: BridgeConfig, token: str | None) -> Any:
    """The Starlette app of ``bridge ui``: the page and its JSON, nothing else."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def healthz(request: Any) -> Any:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[*ui_routes(offline_backend(config, token)), Route("/healthz", healthz)])
