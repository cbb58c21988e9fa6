"""Configuration of the Kafka emitter, in the shape of DataHub's ``KafkaEmitterConfig``.

A DataHub user's ``datahub-kafka`` sink settings carry over unchanged::

    {
      "connection": {
        "bootstrap": "broker:9092",
        "schema_registry_url": "http://schema-registry:8081",
        "schema_registry_config": {"basic.auth.user.info": "user:secret"},
        "producer_config": {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", ...}
      },
      "topic_routes": {"MetadataChangeProposal": "MetadataChangeProposal_v1"}
    }

The connection keys may also be given at the top level (``bootstrap``,
``schema_registry_url``, ...), which is what flat config files and CLI flags
produce. Settings of our own (``schema_registration``,
``delivery_timeout_seconds``, ``max_queue_full_block_seconds``) sit at the top
level.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.config import http_url
from bridge.errors import ConfigError, unknown_settings

__all__ = [
    "DEFAULT_MCP_TOPIC",
    "MCP_ROUTE",
    "KafkaConnectionConfig",
    "KafkaEmitterConfig",
]

MCP_ROUTE = "MetadataChangeProposal"
MCE_ROUTE = "MetadataChangeEvent"
DEFAULT_MCP_TOPIC = "MetadataChangeProposal_v1"
REGISTRATION_MODES = ("register", "lookup")

_CONNECTION_KEYS = (
    "bootstrap",
    "schema_registry_url",
    "schema_registry_config",
    "producer_config",
    "client_timeout_seconds",
)


def _frozen_mapping(value: Any, key: str) -> Mapping[str, Any]:
    if value is None:
        return types.MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, got {type(value).__name__}", key=key)
    return types.MappingProxyType({str(k): v for k, v in value.items()})


def _registry_settings(value: Any) -> Mapping[str, Any]:
    return _frozen_mapping(value, "connection.schema_registry_config")


def _producer_settings(value: Any) -> Mapping[str, Any]:
    return _frozen_mapping(value, "connection.producer_config")


def _bootstrap(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("is required, e.g. 'broker:9092' or 'b1:9092,b2:9092'", key="connection.bootstrap")
    servers = [s.strip() for s in value.split(",") if s.strip()]
    for server in servers:
        # Tolerate a scheme (``PLAINTEXT://host:9092``), as librdkafka does.
        address = server.split("://", 1)[-1]
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"{server!r} is not HOST:PORT", key="connection.bootstrap")
    return ",".join(servers)


def _registry_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("is required, e.g. 'http://localhost:8081'", key="connection.schema_registry_url")
    # each URL checked as every URL setting is (http:// added when no scheme is given)
    urls = [http_url(u, key="connection.schema_registry_url").rstrip("/") for u in value.split(",") if u.strip()]
    return ",".join(urls)


def _positive(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected a number of seconds, got {value!r}", key=key) from None
    if isinstance(value, bool) or number <= 0:
        raise ConfigError(f"must be > 0, got {value!r}", key=key)
    return number


def _client_timeout(value: Any) -> float:
    return _positive(value, "connection.client_timeout_seconds")


def _delivery_timeout(value: Any) -> float:
    return _positive(value, "delivery_timeout_seconds")


def _queue_block(value: Any) -> float:
    return _positive(value, "max_queue_full_block_seconds")


def _registration(value: Any) -> str:
    mode = str(value).strip().lower()
    if mode not in REGISTRATION_MODES:
        raise ConfigError(
            f"expected 'register' (register the schema on first use) or 'lookup' (only look up an "
            f"already registered schema, for read-only registries), got {value!r}",
            key="schema_registration",
        )
    return mode


def _topic_routes(value: Any) -> Mapping[str, str]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, got {type(value).__name__}", key="topic_routes")
    routes = {str(k): str(v) for k, v in value.items() if v}
    routes.setdefault(MCP_ROUTE, DEFAULT_MCP_TOPIC)
    return types.MappingProxyType(routes)


@attrs.frozen(kw_only=True)
class KafkaConnectionConfig:
    """Where the broker and the Schema Registry are, as DataHub's ``KafkaProducerConnectionConfig``.

    Args:
        bootstrap: ``bootstrap.servers``: ``host:port[,host:port...]``.
        schema_registry_url: the Schema Registry base URL (comma-separated for several).
        schema_registry_config: more settings for confluent-kafka's ``SchemaRegistryClient``
            (``basic.auth.user.info``, ``ssl.ca.location``, ``timeout``, ``max.retries``, ...).
        producer_config: librdkafka producer settings; they override ours (SASL/SSL pass through).
        client_timeout_seconds: timeout of the Schema Registry's HTTP requests and of
            ``test_connection``'s metadata request.
    """

    bootstrap: str = attrs.field(default="localhost:9092", converter=_bootstrap)
    schema_registry_url: str = attrs.field(default="http://localhost:8081", converter=_registry_url)
    # repr=False: these commonly carry passwords (sasl.password, basic.auth.user.info).
    schema_registry_config: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_registry_settings, repr=False
    )
    producer_config: Mapping[str, Any] = attrs.field(factory=dict, converter=_producer_settings, repr=False)
    client_timeout_seconds: float = attrs.field(default=10.0, converter=_client_timeout)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KafkaConnectionConfig:
        """Build from a dict; ``None`` values mean "use the default".

        Raises:
            ConfigError: an unknown key or a bad value; the error names the key.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a mapping, got {type(data).__name__}", key="connection")
        values = {k: v for k, v in data.items() if v is not None}
        unknown = sorted(set(values) - set(_CONNECTION_KEYS))
        if unknown:
            raise ConfigError(unknown_settings(unknown, _CONNECTION_KEYS), key="connection")
        return cls(**values)


