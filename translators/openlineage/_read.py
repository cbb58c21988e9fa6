"""Many OpenLineage events from bytes or a file: one object, a JSON array, JSON Lines, or values one after another.

A bad event (or an unparseable line of JSON Lines) is yielded as an
:class:`InvalidEventError` with its location; it never stops the good events
around it. A JSON document with a syntax error is one error at its line and
column, not one per line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator

from bridge._json import read_json
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
        ``source[3]`` for the 4th array element, ``source:12`` for line 12 of JSON Lines (or
        for a value starting on line 12 when several are written one after another);
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
        obj = read_json(text)
    except RecursionError:
        yield source, InvalidEventError(_TOO_DEEP, location=source)
        return
    except json.JSONDecodeError:
        # Not one JSON value: JSON Lines (a broken line is reported, the others are read),
        # or one document (or several, one after another) broken somewhere: one error, at its place.
        yield from (_lines(text, source) if _is_json_lines(text) else _documents(text, source))
        return
    if type(obj) is list:
        for index, item in enumerate(obj):
            yield f"{source}[{index}]", item
    else:
        yield source, obj


def read_events(path: str | os.PathLike[str], *, received_at: dt.datetime | None = None) -> Iterator[Result]:
    """Read a file of OpenLineage events (see :func:`parse_events`); locations use the path as given.

    Args:
        path: a file holding one event, a JSON array of events, JSON Lines, or events one after another.
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


def _is_json_lines(text: str) -> bool:
    """JSON Lines, as opposed to a broken (pretty-printed) document?

    Only asked when the whole text is not one JSON value. It is JSON Lines when some line
    starting with ``{`` in the first column is a whole JSON object by itself (a trailing
    comma allowed: the events of a cut-short array written one per line). A pretty-printed
    document has no such line: its objects open with a bare ``{`` and its nested values
    are indented. Lines that cannot be events (not starting with ``{``) are not tried.
    """
    loads = read_json
    for line in text.split("\n"):
        if line[:1] != "{":
            continue
        try:
            obj = loads(line.rstrip())
        except (ValueError, RecursionError):
            obj = _without_trailing_comma(line)
        if type(obj) is dict:
            return True
    return False


_NOT_BLANK = re.compile(r"[^ \t\n\r]")


def _documents(text: str, source: str) -> Iterator[tuple[str, object]]:
    """The JSON values of ``text`` written one after another (often just one), up to a syntax error.

    A syntax error is one :class:`InvalidEventError` at ``source`` saying the line and column;
    what follows it is not read (where the broken value ends cannot be known). When ``text``
    holds more than one value, each is located by the line it starts on (``source:12``);
    ``jq . events.jsonl`` writes such text.
    """
    decode = json.JSONDecoder().raw_decode
    values: list[tuple[int, object]] = []
    error: InvalidEventError | None = None
    position = _skip_blank(text, 0)
    while position < len(text):
        try:
            value, end = decode(text, position)
        except json.JSONDecodeError as exc:
            reason = _json_error(exc, f"line {exc.lineno} column {exc.colno}")
            if values:
                reason += f"; the {len(values)} JSON value{'s' if len(values) > 1 else ''} before it were read, none after"
            error = InvalidEventError(reason, location=source)
            break
        except RecursionError:
            error = InvalidEventError(_TOO_DEEP, location=source)
            break
        values.append((position, value))
        position = _skip_blank(text, end)
    line, counted = 1, 0
    for start, value in values:
        line += text.count("\n", counted, start)
        counted = start
        yield f"{source}:{line}", value
    if error is not None:
        yield source, error


def _skip_blank(text: str, position: int) -> int:
    match = _NOT_BLANK.search(text, position)
    return match.start() if match else len(text)


def _lines(text: str, source: str) -> Iterator[tuple[str, object]]:
    loads = read_json
    # split on "\n" only: str.splitlines() also splits on U+2028 & co., which JSON strings may hold raw
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        location = f"{source}:{number}"
        try:
            obj = loads(line)
        except json.JSONDecodeError as exc:
            obj = _without_trailing_comma(line)
            if obj is None:
                yield (
                    location,
                    InvalidEventError(_json_error(exc, f"column {exc.colno}"), location=location),
                )
                continue
            warn(location, "", "line ends with a comma (an element of a broken JSON array?); read without it")
        except RecursionError:
            yield location, InvalidEventError(_TOO_DEEP, location=location)
            continue
        yield location, obj


def _without_trailing_comma(line: str) -> object | None:
    """A line holding an array element written one per line (``{...},``), as left by a cut-short array,
    read without its comma; else ``None`` (the caller says it read it so)."""
    stripped = line.rstrip()
    if not stripped.endswith(","):
        return None
    try:
        return read_json(stripped[:-1])
    except (ValueError, RecursionError):
        return None


def _json_error(exc: json.JSONDecodeError, where: str) -> str:
    """The decoder's message as a whole sentence: ``Unterminated string starting at`` ends with the place."""
    if exc.msg.endswith(" at"):
        return f"invalid JSON: {exc.msg} {where}"
    return f"invalid JSON at {where}: {exc.msg}"
