"""The OpenLineage HTTP endpoint: a small Starlette app.

``POST /api/v1/lineage`` (the OpenLineage HTTP transport's default, Marquez's
path) and ``POST /openapi/openlineage/api/v1/lineage`` (DataHub GMS's path)
take one event or a JSON array, optionally gzip-compressed. The answer is 201
only once every event of the request is committed to the spool. Bad input is
a 4xx with a JSON body naming the field and the reason, never a 5xx.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Mapping
from typing import Any, cast

import attrs

from bridge.errors import ConfigError, InvalidEventError, require
from bridge.logs import log_fields
from bridge.spool import DeliveryConfig, Metrics, SpoolService, event_key

__all__ = ["LINEAGE_ROUTES", "ServeSettings", "create_app"]

log = logging.getLogger(__name__)

LINEAGE_ROUTES = ("/api/v1/lineage", "/openapi/openlineage/api/v1/lineage")
NOOP_ROUTE = "/_noop/api/v1/lineage"
VALIDATE_ROUTE = "/_validate/api/v1/lineage"
#: With ``synchronous=NORMAL``, the longest a commit stays in the page cache before its flush starts.
BACKGROUND_FLUSH_EVERY = 0.01


@attrs.frozen(kw_only=True)
class ServeSettings:
    """``bridge serve`` settings (the ``[serve]`` table of the config file).

    Args:
        host: address to bind; loopback unless told otherwise.
        port: TCP port.
        token: bearer token producers must send (``Authorization: Bearer <token>``); none = open.
        max_body_bytes: largest request body accepted, after gzip decompression (413 above it).
        synchronous: when a 201 is sent. ``NORMAL`` (default): once the events are committed to the
            spool's write-ahead log, which survives the bridge being killed (kill -9, OOM, crash); the
            log is flushed to disk in the background at least every :data:`BACKGROUND_FLUSH_EVERY`
            seconds, so a power cut or kernel crash can lose only what was acknowledged in that window.
            ``FULL``: only once that flush (an fdatasync) has returned, which survives power loss too,
            at the cost of the flush's latency for every request (see README, "Speed").
        delivery: delivery worker settings (:class:`bridge.spool.DeliveryConfig` fields).
        noop_route: also serve ``POST /_noop/api/v1/lineage``, which answers 201 without parsing or
            spooling (the benchmark's ceiling for the server stack), and ``POST /_validate/api/v1/lineage``,
            which parses and validates but does not spool (to tell parsing cost from durability cost).
        delivery_process: deliver from a child process (its own GIL and core) instead of threads
            of the server process, so translation never slows acknowledgements down.
        tls_cert: PEM certificate (chain) to serve HTTPS with; with ``tls_key``.
        tls_key: its PEM private key.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=5000, converter=int)
    token: str | None = attrs.field(default=None, repr=False)
    max_body_bytes: int = attrs.field(default=16 * 1024 * 1024, converter=int)
    synchronous: str = "NORMAL"
    delivery: DeliveryConfig = attrs.field(factory=DeliveryConfig)
    noop_route: bool = False
    delivery_process: bool = True
    tls_cert: str | None = None
    tls_key: str | None = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("HTTPS needs both tls_cert and tls_key", key="serve.tls_cert")
        for key in ("tls_cert", "tls_key"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                raise ConfigError(f"no such file: {path}", key=f"serve.{key}")

    @property
    def url(self) -> str:
        """Where the server listens (``http://`` or, with a certificate, ``https://``)."""
        return f"{'https' if self.tls_cert else 'http'}://{self.host}:{self.port}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServeSettings:
        data = dict(data)
        delivery = data.pop("delivery", {})
        for key in ("workers", "batch_size", "max_attempts"):
            if key in data:
                delivery = {**delivery, key: data.pop(key)}
        known = {a.name for a in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}", key="serve")
        try:
            return cls(**data, delivery=DeliveryConfig.from_dict(delivery))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad setting: {exc}", key="serve") from exc


class _Refused(Exception):
    """A request we answer with a 4xx and a reason."""

    def __init__(self, status: int, error: str, reason: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {"error": error, "field": field, "reason": reason, **extra}


def _check_token(headers: Any, token: str | None) -> None:
    if not token:
        return
    header = headers.get("authorization")
    if not header:
        raise _Refused(401, "unauthorized", "missing 'Authorization: Bearer <token>' header", field="Authorization")
    scheme, _, credential = header.partition(" ")
    # Constant-time comparison so the token cannot be guessed byte by byte from timings.
    if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), token.encode()):
        raise _Refused(403, "forbidden", "the bearer token is not valid", field="Authorization")


