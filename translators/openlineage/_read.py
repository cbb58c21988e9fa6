"""Many OpenLineage events from bytes or a file: one object, a JSON array, or JSON Lines.

A bad event (or an unparseable line) is yielded as an :class:`InvalidEventError`
with its location; it never stops the good events around it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator

from bridge.errors import InvalidEventError
from bridge.model import Event

from ._parse import parse_event
from ._values import warn

__all__ = ["iter_json_records", "parse_events", "read_events"]

_TOO_DEEP = "JSON nested too deeply to read"

Result = tuple[str, "Event | InvalidEventError"]


def parse_events(
    data: bytes | str, *, source: str = "<input>", received_at: dt.datetime | None = None
) -> Iterator[Result]:
    """Parse a single JSON object, a JSON array of events, or JSON Lines.

    Args:
        data: the raw text (bytes are read as UTF-8, with or without a BOM).
        source: a name for ``data`` used in locations (usually the file name).
        received_at: passed to :func:`parse_event` for events without a usable ``eventTime``.

    Yields:
        ``(location, result)``: location is ``source`` for a single object,
        ``source[3]`` for the 4th array element, ``source:12`` for line 12 of JSON Lines;
        result is the parsed event or the :class:`InvalidEventError` saying why it was refused.
    """
    for location, obj in iter_json_records(data, source=source):
        yield location, obj if isinstance(obj, InvalidEventError) else _one(obj, location, received_at)


def iter_json_records(data: bytes | str, *, source: str = "<input>") -> Iterator[tuple[str, object]]:
    """The JSON values of a single JSON object, a JSON array, or JSON Lines (any records, not only events).

    Yields:
        ``(location, value)`` as :func:`parse_events` names locations; text that is not
        JSON (a bad line, bad UTF-8) is yielded as an :class:`InvalidEventError` in place of
        the value, and the records around it still come.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            yield (
                source,
                InvalidEventError(f"not UTF-8 text (byte {exc.start}): {exc.reason}", location=source),
            )
            return
    else:
        text = data[1:] if data[:1] == "\ufeff" else data
    if not text.strip():
        return
    try:
        obj = json.loads(text)
    except RecursionError:
        yield source, InvalidEventError(_TOO_DEEP, location=source)
        return
    except json.JSONDecodeError as exc:
        if not _looks_like_lines(text, exc):
            yield (
                source,
                InvalidEventError(_json_error(exc, f"line {exc.lineno} column {exc.colno}"), location=source),
            )
            return
    else:
        if type(obj) is list:
            for index, item in enumerate(obj):
                yield f"{source}[{index}]", item
        else:
            yield source, obj
        return
    # Not one JSON value: JSON Lines (a broken line is reported, the others are read).
    yield from _lines(text, source)


def read_events(path: str | os.PathLike[str], *, received_at: dt.datetime | None = None) -> Iterator[Result]:
    """Read a file of OpenLineage events (see :func:`parse_events`); locations use the path as given.

    Args:
        path: a file holding one event, a JSON array of events, or JSON Lines.
        received_at: passed to :func:`parse_event` for events without a usable ``eventTime``.

    Yields:
        ``(location, event or InvalidEventError)`` as :func:`parse_events` does.

    Raises:
        InvalidEventError: the file cannot be read (raised when iteration starts); ``location``
            is the path and the cause is the ``OSError``.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InvalidEventError(
            f"cannot read the file: {exc.strerror or exc}", location=os.fspath(path)
        ) from exc
    yield from parse_events(data, source=os.fspath(path), received_at=received_at)


def _one(obj: object, location: str, received_at: dt.datetime | None) -> Event | InvalidEventError:
    try:
        return parse_event(obj, location=location, received_at=received_at)  # type: ignore[arg-type]
    except InvalidEventError as exc:
        return exc if exc.location == location else exc.at(location)


def _looks_like_lines(text: str, exc: json.JSONDecodeError) -> bool:
    """JSON Lines, as opposed to one (broken) pretty-printed object?

    Only asked when the whole text is not one JSON value. One value followed by more
    ("Extra data") is JSON Lines; so is text with several lines starting with ``{`` in
    the first column, or one such line that is a whole JSON value by itself
    (pretty-printed JSON indents nested objects, and its first line is a bare ``{``).
    """
    if exc.msg == "Extra data":
        return True
    starts = 0
    for line in text.split("\n"):
        if line[:1] == "{":
            starts += 1
            if starts > 1:
                return True
            try:
                json.loads(line)
            except (ValueError, RecursionError):
                continue
            return True
    return False


def _lines(text: str, source: str) -> Iterator[tuple[str, object]]:
    loads = json.loads
    # split on "\n" only: str.splitlines() also splits on U+2028 & co., which JSON strings may hold raw
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        location = f"{source}:{number}"
        try:
            obj = loads(line)
        except json.JSONDecodeError as exc:
            obj = _without_trailing_comma(line, location)
            if obj is None:
                yield (
                    location,
                    InvalidEventError(_json_error(exc, f"column {exc.colno}"), location=location),
                )
                continue
        except RecursionError:
            yield location, InvalidEventError(_TOO_DEEP, location=location)
            continue
        yield location, obj


def _without_trailing_comma(line: str, location: str) -> object | None:
    """An array element written one per line (``{...},``), as left by a cut-short array; else ``None``."""
    stripped = line.rstrip()
    if not stripped.endswith(","):
        return None
    try:
        obj = json.loads(stripped[:-1])
    except (ValueError, RecursionError):
        return None
    warn(location, "", "line ends with a comma (an element of a broken JSON array?); read without it")
    return obj


def _json_error(exc: json.JSONDecodeError, where: str) -> str:
    """The decoder's message as a whole sentence: ``Unterminated string starting at`` ends with the place."""
    if exc.msg.endswith(" at"):
        return f"invalid JSON: {exc.msg} {where}"
    return f"invalid JSON at {where}: {exc.msg}"
