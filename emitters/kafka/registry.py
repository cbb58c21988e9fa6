"""The schema id of DataHub's MCP schema, from a Confluent Schema Registry.

One :class:`SchemaIdResolver` per emitter. It asks the registry once per
subject (``<topic>-value``) and caches the answer, so the hot path never talks
HTTP. Two modes:

* ``register`` (default): register the schema on first use; registering an
  already-registered schema is idempotent and returns its id, as DataHub's own
  ``AvroSerializer`` does;
* ``lookup``: only look up the id of an already-registered schema, for
  read-only registries and keys without write permission.

Registry failures become the project's errors here, in one place:
unreachable / timeout / 5xx -> :class:`~bridge.errors.ConnectionFailedError`;
401/403 and read-only mode (42205) -> :class:`~bridge.errors.AuthError`;
not registered (40401/40403, lookup mode), invalid (42201) or incompatible
(409) -> :class:`~bridge.errors.RejectedError`.

A registry that did not answer (after the client's own retries) is not asked
again per MCP: an :class:`~emitters.breaker.Unreachable` breaker fails the next
lookups at once with the same error, and lets one through every few seconds.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

from bridge.errors import (
    AuthError,
    ConfigError,
    ConnectionFailedError,
    DeliveryError,
    RejectedError,
    RetriableError,
    require,
)
from emitters.breaker import Unreachable

__all__ = ["SchemaIdResolver", "registry_client_config"]

log = logging.getLogger(__name__)

# Our defaults for confluent-kafka's SchemaRegistryClient: its own retry
# defaults (3 retries, backoff up to 20 s) make a dead registry look like a
# hang; two quick retries are plenty on a connection refused.
_CLIENT_DEFAULTS = {"max.retries": 2, "retries.wait.ms": 200, "retries.max.wait.ms": 2000}


def registry_client_config(url: str, extra: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """The ``SchemaRegistryClient`` config: ours, then the user's ``schema_registry_config`` on top."""
    return {"url": url, "timeout": timeout, **_CLIENT_DEFAULTS, **dict(extra)}


class SchemaIdResolver:
    """Finds (and caches) the schema id of one schema per subject.

    Args:
        url: registry URL (for messages; the client config carries it too).
        client_config: ``SchemaRegistryClient`` config (see :func:`registry_client_config`).
        schema_text: the Avro schema JSON.
        mode: ``register`` or ``lookup``.
    """

    def __init__(self, *, url: str, client_config: Mapping[str, Any], schema_text: str, mode: str) -> None:
        self.url = _without_userinfo(url)  # what messages show: credentials in the URL stay out of them
        self.mode = mode
        self._client_config = dict(client_config)
        self._schema_text = schema_text
        self._client: Any = None
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()
        #: Open while the registry is known not to answer: lookups then fail at once.
        self.breaker = Unreachable(f"Schema Registry {self.url}")

    def _get_client(self) -> Any:
        if self._client is None:
            sr = require("confluent_kafka.schema_registry", "kafka")
            try:
                self._client = sr.SchemaRegistryClient(self._client_config)
            except (ValueError, TypeError):
                # Older confluent-kafka clients reject the retry settings we add by default:
                # try once more with only what the user gave.
                mine = {
                    k: v
                    for k, v in self._client_config.items()
                    if k not in _CLIENT_DEFAULTS or self._user_set(k)
                }
                try:
                    self._client = sr.SchemaRegistryClient(mine)
                except (ValueError, TypeError) as exc:
                    raise ConfigError(
                        f"bad Schema Registry settings: {exc}", key="connection.schema_registry_config"
                    ) from exc
        return self._client

    def _user_set(self, key: str) -> bool:
        return self._client_config.get(key) != _CLIENT_DEFAULTS.get(key)

    def schema_id(self, subject: str) -> int:
        """The schema's id under ``subject`` (cached after the first success).

        Raises:
            ConnectionFailedError, AuthError, RejectedError, RetriableError: see the module docstring;
                ConnectionFailedError at once while the registry is known not to answer.
        """
        cached = self._ids.get(subject)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._ids.get(subject)
            if cached is not None:
                return cached
            self.breaker.check()  # raises while the registry is known not to answer
            try:
                schema_id = self._fetch(subject)
            except ConnectionFailedError as exc:
                self.breaker.unreachable(exc)
                raise
            except DeliveryError:
                self.breaker.reachable()  # it answered, with an error
                raise
            self.breaker.reachable()
            self._ids[subject] = schema_id
            log.info(
                "schema id resolved subject=%s schema_id=%s mode=%s registry=%s",
                subject,
                schema_id,
                self.mode,
                self.url,
            )
            return schema_id

    def _fetch(self, subject: str) -> int:
        sr = require("confluent_kafka.schema_registry", "kafka")
        client = self._get_client()
        schema = sr.Schema(self._schema_text, "AVRO")
        try:
            if self.mode == "lookup":
                return int(client.lookup_schema(subject, schema).schema_id)
            return int(client.register_schema(subject, schema))
        except Exception as exc:  # noqa: BLE001 - converted to the project's errors right here
            raise self._convert(exc, subject) from exc

    def subjects(self) -> list[str]:
        """The registry's subjects (a cheap reachability check).

        Raises:
            ConnectionFailedError, AuthError, RetriableError: the registry cannot be used.
        """
        try:
            return list(self._get_client().get_subjects())
        except Exception as exc:  # noqa: BLE001 - converted right here
            raise self._convert(exc, None) from exc

    def _convert(self, exc: Exception, subject: str | None) -> DeliveryError:
        """A registry client error -> the project's error (the one place that decides)."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        where = f"Schema Registry {self.url}"
        about = f" subject {subject!r}" if subject else ""
        if not isinstance(exc, SchemaRegistryError):
            # httpx transport errors (refused, DNS, TLS, timeout) after the client's retries.
            return ConnectionFailedError(
                f"{where} unreachable while resolving{about or ' subjects'} ({type(exc).__name__}: {exc})"
            )
        status, code, message = exc.http_status_code, exc.error_code, exc.error_message
        details: dict[str, Any] = {"status": status, "server_message": f"{message} (error code {code})"}
        if code == 42205 or status in (401, 403):
            hint = (
                "; the registry refuses writes: register the schema there first and set "
                "schema_registration='lookup'"
                if self.mode == "register" and status != 401
                else ""
            )
            return AuthError(f"{where} refused{about}{hint}", **details)
        if code in (40401, 40403) and self.mode == "lookup":
            return RejectedError(
                f"DataHub's MetadataChangeProposal schema is not registered under{about} at {where}; "
                "register it (or use schema_registration='register')",
                **details,
            )
        if code == 42201 or status == 409 or code == 409:
            return RejectedError(f"{where} rejected the MetadataChangeProposal schema for{about}", **details)
        if status is not None and (status >= 500 or status in (408, 429)):
            return RetriableError(f"{where} failed{about}; try again", **details)
        return DeliveryError(f"{where} answered an error for{about}", **details)


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
