"""Reading inputs for the CLI: files, folders (recursively) and ``-`` for stdin, with progress."""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from bridge.files import UnreadableInput, input_files, input_limit, open_input, read_records

__all__ = ["expand_paths", "read_inputs"]

Records = Iterator[tuple[str, object]]


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files to read (see :func:`bridge.files.input_files`); a path that cannot be one is a usage error.

    Besides regular files, anything that can be read as a stream is taken: a named pipe, ``<(zcat
    events.gz)`` (``/dev/fd/63``), ``/dev/stdin``.
    """
    files = input_files(paths)
    for raw in files:
        if raw == "-":
            continue
        try:
            mode = os.stat(raw).st_mode
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise click.BadParameter(f"{raw}: a symbolic link that leads back to itself (a loop)",
                                         param_hint="PATH") from None
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise click.BadParameter(f"{raw}: no such file or folder", param_hint="PATH") from None
            continue  # (unreadable: said when it is read, by name, and the other inputs are read)
        if stat.S_ISSOCK(mode):
            raise click.BadParameter(f"{raw}: a socket, not a file", param_hint="PATH")
    return files


def _size(path: str) -> int | None:
    """The bytes an input holds, ``None`` when not known before it is read (standard input, a pipe)."""
    if path == "-":
        return None
    try:
        info = os.stat(path)
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def read_inputs(paths: Sequence[str], *, progress: bool | None = None, unit: str = "B") -> Iterator[tuple[str, Records]]:
    """Yield ``(name, records)`` of each input: its JSON records as :func:`bridge.files.read_records` reads
    them (JSON Lines a line at a time), with a progress bar of the bytes read on a terminal.

    An input that cannot be read (gone, unreadable, broken gzip, over the input limit of
    :func:`bridge.files.input_limit`, more than memory holds) gives a :class:`bridge.files.UnreadableInput`
    naming it and why, after the records read before it: the inputs after it are still read.

    Args:
        paths: files, folders, or ``-``.
        progress: force the bar on/off; by default shown when stderr is a terminal and input is over 1 MiB
            (or of a size not known before it is read, as standard input).
    """
    files = expand_paths(paths)
    limit = input_limit()
    sizes = [_size(p) for p in files]  # (looked at once: the bar counts the bytes as they are read)
    total = None if None in sizes else sum(s or 0 for s in sizes)
    if progress is None:
        progress = sys.stderr.isatty() and (total is None or total > 1 << 20)
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, unit_scale=True, desc="reading", file=sys.stderr, leave=False)
    try:
        for name in files:
            shown = "<stdin>" if name == "-" else name
            yield shown, _records(name, shown, limit, bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()


def _records(name: str, shown: str, limit: int, on_read: Callable[[int], Any] | None) -> Records:
    try:
        with open_input(name, limit, on_read=on_read) as stream:
            yield from read_records(stream, source=shown, limit=limit)
    except (OSError, MemoryError) as exc:
        yield shown, UnreadableInput.of(exc, shown)
