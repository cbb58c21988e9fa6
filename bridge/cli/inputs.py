"""Reading inputs for the CLI: files, folders (recursively) and ``-`` for stdin, with progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from bridge.errors import InvalidEventError
from bridge.files import input_files, input_limit, read_input, read_stream

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


def read_inputs(
    paths: Sequence[str], *, progress: bool | None = None, unit: str = "B"
) -> Iterator[tuple[str, bytes | InvalidEventError]]:
    """Yield ``(name, content)`` of each input, showing a byte progress bar on a terminal.

    An input that cannot be read (gone, unreadable, broken gzip, over the input limit of
    :func:`bridge.files.input_limit`, more than memory holds) comes as an :class:`InvalidEventError`
    naming it and why, in place of its content: the inputs after it are still read.

    Args:
        paths: files, folders, or ``-``.
        progress: force the bar on/off; by default shown when stderr is a terminal and input is over 1 MiB.
    """
    files = expand_paths(paths)
    limit = input_limit()
    sizes = [_size(p) for p in files]  # (looked at once: the bar counts them as each is read)
    total = sum(sizes)
    if progress is None:
        progress = sys.stderr.isatty() and total > 1 << 20
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, unit_scale=True, desc="reading", file=sys.stderr, leave=False)
    try:
        for name, size in zip(files, sizes, strict=True):
            shown = "<stdin>" if name == "-" else name
            try:
                data: bytes | InvalidEventError = (
                    read_stream(sys.stdin.buffer, limit) if name == "-" else read_input(name, limit))
            except OSError as exc:
                data = InvalidEventError(f"cannot read: {exc.strerror or exc}", location=shown)
            except MemoryError:
                data = InvalidEventError("cannot read: more than this machine's memory holds", location=shown)
            yield shown, data
            if bar is not None:
                bar.update(size)
    finally:
        if bar is not None:
            bar.close()
