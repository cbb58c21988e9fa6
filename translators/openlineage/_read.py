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
from ._validate import event_json
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
        yield location, parse_record(obj, location, received_at)


def parse_record(obj: object, location: str, received_at: dt.datetime | None = None) -> Event | InvalidEventError:
    """One record of :func:`iter_json_records` as an event, or the error saying why it is none (its own, if it
    is one already)."""
    return obj if isinstance(obj, InvalidEventError) else _one(obj, location, received_at)


def iter_json_records(data: bytes | str, *, source: str = "<input>") -> Iterator[tuple[str, object]]:
    """The JSON values of a single JSON object, a JSON array, or JSON Lines (any records, not only events).

    Yields:
        ``(location, value)`` as :func:`parse_events` names locations; text that is not
        JSON (a bad line, bad UTF-8) and a value holding a lone surrogate (``"\\ud800"``: valid
        JSON, but no text can hold it) are yielded as an :class:`InvalidEventError` in place of
        the value, and the records around them still come.
    """
    escaped = False  # bytes that are not UTF-8 are in the text as lone surrogates (U+DC80..U+DCFF)
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8-sig", "surrogateescape")
            if not _is_json_lines(text):  # one document: nothing of it can be read
                yield source, InvalidEventError(_not_utf8(raw, exc), location=source)
                return
            escaped = True
    else:
        text = data[1:] if data[:1] == "\ufeff" else data
    if not text.strip():
        return
    if escaped:
        yield from _lines(text, source, escaped=True)
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
    check = _MAY_HOLD_SURROGATE(text) is not None
    if type(obj) is list:
        for index, item in enumerate(obj):
            yield _checked(f"{source}[{index}]", item, check)
    else:
        yield _checked(source, obj, check)


def record_of_line(line: str, location: str, *, escaped: bool = False) -> object:
    """The JSON value of one line of JSON Lines, the :class:`InvalidEventError` saying why it cannot be read,
    or :data:`BLANK` for a blank line. ``escaped``: bytes that were not UTF-8 are in ``line`` as lone surrogates."""
    if not line or line.isspace():
        return BLANK
    if line[:1] == "\ufeff":  # a byte-order mark starting a line: files with one, concatenated
        line = line[1:]
    if escaped:
        bad = _ESCAPED_BYTE(line)
        if bad is not None:
            column = bad.start() + 1
            return InvalidEventError(f"not UTF-8 text at column {column} (byte 0x{ord(bad.group()) - 0xDC00:02x})",
                                     location=location)
    try:
        obj = read_json(line)
    except json.JSONDecodeError as exc:
        obj = _without_trailing_comma(line)
        if obj is None:
            return InvalidEventError(_json_error(exc, f"column {exc.colno}"), location=location)
        warn(location, "", "line ends with a comma (an element of a broken JSON array?); read without it")
    except RecursionError:
        return InvalidEventError(_TOO_DEEP, location=location)
    return _checked(location, obj, _MAY_HOLD_SURROGATE(line) is not None)[1]


#: what :func:`record_of_line` gives for a blank line
BLANK = object()
#: a JSON escape that may spell half of a UTF-16 pair (the only way JSON text can hold a lone surrogate)
_MAY_HOLD_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]").search
#: a byte that was not UTF-8, as ``surrogateescape`` decoding leaves it
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]").search


def _checked(location: str, obj: object, check: bool) -> tuple[str, object]:
    """``(location, obj)``, or the error for ``obj`` when a string of it holds a lone surrogate: no text can
    hold one, so it could be neither sent nor stored (``check``: its JSON text has an escape that may spell one)."""
    if check:
        try:
            event_json(obj, location=location)
        except InvalidEventError as exc:
            return location, exc
    return location, obj


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 is, by line and column, and what the text may be instead."""
    start = exc.start
    line = raw.count(b"\n", 0, start) + 1
    column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
    hint = ""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        hint = " (it starts as UTF-16 text does: save it as UTF-8)"
    return f"not UTF-8 text at line {line} column {column} (byte {start}): {exc.reason}{hint}"


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
    check = _MAY_HOLD_SURROGATE(text) is not None
    for start, value in values:
        line += text.count("\n", counted, start)
        counted = start
        yield _checked(f"{source}:{line}", value, check)
    if error is not None:
        yield source, error


def _skip_blank(text: str, position: int) -> int:
    match = _NOT_BLANK.search(text, position)
    return match.start() if match else len(text)


def _lines(text: str, source: str, *, escaped: bool = False) -> Iterator[tuple[str, object]]:
    # split on "\n" only: str.splitlines() also splits on U+2028 & co., which JSON strings may hold raw
    for number, line in enumerate(text.split("\n"), start=1):
        location = f"{source}:{number}"
        obj = record_of_line(line, location, escaped=escaped)
        if obj is not BLANK:
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
