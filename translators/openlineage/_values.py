"""Small value helpers shared by the parser and the dumper.

They are liberal in what they accept: a producer that sends a number where a
string belongs, or a timestamp without an offset, is warned about (structured
logging) and the value is used; only values that cannot be used at all make
the caller drop or reject something.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from bridge.errors import InvalidEventError

__all__ = [
    "Malformed",
    "format_time",
    "logger",
    "opt_int",
    "opt_str",
    "parse_time",
    "warn",
]

logger = logging.getLogger("translators.openlineage")

_UTC = dt.UTC


class Malformed(Exception):
    """A standard facet (or part of it) is unusable; the caller keeps it verbatim instead."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def warn(location: str | None, path: str, reason: str) -> None:
    """Log an oddity in an event that was accepted anyway (structured: key=value and ``extra``)."""
    logger.warning(
        "openlineage event oddity location=%s field=%s reason=%s",
        location,
        path,
        reason,
        extra={"ol_location": location, "ol_field": path, "ol_reason": reason},
    )


def opt_str(value: Any, path: str, location: str | None) -> str | None:
    """A string, or ``None``; numbers are accepted as their text; anything else is malformed."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        warn(location, path, f"expected a string, got {type(value).__name__}; using its text")
        return str(value)
    raise Malformed(path, f"expected a string, got {type(value).__name__}")


def opt_int(value: Any, path: str, location: str | None) -> int | None:
    """An integer count, or ``None``; integral floats and numeric strings are accepted."""
    if value is None or (type(value) is int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            pass
        else:
            warn(location, path, "expected an integer, got a numeric string")
            return number
    raise Malformed(path, f"expected an integer, got {type(value).__name__}")


def parse_time(value: Any, path: str, location: str | None) -> dt.datetime:
    """Parse an ISO-8601 timestamp of any precision/offset into an aware datetime.

    Naive timestamps are taken as UTC (with a warning); numbers are taken as epoch
    seconds, or milliseconds when they are too large to be seconds.

    Raises:
        Malformed: the value is not a timestamp.
    """
    if type(value) is str:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = _parse_time_slow(value, path)
        if parsed.tzinfo is None:
            warn(location, path, "timestamp has no UTC offset; assuming UTC")
            parsed = parsed.replace(tzinfo=_UTC)
        return parsed
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        try:
            parsed = dt.datetime.fromtimestamp(seconds, tz=_UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise Malformed(path, f"epoch value {value!r} is out of range") from exc
        warn(location, path, "timestamp is a number; read as epoch time")
        return parsed
    raise Malformed(path, f"expected an ISO-8601 timestamp, got {type(value).__name__}")


def _parse_time_slow(value: str, path: str) -> dt.datetime:
    # fromisoformat (3.11) takes almost everything; what is left are lower-case
    # separators and surrounding blanks. Anything else is not a timestamp.
    text = value.strip()
    if text[-1:] == "z":
        text = text[:-1] + "Z"
    text = text.replace("t", "T", 1)
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise Malformed(path, f"not an ISO-8601 timestamp: {value[:64]!r}") from exc


def format_time(value: dt.datetime) -> str:
    """ISO-8601 with ``Z`` for UTC, as OpenLineage producers write it."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def as_mapping(value: Any, path: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object (``None`` -> empty), else :class:`Malformed`."""
    if type(value) is dict or isinstance(value, Mapping):
        return value
    if value is None:
        return {}
    raise Malformed(path, f"expected an object, got {type(value).__name__}")


#: Longest namespace, name or run id: DataHub refuses URNs over 512 bytes, so a longer one can never arrive.
MAX_IDENTIFIER_CHARS = 512


def identity(value: Any, path: str, location: str | None) -> str:
    """A required identifier (namespace, name, run id): a non-empty string.

    Numbers are accepted as their text (with a warning); anything else is rejected.

    Raises:
        InvalidEventError: naming ``path``.
    """
    if type(value) is str:
        if len(value) > MAX_IDENTIFIER_CHARS:
            raise InvalidEventError(
                f"is {len(value)} characters long, over the {MAX_IDENTIFIER_CHARS}-character limit "
                "(DataHub keeps no URN over 512 bytes)", field=path, location=location
            )
        if value.strip():
            return value
        raise InvalidEventError(
            "must be a non-empty string, got an empty string", field=path, location=location
        )
    if value is None:
        raise InvalidEventError("is required but missing", field=path, location=location)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        warn(location, path, f"expected a string, got {type(value).__name__}; using its text")
        return str(value)
    raise InvalidEventError(
        f"must be a non-empty string, got {type(value).__name__}", field=path, location=location
    )