async def _read_body(request: Any, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _Refused(413, "too_large", f"body of {length} bytes is over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refused(413, "too_large", f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise _Refused(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported (use gzip)")
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _Refused(400, "invalid_encoding", f"body is not valid {encoding}: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise _Refused(413, "too_large", f"decompressed body is over the {limit}-byte limit")
    if not inflater.eof:
        raise _Refused(400, "invalid_encoding", f"{encoding} body is truncated")
    return out


def _loads(body: bytes, fast_loads: Any) -> tuple[Any, bool]:
    """Decode a request body; returns ``(value, decoded_by_orjson)``.

    orjson reads the usual body several times faster than :func:`json.loads`; what it
    refuses (NaN/Infinity, integers over 64 bits, lone surrogates, a byte-order mark or
    UTF-16, which the standard library reads) goes to :func:`json.loads`, so the same
    bodies are accepted as before.
    """
    if fast_loads is not None:
        try:
            return fast_loads(body), True
        except ValueError:
            pass
    try:
        return json.loads(body), False
    except (ValueError, RecursionError) as exc:
        reason = f"body is not valid JSON: {exc}" if not isinstance(exc, RecursionError) else "JSON nested too deeply"
        raise _Refused(400, "invalid_json", reason) from exc


def _parse(body: bytes, validate: Any, fast: Any = None) -> list[tuple[str, str]]:
    """Validate the events of one request; returns ``(key, compact JSON)`` pairs to spool.

    Args:
        body: the (decompressed) request body.
        validate: ``translators.openlineage.validate_event``: rejects exactly what ``parse_event``
            rejects, with the same field and reason, without building the model (the full parse
            happens on delivery).
        fast: the ``orjson`` module when installed.
    """
    data, by_orjson = _loads(body, fast.loads if fast is not None else None)
    single = type(data) is not list
    items = [data] if single else data
    if not items:
        raise _Refused(422, "invalid_event", "the array holds no events")
    if by_orjson:
        # orjson read it, so the stdlib reads it too (orjson is the stricter one): valid UTF-8 JSON.
        def dumps(obj: Any) -> str:
            return fast.dumps(obj).decode()
    else:
        def dumps(obj: Any) -> str:
            return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    errors: list[dict[str, Any]] = []
    out: list[tuple[str, str]] = []
    for index, obj in enumerate(items):
        try:
            validate(obj, location=None if single else f"[{index}]")
            # A single event is stored as received when it is plain UTF-8 JSON; array items are re-encoded.
            text = body.decode("utf-8") if single and by_orjson else dumps(obj)
            out.append((event_key(obj), text))
        except InvalidEventError as exc:
            errors.append({"index": index, "field": exc.field, "reason": exc.reason})
        except (RecursionError, ValueError, TypeError) as exc:
            # Only InvalidEventError is expected; anything else is still the input's fault.
            errors.append({"index": index, "field": None, "reason": f"cannot read event: {type(exc).__name__}: {exc}"})
    if errors:
        first = errors[0]
        prefix = "" if single else f"event [{first['index']}]: "
        raise _Refused(
            422,
            "invalid_event",
            prefix + first["reason"],
            field=first["field"],
            errors=errors if not single else None,
        )
    return out


class _GroupCommit:
    """Makes the spool writes of concurrent requests durable together.

    Requests add their events to a batch on the event loop (no lock: only the loop touches
    it) and wait on an asyncio future. Once per loop iteration -- after every request whose
    bytes arrived in that iteration has been validated -- the batch is written to the spool
    in one transaction, right there on the loop, without flushing it (tens of microseconds,
    no thread hand-off). The flush thread then fdatasyncs the write-ahead log and answers
    those requests with one wake-up of the loop. While a flush runs the loop keeps reading
    and validating; what arrives meanwhile is written in one transaction as soon as the
    flush returns, and flushed next, so a flush's cost is shared by many requests under
    load. Nothing is acknowledged before the flush after its write returned: the durability
    of ``synchronous=FULL`` (see :meth:`bridge.spool.Spool.sync_wal`). With
    ``synchronous=NORMAL`` requests are answered once written, and the flush thread flushes
    what was written at most :data:`BACKGROUND_FLUSH_EVERY` seconds later.

    The loop never waits for a lock: when the delivery side holds the database (its
    transactions are short and rare), the batch goes to the commit thread instead, which
    waits for it and commits durably; later batches follow it there until it is idle, so a
    request is never committed before an earlier one.
    """

    def __init__(self, service: SpoolService) -> None:
        self.service = service
        self.batch: list[tuple[str, str]] = []
        self.batch_waiters: list[tuple[asyncio.Future, int]] = []
        self.scheduled = False
        self.in_thread = 0  # batches handed to the commit thread and not answered yet (loop-side count)
        self.flushing = False  # a write of the loop's is being flushed (loop-side)
        # With synchronous=NORMAL (survives kill -9) a request does not wait for the flush.
        self.flush = service.synchronous.upper() != "NORMAL"
        self.lock = threading.Lock()
        self.items: list[tuple[str, str]] = []
        self.waiters: list[tuple[asyncio.Future, int]] = []
        self.handed = 0  # batches in self.items (under self.lock)
        self.pending = threading.Event()
        self.unflushed: list[tuple[asyncio.Future, int]] = []  # written, waiting for a flush (under self.lock)
        self.flush_pending = threading.Event()
        self.flush_error: str | None = None  # the last flush's error; None once one works again
        self.thread = threading.Thread(target=self._run, name="spool-commit", daemon=True)
        self.thread.start()
        self.flusher = threading.Thread(target=self._flush_loop, name="spool-flush", daemon=True)
        self.flusher.start()

    def add(self, items: list[tuple[str, str]]) -> asyncio.Future:
        """Queue ``items``; the returned future resolves to their count once they are durable."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.batch += items
        self.batch_waiters.append((future, len(items)))
        if not self.scheduled:
            # Runs after the callbacks already queued: the other requests read in this iteration.
            self.scheduled = True
            loop.call_soon(self._write)
        return future

    def _write(self) -> None:
        self.scheduled = False
        if self.flushing and not self.in_thread:
            return  # written together right after the flush in flight (see _flushed)
        batch, waiters = self.batch, self.batch_waiters
        if not waiters:
            return
        self.batch, self.batch_waiters = [], []
        if not self.in_thread:
            try:
                written = self.service.append_now(batch, wait=False, sync=not self.flush)
            except Exception as exc:  # noqa: BLE001 - every waiting request answers 503 with it
                _answer(waiters, exc)
                return
            if written is not None and not self.flush:
                _answer(waiters, None)  # synchronous=NORMAL: committed is all that was asked for
                self.flush_pending.set()  # ... and flushed in the background
                return
            if written is not None:
                self.flushing = True
                with self.lock:
                    self.unflushed += waiters
                self.flush_pending.set()
                return
        self.in_thread += 1
        with self.lock:
            self.items += batch
            self.waiters += waiters
            self.handed += 1
        self.pending.set()

    def _flushed(self, waiters: list[tuple[asyncio.Future, int]], error: BaseException | None) -> None:
        self.flushing = False
        _answer(waiters, error)
        self._write()  # what arrived during the flush: one write, and the next flush at once

    def _flush_loop(self) -> None:
        while not self.service.stopped:
            if not self.flush_pending.wait(1.0):
                continue
            if not self.flush:
                self._flush_in_background()
                continue
            with self.lock:
                # Everything in this list was written before the flush below starts.
                waiters, self.unflushed = self.unflushed, []
                self.flush_pending.clear()
            if not waiters:
                continue
            # A failed flush: not durable, so every waiting request answers 503.
            if not self._reply(waiters, self._sync(), flushed=True):
                return

    def _sync(self) -> BaseException | None:
        """fdatasync the write-ahead log; returns the error, also kept in :attr:`flush_error` for /readyz."""
        try:
            self.service.sync_wal()
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            self.service.metrics.inc("wal_flush_errors")
            self.flush_error = f"{type(exc).__name__}: {exc}"
            return exc
        self.service.metrics.inc("wal_flushes")
        self.flush_error = None
        return None

    def _flush_in_background(self) -> None:
        """``synchronous=NORMAL``: flush what was committed (already answered), then rest a moment."""
        self.flush_pending.clear()
        failing = self.flush_error is not None
        if self._sync() is not None:
            # The requests were answered already: say so loudly, once (and /readyz says 503 until a
            # flush works again).
            if not failing:
                log.error("spool flush failed: acknowledged events are not on disk yet",
                          extra=log_fields(error=self.flush_error))
            self.flush_pending.set()  # try again after the pause
        elif failing:
            log.warning("spool flush works again")
        time.sleep(BACKGROUND_FLUSH_EVERY)

    def _answer_from_thread(self, waiters: list[tuple[asyncio.Future, int]], error: BaseException | None,
                            batches: int) -> None:
        self.in_thread -= batches
        _answer(waiters, error)

    def _reply(self, waiters: list[tuple[asyncio.Future, int]], error: BaseException | None,
               batches: int = 0, *, flushed: bool = False) -> bool:
        loop = waiters[0][0].get_loop()
        try:
            if flushed:
                loop.call_soon_threadsafe(self._flushed, waiters, error)
            else:
                loop.call_soon_threadsafe(self._answer_from_thread, waiters, error, batches)
        except RuntimeError:
            return False  # the loop is closed: the server is gone
        return True

    def _run(self) -> None:
        while not self.service.stopped:
            if not self.pending.wait(1.0):
                continue
            with self.lock:
                items, waiters, batches = self.items, self.waiters, self.handed
                self.items, self.waiters, self.handed = [], [], 0
                self.pending.clear()
            if not waiters:
                continue
            try:
                self.service.append_now(items)
                error: BaseException | None = None
                if not self.flush:
                    self.flush_pending.set()
            except Exception as exc:  # noqa: BLE001 - every waiting request answers 503 with it
                error = exc
            if not self._reply(waiters, error, batches):
                return


def _answer(waiters: list[tuple[asyncio.Future, int]], error: BaseException | None) -> None:
    for future, count in waiters:
        if future.done():
            continue
        if error is None:
            future.set_result(count)
        else:
            future.set_exception(error)


def create_app(service: SpoolService | None, settings: ServeSettings, *, metrics: Metrics | None = None) -> Any:
    """Build the ASGI app.

    Args:
        service: the running spool service events go to (``None`` only with ``noop_route`` for benchmarks).
        settings: token, body limit, routes.
        metrics: the registry to update and expose; the service's by default.

    Returns:
        A Starlette application.
    """
    require("starlette", "serve")
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from translators.openlineage import validate_event

    fast_json: Any
    try:
        import orjson as fast_json
    except ImportError:  # optional: the standard library decodes the same bodies, slower
        fast_json = None

    metrics = metrics or (service.metrics if service else Metrics())
    # Only the probes and the no-op route exist without a service (see the routes below).
    svc = cast(SpoolService, service)
    group_commit = _GroupCommit(svc) if service is not None else None
    limit = settings.max_body_bytes
    ready_cache: dict[str, Any] = {"at": 0.0, "emitter": None}

    def refused(exc: _Refused) -> Response:
        body = {k: v for k, v in exc.body.items() if v is not None or k in ("field", "reason")}
        headers = {"WWW-Authenticate": 'Bearer realm="lineage-bridge"'} if exc.status == 401 else None
        return JSONResponse(body, status_code=exc.status, headers=headers)

    async def lineage(request: Any) -> Response:
        started = time.perf_counter()
        try:
            _check_token(request.headers, settings.token)
            body = _decode(await _read_body(request, limit), request.headers.get("content-encoding"), limit)
            items = _parse(body, validate_event, fast_json)
        except _Refused as exc:
            metrics.reject(exc.body["error"])
            if exc.status in (401, 403):
                log.info("request refused", extra=log_fields(status=exc.status, client=_client(request)))
            return refused(exc)
        metrics.inc("received", len(items))
        try:
            await cast(_GroupCommit, group_commit).add(items)
        except Exception as exc:  # noqa: BLE001 - the spool failed: the producer must retry
            log.error("spool write failed", extra=log_fields(error=str(exc), events=len(items)))
            return JSONResponse(
                {"error": "spool_unavailable", "field": None, "reason": f"could not store the events: {exc}"},
                status_code=503,
            )
        metrics.observe_acceptance(time.perf_counter() - started)
        return JSONResponse({"accepted": len(items)}, status_code=201)

    async def noop(request: Any) -> Response:
        try:
            _check_token(request.headers, settings.token)
            await _read_body(request, limit)
        except _Refused as exc:
            return refused(exc)
        return JSONResponse({"accepted": 1}, status_code=201)

    async def validate_only(request: Any) -> Response:
        try:
            _check_token(request.headers, settings.token)
            body = _decode(await _read_body(request, limit), request.headers.get("content-encoding"), limit)
            items = _parse(body, validate_event, fast_json)
        except _Refused as exc:
            return refused(exc)
        return JSONResponse({"accepted": len(items)}, status_code=201)

    async def healthz(request: Any) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Any) -> Response:
        checks: dict[str, str] = {}
        ok = True
        try:
            await asyncio.wait_for(asyncio.to_thread(cast(Any, svc.spool).check_writable), 5)
            checks["spool"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["spool"] = f"not writable: {exc or type(exc).__name__}"
            ok = False
        flush_error = cast(_GroupCommit, group_commit).flush_error
        if flush_error is not None and ok:
            checks["spool"] = f"write-ahead log flush failing: {flush_error}"
            ok = False
        now = time.monotonic()
        if now - ready_cache["at"] > 5 or ready_cache["emitter"] != "ok":
            try:
                await asyncio.wait_for(asyncio.to_thread(svc.check_emitter), 10)
                ready_cache["emitter"] = "ok"
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                ready_cache["emitter"] = f"unreachable: {exc or type(exc).__name__}"
            ready_cache["at"] = now
        checks["emitter"] = ready_cache["emitter"]
        ok = ok and checks["emitter"] == "ok"
        checks["delivery"] = "paused (destination failing)" if svc.delivery_paused else "running"
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    async def metrics_route(request: Any) -> Response:
        text = await asyncio.to_thread(metrics.render)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [Route(path, lineage, methods=["POST"]) for path in LINEAGE_ROUTES] if service is not None else []
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
    ]
    if service is not None:
        routes.append(Route("/readyz", readyz, methods=["GET"]))
    if settings.noop_route:
        routes.append(Route(NOOP_ROUTE, noop, methods=["POST"]))
        routes.append(Route(VALIDATE_ROUTE, validate_only, methods=["POST"]))
    return Starlette(routes=routes)


def _client(request: Any) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "unknown"
