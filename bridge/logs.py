"""Structured logging: one ``key=value`` line per record, secrets never printed.

Pass context with ``extra={"fields": {...}}``; values whose key looks like a
secret (token, password, authorization, secret, api_key) are masked.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["KeyValueFormatter", "configure_logging", "log_fields"]

_SECRET_WORDS = ("token", "password", "authorization", "secret", "api_key", "apikey", "sasl")


def _is_secret(key: str) -> bool:
    key = key.lower()
    return any(word in key for word in _SECRET_WORDS)


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def log_fields(**fields: Any) -> dict[str, Any]:
    """``logger.info("msg", extra=log_fields(urn=..., count=...))``."""
    return {"fields": fields}


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=info logger=bridge.x msg="..." key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"ts={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        for key, value in (getattr(record, "fields", None) or {}).items():
            parts.append(f"{key}={'***' if _is_secret(key) else _quote(value)}")
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


KeyValueFormatter.converter = __import__("time").gmtime  # timestamps in UTC, marked Z


def configure_logging(level: int = logging.WARNING, stream: Any = None) -> None:
    """Send the bridge's logs to ``stream`` (stderr) as key=value lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
