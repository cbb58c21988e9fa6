"""A request's body -> the events to spool: token, body limits and timeouts, gzip, JSON, validation.

Everything here refuses with :class:`Refused`: a 4xx status and a JSON body naming the
field and the reason. Nothing a client sends reaches the spool unless it can be stored
as it will be read back (valid UTF-8 JSON, each event under the per-event limit).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any

from bridge._json import fast_json, loads
from bridge.errors import InvalidEventError
from bridge.files import OverLimit, inflate
from bridge.spool import event_key
from translators.openlineage import event_json

__all__ = ["Refused", "check_token", "decode_body", "parse_events", "read_body"]


class Refused(Exception):
    """A request answered with an error status and a reason.

    ``body`` is every JSON error answer's shape: ``{"error", "field", "reason"}`` (``field`` may be
    null) and the ``extra`` items that are not ``None``.
    """

    def __init__(self, status: int, error: str, reason: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {"error": error, "field": field, "reason": reason,
                     **{k: v for k, v in extra.items() if v is not None}}


def check_token(headers: Any, token: str | None) -> None:
    if not token:
        return
    header = headers.get("authorization")
    if not header:
        raise Refused(401, "unauthorized", "missing 'Authorization: Bearer <token>' header", field="Authorization")
    scheme, _, credential = header.partition(" ")
    # Constant-time comparison so the token cannot be guessed byte by byte from timings.
    if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), token.encode()):
        raise Refused(403, "forbidden", "the bearer token is not valid", field="Authorization")


async def read_body(request: Any, limit: int, timeout: float) -> bytes:
    """The raw body, at most ``limit`` bytes, sent within ``timeout`` seconds (413 / 408).

    Raises:
        starlette.requests.ClientDisconnect: the client went away before sending it all.
    """
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise Refused(413, "too_large", f"body of {length} bytes is over the {limit}-byte limit")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Refused(413, "too_large", f"body is over the {limit}-byte limit")
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, "body_timeout", f"the body took over {timeout:g} s to arrive ({size} bytes came)") from None
    return b"".join(chunks)


def decode_body(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, every member of a multi-member one, or deflate) within ``limit``."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise Refused(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported (use gzip)")
    try:
        return inflate(body, limit, deflate=encoding == "deflate")
    except OverLimit:
        raise Refused(413, "too_large", f"decompressed body is over the {limit}-byte limit") from None
    except OSError as exc:
        raise Refused(400, "invalid_encoding", f"{encoding} body: {exc}") from exc


def _loads(body: bytes) -> tuple[Any, bool]:
    """Decode a request body; returns ``(value, decoded_by_orjson)``.

    orjson (when installed) reads the usual body several times faster than :func:`json.loads`;
    what it refuses (NaN/Infinity, lone surrogates, a byte-order mark or UTF-16, which the standard
    library reads) or would round (integers beyond 64 bits, which it reads as floats) goes to
    :func:`json.loads`, so the same bodies are accepted as before, with the same values --
    except what cannot be stored (see :func:`parse_events`).
    """
    try:
        return loads(body)
    except (ValueError, RecursionError) as exc:
        reason = f"body is not valid JSON: {exc}" if not isinstance(exc, RecursionError) else "JSON nested too deeply"
        raise Refused(400, "invalid_json", reason) from exc


#: The most errors one 422 lists; ``errors_omitted`` counts the rest.
MAX_ERRORS = 100


def parse_events(body: bytes, validate: Any, max_event_bytes: int,
                 *, key: Callable[[Any], str] = event_key, max_events: int | None = None) -> list[tuple[str, str]]:
    """Validate the events of one request; returns ``(key, compact JSON)`` pairs to store.

    Args:
        body: the (decompressed) request body.
        validate: ``translators.openlineage.validate_event``: rejects exactly what ``parse_event``
            rejects, with the same field and reason, without building the model (the full parse
            happens on delivery).
        max_event_bytes: largest event as stored (its compact UTF-8 JSON).
        key: the key of a valid event (the spool's ordering key by default; the sink's).
        max_events: most events one array may hold (checked before any event is).

    Raises:
        Refused: 400 for a body that is not JSON; 413 for an array over ``max_events``; 422 naming
            the event and field when an event is invalid, holds a lone surrogate (not storable as
            UTF-8) or is over the size limit. A 422 for an array lists the first :data:`MAX_ERRORS`
            errors, with ``error_count`` (every bad event) and ``errors_omitted`` (those not listed).
    """
    data, by_orjson = _loads(body)
    single = type(data) is not list
    items = [data] if single else data
    del data
    if not items:
        raise Refused(422, "invalid_event", "the array holds no events")
    if max_events is not None and len(items) > max_events:
        count = len(items)
        del items  # (the verdict is known: free them before the answer is built)
        raise Refused(413, "too_many_events", f"the array holds {count} events, over the {max_events}-event limit "
                      "(serve.max_batch_events); send them in smaller batches", limit=max_events, count=count)
    fast = fast_json() if by_orjson else None

    def encode(obj: Any) -> bytes:
        if single and by_orjson:  # stored as received: orjson read it, so it is valid UTF-8 JSON
            return body
        if fast is not None:
            return fast.dumps(obj)
        return event_json(obj).encode("utf-8")

    errors: list[dict[str, Any]] = []
    bad = 0
    out: list[tuple[str, str]] = []
    for index, obj in enumerate(items):
        try:
            validate(obj, location=None if single else f"[{index}]")
            raw = encode(obj)
            if len(raw) > max_event_bytes:
                raise InvalidEventError(f"the event is {len(raw)} bytes, over the {max_event_bytes}-byte limit "
                                        "(serve.max_event_bytes)")
            if not bad:  # once one event is bad the request is refused: nothing more to store
                out.append((key(obj), raw.decode("utf-8")))
            continue
        except InvalidEventError as exc:
            field, reason = exc.field, exc.reason
        except (RecursionError, ValueError, TypeError) as exc:
            # Only InvalidEventError is expected; anything else is still the input's fault.
            field, reason = None, f"cannot read event: {type(exc).__name__}: {exc}"
        if not bad:
            out.clear()
        if bad < MAX_ERRORS:
            errors.append({"index": index, "field": field, "reason": reason})
        bad += 1
    if not bad:
        return out
    first = errors[0]
    if single:
        raise Refused(422, "invalid_event", first["reason"], field=first["field"])
    raise Refused(422, "invalid_event", f"event [{first['index']}]: {first['reason']}", field=first["field"],
                  errors=errors, error_count=bad, errors_omitted=bad - len(errors))
