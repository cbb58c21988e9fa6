"""Replay events to a running ``bridge serve``: :func:`post_events` (``bridge send --to URL``).

Events go as gzip-compressed JSON arrays of at most ``batch`` events and :data:`MAX_BATCH_BYTES`.
The bridge takes an array all or nothing: a refused one (422) is posted again event by event, so
the good events are still accepted and each bad one is reported; one over the bridge's body limit
(413) is halved until it fits, and an event that alone is over it is reported. An answer that
says "later" (429, 502-504, no answer, a connection that broke) is tried again with backoff.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import requests

from bridge.errors import (
    AuthError,
    BridgeError,
    ConnectionFailedError,
    DeliveryError,
    RetriableError,
    lone_surrogate,
)
from bridge.logs import log_fields

__all__ = ["MAX_BATCH_BYTES", "PostResult", "post_events"]

log = logging.getLogger("bridge.intake.client")

DEFAULT_PATH = "/api/v1/lineage"
#: most bytes of event JSON one request carries (the bridge takes 16 MiB by default; a 413 is split further)
MAX_BATCH_BYTES = 4 << 20
#: answers tried again (with backoff, honouring ``Retry-After``): the bridge or a proxy in front of it is busy
RETRY_STATUSES = frozenset({429, 502, 503, 504})

Reject = Callable[[Any, "str | None", str], None]


@attrs.define
class PostResult:
    """What :func:`post_events` did.

    Attributes:
        sent: events posted.
        accepted: events the server made durable (answered 201).
        rejected: ``(index, field, reason)`` for every event the server refused as unusable (or that
            cannot be sent: a lone surrogate, which no text can hold).
        stopped_at: when posting stopped on an error, the index of the first event not accepted because
            of it (the events from there on were not sent).
    """

    sent: int = 0
    accepted: int = 0
    rejected: list[tuple[int, str | None, str]] = attrs.field(factory=list)
    stopped_at: int | None = None


def _endpoint(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/lineage") else url + DEFAULT_PATH


def _text(event: str | dict[str, Any]) -> tuple[str | None, str | None, str]:
    """``(text, field, reason)``: the event's compact JSON, or why it cannot be sent."""
    from translators.openlineage import event_json

    if isinstance(event, str):
        try:
            event.encode("utf-8")
        except UnicodeEncodeError as exc:
            return None, None, f"{lone_surrogate(exc.object[exc.start])}, at character {exc.start}"
        return event, None, ""
    try:
        return event_json(event), None, ""
    except BridgeError as exc:  # InvalidEventError: a lone surrogate, naming its field
        return None, getattr(exc, "field", None), getattr(exc, "reason", str(exc))


