"""Which files a list of input paths means, and their records: files as named, folders walked recursively.

Inputs may be gzip-compressed (``*.json.gz``, ``*.jsonl.gz``, ``*.ndjson.gz``, or any file
starting with gzip's magic bytes): producers and archives often keep events that way.

:func:`read_records` reads JSON Lines one line at a time, so memory holds one line, however
long the file; each line may hold at most :func:`input_limit` bytes. Anything else (one
object, an array, pretty-printed events) is read whole, so it may hold at most that much.
A gzip input may hold at most that much decompressed, JSON Lines or not (a small gzip that
inflates to gigabytes is refused once it passes the limit, not after).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from bridge.errors import ConfigError, InvalidEventError

__all__ = ["INPUT_SUFFIXES", "MAX_INPUT_BYTES", "OverLimit", "inflate", "input_files", "input_limit",
           "open_input", "read_records", "UnreadableInput"]

#: the default most one input may hold, decompressed (``$BRIDGE_MAX_INPUT_BYTES`` changes it)
MAX_INPUT_BYTES = 1 << 30

#: file name endings read when walking a folder (explicitly named files are always read).
INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")

_GZIP_MAGIC = b"\x1f\x8b"


def _wanted(path: Path) -> bool:
    return path.name.lower().endswith(INPUT_SUFFIXES)


def input_files(paths: Iterable[str]) -> list[str]:
    """Files to read, in a stable order: named paths as given (``-`` too), folders walked recursively.

    A path that does not exist is kept as given, for the caller to report.
    """
    out: list[str] = []
    for raw in paths:
        path = Path(raw)
        if raw != "-" and path.is_dir():
            out.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and _wanted(p))
        else:
            out.append(raw)
    return out


def input_limit() -> int:
    """The most one input may hold, decompressed: ``$BRIDGE_MAX_INPUT_BYTES`` or :data:`MAX_INPUT_BYTES`.

    Raises:
        ConfigError: the variable is not a positive whole number.
    """
    raw = os.environ.get("BRIDGE_MAX_INPUT_BYTES", "").strip()
    if not raw:
        return MAX_INPUT_BYTES
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError(f"must be a positive number of bytes, got {raw!r}", key="BRIDGE_MAX_INPUT_BYTES")
    return int(raw)


def _too_large(limit: int, what: str) -> OSError:
    return OSError(f"{what} over the {limit}-byte input limit (split it, or raise $BRIDGE_MAX_INPUT_BYTES)")


class OverLimit(OSError):
    """Compressed data that decompresses to more than its limit."""


def inflate(data: bytes, limit: int, *, deflate: bool = False) -> bytes:
    """gzip ``data`` decompressed (every member of a multi-member one, as ``cat a.gz b.gz`` makes; zero
    padding after the end tolerated), or one zlib stream with ``deflate=True``; it stops as soon as the
    output passes ``limit`` bytes.

    Raises:
        OverLimit: it decompresses to more than ``limit`` bytes.
        OSError: it is not valid, is cut short, or (``deflate``) has bytes after its end.
    """
    wbits = zlib.MAX_WBITS if deflate else 16 + zlib.MAX_WBITS
    out: list[bytes] = []
    size, rest = 0, data
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            chunk = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise OSError(f"not valid: {exc}") from exc
        size += len(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise OverLimit(f"decompresses to over the {limit}-byte limit")
        if not inflater.eof:
            raise OSError("cut short")
        out.append(chunk)
        rest = inflater.unused_data
        if not rest.strip(b"\0"):
            return b"".join(out)
        if deflate:
            raise OSError(f"{len(rest)} bytes after the end of the stream")


_CHUNK = 16 << 20


# -- streaming: one line at a time -------------------------------------------------------------


class _Counted(io.RawIOBase):
    """A raw reader over ``inner`` (its ``head`` first) that tells ``on_read`` how many bytes each read took."""

    def __init__(self, inner: Any, head: bytes = b"", on_read: Callable[[int], None] | None = None) -> None:
        self._inner, self._head, self._on_read = inner, head, on_read
        # one read of what is there (a pipe's line, not 1 MiB of them): readinto1 on buffered streams
        self._readinto = getattr(inner, "readinto1", None) or inner.readinto

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        n = self._readinto(buffer) or 0
        if n and self._on_read is not None:
            self._on_read(n)
        return n


class _Inflated(io.RawIOBase):
    """A gzip stream's content, refused (``OSError``) once it passes ``limit`` bytes or when it is broken."""

    def __init__(self, compressed: BinaryIO, limit: int) -> None:
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")
        self._limit, self._size = limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._gzip.readinto(buffer)
        except EOFError:
            raise OSError("not readable as gzip (cut short)") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise OSError(f"not readable as gzip (not valid: {exc})") from None
        self._size += n
        if self._size > self._limit:
            raise _too_large(self._limit, "decompresses to")
        return n


