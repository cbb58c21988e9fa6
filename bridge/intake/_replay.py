"""``bridge send PATH --to URL``: every event of files and folders posted to a running bridge, read as they
are posted (JSON Lines a line at a time), with their file and line when one is refused."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from bridge.errors import InvalidEventError
from bridge.files import UnreadableInput, input_files, open_input, read_records
from bridge.intake.client import MAX_BATCH_BYTES, _Poster, _text, shown_url

__all__ = ["SendSummary", "send_files"]

#: rejected events a summary keeps (with their location and reason); the rest are counted
KEEP_REJECTED = 1000
#: rejected events ``str()`` lists
SHOWN_REJECTED = 20


@attrs.define
class SendSummary:
    """What :func:`send_files` did; ``str()`` is the one-paragraph summary the CLI prints.

    Attributes:
        sent: records read (events posted, and those that could not be, which are rejected).
        rejected: ``(location, field, reason)`` of the first :data:`KEEP_REJECTED` events refused (by
            the bridge, or here: not JSON, a lone surrogate) and inputs that could not be read.
        rejected_count: all of them.
        stopped_at: when posting stopped on an error, the location of the first event it left unsent.
    """

    url: str
    files: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: list[tuple[str, str | None, str]] = attrs.field(factory=list)  # location, field, reason
    rejected_count: int = 0
    stopped_at: str | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected_count and self.accepted == self.sent and self.stopped_at is None

    def reject(self, location: str, field: str | None, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < KEEP_REJECTED:
            self.rejected.append((location, field, reason))

    def __str__(self) -> str:
        if self.stopped_at is None:
            first = f"{self.accepted} of {self.sent} event(s) from {self.files} file(s) accepted by {self.url}"
        else:  # (what was read is not all there is)
            first = (f"{self.accepted} event(s) accepted by {self.url} before it stopped at {self.stopped_at}: "
                     "that event and those after it were not sent")
        lines = [first + (f"; {self.rejected_count} rejected" if self.rejected_count else "")]
        for location, field, reason in self.rejected[:SHOWN_REJECTED]:
            lines.append(f"  rejected {location}: {field + ': ' if field else ''}{reason}")
        if self.rejected_count > SHOWN_REJECTED:
            lines.append(f"  ... and {self.rejected_count - SHOWN_REJECTED} more")
        return "\n".join(lines)


def _records(name: str, shown: str) -> Iterator[tuple[str, object]]:
    try:
        with open_input(name) as stream:
            yield from read_records(stream, source=shown)
    except (OSError, MemoryError) as exc:
        yield shown, UnreadableInput.of(exc, shown)


def send_files(
    paths: Iterable[str],
    url: str,
    *,
    token: str | None = None,
    batch: int = 100,
    progress: bool | None = None,
    verify: bool | str = True,
    timeout: float = 30.0,
    retries: int = 5,
) -> SendSummary:
    """Post every OpenLineage event in files/folders to a running bridge (``bridge send PATH --to URL``).

    Args:
        paths: files (JSON object, array or JSON Lines; gzip too), folders (``*.json``, ``*.jsonl``,
            ``*.ndjson``), ``-`` for standard input.
        url: the bridge (``http://127.0.0.1:5000``) or its full lineage endpoint.
        token: the bridge's bearer token.
        batch: events per request.
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        verify: for an HTTPS bridge: a CA bundle (PEM path) to check its certificate against,
            or ``True`` for the system's (``$REQUESTS_CA_BUNDLE`` works too).
        timeout, retries: per request, as :func:`~bridge.intake.post_events` takes them.

    Returns:
        A :class:`SendSummary`; ``.ok`` is false when any event was refused or unreadable.

    Raises:
        The errors of :func:`~bridge.intake.post_events` (auth, connection, server failure), each with
        ``summary``: the :class:`SendSummary` of what was done before, ``stopped_at`` the location of
        the first event it left unsent.
    """
    files = input_files(paths)
    summary = SendSummary(url=shown_url(url), files=len(files))

    def items() -> Iterator[tuple[str, str]]:
        for name in files:
            shown = "<stdin>" if name == "-" else name
            for location, obj in _records(name, shown):
                if isinstance(obj, UnreadableInput):
                    summary.reject(location, None, obj.reason)
                    continue
                summary.sent += 1
                if isinstance(obj, InvalidEventError):
                    summary.reject(location, obj.field, obj.reason)
                    continue
                text, field, reason = _text(obj)  # type: ignore[arg-type]
                if text is None:
                    summary.reject(location, field, reason)
                else:
                    yield location, text

    bar: Any = None
    if progress if progress is not None else sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="event", desc="sending", file=sys.stderr, leave=False)
    poster = _Poster(url, token, timeout=timeout, session=None, verify=verify, retries=retries)
    try:
        poster.post_all(items(), summary, attach="summary", batch=batch, max_bytes=MAX_BATCH_BYTES,
                        reject=summary.reject, progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    return summary