class _Poster:
    """Posts batches to one endpoint, tries again what may work later, splits what is refused."""

    def __init__(self, url: str, token: str | None, *, timeout: float, session: requests.Session | None,
                 verify: bool | str, retries: int, backoff: float = 0.5, backoff_max: float = 8.0) -> None:
        self.endpoint = _endpoint(url)
        self.shown = shown_url(self.endpoint)  # what messages and logs say: no password of a user:password@
        self.http = session or requests.Session()
        self.own_session = session is None
        self.headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout, self.verify = timeout, verify
        self.retries, self.backoff, self.backoff_max = max(0, retries), backoff, backoff_max

    def close(self) -> None:
        if self.own_session:
            self.http.close()

    def post_all(self, items: Iterable[tuple[Any, str]], tally: Any, *, attach: str, batch: int, max_bytes: int,
                 reject: Reject, progress: Callable[[int], None] | None) -> None:
        """Post every item, counting what is accepted in ``tally.accepted``, then close. An error raised
        carries ``tally`` as its attribute ``attach``, and ``tally.stopped_at`` is where it stopped."""

        def accept(count: int) -> None:
            tally.accepted += count

        try:
            for chunk in _batches(items, max(1, batch), max(1, max_bytes)):
                self.send(chunk, accept, reject)
                if progress is not None:
                    progress(len(chunk))
        except BridgeError as exc:
            tally.stopped_at = getattr(exc, "stopped_at", None)
            setattr(exc, attach, tally)
            raise
        finally:
            self.close()

    def send(self, chunk: list[tuple[Any, str]], accept: Callable[[int], None], reject: Reject) -> None:
        """Post ``chunk``; an error raised carries ``stopped_at``, the key of the first item it left unsent."""
        try:
            self._send(chunk, accept, reject)
        except BridgeError as exc:
            if not hasattr(exc, "stopped_at"):
                exc.stopped_at = chunk[0][0]  # type: ignore[attr-defined]
            raise

    def _send(self, chunk: list[tuple[Any, str]], accept: Callable[[int], None], reject: Reject) -> None:
        response = self.post([text for _, text in chunk])
        status = response.status_code
        if status in (200, 201, 202):
            accept(len(chunk))
        elif status == 413 and len(chunk) > 1:  # over the bridge's body or batch limit: halves
            middle = len(chunk) // 2
            self.send(chunk[:middle], accept, reject)
            self.send(chunk[middle:], accept, reject)
        elif status == 413:
            reject(chunk[0][0], None, f"too large for the bridge: {_reason(response)}")
        elif status in (400, 422) and len(chunk) > 1:  # all or nothing: each on its own
            for item in chunk:
                self.send([item], accept, reject)
        elif status in (400, 422):
            reject(chunk[0][0], *_field_reason(response))
        elif status in (401, 403):
            raise AuthError("the bridge refused the token", status=status, server_message=_reason(response))
        elif status >= 500:
            raise RetriableError("the bridge failed", status=status, server_message=_reason(response))
        else:
            raise DeliveryError(f"unexpected answer from {self.shown}", status=status,
                                server_message=_reason(response))

    def post(self, texts: list[str]) -> requests.Response:
        """One request, tried again while the answer says later (at most ``retries`` times)."""
        body = gzip.compress(("[" + ",".join(texts) + "]").encode("utf-8"), compresslevel=5)
        attempt = 0
        while True:
            retry_after = None
            try:
                # Per request: requests lets $REQUESTS_CA_BUNDLE override a session's own CA.
                response = self.http.post(self.endpoint, data=body, headers=self.headers, timeout=self.timeout,
                                          verify=self.verify)
            except requests.RequestException as exc:
                error = self._no_answer(exc)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                error = RetriableError(f"the bridge at {self.shown} is busy or unavailable",
                                       status=response.status_code, server_message=_reason(response))
                from emitters.rest.client import parse_retry_after

                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if not isinstance(error, RetriableError) or attempt >= self.retries:
                if attempt:  # the same error, its status and server message kept, saying it was tried again
                    raise type(error)(f"gave up after {attempt + 1} attempts: {error.message}", urn=error.urn,
                                      aspect=error.aspect, status=error.status,
                                      server_message=error.server_message) from error
                raise error
            attempt += 1
            wait = min(self.backoff_max, retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1))
            log.warning("the bridge did not take the events; trying again",
                        extra=log_fields(url=self.shown, attempt=attempt, wait_sec=round(wait, 3), error=str(error)))
            time.sleep(wait)

    def _no_answer(self, exc: requests.RequestException) -> DeliveryError:
        """The error for a request that got no HTTP answer, saying what happened in words."""
        from emitters.rest.errors import _root_reason

        url, reason = self.shown, _root_reason(exc)
        lowered = reason.lower()
        if isinstance(exc, requests.exceptions.SSLError):
            return DeliveryError(f"TLS handshake with {url} failed ({reason}); give the CA that signed the bridge's "
                                 "certificate (--bridge-ca)")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return ConnectionFailedError(f"no answer from {url} while connecting (timed out; is the host reachable?)")
        if isinstance(exc, requests.exceptions.Timeout):
            return RetriableError(f"no answer from {url} within {self.timeout:g}s")
        if "refused" in lowered:
            return ConnectionFailedError(f"nothing is listening at {url} (connection refused)")
        if "name or service not known" in lowered or "name resolution" in lowered or "nodename nor servname" in lowered:
            return ConnectionFailedError(f"cannot resolve the host of {url} ({reason})")
        if isinstance(exc, requests.ConnectionError):
            return ConnectionFailedError(f"the connection to {url} broke ({reason})")
        return DeliveryError(f"request to {url} failed ({reason})")