@attrs.frozen(kw_only=True)
class KafkaEmitterConfig:
    """Everything the Kafka emitter needs. Build it with :meth:`from_dict`.

    Args:
        connection: broker, Schema Registry and client settings.
        topic_routes: ``{"MetadataChangeProposal": topic}``; the value subject is ``<topic>-value``.
        schema_registration: ``register`` (default) registers DataHub's MCP schema on first
            use; ``lookup`` only looks up its id, for read-only registries.
        delivery_timeout_seconds: how long a message may wait for the broker (librdkafka's
            ``message.timeout.ms``) before it is reported failed; also bounds ``flush()``.
            ``producer_config`` ``message.timeout.ms``/``delivery.timeout.ms`` win over it.
        max_queue_full_block_seconds: how long ``emit`` waits for room when the local
            producer queue is full before raising :class:`~bridge.errors.QueueFullError`.
    """

    connection: KafkaConnectionConfig = attrs.field(factory=KafkaConnectionConfig)
    topic_routes: Mapping[str, str] = attrs.field(factory=dict, converter=_topic_routes)
    schema_registration: str = attrs.field(default="register", converter=_registration)
    delivery_timeout_seconds: float = attrs.field(default=60.0, converter=_delivery_timeout)
    max_queue_full_block_seconds: float = attrs.field(default=30.0, converter=_queue_block)

    @property
    def mcp_topic(self) -> str:
        """The topic MCPs go to."""
        return self.topic_routes[MCP_ROUTE]

    @classmethod
    def parse_obj(cls, data: Mapping[str, Any] | None) -> KafkaEmitterConfig:
        """DataHub's (pydantic) name for :meth:`from_dict`."""
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> KafkaEmitterConfig:
        """Build from DataHub's ``KafkaEmitterConfig`` dict shape (or the flat form).

        ``None`` values mean "use the default"; ``kind`` is ignored.

        Raises:
            ConfigError: an unknown key or a bad value; the error names the key.
        """
        data = dict(data or {})
        data.pop("kind", None)
        values = {k: v for k, v in data.items() if v is not None}
        given = values.pop("connection", None) or {}
        if not isinstance(given, Mapping):
            raise ConfigError(f"expected a mapping, got {type(given).__name__}", key="connection")
        connection = dict(given)
        for key in _CONNECTION_KEYS:
            if key in values:
                flat = values.pop(key)
                if connection.get(key) is None:
                    connection[key] = flat
        known = {f.name for f in attrs.fields(cls)} - {"connection"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(unknown_settings(unknown, known | {"connection", *_CONNECTION_KEYS}), key="kafka")
        return cls(connection=KafkaConnectionConfig.from_dict(connection), **values)
