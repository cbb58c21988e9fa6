"""Configuration: one frozen object, one documented lookup order.

:func:`load_config` is the only place that reads the environment or a config
file. Lookup order, first match wins, per setting:

1. explicit arguments (``overrides``: CLI flags, keyword arguments of the Python API);
2. environment variables (``BRIDGE_*``, and DataHub's own ``DATAHUB_GMS_URL`` /
   ``DATAHUB_GMS_TOKEN`` for the REST emitter);
3. the config file: ``path`` if given, else ``$BRIDGE_CONFIG``, else
   ``./bridge.toml`` if it exists (TOML, JSON or YAML by extension);
4. defaults (file emitter writing under the state directory).

Config file shape (TOML)::

    emitter = "rest"                 # rest | kafka | file | console | <entry point>
    state_dir = ".bridge-state"

    [emitters.rest]                  # the emitter's own config (its from_dict shape)
    gms_server = "http://localhost:8080"
    token = "..."

    [emitters.kafka.connection]
    bootstrap = "localhost:9092"
    schema_registry_url = "http://localhost:8081"

    [translator]                     # translators.datahub TranslatorConfig
    env = "PROD"

    [serve]                          # bridge serve
    host = "127.0.0.1"
    port = 5000

    [lineage]                        # how the bridge keeps DataHub's lineage
    ttl_days = 0                     # > 0: remove edges no event carried for this long
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from bridge.errors import ConfigError, unknown_settings

__all__ = ["BridgeConfig", "load_config", "http_url", "DEFAULT_STATE_DIR"]

DEFAULT_STATE_DIR = ".bridge-state"
DEFAULT_CONFIG_FILE = "bridge.toml"

# environment variable -> (section, key) it sets; section None = top level.
_ENV: dict[str, tuple[str | None, str]] = {
    "BRIDGE_EMITTER": (None, "emitter"),
    "BRIDGE_STATE_DIR": (None, "state_dir"),
    "BRIDGE_TOKEN": ("serve", "token"),
    "BRIDGE_ENV": ("translator", "env"),
    "BRIDGE_PLATFORM_INSTANCE": ("translator", "platform_instance"),
    "DATAHUB_GMS_URL": ("emitters.rest", "gms_server"),
    "DATAHUB_GMS_TOKEN": ("emitters.rest", "token"),
    "DATAHUB_EMIT_MODE": ("emitters.rest", "emit_mode"),
    "BRIDGE_KAFKA_BOOTSTRAP": ("emitters.kafka.connection", "bootstrap"),
    "BRIDGE_SCHEMA_REGISTRY_URL": ("emitters.kafka.connection", "schema_registry_url"),
    "BRIDGE_OUTPUT": ("emitters.file", "filename"),
    "BRIDGE_LINEAGE_TTL_DAYS": ("lineage", "ttl_days"),
}


def _freeze_mapping(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class BridgeConfig:
    """Everything the bridge needs to know; never holds live sessions or producers.

    Attributes:
        emitter: kind of the emitter to deliver with.
        emitters: per-kind emitter config dicts (each emitter's ``from_dict`` shape).
        translator: ``translators.datahub.TranslatorConfig`` as a dict.
        state_dir: where the spool, dead letters and default file output live.
        serve: ``bridge serve`` settings (host, port, token, ...).
        lineage: ``ttl_days``: stale-edge expiry (see :attr:`lineage_ttl_days`).
        source: where the config came from (for messages), not a setting.
    """

    emitter: str = "file"
    emitters: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, converter=_freeze_mapping)
    translator: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_mapping)
    state_dir: str = DEFAULT_STATE_DIR
    serve: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_mapping)
    lineage: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_mapping)
    source: str = attrs.field(default="defaults", eq=False)

    @property
    def lineage_ttl_days(self) -> float:
        """``[lineage] ttl_days``: remove lineage edges no event carried for this long (0 = never)."""
        value = self.lineage.get("ttl_days", 0)
        try:
            days = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"must be a number of days, got {value!r}", key="lineage.ttl_days") from None
        if days < 0:
            raise ConfigError(f"must be 0 (off) or more, got {days:g}", key="lineage.ttl_days")
        return days

    @property
    def emitter_config(self) -> dict[str, Any]:
        """The config dict of the selected emitter, with the bridge's defaults filled in.

        The file emitter writes under the state directory. The REST emitter batches
        in the background (``delivery = "background"``: failures reach callbacks and
        ``flush()``), where DataHub's own emitter, and ours created directly, send
        each MCP synchronously; set ``delivery = "sync"`` to have that here too.
        """
        config = dict(self.emitters.get(self.emitter, {}))
        if self.emitter == "file" and not config.get("filename"):
            config["filename"] = str(Path(self.state_dir) / "mcps.json")
        if self.emitter == "rest":
            config.setdefault("delivery", "background")
        return config

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "dict") -> BridgeConfig:
        """Build from a plain mapping (the config file's shape); unknown top-level keys are errors."""
        known = {a.name for a in attrs.fields(cls)} - {"source"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(unknown_settings(unknown, known, where=source))
        for section in ("emitters", "translator", "serve", "lineage"):
            if section in data and not isinstance(data[section], Mapping):
                raise ConfigError(f"must be a table/object in {source}", key=section)
        unknown = sorted(set(data.get("lineage") or {}) - {"ttl_days"})
        if unknown:
            raise ConfigError(unknown_settings(unknown, ["ttl_days"], where=source), key="lineage")
        config = cls(**dict(data), source=source)
        _ = config.lineage_ttl_days  # a bad value stops here, with the key named
        return config


def http_url(value: Any, *, key: str) -> str:
    """Check a setting that must be an http(s) URL, before anything is sent to it.

    A URL without a scheme is given ``http://`` (as DataHub's CLI does for its GMS URL), so
    ``localhost:8080`` works everywhere a URL is asked for. Anything ``requests`` would only
    refuse when the first request goes out (a bad port, another scheme, no host) is refused here.

    Args:
        value: the URL as given.
        key: the setting's name, for the error.

    Returns:
        The URL, with a scheme.

    Raises:
        ConfigError: naming ``key`` and the value, and saying what is wrong.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"an http(s) URL is required (e.g. http://localhost:8080), got {value!r}", key=key)
    url = value.strip()
    if "://" not in url:
        url = f"http://{url}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{value!r} is not an http(s) URL (scheme {parts.scheme!r})", key=key)
    if any(c.isspace() for c in url):
        raise ConfigError(f"{value!r} is not a URL: it holds a space", key=key)
    if not parts.hostname:
        raise ConfigError(f"{value!r} names no host (e.g. http://localhost:8080)", key=key)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{value!r} has no valid port: a port is a number from 1 to 65535", key=key)
    return url


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(raw)
        elif suffix in (".yaml", ".yml"):
            from bridge.errors import require

            data = require("yaml", "yaml").safe_load(raw)
        else:
            import tomllib

            data = tomllib.loads(raw.decode("utf-8"))
    except ConfigError:
        raise
    except Exception as exc:  # parsers raise their own error types; say which file and why
        raise ConfigError(f"cannot parse config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table/object at the top")
    return data


def _set(data: dict[str, Any], section: str | None, key: str, value: Any) -> None:
    node = data
    if section:
        for part in section.split("."):
            node = node.setdefault(part, {})
    node[key] = value


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BridgeConfig:
    """Resolve the configuration (see the module docstring for the order).

    Args:
        path: config file to read; ``None`` means ``$BRIDGE_CONFIG`` or ``./bridge.toml`` if present.
        env: environment to read (defaults to ``os.environ``; tests pass their own).
        overrides: explicit settings in the config file's shape; ``None`` values are ignored.

    Returns:
        The frozen :class:`BridgeConfig`.

    Raises:
        ConfigError: the file is missing/unreadable/malformed or holds unknown settings.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    sources: list[str] = []
    file_path = path or env.get("BRIDGE_CONFIG")
    if file_path:
        file = Path(file_path)
        if not file.is_file():
            raise ConfigError(f"config file {file} does not exist")
        data = _read_file(file)
        sources.append(str(file))
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        data = _read_file(Path(DEFAULT_CONFIG_FILE))
        sources.append(DEFAULT_CONFIG_FILE)
    from_env: dict[str, Any] = {}
    for name, (section, key) in _ENV.items():
        value = env.get(name)
        if value:
            _set(from_env, section, key, value)
            sources.append(f"${name}")
    if not env.get("DATAHUB_GMS_URL") and env.get("DATAHUB_GMS_HOST"):
        # DataHub's CLI convention: host, optional port and protocol make the URL.
        url = f"{env.get('DATAHUB_GMS_PROTOCOL') or 'http'}://{env['DATAHUB_GMS_HOST']}"
        if env.get("DATAHUB_GMS_PORT"):
            url += f":{env['DATAHUB_GMS_PORT']}"
        _set(from_env, "emitters.rest", "gms_server", url)
        sources.append("$DATAHUB_GMS_HOST")
    data = _merge(data, from_env)
    if overrides:
        data = _merge(data, _drop_none(overrides))
        sources.append("arguments")
    return BridgeConfig.from_dict(data, source=", ".join(sources) or "defaults")


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            value = _drop_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out
