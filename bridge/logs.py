"""Structured logging: one ``key=value`` line per record, secrets never printed.

Pass context with ``extra={"fields": {...}}``; values whose key looks like a
secret (:mod:`bridge.secrets`: token, password, secret, api key..., and authorization) are masked,
and the secrets inside any text logged (the message, field values, a traceback) are replaced by ``***``
(:meth:`~bridge.secrets.Secrets.redact_text`: a URL's ``user:password@``, ``;password=...``): an
event's namespace (``postgres://user:password@host``) is in its ordering key and its job's URN.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from bridge.secrets import Secrets

__all__ = ["KeyValueFormatter", "LogThrottle", "configure_logging", "log_fields"]

# a field whose name looks like a secret (bridge.secrets), or an Authorization header, is masked
_SECRETS = Secrets(extra=("authorization",))
_is_secret = _SECRETS.is_secret


def _quote(value: Any) -> str:
    text = _SECRETS.redact_text(str(value))
    if not text or any(c in text for c in ' "=\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def log_fields(**fields: Any) -> dict[str, Any]:
    """``logger.info("msg", extra=log_fields(urn=..., count=...))``."""
    return {"fields": fields}


class LogThrottle:
    """Says the same thing at most once per ``every`` seconds, then with how many were ``suppressed``.

    For what an attacker or a down server can repeat thousands of times a second
    (refused connections, a broker's errors): the log stays readable and bounded.
    """

    def __init__(self, every: float = 60.0, max_keys: int = 1000) -> None:
        self.every = every
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}  # key -> [when last logged, how many suppressed since]

    def log(self, logger: logging.Logger, level: int, msg: str, key: str, **fields: Any) -> None:
        """Log ``msg`` unless the same ``key`` was logged less than :attr:`every` seconds ago (count it then)."""
        if not logger.isEnabledFor(level):
            return
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.every:
                seen[1] += 1
                return
            if len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[key] = [now, 0]
        if seen and seen[1]:
            fields["suppressed"] = int(seen[1])
        logger.log(level, msg, extra=log_fields(**fields))


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
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")  # (redacted too)
        return " ".join(parts)


KeyValueFormatter.converter = __import__("time").gmtime  # timestamps in UTC, marked Z


def configure_logging(level: int = logging.WARNING, stream: Any = None) -> None:
    """Send the bridge's logs to ``stream`` (stderr) as key=value lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
