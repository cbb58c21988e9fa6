"""``bridge serve`` settings: the ``[serve]`` table of the config file and the command's flags."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError
from bridge.spool import DeliveryConfig
from bridge.ui import JOURNAL_BYTES, JOURNAL_EVENTS

__all__ = ["BACKGROUND_FLUSH_EVERY", "FIXED_PRODUCER_SETTINGS", "ServeSettings", "producer_settings"]

#: With ``synchronous=NORMAL``, the longest a commit stays in the page cache before its flush starts.
BACKGROUND_FLUSH_EVERY = 0.01

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
#: Producer settings ``--to-topic`` fixes: a 201 means every replica the topic requires has the event,
#: and a retried produce never writes it twice.
FIXED_PRODUCER_SETTINGS = {"enable.idempotence": ("true", "1"), "acks": ("all", "-1")}
#: Ours, under the user's producer_config; idempotence and acks=all go on top of both (see
#: FIXED_PRODUCER_SETTINGS). Topics are never auto-created with broker defaults behind the operator's back.
_PRODUCER_DEFAULTS: dict[str, Any] = {
    # Under openlineage-python's 5 s HTTP timeout: a client hears 503 (and retries) rather than timing out.
    "message.timeout.ms": 4_000,
    "linger.ms": 0,  # a request waits for its ack: no lingering; under load, batches form behind those in flight
    "compression.type": "lz4",
    "allow.auto.create.topics": False,
    "client.id": "lineage-bridge-serve",
}


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
        max_batch_events: most events one JSON array may hold (413 above it, saying the limit and the
            count, before any event is checked), so one request's work is bounded.
        max_header_bytes: largest request line plus headers (431 above it, before they are kept).
        header_timeout: seconds a connection may take from opening (or from a request's first byte)
            to the end of its headers; idle new connections and slow senders are closed after it.
        body_timeout: seconds a request may take to send its body once its headers are read (408).
        max_connections: open connections at once; the ones over it are closed as they come (and
            the limit is lowered to what the process's file-descriptor limit allows).
        max_connections_per_client: open connections at once from one remote IP address (503 over
            it), so one client's idle or slow connections cannot take all of ``max_connections``.
            Behind a proxy or load balancer every connection comes from its address: raise this to
            ``max_connections`` there.
        to_topic: produce accepted events to this Kafka topic instead of the local spool, and answer
            201 once the broker acknowledged them (``bridge consume`` workers deliver them); nothing
            is kept locally, so the delivery settings and the state directory are not used.
        topic_bootstrap: the bootstrap servers of ``to_topic``'s cluster (``HOST:PORT[,...]``).
        journal_events: most events the status page's journal keeps (``<state_dir>/journal.sqlite3``).
        journal_bytes: most bytes of event JSON it keeps (the newest event is kept whatever its size).
        producer_config: librdkafka producer settings for ``to_topic`` (SASL, TLS,
            ``message.timeout.ms``: how long a request waits for the broker before its 503, 4 s
            by default). Never logged. ``enable.idempotence`` and ``acks=all`` cannot be changed.
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
    max_batch_events: int = attrs.field(default=10_000, converter=int)
    max_header_bytes: int = attrs.field(default=64 * 1024, converter=int)
    header_timeout: float = attrs.field(default=10.0, converter=float)
    body_timeout: float = attrs.field(default=60.0, converter=float)
    max_connections: int = attrs.field(default=1000, converter=int)
    max_connections_per_client: int = attrs.field(default=100, converter=int)
    journal_events: int = attrs.field(default=JOURNAL_EVENTS, converter=int)
    journal_bytes: int = attrs.field(default=JOURNAL_BYTES, converter=int)
    to_topic: str | None = None
    topic_bootstrap: str | None = None
    producer_config: Mapping[str, Any] = attrs.field(factory=dict, converter=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        for key, least in (("max_body_bytes", 1024), ("max_event_bytes", 1024), ("max_header_bytes", 1024),
                           ("header_timeout", 0.1), ("body_timeout", 0.1), ("max_connections", 1),
                           ("max_connections_per_client", 1), ("max_batch_events", 1), ("journal_events", 1),
                           ("journal_bytes", 1)):
            if getattr(self, key) < least:
                raise ConfigError(f"must be at least {least}, got {getattr(self, key)}", key=f"serve.{key}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("HTTPS needs both tls_cert and tls_key", key="serve.tls_cert")
        for key in ("tls_cert", "tls_key"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                raise ConfigError(f"no such file: {path}", key=f"serve.{key}")
        self._check_topic()

    def _check_topic(self) -> None:
        if not self.to_topic:
            if self.topic_bootstrap or self.producer_config:
                raise ConfigError("topic_bootstrap and producer_config are settings of to_topic (--to-topic), "
                                  "which is not set", key="serve.to_topic")
            return
        if not _TOPIC_NAME.fullmatch(self.to_topic) or self.to_topic in (".", ".."):
            raise ConfigError(f"{self.to_topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-')",
                              key="serve.to_topic")
        if not self.topic_bootstrap:
            raise ConfigError("to_topic needs the Kafka bootstrap servers (--topic-bootstrap HOST:PORT)",
                              key="serve.topic_bootstrap")
        if "bootstrap.servers" in self.producer_config:
            raise ConfigError("give the bootstrap servers as topic_bootstrap (--topic-bootstrap)",
                              key="serve.producer_config")
        for name, allowed in FIXED_PRODUCER_SETTINGS.items():
            value = self.producer_config.get(name)
            if value is not None and str(value).lower() not in allowed:
                raise ConfigError(f"{name} is always {allowed[0]} with to_topic: a 201 must mean the broker "
                                  "has the event, written once", key="serve.producer_config")

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
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad setting: {exc}", key="serve") from exc


def producer_settings(settings: ServeSettings) -> dict[str, Any]:
    """The producer's librdkafka settings: our defaults, the user's ``producer_config``, then the
    idempotent producer with ``acks=all`` that a 201 relies on."""
    from emitters.kafka.producer import NO_LOSS  # (the Kafka emitter's package: only when producing)

    config: dict[str, Any] = {"bootstrap.servers": settings.topic_bootstrap, **_PRODUCER_DEFAULTS}
    if "delivery.timeout.ms" in settings.producer_config:  # (librdkafka's alias)
        del config["message.timeout.ms"]
    config.update(settings.producer_config)
    config.update(NO_LOSS)
    return config
