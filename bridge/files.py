"""Which files a list of input paths means, and their bytes: files as named, folders walked recursively.

Inputs may be gzip-compressed (``*.json.gz``, ``*.jsonl.gz``, ``*.ndjson.gz``, or any file
starting with gzip's magic bytes): producers and archives often keep events that way.

An input is read whole, so it may hold at most :func:`input_limit` bytes (decompressed: a
small gzip that inflates to gigabytes is refused once it passes the limit, not after).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from bridge.errors import ConfigError

__all__ = ["INPUT_SUFFIXES", "MAX_INPUT_BYTES", "OverLimit", "decompress", "inflate", "input_files", "input_limit",
           "read_input", "read_stream"]

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


def decompress(data: bytes, limit: int | None = None) -> bytes:
    """``data`` itself, or its decompressed content if it is gzip (told by its first bytes, not its name).

    Raises:
        OSError: the data starts as gzip but is not whole gzip (cut short, corrupt), or it decompresses
            to more than ``limit`` bytes (by default :func:`input_limit`).
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    limit = input_limit() if limit is None else limit
    try:
        return inflate(data, limit)
    except OverLimit:
        raise _too_large(limit, "decompresses to") from None
    except OSError as exc:
        raise OSError(f"not readable as gzip ({exc})") from exc


def read_input(path: str | Path, limit: int | None = None) -> bytes:
    """The content of an input file, decompressed if it is gzip.

    Raises:
        OSError: it cannot be read, is broken gzip, or holds more than ``limit`` bytes (by default
            :func:`input_limit`), decompressed or not.
    """
    limit = input_limit() if limit is None else limit
    with open(path, "rb") as file:
        return read_stream(file, limit)


def read_stream(stream: BinaryIO, limit: int | None = None) -> bytes:
    """What :func:`read_input` reads, from an open binary stream (stdin, say)."""
    limit = input_limit() if limit is None else limit
    chunks: list[bytes] = []
    size = 0
    while size <= limit:  # in pieces: read(limit + 1) would set aside the whole limit's memory first
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise _too_large(limit, "holds")
    return decompress(b"".join(chunks), limit)


_CHUNK = 16 << 20
