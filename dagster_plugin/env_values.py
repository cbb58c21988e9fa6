"""Values of the plugin's environment variables, parsed (``str``, ``bool``, ``int``, ``float``, JSON, ``module:function``).

Only :mod:`dagster_plugin.config` reads the environment (``DagsterPluginConfig.from_env``, ``env_option``);
this module turns what it read into option values, with errors naming the variable.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from bridge.errors import ConfigError

__all__ = ["parse_value"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_value(name: str, raw: str, kind: str) -> Any:
    if kind == "str":
        return raw
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"${name} must be true or false, got {raw!r}")
    if kind in ("int", "float"):
        try:
            return int(raw) if kind == "int" else float(raw)
        except ValueError as exc:
            raise ConfigError(f"${name} must be a{'n integer' if kind == 'int' else ' number'}, got {raw!r}") from exc
    if kind == "json":
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"${name} must be a JSON object: {exc}") from exc
        if not isinstance(value, dict):
            raise ConfigError(f"${name} must be a JSON object, got {type(value).__name__}")
        return value
    if kind == "callable":
        return load_callable(raw, name=f"${name}")
    raise ValueError(f"unknown kind {kind}")  # programming error in ENV_VARS


def load_callable(target: str, *, name: str) -> Callable[..., Any]:
    """Import ``module:function`` (or ``module.function``)."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{name} must be 'module:function', got {target!r}")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{name}: cannot import {target!r}: {exc}") from exc
    if not callable(obj):
        raise ConfigError(f"{name}: {target!r} is not callable")
    return obj