@contextlib.contextmanager
def open_input(name: str, limit: int | None = None, *,
               on_read: Callable[[int], None] | None = None) -> Iterator[BinaryIO]:
    """An input's content as a stream (``-``: standard input), decompressed if it is gzip (told by its
    first bytes); ``on_read`` hears how many bytes of the input (compressed) each read took.

    Raises:
        OSError: it cannot be opened; reading raises it when the input is broken gzip, or gzip
            that decompresses to more than ``limit`` bytes (by default :func:`input_limit`).
    """
    limit = input_limit() if limit is None else limit
    with contextlib.ExitStack() as stack:
        raw: Any = sys.stdin.buffer if name == "-" else stack.enter_context(open(name, "rb", buffering=0))
        head = b""
        while len(head) < len(_GZIP_MAGIC):  # (a pipe may give them one at a time)
            more = raw.read(len(_GZIP_MAGIC) - len(head))
            if not more:
                break
            head += more
        if on_read is not None and head:
            on_read(len(head))
        stream: Any = io.BufferedReader(_Counted(raw, head, on_read), _CHUNK_LINE)
        if head == _GZIP_MAGIC:
            stream = io.BufferedReader(_Inflated(stream, limit), _CHUNK_LINE)
        yield stream


_CHUNK_LINE = 1 << 20


def read_records(stream: BinaryIO, *, source: str, limit: int | None = None) -> Iterator[tuple[str, object]]:
    """The JSON records of an input's content, as :func:`translators.openlineage.iter_json_records` yields
    them (``(location, value or InvalidEventError)``), JSON Lines one line at a time.

    It is JSON Lines when its first line that is not blank is a JSON object by itself and more follows;
    each line may then hold at most ``limit`` bytes (a longer one is an error at its line, and the lines
    after it are not read). Anything else is read whole, at most ``limit`` bytes. An input that breaks
    off (an I/O error, broken gzip) is an error at ``source`` after the records read before it.
    """
    from translators.openlineage._read import BLANK, iter_json_records, record_of_line

    limit = input_limit() if limit is None else limit
    head: list[bytes] = []  # what was read before the form is known
    size = number = 0
    first: tuple[int, str, bool] | None = None  # the first line (number, text, escaped) when shaped as an object
    try:
        while True:
            line = stream.readline(limit + 1)
            if not line:
                break
            number += 1
            if first is None:  # not known yet: the first lines that are not blank tell
                head.append(line)
                size += len(line)
                if size > limit:
                    break  # refused below
                if not line.strip():
                    continue
                first = _object_line(line, number)
                if first is None:
                    break  # not JSON Lines: read whole below
                continue
            location = f"{source}:{number}"
            if len(line) > limit:
                obj: object = InvalidEventError(
                    f"the line {_too_large(limit, 'holds')}; the lines after it were not read", location=location)
            else:
                text, escaped = _decoded(line)
                obj = record_of_line(text, location, escaped=escaped)
                if obj is BLANK:
                    continue
                if not line.endswith(b"\n") and isinstance(obj, InvalidEventError) and obj.reason.startswith("invalid JSON"):
                    obj = InvalidEventError(f"{obj.reason}; the input ends inside this line (cut short?)",
                                            location=location)
            if head:  # something follows the first object: JSON Lines
                head = []
                yield f"{source}:{first[0]}", record_of_line(first[1], f"{source}:{first[0]}", escaped=first[2])
            yield location, obj
            if len(line) > limit:
                return
        if first is not None:
            if head:  # the first object alone: the whole input is that one object
                yield source, record_of_line(first[1], source, escaped=first[2])
            return
        if size > limit:
            raise _too_large(limit, "holds")
        data = b"".join(head + _read_up_to(stream, limit + 1 - size))
        if len(data) > limit:
            raise _too_large(limit, "holds")
        yield from iter_json_records(data, source=source)
    except OSError as exc:
        yield source, UnreadableInput.of(exc, source)


class UnreadableInput(InvalidEventError):
    """An input that cannot be read (gone, unreadable, broken gzip, over the input limit), or no further."""

    @classmethod
    def of(cls, error: BaseException, source: str) -> UnreadableInput:
        if isinstance(error, MemoryError):
            return cls("cannot read: more than this machine's memory holds", location=source)
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return cls(f"cannot read: {reason}", location=source)


def _decoded(line: bytes, encoding: str = "utf-8") -> tuple[str, bool]:
    """``(text, escaped)``: ``line`` decoded; bytes that are not UTF-8 as lone surrogates (``escaped``)."""
    try:
        return line.decode(encoding), False
    except UnicodeDecodeError:
        return line.decode(encoding, "surrogateescape"), True


def _object_line(line: bytes, number: int) -> tuple[int, str, bool] | None:
    """``(number, text, escaped)`` when ``line`` has the shape of a JSON object on a line of its own (``{``
    to ``}``: JSON Lines, if more follows), else ``None``. By shape, not by parsing: a broken first line
    is that line's error, the file still read a line at a time. ``escaped``: bytes that were not UTF-8 are
    in ``text`` as lone surrogates (see :func:`translators.openlineage.record_of_line`)."""
    text, escaped = _decoded(line, "utf-8-sig" if number == 1 else "utf-8")
    shape = text.strip()
    return (number, text, escaped) if shape[:1] == "{" and shape[-1:] == "}" else None


def _read_up_to(stream: BinaryIO, most: int) -> list[bytes]:
    """At most ``most`` bytes, in pieces: read(most) would set aside the whole of it first."""
    chunks, size = [], 0
    while size < most:
        chunk = stream.read(min(_CHUNK, most - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return chunks
