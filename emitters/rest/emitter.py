"""The REST emitter: delivers MCPs to DataHub GMS over its Rest.li or OpenAPI ingestion API.

Shaped like DataHub's ``DatahubRestEmitter`` (``gms_server``, ``token``,
``extra_headers``, ``emit_mode``, ``openapi_ingestion``, ``test_connection()``,
``emit(mcp, callback)``, ``emit_mcps(mcps)``), with batching, retries, clear errors,
and bisection of rejected batches so one bad proposal never blocks the good ones.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from bridge.errors import (
    BridgeError,
    ConfigError,
    DeliveryError,
    RetriableError,
    UndeliveredError,
)
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Callback, Destination, Emitter, as_mcp, deliver_at_exit
from emitters.rest.background import BackgroundSender
from emitters.rest.batching import (
    Encoded,
    encode,
    split_batches,
)
from emitters.rest.client import GmsClient
from emitters.rest.config import RestEmitterConfig
from emitters.rest.connection import check_connection
from emitters.rest.delivery import Delivery
from emitters.rest.delivery import call as _call
from emitters.rest.modes import EmitMode, parse_emit_mode

__all__ = ["RestEmitter"]

logger = logging.getLogger("emitters.rest")


class RestEmitter(Emitter):
    """Delivers MCPs to GMS (``POST /aspects?action=ingestProposal[Batch]``, or the OpenAPI v3
    entity endpoints with ``openapi_ingestion``).

    Args:
        config: a :class:`RestEmitterConfig`, a dict in its ``from_dict`` shape, or the GMS URL.
        **settings: DataHub-style keyword settings (``gms_server=``, ``token=``, ...) used
            instead of, or on top of a URL given as ``config``.

    ``delivery="sync"`` (default): :meth:`emit` delivers before returning and
    raises on failure (after calling the callback), like DataHub's emitter;
    :meth:`emit_many` sends batches and raises :class:`~bridge.errors.UndeliveredError`
    naming what failed once everything else was delivered.
    ``delivery="background"``: :meth:`emit` queues and returns; callbacks report
    each outcome; :meth:`flush` waits and raises ``UndeliveredError`` for the failures.

    ``emit_mode`` (DataHub's :class:`~emitters.rest.modes.EmitMode`) says how long GMS makes
    each write wait; ``ASYNC_WAIT`` polls GMS's trace API and reports writes GMS failed to
    persist like any other failure. Built from keyword settings (DataHub's way), the emitter
    also honours ``$DATAHUB_EMIT_MODE`` and ``$DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT``
    (see :meth:`RestEmitterConfig.from_settings`).

    Constructing the emitter does no network IO; :meth:`test_connection` checks the server
    (and, with ``openapi_ingestion`` unset, switches to OpenAPI when GMS supports it).
    """

    kind = "rest"
    config_class = RestEmitterConfig

    def __init__(self, config: RestEmitterConfig | Mapping[str, Any] | str | None = None, **settings: Any) -> None:
        if isinstance(config, str):
            config = RestEmitterConfig.from_settings({"gms_server": config, **settings})
        elif config is None:
            config = RestEmitterConfig.from_settings(settings)
        elif isinstance(config, Mapping):
            config = RestEmitterConfig.from_dict({**config, **settings})
        elif settings:
            raise TypeError("pass either a RestEmitterConfig or keyword settings, not both")
        self.config: RestEmitterConfig = config
        self._client = GmsClient(config)
        self._lock = threading.Lock()
        self._sender: BackgroundSender | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._failed = 0
        self._errors: list[BaseException] = []
        self._closed = False
        self._cancel_exit_flush: Callable[[], None] = lambda: None
        self._delivery = Delivery(self._client, config)

    def __repr__(self) -> str:
        # Never show the token.
        return f"RestEmitter(gms_server={self.config.gms_server!r}, token={'***' if self.config.token else None})"

    # ------------------------------------------------------------------ public API
    def destination(self) -> Destination:
        """``rest:<gms_server>``."""
        return Destination(f"rest:{self.config.gms_server.rstrip('/')}")

    def test_connection(self) -> dict[str, Any]:
        """Check that ``gms_server`` is GMS and accepts the token; returns what GMS says about itself.

        With ``openapi_ingestion`` unset, this is where the emitter decides between Rest.li and
        OpenAPI, from the version GMS reports (as DataHub's emitter does).

        Returns:
            ``{"gms_server", "version", "commit", "server_type", "server_env", "auth", "openapi",
            "openapi_ingestion", "emit_mode"}``: ``openapi`` whether GMS supports the OpenAPI
            endpoints, ``openapi_ingestion`` whether the emitter now uses them.

        Raises:
            ConnectionFailedError: nothing listens at the URL, or the host is unknown.
            ConfigError: the URL is the DataHub frontend (or anything else but GMS).
            AuthError: GMS refused the token, or needs one.
            DeliveryError: TLS failure or another error, with GMS's message.
        """
        info = check_connection(self._client)
        if self.config.openapi_ingestion is None:
            self._delivery.openapi = bool(info["openapi"])
        info["openapi_ingestion"] = bool(self._delivery.openapi)
        info["emit_mode"] = self.config.emit_mode.value
        logger.debug("using %s for ingestion, emit_mode=%s", "OpenAPI" if self._delivery.openapi else "Rest.li",
                     self.config.emit_mode)
        return info

    def emit(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None,
             emit_mode: EmitMode | str | None = None, *, wait_timeout: timedelta | float | None = None) -> None:
        """Deliver one MCP (sync delivery) or queue it (background delivery).

        Args:
            item: the MCP (or its DataHub JSON object).
            callback: ``callback(error, message)``, called once the MCP is settled;
                ``error`` is ``None`` on success.
            emit_mode: this call's emit mode instead of the configured one (sync delivery only).
            wait_timeout: ``ASYNC_WAIT``'s wait for this call (seconds or a ``timedelta``; DataHub's
                name) instead of ``trace_timeout_sec``.

        Raises:
            DeliveryError subclass (sync delivery): GMS did not take it, or (``ASYNC_WAIT``) did not
                persist it; the error names the URN and aspect.
            ConfigError (sync delivery): ``gms_server`` is not a GMS URL (404).
            QueueFullError (background delivery): the queue stayed full.
        """
        self._check_open()
        try:
            encoded = encode(as_mcp(item), callback)
        except BridgeError as exc:
            _call(callback, exc, str(exc))
            raise
        mode = self._mode(emit_mode)
        if self.config.delivery == "background":
            self._ensure_sender().put(encoded)
            return
        try:
            trace = self._delivery.send([encoded], mode)
            failures = self._delivery.await_trace(trace, [encoded], _seconds(wait_timeout)) if trace else []
            if failures:
                raise failures[0][1]
        except BridgeError as exc:
            _call(callback, exc, str(exc))
            raise
        _call(callback, None, f"delivered {encoded.urn} {encoded.aspect}")

    def emit_mcp(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None, *,
                 async_flag: bool | None = None, emit_mode: EmitMode | str | None = None,
                 wait_timeout: timedelta | float | None = None) -> None:
        """DataHub's name for :meth:`emit` (its deprecated ``async_flag`` wins over ``emit_mode``)."""
        if async_flag is not None:
            emit_mode = EmitMode.ASYNC if async_flag else EmitMode.SYNC_PRIMARY
        self.emit(item, callback, emit_mode, wait_timeout=wait_timeout)

    def emit_many(self, items: Iterable[MetadataChangeProposalWrapper], callback: Callback | None = None,
                  emit_mode: EmitMode | str | None = None, *, wait_timeout: timedelta | float | None = None) -> int:
        """Deliver many MCPs in batches (or queue them, with background delivery).

        Args:
            items: MCPs (or their JSON objects).
            callback: optional ``callback(error, message)`` called once per MCP (from the
                emitter's sender thread, as batches settle).
            emit_mode: this call's emit mode instead of the configured one (sync delivery only).
            wait_timeout: ``ASYNC_WAIT``'s wait for this call instead of ``trace_timeout_sec``.

        Returns:
            How many MCPs were handed over.

        Raises:
            UndeliveredError (sync delivery): some MCPs were not delivered; every other one was.
        """
        self._check_open()
        mode = self._mode(emit_mode)
        timeout = _seconds(wait_timeout)
        failures: list[tuple[Encoded | None, BaseException]] = []
        encoded_items = self._encode_all(items, callback, failures)
        if self.config.delivery == "background":
            sender = self._ensure_sender()
            count = 0
            for enc in encoded_items:
                sender.put(enc)
                count += 1
            self._record(failures)
            return count + len(failures)
        count = 0
        in_flight: Future[list[tuple[Encoded, BaseException]]] | None = None
        try:
            for batch in split_batches(encoded_items, self.config.max_batch_size,
                                       self.config.max_batch_bytes):
                count += len(batch)
                # One batch in flight on the sender thread while this thread encodes the next:
                # encoding and GMS's work overlap, and batches still go out one at a time, in order.
                submitted = self._pipeline().submit(self._delivery.deliver, batch, mode, timeout)
                if in_flight is not None:
                    failures.extend(in_flight.result())
                in_flight = submitted
        finally:
            if in_flight is not None:
                failures.extend(in_flight.result())
        if failures:
            raise UndeliveredError(len(failures), [err for _, err in failures])
        return count

    def emit_mcps(self, items: Iterable[MetadataChangeProposalWrapper],
                  callback: Callback | EmitMode | str | None = None, emit_mode: EmitMode | str | None = None, *,
                  wait_timeout: timedelta | float | None = None) -> int:
        """DataHub's name for :meth:`emit_many`; DataHub's ``emit_mcps(mcps, emit_mode)`` works too."""
        if isinstance(callback, (str, enum.Enum)):  # DataHub's second positional is the emit mode
            callback, emit_mode = None, callback
        return self.emit_many(items, callback, emit_mode, wait_timeout=wait_timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything emitted is settled.

        Raises:
            UndeliveredError: some MCPs emitted since the last flush were not delivered.
            RetriableError: ``timeout`` passed with MCPs still pending (they stay queued).
        """
        sender = self._sender
        if sender is not None and not sender.flush(timeout):
            raise RetriableError(f"flush timed out after {timeout}s with {sender.pending} MCP(s) still pending")
        with self._lock:
            failed, errors = self._failed, self._errors
            self._failed, self._errors = 0, []
        if failed:
            raise UndeliveredError(failed, errors)

    def close(self) -> None:
        """Flush, stop the sender and close the connections. Safe to call twice."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._cancel_exit_flush()
            if self._sender is not None:
                self._sender.close()
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            self._client.close()

    # ------------------------------------------------------------------ delivery
    def _check_open(self) -> None:
        if self._closed:
            raise DeliveryError("the REST emitter is closed")

    def _pipeline(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rest-emitter-batch")
        return self._executor

    def _ensure_sender(self) -> BackgroundSender:
        if self._sender is None:
            with self._lock:
                if self._sender is None:
                    cfg = self.config
                    self._sender = BackgroundSender(
                        self._deliver_background, max_batch_size=cfg.max_batch_size,
                        max_batch_bytes=cfg.max_batch_bytes, linger_sec=cfg.linger_ms / 1000,
                        max_pending=cfg.max_pending, queue_timeout_sec=cfg.queue_timeout_sec,
                    )
                    self._cancel_exit_flush = deliver_at_exit(self)
        return self._sender

    @staticmethod
    def _encode_all(items: Iterable[Any], callback: Callback | None,
                    failures: list[tuple[Encoded | None, BaseException]]) -> Iterable[Encoded]:
        for item in items:
            try:
                yield encode(as_mcp(item), callback)
            except BridgeError as exc:
                # Unusable input never reaches GMS; it is reported, not dropped.
                _call(callback, exc, str(exc))
                failures.append((None, exc))

    def _deliver_background(self, batch: list[Encoded]) -> None:
        try:
            failures = self._delivery.deliver(batch, self.config.emit_mode)
        except Exception as exc:  # the sender thread must survive anything; nothing may be lost silently
            logger.exception("unexpected error delivering a batch")
            failures = [(enc, exc) for enc in batch]
            for enc in batch:
                _call(enc.callback, exc, str(exc))
        self._record(failures)

    def _record(self, failures: Sequence[tuple[Encoded | None, BaseException]]) -> None:
        if not failures:
            return
        with self._lock:
            self._failed += len(failures)
            room = 10 - len(self._errors)
            if room > 0:
                self._errors.extend(err for _, err in failures[:room])

    def _mode(self, emit_mode: EmitMode | str | None) -> EmitMode:
        if emit_mode is None:
            return self.config.emit_mode
        try:
            return parse_emit_mode(emit_mode)
        except ValueError as exc:
            raise ConfigError(str(exc), key="emit_mode") from None


def _seconds(wait: timedelta | float | None) -> float | None:
    return wait.total_seconds() if isinstance(wait, timedelta) else wait
