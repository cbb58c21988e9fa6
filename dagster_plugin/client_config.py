"""``datahub_client_config``: any bridge emitter config, or DataHub's ``DatahubClientConfig``, converted once
(:func:`client_config`) when the plugin's config is built.

Every field of acryl-datahub's ``DatahubClientConfig`` is accepted, as a mapping or as DataHub's
(pydantic) object. Those the bridge's REST emitter has are passed on under its names (``server`` ->
``gms_server``; ``default_emit_mode``, its ``emit_mode``; ``token``, ``timeout_sec``, ``retry_*``,
``pool_maxsize``, ``extra_headers``, the TLS paths, ``disable_ssl_verification``, ``openapi_ingestion``
as they are; ``auth`` with DataHub's ``static`` token provider is its ``token``); the others
(:data:`IGNORED`) are left out with one warning naming them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bridge.errors import ConfigError

__all__ = ["FIELDS", "IGNORED", "DatahubClientConfig", "client_config"]

logger = logging.getLogger("dagster_plugin")

#: Fields of DataHub's ``DatahubClientConfig`` the bridge's REST emitter has no equivalent for -> why.
IGNORED: dict[str, str] = {
    "auth": "only DataHub's static token provider is available here: give token",
    "pool_connections": "the emitter keeps one pool, to GMS (pool_maxsize sizes it)",
    "respect_mcp_sync_marker": "the bridge writes no emit-mode markers: emit_mode applies to every write",
    "server_config_refresh_interval": "the emitter reads GMS's /config once, when it connects",
    "tcp_keepalive": "the emitter's connections use the system's TCP settings",
    "client_mode": "a DataHub client telemetry setting",
    "datahub_component": "a DataHub client telemetry setting",
}


#: The fields of acryl-datahub's ``DatahubClientConfig`` (``datahub.ingestion.graph.config``).
FIELDS = (
    "server", "token", "auth", "timeout_sec", "retry_status_codes", "retry_max_times", "pool_connections",
    "pool_maxsize", "extra_headers", "ca_certificate_path", "client_certificate_path", "client_key_path",
    "disable_ssl_verification", "openapi_ingestion", "respect_mcp_sync_marker", "client_mode", "datahub_component",
    "server_config_refresh_interval", "tcp_keepalive", "default_emit_mode",
)


class DatahubClientConfig:
    """DataHub's ``DatahubClientConfig`` without acryl-datahub: its fields, for ``datahub_client_config``.

    ``DatahubClientConfig(server="http://gms:8080", token="...")`` as the guide writes it; what it
    becomes is :func:`client_config`'s (the fields set, those with no REST equivalent ignored with a warning).

    Raises:
        ConfigError: a name that is none of DataHub's fields (:data:`FIELDS`), or both ``token`` and ``auth``.
    """

    def __init__(self, server: str, **fields: Any) -> None:
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown DatahubClientConfig field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}",
                              key="datahub_client_config")
        if fields.get("token") is not None and fields.get("auth") is not None:
            raise ConfigError("give either token or auth, not both", key="datahub_client_config")
        self._set = {"server": server, **fields}

    def __getattr__(self, name: str) -> Any:
        if name in FIELDS:
            return self.__dict__["_set"].get(name)
        raise AttributeError(name)

    def model_dump(self, *, exclude_unset: bool = False) -> dict[str, Any]:
        """The fields set (all of them, unset ones None, unless ``exclude_unset``), as pydantic's."""
        return dict(self._set) if exclude_unset else {name: self._set.get(name) for name in FIELDS}

    def __repr__(self) -> str:
        shown = {k: ("***" if k in ("token", "auth") else v) for k, v in self._set.items()}
        return f"DatahubClientConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def client_config(value: Any) -> dict[str, Any]:
    """``datahub_client_config`` as the bridge's emitter config, ``{"kind": ..., **its settings}``: the one
    conversion (``DagsterPluginConfig`` keeps what it returns; :meth:`~dagster_plugin.DagsterPluginConfig.emitter`
    reads it back).

    The value is a mapping, or DataHub's ``DatahubClientConfig`` (read through its public fields, only those
    set; nothing of acryl-datahub is imported). The kind: ``kind`` if given, else ``connection`` means Kafka,
    ``filename`` file, ``server``/``gms_server`` REST. For REST, DataHub's fields become the REST emitter's
    (``server`` -> ``gms_server``, a ``static`` ``auth`` -> ``token``) and those with no equivalent
    (:data:`IGNORED`) are dropped with one warning naming them; other emitters get no ``default_emit_mode``.
    A mapping whose emitter cannot be told is kept as given: ``emitter()`` says so when the sensor first runs.
    Converting its own result again changes nothing.

    Raises:
        ConfigError: not a mapping nor an object with DataHub's client-config fields.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        config = dict(value)
    else:
        # Only what the user set: the defaults of DataHub's client are not options of our emitters.
        dump = getattr(value, "model_dump", None) or getattr(value, "dict", None)
        if not callable(dump):
            raise ConfigError(f"must be a mapping, got {type(value).__name__}", key="datahub_client_config")
        config = {k: v for k, v in dump(exclude_unset=True).items() if v is not None}
    kind = _kind(config)
    if kind is None:
        return config
    config["kind"] = kind
    if kind != "rest":
        config.pop("default_emit_mode", None)  # DataHub's REST client setting: the REST emitter takes it
        return config
    if "server" in config:
        config.setdefault("gms_server", config.pop("server"))
    static = _static_token(config.get("auth"))
    if static is not None and not config.get("token"):
        config["token"] = static  # DataHub's static token provider is a token
        del config["auth"]
    dropped = sorted(k for k in config if k in IGNORED)
    for key in dropped:
        del config[key]
    if dropped:
        logger.warning("datahub_client_config: DataHub client settings with no equivalent here are ignored: %s",
                       "; ".join(f"{k} ({IGNORED[k]})" for k in dropped))
    return config


def _static_token(auth: Any) -> str | None:
    """The token of DataHub's ``auth={"type": "static", "config": {"token": ...}}``, else None."""
    settings = auth.get("config") if isinstance(auth, Mapping) and auth.get("type") == "static" else None
    token = settings.get("token") if isinstance(settings, Mapping) else None
    return token if isinstance(token, str) and token else None


def _kind(config: Mapping[str, Any]) -> str | None:
    if config.get("kind") is not None:
        return str(config["kind"])
    if "connection" in config:
        return "kafka"
    if "filename" in config:
        return "file"
    if "server" in config or "gms_server" in config:
        return "rest"
    return None
