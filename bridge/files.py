"""Which files a list of input paths means: files as named, folders walked recursively."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["INPUT_SUFFIXES", "input_files"]

#: file name endings read when walking a folder (explicitly named files are always read).
INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson")


def input_files(paths: Iterable[str]) -> list[str]:
    """Files to read, in a stable order: named paths as given (``-`` too), folders walked recursively.

    A path that does not exist is kept as given, for the caller to report.
    """
    out: list[str] = []
    for raw in paths:
        path = Path(raw)
        if raw != "-" and path.is_dir():
            out.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
        else:
            out.append(raw)
    return out
