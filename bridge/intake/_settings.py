"""``bridge serve`` settings: the ``[serve]`` table of the config file and the command's flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError
from bridge.spool import DeliveryConfig

__all__ = ["BACKGROUND_FLUSH_EVERY", "ServeSettings"]

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
        max_event_bytes: largest single event, as stored (422 above it, naming the event).
        max_header_bytes: largest request line plus headers (431 above it, before they are kept).
        header_timeout: seconds a connection may take from opening (or from a request's first byte)
            to the end of its headers; idle new connections and slow senders are closed after it.
        body_timeout: seconds a request may take to send its body once its headers are read (408).
        max_connections: open connections at once; the ones over it are closed as they come (and
            the limit is lowered to what the process's file-descriptor limit allows).
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
    max_event_bytes: int = attrs.field(default=8 * 1024 * 1024, converter=int)
    max_header_bytes: int = attrs.field(default=64 * 1024, converter=int)
    header_timeout: float = attrs.field(default=10.0, converter=float)
    body_timeout: float = attrs.field(default=60.0, converter=float)
    max_connections: int = attrs.field(default=1000, converter=int)

    def __attrs_post_init__(self) -> None:
        for key, least in (("max_body_bytes", 1024), ("max_event_bytes", 1024), ("max_header_bytes", 1024),
                           ("header_timeout", 0.1), ("body_timeout", 0.1), ("max_connections", 1)):
            if getattr(self, key) < least:
                raise ConfigError(f"must be at least {least}, got {getattr(self, key)}", key=f"serve.{key}")
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
