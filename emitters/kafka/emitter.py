"""The Kafka emitter: DataHub ``MetadataChangeProposal`` Avro records on ``MetadataChangeProposal_v1``.

Drop-in for DataHub's ``DatahubKafkaEmitter``: same config shape, same topic,
same Avro schema and Schema Registry subject (``<topic>-value``), key = entity
URN. ``emit`` hands the message to librdkafka and returns; delivery reports
arrive through ``callback(error, message)`` when the producer is polled
(regularly by ``emit`` and by ``flush``).

Nothing is lost silently: a message is either delivered, or reported failed
through its callback *and* counted by the next ``flush()``, which raises
:class:`~bridge.errors.UndeliveredError` with the count and the first errors.
Every wait is bounded: a full local queue by ``max_queue_full_block_seconds``,
delivery by ``delivery_timeout_seconds`` (librdkafka's ``message.timeout.ms``),
Schema Registry calls by ``client_timeout_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from bridge.errors import (
    AuthError,
    BridgeError,
    ConfigError,
    ConnectionFailedError,
    DeliveryError,
    QueueFullError,
    UndeliveredError,
    require,
)
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Callback, Destination, Emitter, as_mcp, deliver_at_exit
from emitters.breaker import naming

from .avro import MCPAvroEncoder, confluent_header, load_mcp_schema
from .config import KafkaEmitterConfig
from .producer import delivery_timeout_ms, kafka_error, producer_settings
from .registry import SchemaIdResolver, registry_client_config
from .reports import AUTH_ERRORS, ClientErrors, DeliveryLedger, LibrdkafkaLog, Unsent, call_safely

__all__ = ["KafkaEmitter"]

log = logging.getLogger(__name__)

# Serve delivery reports every this many emits, or when this many seconds have
# passed: polling on every message costs more than the produce itself.
_POLL_EVERY = 512
_POLL_INTERVAL = 0.1


class KafkaEmitter(Emitter):
    """Produces MCPs to Kafka as DataHub's Avro ``MetadataChangeProposal``.

    Args:
        config: a :class:`~emitters.kafka.KafkaEmitterConfig` (or use ``from_config(dict)``).

    The constructor does no network IO: the producer and the Schema Registry
    client start on first use.
    """

    kind = "kafka"
    config_class = KafkaEmitterConfig

    def __init__(self, config: KafkaEmitterConfig) -> None:
        if not isinstance(config, KafkaEmitterConfig):
            raise ConfigError(f"expected a KafkaEmitterConfig, got {type(config).__name__}", key="kafka")
        self.config = config
        self.topic = config.mcp_topic
        self.subject = f"{self.topic}-value"
        self._bootstrap = config.connection.bootstrap
        self._settings = producer_settings(config)
        self._resolver = SchemaIdResolver(
            url=config.connection.schema_registry_url,
            client_config=registry_client_config(
                config.connection.schema_registry_url,
                config.connection.schema_registry_config,
                config.connection.client_timeout_seconds,
            ),
            schema_text=load_mcp_schema(),
            mode=config.schema_registration,
        )
        self._producer: Any = None
        self._encoder: MCPAvroEncoder | None = None
        self._header: bytes | None = None
        self._start_lock = threading.Lock()
        self._client_errors = ClientErrors(self._bootstrap)
        self._ledger: DeliveryLedger | None = None
        self._since_poll = 0
        self._last_poll = 0.0
        self._closed = False
        self._cancel_exit_flush: Callable[[], None] = lambda: None

    # -- lifecycle -------------------------------------------------------

    def _start(self) -> Any:
        """Create the producer and the encoder (first use only)."""
        with self._start_lock:
            if self._producer is not None:
                return self._producer
            if self._closed:
                raise DeliveryError("the Kafka emitter is closed")
            ck = require("confluent_kafka", "kafka")
            encoder = self._encoder = MCPAvroEncoder()
            ledger = self._ledger = DeliveryLedger(
                topic=self.topic,
                bootstrap=self._bootstrap,
                client_errors=self._client_errors,
                decode=encoder.decode,
            )
            settings = dict(self._settings)
            settings.setdefault("on_delivery", ledger.on_delivery)
            settings.setdefault("error_cb", self._client_errors)
            settings.setdefault("logger", LibrdkafkaLog())
            try:
                self._producer = ck.Producer(settings)
            except (ck.KafkaException, ValueError, TypeError) as exc:
                raise ConfigError(
                    f"the Kafka producer refused its settings: {exc}", key="connection.producer_config"
                ) from exc
            log.info("kafka producer started bootstrap=%s topic=%s", self._bootstrap, self.topic)
            self._cancel_exit_flush = deliver_at_exit(self)
            return self._producer

    def _schema_header(self) -> bytes:
        header = self._header
        if header is None:
            header = self._header = confluent_header(self._resolver.schema_id(self.subject))
        return header

    # -- emitting --------------------------------------------------------

    def emit(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None) -> None:
        """Queue one MCP for delivery and return at once.

        Args:
            item: the proposal.
            callback: ``callback(error, message)``, called once the broker has (or has
                not) taken it; ``error`` is ``None`` on success.

        Raises:
            InvalidEventError: ``item`` is not an MCP or cannot be written as DataHub's Avro record.
            RejectedError: the message is larger than ``message.max.bytes``, or the topic does not exist;
                or (lookup mode) the schema is not registered.
            ConnectionFailedError / AuthError: the Schema Registry is unreachable or refuses us. Once it
                did not answer, the next MCPs fail at once with the same error for a few seconds
                (:class:`~emitters.breaker.Unreachable`) instead of each waiting for the registry.
            QueueFullError: the local queue stayed full for ``max_queue_full_block_seconds``.

            Errors raised here are also passed to ``callback``; they are not counted by ``flush``.
        """
        producer = self._producer or self._start()
        try:
            item = as_mcp(item)
            value = self._encoder.frame(item, self._header or self._schema_header())  # type: ignore[union-attr]
        except BridgeError as exc:
            # A registry error is shared by every MCP it stops: each gets a copy naming it.
            error = naming(exc, item.entity_urn, item.aspect_name) if isinstance(
                item, MetadataChangeProposalWrapper) else exc
            if callback is not None:
                call_safely(callback, error, Unsent(self.topic, getattr(item, "entity_urn", None)))
            if error is exc:
                raise
            raise error from exc.__cause__
        try:
            if callback is None:
                producer.produce(self.topic, value, item.entity_urn)
            else:
                producer.produce(
                    self.topic,
                    value,
                    item.entity_urn,
                    on_delivery=self._ledger.reporter(item, callback),  # type: ignore[union-attr]
                )
        except BufferError:
            self._produce_when_room(producer, item, value, callback)
        except Exception as exc:
            error = self._sync_error(exc, item, value)
            if callback is not None:
                call_safely(callback, error, Unsent(self.topic, item.entity_urn))
            raise error from exc
        # Serve delivery reports now and then: every _POLL_EVERY emits, or after
        # _POLL_INTERVAL seconds so a slow trickle of MCPs still gets its callbacks.
        self._since_poll += 1
        if self._since_poll >= _POLL_EVERY or time.monotonic() - self._last_poll >= _POLL_INTERVAL:
            self._poll()

    def emit_many(
        self, items: Iterable[MetadataChangeProposalWrapper], callback: Callback | None = None
    ) -> int:
        """Queue many MCPs; returns how many were handed over (see :meth:`emit` for errors)."""
        count = 0
        emit = self.emit
        for item in items:
            emit(item, callback)
            count += 1
        return count

    def _poll(self) -> None:
        self._since_poll = 0
        self._last_poll = time.monotonic()
        self._producer.poll(0)

    def _produce_when_room(
        self, producer: Any, item: MetadataChangeProposalWrapper, value: bytes, callback: Callback | None
    ) -> None:
        """The local queue is full: serve delivery reports until there is room, for a bounded time."""
        limit = self.config.max_queue_full_block_seconds
        deadline = time.monotonic() + limit
        log.warning("kafka local queue full, waiting queued=%s limit_s=%s", len(producer), limit)
        ledger = self._ledger
        on_delivery = ledger.reporter(item, callback) if ledger is not None and callback is not None else None
        while True:
            producer.poll(0.05)
            try:
                if on_delivery is None:
                    producer.produce(self.topic, value, item.entity_urn)
                else:
                    producer.produce(self.topic, value, item.entity_urn, on_delivery=on_delivery)
                return
            except BufferError:
                if time.monotonic() >= deadline:
                    full = QueueFullError(
                        f"the local Kafka queue stayed full for {limit:g}s with {len(producer)} message(s) "
                        f"waiting for {self._bootstrap}{self._client_errors.suffix()}",
                        urn=item.entity_urn,
                        aspect=item.aspect_name,
                    )
                    if callback is not None:
                        call_safely(callback, full, Unsent(self.topic, item.entity_urn))
                    raise full from None
            except Exception as exc:
                error = self._sync_error(exc, item, value)
                if callback is not None:
                    call_safely(callback, error, Unsent(self.topic, item.entity_urn))
                raise error from exc

    def _sync_error(self, exc: Exception, item: Any, value: bytes | None) -> BridgeError:
        """An exception from ``produce`` -> the project's error."""
        ck = require("confluent_kafka", "kafka")
        urn = getattr(item, "entity_urn", None)
        aspect = getattr(item, "aspect_name", None)
        if isinstance(exc, ck.KafkaException) and exc.args:
            return kafka_error(
                exc.args[0],
                topic=self.topic,
                bootstrap=self._bootstrap,
                urn=urn,
                aspect=aspect,
                size=len(value) if value else None,
                max_size=int(self._settings.get("message.max.bytes", 1_000_000)),
            )
        return DeliveryError(
            f"could not queue the message for Kafka: {type(exc).__name__}: {exc}", urn=urn, aspect=aspect
        )

    # -- flush / close ----------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued is delivered or has failed.

        Args:
            timeout: seconds to wait; by default the delivery timeout plus a margin, after
                which every message has been settled by librdkafka.

        Raises:
            UndeliveredError: some messages failed since the last flush, or are still queued
                when ``timeout`` ran out (those may still be delivered later).
        """
        producer = self._producer
        if producer is not None:
            if timeout is None:
                timeout = delivery_timeout_ms(self._settings) / 1000 + 5
            self._since_poll = 0
            remaining = producer.flush(timeout)
        else:
            remaining = 0
        failed, errors = self._ledger.take() if self._ledger is not None else (0, [])
        if remaining:
            errors = [
                *errors,
                ConnectionFailedError(
                    f"{remaining} message(s) still queued for Kafka at {self._bootstrap} after {timeout:g}s"
                ),
            ]
        if failed or remaining:
            raise UndeliveredError(failed + remaining, errors)

    def close(self) -> None:
        """Flush, then release the producer. Safe to call twice."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._cancel_exit_flush()
            self._producer = None

    # -- checks -----------------------------------------------------------

    def _cluster_metadata(self, producer: Any) -> Any:
        """Ask for the topic's metadata; give up early once librdkafka says every broker is down."""
        ck = require("confluent_kafka", "kafka")
        wait = self.config.connection.client_timeout_seconds
        deadline = time.monotonic() + wait
        client_errors = self._client_errors
        client_errors.seen.clear()
        while True:
            try:
                return producer.list_topics(
                    topic=self.topic, timeout=min(1.0, max(0.1, deadline - time.monotonic()))
                )
            except ck.KafkaException as exc:
                producer.poll(0)  # serve error_cb, which says why (refused, DNS, TLS, auth)
                seen, why = client_errors.seen, client_errors.suffix()
                server = str(exc.args[0]) if exc.args else None
                if seen & AUTH_ERRORS:
                    raise AuthError(f"Kafka at {self._bootstrap} refused our credentials{why}") from exc
                if "_ALL_BROKERS_DOWN" in seen or time.monotonic() >= deadline:
                    raise ConnectionFailedError(
                        f"no Kafka broker answered at {self._bootstrap}{why}", server_message=server
                    ) from exc

    def destination(self) -> Destination:
        """``kafka:<bootstrap>/<MCP topic>``."""
        return Destination(f"kafka:{self.config.connection.bootstrap}/{self.config.mcp_topic}")

    def test_connection(self) -> dict[str, Any]:
        """Check that the broker answers, the topic exists and the Schema Registry gives a schema id.

        In ``register`` mode this registers the schema (what the first emit would do).

        Returns:
            ``bootstrap``, ``cluster_id``, ``brokers``, ``topic``, ``partitions``,
            ``schema_registry``, ``subject``, ``schema_id``.

        Raises:
            ConnectionFailedError: no broker or no registry answered in time.
            RejectedError: the topic does not exist, or (lookup mode) the schema is not registered.
            AuthError: the broker or the registry refused us.
        """
        producer = self._producer or self._start()
        meta = self._cluster_metadata(producer)
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None:
            raise kafka_error(
                topic.error if topic is not None else "UNKNOWN_TOPIC_OR_PART",
                topic=self.topic,
                bootstrap=self._bootstrap,
            )
        self._resolver.subjects()
        schema_id = self._resolver.schema_id(self.subject)
        return {
            "bootstrap": self._bootstrap,
            "cluster_id": meta.cluster_id,
            "brokers": len(meta.brokers),
            "topic": self.topic,
            "partitions": len(topic.partitions),
            "schema_registry": self._resolver.url,
            "subject": self.subject,
            "schema_id": schema_id,
        }