def shown_url(url: str) -> str:
    """``url`` as messages show it: the password of a ``user:password@`` (a proxy's basic auth) as ``***``."""
    from bridge.secrets import Secrets

    return Secrets().redact_text(url) if "@" in url else url


def _batches(items: Iterable[tuple[Any, str]], size: int, max_bytes: int) -> Iterator[list[tuple[Any, str]]]:
    """At most ``size`` items and (unless one alone is larger) ``max_bytes`` of text per batch."""
    batch: list[tuple[Any, str]] = []
    held = 0
    for item in items:
        length = len(item[1])  # characters: bytes for the ASCII that event JSON mostly is
        if batch and held + length > max_bytes:
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += length
        if len(batch) >= size:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


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
    retries: int = 5,
    max_batch_bytes: int = MAX_BATCH_BYTES,
) -> PostResult:
    """Post OpenLineage events to a running bridge (or any OpenLineage HTTP endpoint).

    Events go as gzip-compressed JSON arrays of ``batch`` events (and at most ``max_batch_bytes``).
    The bridge takes an array all or nothing; when it refuses one (422), its events are posted one
    by one so the good ones are still accepted and each bad one is reported; an array over its body
    limit (413) is halved until it fits, and an event alone over it is reported as rejected.

    Args:
        url: the server (``http://host:5000``) or the full lineage endpoint URL.
        events_json_iter: events as JSON strings or decoded objects (read as they are posted).
        token: bearer token, if the server requires one.
        batch: events per request.
        progress: called with the number of events just handled (e.g. ``tqdm.update``).
        timeout: seconds per request.
        session: a ``requests.Session`` to reuse.
        verify: for HTTPS: a CA bundle (PEM path) to check the server against, or ``True`` for
            the system's (``$REQUESTS_CA_BUNDLE`` works too), ``False`` to not check.
        retries: how many times a request is tried again when the answer says later (429, 502,
            503, 504, no answer, a broken connection), with backoff from 0.5 s (doubling, at most
            8 s, or as ``Retry-After`` says); each is logged.
        max_batch_bytes: most bytes of JSON per request.

    Returns:
        A :class:`PostResult` (counts and each rejected event's index, field and reason).

    Raises:
        AuthError: the server refused the token (401/403).
        ConnectionFailedError: nothing answered at ``url``, or the connection broke, every time.
        RetriableError: the server failed (5xx), or stayed busy.
        DeliveryError: any other unexpected answer.
        Each carries ``result``: the :class:`PostResult` of what was done before, whose ``stopped_at``
        is the index of the first event not accepted because of the error.
    """
    result = PostResult()

    def items() -> Iterator[tuple[int, str]]:
        for index, event in enumerate(events_json_iter):
            result.sent += 1
            text, field, reason = _text(event)
            if text is None:
                result.rejected.append((index, field, reason))
            else:
                yield index, text

    poster = _Poster(url, token, timeout=timeout, session=session, verify=verify, retries=retries)
    poster.post_all(items(), result, attach="result", batch=batch, max_bytes=max_batch_bytes,
                    reject=lambda index, field, reason: result.rejected.append((index, field, reason)),
                    progress=progress)
    return result


def _reason(response: requests.Response) -> str:
    try:
        return str(response.json().get("reason") or response.text[:500])
    except (ValueError, AttributeError):
        return response.text[:500]


def _field_reason(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
        return body.get("field"), str(body.get("reason"))
    except (ValueError, AttributeError):
        return None, response.text[:500]
