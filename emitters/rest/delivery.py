"""How a batch reaches GMS: Rest.li or OpenAPI requests, bisection of rejections, ASYNC_WAIT traces.

:class:`Delivery` is the REST emitter's sending half; the emitter keeps the public API,
batching, the background sender and the lifecycle.
"""

from __future__ import annotations

import logging

from bridge.errors import BridgeError, RejectedError
from emitters.base import Callback
from emitters.breaker import naming
from emitters.rest.batching import INGEST_BATCH_PATH, INGEST_PATH, Encoded, batch_body, single_body
from emitters.rest.client import GmsClient
from emitters.rest.config import RestEmitterConfig
from emitters.rest.connection import fetch_openapi_support
from emitters.rest.modes import EmitMode
from emitters.rest.openapi import group_by_route, request_body, route, trace_id
from emitters.rest.trace import await_persisted

__all__ = ["Delivery", "call"]

logger = logging.getLogger("emitters.rest")


class Delivery:
    """Sends batches to GMS the way the config and GMS allow.

    Args:
        client: the HTTP client (retries, breaker).
        config: the emitter config (emit mode, OpenAPI setting, trace timeouts).

    ``openapi`` is ``None`` until :meth:`RestEmitter.test_connection` (or ``ASYNC_WAIT``'s
    first write) asks GMS, as DataHub's emitter decides; until then Rest.li is used.
    """

    def __init__(self, client: GmsClient, config: RestEmitterConfig) -> None:
        self.client = client
        self.config = config
        self.openapi: bool | None = config.openapi_ingestion
        self._warned = False

    def use_openapi(self, mode: EmitMode) -> bool:
        """Whether requests in ``mode`` go to the OpenAPI endpoints.

        Raises:
            DeliveryError subclass, ConfigError: ``ASYNC_WAIT`` had to ask ``/config`` and could not.
        """
        if self.openapi is None and mode is EmitMode.ASYNC_WAIT:
            # ASYNC_WAIT needs OpenAPI and the trace API: ask GMS once whether it has them.
            self.openapi = fetch_openapi_support(self.client)
        return bool(self.openapi)

    def deliver(self, batch: list[Encoded], mode: EmitMode,
                trace_timeout_sec: float | None = None) -> list[tuple[Encoded, BaseException]]:
        """Send one batch (one request per entity type and method on OpenAPI); bisect rejections.

        With ``ASYNC_WAIT``, every request is sent first and the traces are awaited after, as
        DataHub's emitter does: GMS works on all of them meanwhile.

        Returns:
            ``(proposal, error)`` for every proposal not delivered; callbacks were called for all.
        """
        waiting: list[tuple[str, list[Encoded]]] = []
        try:
            openapi = self.use_openapi(mode)
        except BridgeError as exc:
            return self._fail_all(batch, exc)
        if not openapi:
            failures = self._deliver_request(batch, mode, waiting)
        else:
            failures = []
            for _, group in group_by_route(batch, mode):
                failures.extend(self._deliver_request(group, mode, waiting))
        for trace, sent in waiting:
            try:
                traced: list[tuple[Encoded, BaseException]] = list(self.await_trace(trace, sent, trace_timeout_sec))
            except BridgeError as exc:  # the trace API itself failed: nothing of it is confirmed
                traced = [(enc, naming(exc, enc.urn, enc.aspect)) for enc in sent]
            failed = {id(enc): error for enc, error in traced}
            for enc in sent:
                if id(enc) in failed:
                    call(enc.callback, failed[id(enc)], str(failed[id(enc)]))
                elif enc.callback is not None:
                    call(enc.callback, None, f"delivered {enc.urn} {enc.aspect}")
            failures.extend(traced)
        return failures

    def _deliver_request(self, batch: list[Encoded], mode: EmitMode,
                         waiting: list[tuple[str, list[Encoded]]]) -> list[tuple[Encoded, BaseException]]:
        """One request (bisected on a rejection); a write to await goes to ``waiting`` unsettled."""
        try:
            trace = self.send(batch, mode)
        except RejectedError as exc:
            if len(batch) == 1:
                # INFO, not ERROR: the caller gets the error itself (raised, callback, flush).
                logger.info("GMS rejected a proposal urn=%s aspect=%s status=%s server_message=%s",
                             batch[0].urn, batch[0].aspect, exc.status, exc.server_message,
                             extra={"urn": batch[0].urn, "aspect": batch[0].aspect, "status": exc.status})
                call(batch[0].callback, exc, str(exc))
                return [(batch[0], exc)]
            # GMS fails a whole batch for one bad proposal and does not say which: halve until found.
            mid = len(batch) // 2
            return (self._deliver_request(batch[:mid], mode, waiting)
                    + self._deliver_request(batch[mid:], mode, waiting))
        except BridgeError as exc:  # auth, retries exhausted, not GMS: the whole batch failed alike
            return self._fail_all(batch, exc)
        if trace is not None:
            waiting.append((trace, batch))
            return []
        for enc in batch:
            if enc.callback is not None:
                call(enc.callback, None, f"delivered {enc.urn} {enc.aspect}")
        return []

    @staticmethod
    def _fail_all(batch: list[Encoded], exc: BridgeError) -> list[tuple[Encoded, BaseException]]:
        logger.info("could not deliver %d proposal(s): %s", len(batch), exc,
                    extra={"count": len(batch), "status": getattr(exc, "status", None)})
        failures: list[tuple[Encoded, BaseException]] = []
        for enc in batch:  # each MCP's error names it, so reports can say which MCPs failed
            error = naming(exc, enc.urn, enc.aspect)
            call(enc.callback, error, str(error))
            failures.append((enc, error))
        return failures

    def send(self, batch: list[Encoded], mode: EmitMode) -> str | None:
        """One request for ``batch`` (all of one OpenAPI route).

        Returns:
            The trace id to await (``ASYNC_WAIT`` on OpenAPI), else ``None``.

        Raises:
            DeliveryError subclass: the request failed (see :mod:`emitters.rest.errors`).
        """
        one = batch[0] if len(batch) == 1 else None
        urn, aspect = (one.urn, one.aspect) if one is not None else (None, None)
        if not self.use_openapi(mode):
            if one is not None:
                self.client.request("POST", INGEST_PATH, single_body(one, mode.is_async), urn=urn, aspect=aspect)
            else:
                self.client.request("POST", INGEST_BATCH_PATH, batch_body(batch, mode.is_async))
            if mode is EmitMode.ASYNC_WAIT:
                self._warn_no_trace("GMS does not offer the OpenAPI endpoints (or openapi_ingestion is false)")
            return None
        method, path = route(batch[0], mode)
        response = self.client.request(method, path, request_body(batch, mode), urn=urn, aspect=aspect)
        if mode is not EmitMode.ASYNC_WAIT or method == "DELETE":
            return None
        trace = trace_id(response.headers)
        if trace is None:
            self._warn_no_trace("GMS's answer carried no traceparent header (API tracing is off)")
        return trace

    def await_trace(self, trace: str, batch: list[Encoded],
                    timeout_sec: float | None = None) -> list[tuple[Encoded, BridgeError]]:
        """Wait for GMS to persist what one request carried (see :func:`emitters.rest.trace.await_persisted`)."""
        if timeout_sec is None:
            timeout_sec = self.config.trace_timeout_sec
        return await_persisted(self.client, trace, batch, timeout_sec=timeout_sec,
                               poll_sec=self.config.trace_poll_sec)

    def _warn_no_trace(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("emit_mode ASYNC_WAIT cannot wait: %s; writes are queued by GMS (as ASYNC) without "
                           "confirmation. It needs DataHub GMS >= 1.0.1 and openapi_ingestion", why)


def call(callback: Callback | None, error: BaseException | None, message: str) -> None:
    """Call an emit callback; a broken callback must not stop delivery of the rest."""
    if callback is None:
        return
    try:
        callback(error, message)
    except Exception:
        logger.exception("emit callback raised")
