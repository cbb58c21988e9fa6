"""Replay events to a running ``bridge serve``: :func:`post_events` (``bridge send --to URL``)."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import requests

from bridge.errors import AuthError, ConnectionFailedError, DeliveryError, InvalidEventError, RetriableError
from bridge.files import input_files, read_input

__all__ = ["PostResult", "SendSummary", "post_events", "send_files"]

DEFAULT_PATH = "/api/v1/lineage"


@attrs.define
class PostResult:
    """What :func:`post_events` did.

    Attributes:
        sent: events posted.
        accepted: events the server made durable (answered 201).
        rejected: ``(index, field, reason)`` for every event the server refused as unusable.
    """

    sent: int = 0
    accepted: int = 0
    rejected: list[tuple[int, str | None, str]] = attrs.field(factory=list)


def _batches(events: Iterable[Any], size: int) -> Iterator[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    for index, event in enumerate(events):
        text = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        batch.append((index, text))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _endpoint(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/lineage") else url + DEFAULT_PATH


def post_events(
    url: str,
    events_json_iter: Iterable[str | dict[str, Any]],
    token: str | None = None,
    *,
    batch: int = 100,
    progress: Callable[[int], None] | None = None,
    timeout: float = 30.0,
    session: requests.Session | None = None,
    verify: bool | str = True,
) -> PostResult:
    """Post OpenLineage events to a running bridge (or any OpenLineage HTTP endpoint).

    Events go as gzip-compressed JSON arrays of ``batch`` events. The bridge takes
    an array all or nothing; when it refuses one (422), its events are posted one
    by one so the good ones are still accepted and each bad one is reported.

    Args:
        url: the server (``http://host:5000``) or the full lineage endpoint URL.
        events_json_iter: events as JSON strings or decoded objects.
        token: bearer token, if the server requires one.
        batch: events per request.
        progress: called with the number of events just handled (e.g. ``tqdm.update``).
        timeout: seconds per request.
        session: a ``requests.Session`` to reuse.
        verify: for HTTPS: a CA bundle (PEM path) to check the server against, or ``True`` for
            the system's (``$REQUESTS_CA_BUNDLE`` works too), ``False`` to not check.

    Returns:
        A :class:`PostResult` (counts and each rejected event's index, field and reason).

    Raises:
        AuthError: the server refused the token (401/403).
        ConnectionFailedError: nothing answered at ``url``.
        RetriableError: the server failed (5xx); events before the failing batch were accepted.
        DeliveryError: any other unexpected answer.
    """
    endpoint = _endpoint(url)
    http = session or requests.Session()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    result = PostResult()

    def post(texts: list[str]) -> requests.Response:
        body = gzip.compress(("[" + ",".join(texts) + "]").encode("utf-8"), compresslevel=5)
        try:
            # Per request: requests lets $REQUESTS_CA_BUNDLE override a session's own CA.
            return http.post(endpoint, data=body, headers=headers, timeout=timeout, verify=verify)
        except requests.ConnectionError as exc:
            raise ConnectionFailedError(f"cannot connect to {endpoint}: {exc}") from exc
        except requests.Timeout as exc:
            raise RetriableError(f"no answer from {endpoint} within {timeout}s") from exc

    def check(response: requests.Response) -> None:
        if response.status_code in (401, 403):
            raise AuthError("the bridge refused the token", status=response.status_code, server_message=_reason(response))
        if response.status_code >= 500:
            raise RetriableError("the bridge failed", status=response.status_code, server_message=_reason(response))
        if response.status_code not in (200, 201, 202, 422):
            raise DeliveryError("unexpected answer", status=response.status_code, server_message=_reason(response))

    try:
        for chunk in _batches(events_json_iter, max(1, batch)):
            result.sent += len(chunk)
            response = post([text for _, text in chunk])
            check(response)
            if response.status_code != 422:
                result.accepted += len(chunk)
            elif len(chunk) == 1:
                result.rejected.append((chunk[0][0], *_field_reason(response)))
            else:
                for index, text in chunk:
                    single = post([text])
                    check(single)
                    if single.status_code == 422:
                        result.rejected.append((index, *_field_reason(single)))
                    else:
                        result.accepted += 1
            if progress is not None:
                progress(len(chunk))
    finally:
        if session is None:
            http.close()
    return result


def _reason(response: requests.Response) -> str:
    try:
        return str(response.json().get("reason") or response.text[:500])
    except ValueError:
        return response.text[:500]


def _field_reason(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
        return body.get("field"), str(body.get("reason"))
    except ValueError:
        return None, response.text[:500]




@attrs.define
class SendSummary:
    """What :func:`send_files` did; ``str()`` is the one-paragraph summary the CLI prints."""

    url: str
    files: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: list[tuple[str, str | None, str]] = attrs.field(factory=list)  # location, field, reason

    @property
    def ok(self) -> bool:
        return not self.rejected and self.accepted == self.sent

    def __str__(self) -> str:
        lines = [
            f"{self.accepted} of {self.sent} event(s) from {self.files} file(s) accepted by {self.url}"
            + (f"; {len(self.rejected)} rejected" if self.rejected else "")
        ]
        for location, field, reason in self.rejected[:20]:
            lines.append(f"  rejected {location}: {field + ': ' if field else ''}{reason}")
        if len(self.rejected) > 20:
            lines.append(f"  ... and {len(self.rejected) - 20} more")
        return "\n".join(lines)


def _raw_events(path: Path, bad: list[tuple[str, str | None, str]]) -> Iterator[tuple[str, str]]:
    """``(location, event JSON)`` of a JSON object, array or JSON Lines file; unreadable ones go to ``bad``."""
    from translators.openlineage import iter_json_records

    try:
        data = read_input(path)  # gzip too (*.json.gz), as every other command reads inputs
    except OSError as exc:
        bad.append((str(path), None, f"cannot read file: {exc}"))
        return
    for location, obj in iter_json_records(data, source=str(path)):
        if isinstance(obj, InvalidEventError):
            bad.append((location, None, obj.reason))
        else:
            yield location, json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def send_files(
    paths: Iterable[str],
    url: str,
    *,
    token: str | None = None,
    batch: int = 100,
    progress: bool | None = None,
    verify: bool | str = True,
) -> SendSummary:
    """Post every OpenLineage event in files/folders to a running bridge (``bridge send PATH --to URL``).

    Args:
        paths: files (JSON object, array or JSON Lines) and folders (``*.json``, ``*.jsonl``, ``*.ndjson``).
        url: the bridge (``http://127.0.0.1:5000``) or its full lineage endpoint.
        token: the bridge's bearer token.
        batch: events per request.
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        verify: for an HTTPS bridge: a CA bundle (PEM path) to check its certificate against,
            or ``True`` for the system's (``$REQUESTS_CA_BUNDLE`` works too).

    Returns:
        A :class:`SendSummary`; ``.ok`` is false when any event was refused or unreadable.

    Raises:
        The errors of :func:`post_events` (auth, connection, server failure).
    """
    files = [Path(f) for f in input_files(paths)]
    summary = SendSummary(url=url, files=len(files))
    locations: list[str] = []

    def events() -> Iterator[str]:
        for path in files:
            for location, text in _raw_events(path, summary.rejected):
                locations.append(location)
                yield text

    bar: Any = None
    if progress if progress is not None else sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="event", desc="sending", file=sys.stderr, leave=False)
    try:
        result = post_events(url, events(), token, batch=batch, progress=bar.update if bar else None,
                             verify=verify)
    finally:
        if bar is not None:
            bar.close()
    summary.sent = result.sent + sum(1 for loc, *_ in summary.rejected if loc not in locations)
    summary.accepted = result.accepted
    summary.rejected.extend((locations[index], field, reason) for index, field, reason in result.rejected)
    return summary
