"""One Kafka message into events to spool, or the reason it is dead-lettered (:func:`decode_message`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from bridge.errors import InvalidEventError, storable
from bridge.spool import event_key
from translators.openlineage import event_json
from translators.openlineage import parse_event as default_parse_event

__all__ = ["DEAD_BODY_LIMIT", "Decoded", "decode_message", "storable"]

#: Dead-lettered message text is cut to this many characters (the message itself stays in Kafka).
DEAD_BODY_LIMIT = 1024 * 1024
#: What a message can make the decoder or the validator raise; anything else is a bug and is raised.
_MESSAGE_ERRORS = (ValueError, TypeError, LookupError, AttributeError, RecursionError, OverflowError)


@attrs.frozen(kw_only=True)
class Decoded:
    """One message, decoded.

    Attributes:
        events: ``(ordering key, event JSON)`` pairs to spool (text that encodes to UTF-8).
        reason: why the message is unusable (it is dead-lettered); ``None`` if usable.
        raw: the message as text, storable as UTF-8 (undecodable bytes escaped), for the dead letter
            (empty for a usable message).
        skip: a tombstone (no value): nothing to spool, nothing to dead-letter.
        kind: why, in the words ``bridge serve`` counts refusals with (``bridge_events_rejected_total``'s
            ``reason``): ``invalid_json`` (not UTF-8, not JSON, nested too deeply, empty), ``too_large``
            or ``invalid_event``.
    """

    events: tuple[tuple[str, str], ...] = ()
    reason: str | None = None
    raw: str = ""
    skip: bool = False
    kind: str = "invalid_event"


_PLAIN = ("bridge consume reads plain JSON values, as openlineage-python's Kafka transport writes them; "
          "Kafka compresses batches itself (the producer's compression.type)")


def _framing(value: bytes) -> str:
    """What the start of a value that is not JSON says it is, if it says (``""`` otherwise)."""
    if value[:2] == b"\x1f\x8b":
        return f" (it is gzip-compressed: {_PLAIN})"
    if value[:4] == b"\x28\xb5\x2f\xfd":
        return f" (it is zstd-compressed: {_PLAIN})"
    if value[:1] == b"\x00" and len(value) >= 5:
        schema = int.from_bytes(value[1:5], "big")
        return (f" (it starts with a Schema Registry header, schema id {schema}: bridge consume reads plain JSON "
                "values, as openlineage-python's Kafka transport writes them, not Avro, Protobuf or JSON Schema "
                "serializers' framed ones)")
    return ""


def decode_message(value: bytes | None, location: str, *, parse_event: Callable[..., Any] | None = None,
                   max_bytes: int | None = None) -> Decoded:
    """Decode one Kafka message into events to spool, or the reason it cannot be used. Never raises for input.

    Args:
        value: the message value (``None`` for a tombstone).
        location: ``topic[partition]@offset``, put in front of every reason.
        parse_event: the validator (``translators.openlineage.parse_event`` by default).
        max_bytes: longer values are refused unread.

    Returns:
        A :class:`Decoded`: events (one message may hold a JSON array of them) or a reason.
    """
    if value is None:
        return Decoded(skip=True)
    parse_event = parse_event or default_parse_event
    if max_bytes is not None and len(value) > max_bytes:
        raw = value[:DEAD_BODY_LIMIT].decode("utf-8", "backslashreplace")
        return Decoded(reason=f"{location}: message of {len(value)} bytes is over the {max_bytes}-byte limit "
                              f"(dead letter keeps its first {len(raw)} characters)", raw=raw, kind="too_large")
    raw = value.decode("utf-8", "backslashreplace")  # (for a dead letter; a usable message keeps none)
    try:
        text = value.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Decoded(reason=f"{location}: not valid UTF-8 at byte {exc.start}{_framing(value)}", raw=raw,
                       kind="invalid_json")
    if not text.strip():
        return Decoded(reason=f"{location}: empty message", raw=raw, kind="invalid_json")
    try:
        data = json.loads(text)
    except RecursionError:
        return Decoded(reason=f"{location}: not usable JSON: nested too deeply", raw=raw, kind="invalid_json")
    except ValueError as exc:
        return Decoded(reason=f"{location}: not valid JSON: {exc}{_framing(value)}", raw=raw, kind="invalid_json")
    items = data if type(data) is list else [data]
    if not items:
        return Decoded(reason=f"{location}: the array holds no events", raw=raw)
    out = []
    for index, obj in enumerate(items):
        where = location if len(items) == 1 else f"{location}[{index}]"
        try:
            parse_event(obj, location=where)
            key = event_key(obj)
            body = event_json(obj, location=where)
        except InvalidEventError as exc:
            return Decoded(reason=str(exc) if exc.location else f"{where}: {exc}", raw=raw)
        except _MESSAGE_ERRORS as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
            return Decoded(reason=f"{where}: cannot read event: {detail}", raw=raw)
        out.append((key, body))
    return Decoded(events=tuple(out))
