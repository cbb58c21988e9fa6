"""The REST emitter: delivers MCPs to DataHub GMS over its Rest.li ingestion API.

Shaped like DataHub's ``DatahubRestEmitter`` (``gms_server``, ``token``,
``extra_headers``, ``test_connection()``, ``emit(mcp, callback)``,
``emit_mcps(mcps)``), with batching, retries, clear errors, and bisection of
rejected batches so one bad proposal never blocks the good ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bridge.errors import (
    BridgeError,
    DeliveryError,
    InvalidEventError,
    RejectedError,
    RetriableError,
    UndeliveredError,
)
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Callback, Destination, Emitter, deliver_at_exit
from emitters.breaker import naming
from emitters.rest.background import BackgroundSender
from emitters.rest.batching import (
    INGEST_BATCH_PATH,
    INGEST_PATH,
    Encoded,
    batch_body,
    encode,
    single_body,
    split_batches,
)
from emitters.rest.client import GmsClient
from emitters.rest.config import RestEmitterConfig
from emitters.rest.connection import check_connection

__all__ = ["RestEmitter"]

logger = logging.getLogger("emitters.rest")


def _as_mcp(item: Any) -> MetadataChangeProposalWrapper:
    if isinstance(item, MetadataChangeProposalWrapper):
        return item
    if isinstance(item, Mapping):  # DataHub file-format / GMS-format MCP object
        return MetadataChangeProposalWrapper.from_obj(item)
    to_obj = getattr(item, "to_obj", None)
    if callable(to_obj):  # e.g. acryl-datahub's own MetadataChangeProposalWrapper, for users porting code
        obj = to_obj()
        if isinstance(obj, Mapping):
            return MetadataChangeProposalWrapper.from_obj(obj)
    raise InvalidEventError(
        f"the REST emitter delivers MetadataChangeProposalWrapper items (or their JSON objects), "
        f"got {type(item).__name__}"
    )


class RestEmitter(Emitter):
    """Delivers MCPs to GMS (``POST /aspects?action=ingestProposal[Batch]``).

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

    Constructing the emitter does no network IO; :meth:`test_connection` checks the server.
    """

    kind = "rest"
    config_class = RestEmitterConfig

    def __init__(self, config: RestEmitterConfig | Mapping[str, Any] | str | None = None, **settings: Any) -> None:
        if isinstance(config, str):
            config = RestEmitterConfig.from_dict({"gms_server": config, **settings})
        elif config is None:
            config = RestEmitterConfig.from_dict(settings)
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

    def __repr__(self) -> str:
        # Never show the token.
        return f"RestEmitter(gms_server={self.config.gms_server!r}, token={'***' if self.config.token else None})"

    # ------------------------------------------------------------------ public API
    def destination(self) -> Destination:
        """``rest:<gms_server>``."""
        return Destination(f"rest:{self.config.gms_server.rstrip('/')}")

    def test_connection(self) -> dict[str, Any]:
        """Check that ``gms_server`` is GMS and accepts the token; returns what GMS says about itself.

        Returns:
            ``{"gms_server", "version", "commit", "server_type", "server_env", "auth"}``.

        Raises:
            ConnectionFailedError: nothing listens at the URL, or the host is unknown.
            ConfigError: the URL is the DataHub frontend (or anything else but GMS).
            AuthError: GMS refused the token, or needs one.
            DeliveryError: TLS failure or another error, with GMS's message.
        """
        return check_connection(self._client)

    def emit(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None) -> None:
        """Deliver one MCP (sync delivery) or queue it (background delivery).

        Args:
            item: the MCP (or its DataHub JSON object).
            callback: ``callback(error, message)``, called once the MCP is settled;
                ``error`` is ``None`` on success.

        Raises:
            DeliveryError subclass (sync delivery): GMS did not take it; the error names the URN and aspect.
            ConfigError (sync delivery): ``gms_server`` is not a GMS URL (404).
            QueueFullError (background delivery): the queue stayed full.
        """
        self._check_open()
        try:
            encoded = encode(_as_mcp(item), callback)
        except BridgeError as exc:
            _call(callback, exc, str(exc))
            raise
        if self.config.delivery == "background":
            self._ensure_sender().put(encoded)
            return
        try:
            self._client.request("POST", INGEST_PATH, single_body(encoded, self.config.async_flag),
                                 urn=encoded.urn, aspect=encoded.aspect)
        except BridgeError as exc:
            _call(callback, exc, str(exc))
            raise
        _call(callback, None, f"delivered {encoded.urn} {encoded.aspect}")

    def emit_many(self, items: Iterable[MetadataChangeProposalWrapper], callback: Callback | None = None) -> int:
        """Deliver many MCPs in batches (or queue them, with background delivery).

        Args:
            items: MCPs (or their JSON objects).
            callback: optional ``callback(error, message)`` called once per MCP (from the
                emitter's sender thread, as batches settle).

        Returns:
            How many MCPs were handed over.

        Raises:
            UndeliveredError (sync delivery): some MCPs were not delivered; every other one was.
        """
        self._check_open()
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
                submitted = self._pipeline().submit(self._deliver, batch)
                if in_flight is not None:
                    failures.extend(in_flight.result())
                in_flight = submitted
        finally:
            if in_flight is not None:
                failures.extend(in_flight.result())
        if failures:
            raise UndeliveredError(len(failures), [err for _, err in failures])
        return count

    def emit_mcps(self, items: Iterable[MetadataChangeProposalWrapper], callback: Callback | None = None) -> int:
        """DataHub's name for :meth:`emit_many`."""
        return self.emit_many(items, callback)

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
                yield encode(_as_mcp(item), callback)
            except BridgeError as exc:
                # Unusable input never reaches GMS; it is reported, not dropped.
                _call(callback, exc, str(exc))
                failures.append((None, exc))

    def _deliver_background(self, batch: list[Encoded]) -> None:
        try:
            failures = self._deliver(batch)
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

    def _deliver(self, batch: list[Encoded]) -> list[tuple[Encoded, BaseException]]:
        """Send one batch; on a rejection, bisect so the good proposals land.

        Returns:
            ``(proposal, error)`` for every proposal not delivered; callbacks were called for all.
        """
        async_flag = self.config.async_flag
        try:
            if len(batch) == 1:
                enc = batch[0]
                self._client.request("POST", INGEST_PATH, single_body(enc, async_flag), urn=enc.urn, aspect=enc.aspect)
            else:
                self._client.request("POST", INGEST_BATCH_PATH, batch_body(batch, async_flag))
        except RejectedError as exc:
            if len(batch) == 1:
                # INFO, not ERROR: the caller gets the error itself (raised, callback, flush).
                logger.info("GMS rejected a proposal urn=%s aspect=%s status=%s server_message=%s",
                             batch[0].urn, batch[0].aspect, exc.status, exc.server_message,
                             extra={"urn": batch[0].urn, "aspect": batch[0].aspect, "status": exc.status})
                _call(batch[0].callback, exc, str(exc))
                return [(batch[0], exc)]
            # GMS fails a whole batch for one bad proposal and does not say which: halve until found.
            mid = len(batch) // 2
            return self._deliver(batch[:mid]) + self._deliver(batch[mid:])
        except BridgeError as exc:  # auth, retries exhausted, not GMS: the whole batch failed alike
            logger.info("could not deliver %d proposal(s): %s", len(batch), exc,
                         extra={"count": len(batch), "status": getattr(exc, "status", None)})
            failures: list[tuple[Encoded, BaseException]] = []
            for enc in batch:  # each MCP's error names it, so reports can say which MCPs failed
                error = naming(exc, enc.urn, enc.aspect)
                _call(enc.callback, error, str(error))
                failures.append((enc, error))
            return failures
        for enc in batch:
            if enc.callback is not None:
                _call(enc.callback, None, f"delivered {enc.urn} {enc.aspect}")
        return []


def _call(callback: Callback | None, error: BaseException | None, message: str) -> None:
    if callback is None:
        return
    try:
        callback(error, message)
    except Exception:  # a broken callback must not stop delivery of the rest
        logger.exception("emit callback raised")
