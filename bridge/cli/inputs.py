"""Reading inputs for the CLI: files, folders (recursively) and ``-`` for stdin, with progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from bridge.files import decompress, input_files

__all__ = ["expand_paths", "read_inputs"]

def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files to read (see :func:`bridge.files.input_files`); a path that does not exist is a usage error."""
    files = input_files(paths)
    for raw in files:
        if raw != "-" and not Path(raw).is_file():
            raise click.BadParameter(f"{raw}: no such file or folder", param_hint="PATH")
    return files


def _size(path: str) -> int:
    return 0 if path == "-" else Path(path).stat().st_size


def read_inputs(paths: Sequence[str], *, progress: bool | None = None, unit: str = "B") -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, content)`` of each input, showing a byte progress bar on a terminal.

    Args:
        paths: files, folders, or ``-``.
        progress: force the bar on/off; by default shown when stderr is a terminal and input is over 1 MiB.
    """
    files = expand_paths(paths)
    total = sum(_size(p) for p in files)
    if progress is None:
        progress = sys.stderr.isatty() and total > 1 << 20
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, unit_scale=True, desc="reading", file=sys.stderr, leave=False)
    try:
        for name in files:
            if name == "-":
                try:
                    data = decompress(sys.stdin.buffer.read())
                except OSError as exc:
                    raise click.FileError("<stdin>", hint=str(exc)) from exc
                yield "<stdin>", data
                continue
            try:
                raw = Path(name).read_bytes()
                data = decompress(raw)
            except OSError as exc:
                raise click.FileError(name, hint=exc.strerror or str(exc)) from exc
            yield name, data
            if bar is not None:
                bar.update(len(raw))
    finally:
        if bar is not None:
            bar.close()
