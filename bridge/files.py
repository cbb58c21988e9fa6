"""Which files a list of input paths means, and their bytes: files as named, folders walked recursively.

Inputs may be gzip-compressed (``*.json.gz``, ``*.jsonl.gz``, ``*.ndjson.gz``, or any file
starting with gzip's magic bytes): producers and archives often keep events that way.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["INPUT_SUFFIXES", "decompress", "input_files", "read_input"]

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


def decompress(data: bytes) -> bytes:
    """``data`` itself, or its decompressed content if it is gzip (told by its first bytes, not its name).

    Raises:
        OSError: the data starts as gzip but is not whole gzip (cut short, corrupt).
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise OSError(f"not readable as gzip ({exc or type(exc).__name__})") from exc


def read_input(path: str | Path) -> bytes:
    """The content of an input file, decompressed if it is gzip.

    Raises:
        OSError: it cannot be read, or is broken gzip.
    """
    return decompress(Path(path).read_bytes())
