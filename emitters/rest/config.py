"""Configuration of the REST emitter: one frozen object, built from a dict or the environment.

Names follow DataHub's ``DatahubRestEmitter`` / ``DatahubClientConfig`` so a
DataHub user's settings carry over (``server`` is accepted for ``gms_server``,
``client_certificate_key_path`` for ``client_key_path``, ``async_flag`` and
``default_emit_mode`` for ``emit_mode``).
"""

from __future__ import annotations

import os
import types
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.config import http_url
from bridge.errors import ConfigError, unknown_settings
from emitters.rest.modes import DEFAULT_EMIT_MODE, EmitMode, parse_emit_mode

__all__ = ["DEFAULT_GMS_SERVER", "RestEmitterConfig", "normalize_gms_url"]

DEFAULT_GMS_SERVER = "http://localhost:8080"
# GMS refuses bodies above 16,000,000 bytes; DataHub's emitter keeps 15 MiB to leave room for headers.
GMS_MAX_BATCH_BYTES = 15 * 1024 * 1024
# GMS times out (and answers 500) on very large batches; DataHub's emitter caps them at 200 proposals.
GMS_MAX_BATCH_SIZE = 200

_ALIASES = {
    "server": "gms_server",
    "url": "gms_server",
    "gms_url": "gms_server",
    "client_certificate_key_path": "client_key_path",
    "ca_certificate": "ca_certificate_path",
    "timeout": "timeout_sec",
    "default_emit_mode": "emit_mode",
    "batch_size": "max_batch_size",
}
# DataHub's environment variables that its emitter takes as defaults even when built in code.
_DATAHUB_ENV_DEFAULTS = ("DATAHUB_EMIT_MODE", "DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT")
#: DataHub's cap of one ASYNC_WAIT wait (``wait_timeout``: an hour).
DEFAULT_TRACE_TIMEOUT_SEC = 3600.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def normalize_gms_url(url: str) -> str:
    """Make a GMS base URL canonical: scheme added, trailing ``/`` dropped, ``/gms`` for DataHub Cloud.

    Raises:
        ConfigError: the value is not an http(s) URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("is required (e.g. http://localhost:8080)", key="gms_server")
    url = http_url(url, key="gms_server")
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigError(f"{url!r} must not carry a query or fragment", key="gms_server")
    path = parts.path.rstrip("/")
    # DataHub Cloud serves GMS under /gms; DataHub's own emitter fixes this up the same way.
    if (parts.hostname or "").endswith(".acryl.io") and not path:
        path = "/gms"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int):
        return bool(value)
    raise ConfigError(f"expected true/false, got {value!r}", key=key)


def _number(value: Any, key: str, kind: type, minimum: float = 0) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected a number, got {value!r}", key=key) from None
    if isinstance(value, bool) or number < minimum:
        raise ConfigError(f"must be a number >= {minimum}, got {value!r}", key=key)
    return number


# Named converters, one per field, so type checkers understand them and errors name the setting.
def _timeout_sec(v: Any) -> float:
    return float(_number(v, "timeout_sec", float, 0.001))


def _connect_timeout_sec(v: Any) -> float | None:
    return None if v is None else float(_number(v, "connect_timeout_sec", float, 0.001))


def _read_timeout_sec(v: Any) -> float | None:
    return None if v is None else float(_number(v, "read_timeout_sec", float, 0.001))


def _retry_max_times(v: Any) -> int:
    return int(_number(v, "retry_max_times", int))


def _retry_backoff_sec(v: Any) -> float:
    return float(_number(v, "retry_backoff_sec", float))


def _retry_backoff_max_sec(v: Any) -> float:
    return float(_number(v, "retry_backoff_max_sec", float))


def _max_batch_size(v: Any) -> int:
    return int(_number(v, "max_batch_size", int, 1))


def _max_batch_bytes(v: Any) -> int:
    return int(_number(v, "max_batch_bytes", int, 1024))


def _pool_maxsize(v: Any) -> int:
    return int(_number(v, "pool_maxsize", int, 1))


def _linger_ms(v: Any) -> float:
    return float(_number(v, "linger_ms", float))


def _max_pending(v: Any) -> int:
    return int(_number(v, "max_pending", int, 1))


def _queue_timeout_sec(v: Any) -> float:
    return float(_number(v, "queue_timeout_sec", float))


def _disable_ssl_verification(v: Any) -> bool:
    return _bool(v, "disable_ssl_verification")


def _optional_path(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return os.fspath(value)


def _to_headers(value: Any) -> Mapping[str, str]:
    if value is None:
        return types.MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping of header names to values, got {type(value).__name__}",
                          key="extra_headers")
    return types.MappingProxyType({str(k): str(v) for k, v in value.items()})


def _to_status_codes(value: Any) -> frozenset[int]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    try:
        codes = frozenset(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected a list of HTTP status codes, got {value!r}", key="retry_status_codes") from None
    bad = sorted(c for c in codes if not 400 <= c <= 599)
    if bad:
        raise ConfigError(f"only 4xx/5xx statuses can be retried, got {bad}", key="retry_status_codes")
    return codes


def _to_emit_mode(value: Any) -> EmitMode:
    try:
        return parse_emit_mode(value)
    except ValueError as exc:
        raise ConfigError(str(exc), key="emit_mode") from None


def _to_openapi(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "auto"}):
        return None
    return _bool(value, "openapi_ingestion")


def _trace_timeout_sec(v: Any) -> float:
    return float(_number(v, "trace_timeout_sec", float, 0.001))


def _trace_poll_sec(v: Any) -> float:
    return float(_number(v, "trace_poll_sec", float, 0.001))


def _to_delivery(value: Any) -> str:
    delivery = str(value).strip().lower()
    if delivery not in {"sync", "background"}:
        raise ConfigError(f"expected 'sync' or 'background', got {value!r}", key="delivery")
    return delivery


@attrs.frozen(kw_only=True)
class RestEmitterConfig:
    """How to reach GMS and how hard to try.

    Args:
        gms_server: GMS base URL (``http://localhost:8080``, or the frontend's GMS proxy
            ``http://host:9002/api/gms``). ``server`` is accepted as an alias.
        token: personal access token sent as ``Authorization: Bearer``; never logged or shown in repr.
        extra_headers: more HTTP headers for every request.
        timeout_sec: connect and read timeout unless the specific ones are set.
        connect_timeout_sec: time allowed to open a connection.
        read_timeout_sec: time allowed for GMS to answer.
        retry_max_times: retries after the first attempt (so ``retry_max_times + 1`` attempts).
        retry_status_codes: HTTP statuses that are retried (connection errors and timeouts always are).
        retry_backoff_sec: first backoff; doubles each retry, with full jitter.
        retry_backoff_max_sec: cap of one backoff, and of an honoured ``Retry-After``.
        ca_certificate_path: CA bundle to verify GMS's certificate with.
        client_certificate_path: client certificate (PEM) for mutual TLS.
        client_key_path: its private key, if not in the certificate file.
        disable_ssl_verification: don't verify GMS's certificate (insecure; for tests only).
        emit_mode: DataHub's :class:`~emitters.rest.modes.EmitMode`: ``SYNC_PRIMARY`` (default, as
            DataHub's: written to the database before GMS answers), ``SYNC_WAIT`` (and indexed for
            search, on OpenAPI), ``ASYNC`` (queued by GMS), ``ASYNC_WAIT`` (queued, then the trace API
            is polled until GMS says it was persisted; OpenAPI only). Also ``default_emit_mode``,
            ``$DATAHUB_EMIT_MODE``; the older ``mode="sync"|"async"`` and ``async_flag`` still work.
        openapi_ingestion: send through GMS's OpenAPI v3 entity endpoints (``True``) or Rest.li's
            ``/aspects`` (``False``). ``None`` (default): OpenAPI once :meth:`RestEmitter.test_connection`
            finds a GMS that supports it (``/config`` version >= 1.0.1, or >= 0.3.11 for DataHub
            Cloud), as DataHub's emitter decides. ``$DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT``
            (``OPENAPI``/``RESTLI``) forces it, as in DataHub.
        trace_timeout_sec: ``ASYNC_WAIT`` gives up waiting for GMS's trace after this long.
        trace_poll_sec: first wait between trace polls; doubles each poll, capped at 30 s.
        delivery: ``sync``: ``emit`` sends at once and raises on failure, as DataHub's emitter does;
            ``background``: ``emit`` queues, a sender thread batches, ``flush`` reports failures.
        max_batch_size: proposals per ``ingestProposalBatch`` request (GMS: 200).
        max_batch_bytes: bytes per request body (GMS refuses 16,000,000; default 15 MiB).
        pool_maxsize: keep-alive connections kept to GMS.
        linger_ms: background delivery waits this long for more items to fill a batch.
        max_pending: background delivery queue bound; ``emit`` blocks when it is full.
        queue_timeout_sec: how long ``emit`` blocks on a full queue before raising ``QueueFullError``.
    """

    gms_server: str = attrs.field(default=DEFAULT_GMS_SERVER, converter=normalize_gms_url)
    token: str | None = attrs.field(default=None, repr=False)
    extra_headers: Mapping[str, str] = attrs.field(factory=dict, converter=_to_headers)
    timeout_sec: float = attrs.field(default=30.0, converter=_timeout_sec)
    connect_timeout_sec: float | None = attrs.field(default=None, converter=_connect_timeout_sec)
    read_timeout_sec: float | None = attrs.field(default=None, converter=_read_timeout_sec)
    retry_max_times: int = attrs.field(default=4, converter=_retry_max_times)
    retry_status_codes: frozenset[int] = attrs.field(
        default=frozenset({429, 500, 502, 503, 504}), converter=_to_status_codes)
    retry_backoff_sec: float = attrs.field(default=0.5, converter=_retry_backoff_sec)
    retry_backoff_max_sec: float = attrs.field(default=30.0, converter=_retry_backoff_max_sec)
    ca_certificate_path: str | None = attrs.field(default=None, converter=_optional_path)
    client_certificate_path: str | None = attrs.field(default=None, converter=_optional_path)
    client_key_path: str | None = attrs.field(default=None, converter=_optional_path)
    disable_ssl_verification: bool = attrs.field(default=False, converter=_disable_ssl_verification)
    emit_mode: EmitMode = attrs.field(default=DEFAULT_EMIT_MODE, converter=_to_emit_mode)
    openapi_ingestion: bool | None = attrs.field(default=None, converter=_to_openapi)
    trace_timeout_sec: float = attrs.field(default=DEFAULT_TRACE_TIMEOUT_SEC, converter=_trace_timeout_sec)
    trace_poll_sec: float = attrs.field(default=1.0, converter=_trace_poll_sec)
    delivery: str = attrs.field(default="sync", converter=_to_delivery)
    max_batch_size: int = attrs.field(default=GMS_MAX_BATCH_SIZE, converter=_max_batch_size)
    max_batch_bytes: int = attrs.field(default=GMS_MAX_BATCH_BYTES, converter=_max_batch_bytes)
    pool_maxsize: int = attrs.field(default=4, converter=_pool_maxsize)
    linger_ms: float = attrs.field(default=5.0, converter=_linger_ms)
    max_pending: int = attrs.field(default=10_000, converter=_max_pending)
    queue_timeout_sec: float = attrs.field(default=30.0, converter=_queue_timeout_sec)

    def __attrs_post_init__(self) -> None:
        if self.client_key_path and not self.client_certificate_path:
            raise ConfigError("is set but client_certificate_path is not", key="client_key_path")
        for key in ("ca_certificate_path", "client_certificate_path", "client_key_path"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                raise ConfigError(f"file {path} does not exist", key=key)
        if self.ca_certificate_path and self.disable_ssl_verification:
            raise ConfigError("set either ca_certificate_path or disable_ssl_verification, not both",
                              key="disable_ssl_verification")

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeouts in seconds."""
        return (self.connect_timeout_sec or self.timeout_sec, self.read_timeout_sec or self.timeout_sec)

    @property
    def async_flag(self) -> bool:
        """The ``async`` parameter GMS gets: ``true`` for ``ASYNC`` and ``ASYNC_WAIT``."""
        return self.emit_mode.is_async

    @property
    def mode(self) -> str:
        """``"async"`` or ``"sync"``: the older name of what :attr:`async_flag` says."""
        return "async" if self.async_flag else "sync"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RestEmitterConfig:
        """Build from a plain mapping (config file section, CLI flags, DataHub-style names).

        Args:
            data: settings by name; DataHub's names (``server``, ``async_flag``, ``default_emit_mode``,
                ``client_certificate_key_path``) and the older ``mode`` are accepted; ``None``
                values are ignored.

        Returns:
            The frozen config.

        Raises:
            ConfigError: an unknown setting or a bad value; the error names the setting.
        """
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"the rest emitter config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in attrs.fields(cls)}
        kwargs: dict[str, Any] = {}
        for raw_key, value in data.items():
            if value is None or raw_key == "kind":
                continue
            key = _ALIASES.get(raw_key, raw_key)
            if key == "async_flag":
                key, value = "emit_mode", EmitMode.ASYNC if _bool(value, "async_flag") else EmitMode.SYNC_PRIMARY
            elif key == "mode":
                try:
                    key, value = "emit_mode", parse_emit_mode(value)
                except ValueError as exc:
                    raise ConfigError(str(exc), key="mode") from None
            if key not in known:
                raise ConfigError(unknown_settings([raw_key], known, where="the rest emitter"), key=str(raw_key))
            if key in kwargs:
                raise ConfigError(f"given twice (as {raw_key!r} and another alias)", key=key)
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RestEmitterConfig:
        """Build from DataHub's environment variables, as DataHub's CLI reads them.

        ``DATAHUB_GMS_URL`` (or ``DATAHUB_GMS_PROTOCOL`` + ``DATAHUB_GMS_HOST`` +
        ``DATAHUB_GMS_PORT``), ``DATAHUB_GMS_TOKEN``, and the two that DataHub's emitter
        reads even when built in code (see :meth:`from_settings`): ``DATAHUB_EMIT_MODE`` and
        ``DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT``. Lookup order: ``overrides``, then the
        environment, then the defaults. This and :meth:`from_settings` are the only places
        the REST emitter reads the environment.

        Args:
            environ: the environment to read; ``os.environ`` when ``None``.
            overrides: settings that win over the environment (``from_dict`` names).

        Returns:
            The frozen config.
        """
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        if env.get("DATAHUB_GMS_URL"):
            data["gms_server"] = env["DATAHUB_GMS_URL"]
        elif env.get("DATAHUB_GMS_HOST"):
            host = env["DATAHUB_GMS_HOST"]
            if "://" in host:
                data["gms_server"] = host
            else:
                protocol = env.get("DATAHUB_GMS_PROTOCOL") or "http"
                port = env.get("DATAHUB_GMS_PORT")
                data["gms_server"] = f"{protocol}://{host}:{port}" if port else f"{protocol}://{host}"
        if env.get("DATAHUB_GMS_TOKEN"):
            data["token"] = env["DATAHUB_GMS_TOKEN"]
        return cls.from_settings(overrides, environ=env, defaults=data)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, environ: Mapping[str, str] | None = None,
                      defaults: Mapping[str, Any] | None = None) -> RestEmitterConfig:
        """Build the way DataHub's ``DatahubRestEmitter(...)`` constructor does.

        DataHub's emitter takes ``$DATAHUB_EMIT_MODE`` as its default emit mode and
        ``$DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT`` (``OPENAPI``/``RESTLI``) as its choice of
        endpoint even when built in code; so does ``RestEmitter(gms_server=..., ...)``.
        Lookup order: ``settings``, then those two variables, then ``defaults``, then the
        field defaults. (``from_dict`` reads no environment at all.)

        Args:
            settings: ``from_dict`` settings (``None`` values are ignored).
            environ: the environment to read; ``os.environ`` when ``None``.
            defaults: settings below the environment (``from_env`` passes the GMS URL/token).

        Returns:
            The frozen config.
        """
        env = os.environ if environ is None else environ
        data: dict[str, Any] = dict(defaults or {})
        given = {_ALIASES.get(k, k) for k, v in settings.items() if v is not None}
        if env.get(_DATAHUB_ENV_DEFAULTS[0]) and not given & {"emit_mode", "mode", "async_flag"}:
            try:
                data["emit_mode"] = parse_emit_mode(env[_DATAHUB_ENV_DEFAULTS[0]])
            except ValueError as exc:
                raise ConfigError(f"${_DATAHUB_ENV_DEFAULTS[0]}: {exc}", key="emit_mode") from None
        endpoint = (env.get(_DATAHUB_ENV_DEFAULTS[1]) or "").strip().upper()
        if endpoint and "openapi_ingestion" not in given:
            if endpoint not in {"OPENAPI", "RESTLI"}:
                raise ConfigError(f"${_DATAHUB_ENV_DEFAULTS[1]}: expected OPENAPI or RESTLI, got {endpoint!r}",
                                  key="openapi_ingestion")
            data["openapi_ingestion"] = endpoint == "OPENAPI"
        data.update({k: v for k, v in settings.items() if v is not None})
        return cls.from_dict(data)
