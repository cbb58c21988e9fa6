"""Running the intake app under uvicorn: in the foreground (``bridge serve``) or in a thread."""

from __future__ import annotations

import errno
import logging
import resource
import signal
import socket
import ssl
import sys
import threading
import time
from typing import Any

import attrs

from bridge.config import BridgeConfig
from bridge.errors import BridgeError, ConfigError, require
from bridge.intake._app import create_app
from bridge.intake._protocol import guarded_protocol
from bridge.intake._settings import ServeSettings
from bridge.logs import log_fields
from bridge.spool import Metrics, SpoolService

__all__ = ["BackgroundServer", "build_server", "serve"]

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _fast(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def _check_tls(settings: ServeSettings) -> None:
    """Load the certificate and key once up front, so a bad pair is a clear error, not a traceback."""
    if not settings.tls_cert:
        return
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot use {settings.tls_cert} / its key for HTTPS: {exc}", key="serve.tls_cert") from exc


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


#: File descriptors kept for everything but connections (the spool, its WAL, the emitter's sockets...).
_SPARE_FDS = 256


def _connection_limit(settings: ServeSettings) -> ServeSettings:
    """``max_connections``, raising the soft file-descriptor limit for it, or lowering it to fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = settings.max_connections + _SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        fits = max(16, soft - _SPARE_FDS)
        log.warning("fewer connections than asked: the file-descriptor limit is low",
                    extra=log_fields(max_connections=settings.max_connections, allowed=fits, nofile=soft))
        return attrs.evolve(settings, max_connections=fits)
    return settings


def listen(settings: ServeSettings) -> socket.socket:
    """The server's socket, bound to ``settings.host``/``port`` (uvicorn listens on it).

    Raises:
        ConfigError: the address cannot be bound (the port is in use, a privileged port, an address
            this machine does not have), saying which and what to do.
    """
    try:
        family = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}", key="serve.host") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        hint = {errno.EADDRINUSE: ": another process listens there; stop it or choose another --port",
                errno.EACCES: ": ports below 1024 need privileges; choose another --port",
                errno.EADDRNOTAVAIL: ": this machine has no such address; check --host"}.get(exc.errno or 0, "")
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}{hint}",
                          key="serve.port") from exc
    return sock


def build_server(app: Any, settings: ServeSettings, metrics: Metrics | None = None) -> Any:
    """A ``uvicorn.Server`` for ``app``: httptools behind the connection guards (see
    :mod:`bridge.intake._protocol`), uvloop when installed.

    Args:
        metrics: where the guards count what they refuse, and the open connections are read.

    Raises:
        ConfigError: the TLS certificate or key cannot be used.
    """
    uvicorn = require("uvicorn", "serve")
    require("httptools", "serve")
    _check_tls(settings)
    settings = _connection_limit(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if _fast("uvloop") else "asyncio",
        http=guarded_protocol(settings, metrics),
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=30,
        backlog=2048,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )
    server = uvicorn.Server(config)
    if metrics is not None:
        metrics.gauge("bridge_http_connections", "Open HTTP connections.", lambda: len(server.server_state.connections))
    return server


def serve(config: BridgeConfig, settings: ServeSettings, *, service: SpoolService | None = None) -> None:
    """Run ``bridge serve`` in the foreground until SIGINT/SIGTERM, then drain and stop.

    Events go to the spool (delivered by ``service``'s workers), or with ``settings.to_topic`` to that
    Kafka topic, keeping nothing locally.

    Raises:
        ConfigError: bad settings, or the state directory is owned by another process.
    """
    # The event loop and the threads behind it (spool writer and delivery workers, or the producer's
    # poller) share the GIL; a short switch interval keeps acknowledgements prompt.
    sys.setswitchinterval(0.0005)
    if settings.to_topic:
        from bridge.intake._topic import TopicSink

        sink = TopicSink(settings).start()
        try:
            run_foreground(create_app(None, settings, sink=sink), settings, sink.metrics,
                           topic=settings.to_topic, bootstrap=settings.topic_bootstrap, spool="none (--to-topic)")
        finally:
            sink.close()
        return
    service = service or SpoolService(
        config, delivery=settings.delivery, synchronous=settings.synchronous,
        deliver="process" if settings.delivery_process else "thread",
    )
    service.start()
    try:
        run_foreground(create_app(service, settings), settings, service.metrics, emitter=config.emitter,
                       state_dir=config.state_dir, synchronous=settings.synchronous.upper())
    finally:
        service.stop()


def run_foreground(app: Any, settings: ServeSettings, metrics: Metrics | None, *, what: str = "bridge serve",
                   **describe: Any) -> None:
    """Serve ``app`` until SIGINT/SIGTERM, then return (exit status 0, whichever signal stopped it).

    ``what`` names the server in the start-up line; ``describe``: what that line says about where events go.

    Raises:
        BridgeError: it could not listen (the port is in use, say).
    """
    server = build_server(app, settings, metrics)
    sock = listen(settings)
    log.info(
        f"{what} listening",
        extra=log_fields(url=settings.url, **describe, auth="token" if settings.token else "none"),
    )
    if settings.token and not settings.tls_cert and not _is_loopback(settings.host):
        log.warning("producers send the bearer token in clear text: serve HTTPS (--tls-cert, --tls-key) "
                    "or put a TLS proxy in front", extra=log_fields(host=settings.host))
    # uvicorn re-raises the signal that stopped it once it has shut down; catch it so the
    # spool (or the producer) is closed cleanly (workers finish their round, memory is persisted).
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in _SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        raise BridgeError(f"could not listen on {settings.host}:{settings.port} (is the port in use?)")


class ThreadedServer:
    """A uvicorn server running ``app`` in a daemon thread (see :meth:`start`); :meth:`stop` ends it."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @classmethod
    def start(cls, app: Any, settings: ServeSettings, *, timeout: float = 20.0,
              metrics: Metrics | None = None) -> ThreadedServer:
        """Start serving ``app`` and return once it listens.

        Raises:
            BridgeError: it did not start listening within ``timeout`` seconds (the port is taken, say).
        """
        server = build_server(app, settings, metrics)
        sock = listen(settings)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="bridge-http", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise BridgeError(f"could not listen on {settings.host}:{settings.port} (is the port in use?)")
            time.sleep(0.01)
        return cls(server, thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


class BackgroundServer:
    """``bridge serve`` in a background thread (for tests and embedding); ``.service`` is the spool
    service, or with ``settings.to_topic`` ``.sink`` the Kafka sink.

    Usage::

        with BackgroundServer(config, settings) as server:
            requests.post(server.url + "/api/v1/lineage", json=event)
    """

    def __init__(self, config: BridgeConfig, settings: ServeSettings, *, service: SpoolService | None = None) -> None:
        self.settings = settings
        self.sink: Any = None  # with settings.to_topic: the TopicSink, and no service
        self.service: Any = None
        if not settings.to_topic:
            self.service = service or SpoolService(config, delivery=settings.delivery,
                                                   synchronous=settings.synchronous)
        self._http: ThreadedServer | None = None

    @property
    def url(self) -> str:
        return self.settings.url

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        if self.service is None:
            from bridge.intake._topic import TopicSink

            self.sink = TopicSink(self.settings).start()
            app, metrics = create_app(None, self.settings, sink=self.sink), self.sink.metrics
        else:
            self.service.start()
            app, metrics = create_app(self.service, self.settings), self.service.metrics
        try:
            self._http = ThreadedServer.start(app, self.settings, timeout=timeout, metrics=metrics)
        except BridgeError:
            self._close()
            raise
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None
        self._close()

    def _close(self) -> None:
        if self.service is not None:
            self.service.stop()
        if self.sink is not None:
            self.sink.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
