"""Property tests (hypothesis) of ``bridge consume``'s message path, :func:`bridge.consume.decode_message`.

Whatever a message holds -- arbitrary bytes, arbitrary JSON with lone surrogates, huge integers, NaN,
nesting past the recursion limit, real events with fields replaced -- decoding never raises, and it
gives either events whose text encodes to UTF-8 and reads back as the same JSON, or a reason that
names the message's place. Either way what would be stored (event text, dead-letter body and
reason) encodes to UTF-8, which is what the spool's insert needs.
"""

from __future__ import annotations

import contextlib
import json
import sys

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.consume import DEAD_BODY_LIMIT, decode_message, storable
from tests.mutations import CORPUS_EVENTS, mutated_event

EVENTS = CORPUS_EVENTS[:40]
WHERE = "topic[3]@17"

# Text with lone surrogates among ordinary characters (hypothesis leaves them out by default).
_text = st.text(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=12)
_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**1000)
            | st.floats(allow_nan=True, allow_infinity=True) | _text)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=16,
)


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _nested(depth: int, opener: bytes, closer: bytes, core: bytes = b"1") -> bytes:
    return opener * depth + core + closer * depth


_messages = st.one_of(
    st.none(),
    st.binary(max_size=300),
    _json.map(lambda v: json.dumps(v).encode()),
    _json.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    mutated_event(EVENTS, _json).map(lambda e: json.dumps(e).encode()),
    st.lists(mutated_event(EVENTS, _json), max_size=3).map(lambda es: json.dumps(es).encode()),
    st.sampled_from(EVENTS).map(lambda e: json.dumps(e).encode()),
    st.integers(1, 3000).map(lambda d: _nested(d, b"[", b"]")),
    st.integers(1, 3000).map(lambda d: _nested(d, b'{"a":', b"}")),
    # A real event with a facet nested deep enough to reach the validator or the encoder.
    st.tuples(st.sampled_from(EVENTS), st.integers(1, 3000)).map(
        lambda p: json.dumps(p[0]).encode()[:-1] + b',"deep":' + _nested(p[1], b"[", b"]") + b"}"),
)


@contextlib.contextmanager
def _headroom(limit: int = 20_000):
    """Room for the test's own reading of what the decoder accepted near the recursion limit."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_messages)
@example(_nested(100_000, b"[", b"]"))  # json.loads: RecursionError
@example(json.dumps({**EVENTS[0], "job": {"namespace": "n", "name": "\ud800"}}).encode())  # a lone surrogate
@example(b'{"eventType": NaN, "n": 1' + b"9" * 5000 + b"}")  # NaN, an integer over Python's 4300 digits
@example(b"\xef\xbb\xbf" + json.dumps(EVENTS[0]).encode())  # a UTF-8 byte-order mark
@example(b"\xed\xa0\x80")  # a surrogate encoded as bytes: not UTF-8
@example(b"")
@example(b"[]")
def test_a_message_gives_storable_events_or_a_reason_and_never_raises(value):
    decoded = decode_message(value, WHERE, max_bytes=1_000_000)
    if value is None:
        assert decoded.skip and not decoded.events and decoded.reason is None
        return
    decoded.raw.encode("utf-8")
    assert len(decoded.raw) <= max(len(value), 1) * 4
    if decoded.reason is not None:
        assert not decoded.events
        assert decoded.reason.startswith(WHERE), decoded.reason
        storable(decoded.reason).encode("utf-8")
        return
    assert decoded.events
    with _headroom():
        parsed = json.loads(value.decode("utf-8-sig"))
        objects = parsed if isinstance(parsed, list) else [parsed]
        assert len(decoded.events) == len(objects)
        for (key, text), obj in zip(decoded.events, objects, strict=True):
            key.encode("utf-8")
            text.encode("utf-8")
            # It reads back as the message's JSON (NaN included): the same text once written again.
            assert text == _compact(obj) == _compact(json.loads(text))


@given(st.text(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))), st.integers(0, 50))
def test_storable_text_always_encodes(text, limit):
    storable(text, limit).encode("utf-8")
    # Only the lone surrogates change: into their escape, so the dead letter still shows them.
    assert storable(text) == "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def test_the_known_poison_is_refused_with_its_reason():
    deep = decode_message(_nested(100_000, b"[", b"]"), WHERE)
    assert deep.reason == f"{WHERE}: not usable JSON: nested too deeply"
    lone = decode_message(json.dumps({**EVENTS[0], "job": {"namespace": "n", "name": "x\ud800"}}).encode(), WHERE)
    assert lone.reason and lone.reason.startswith(f"{WHERE}: job.name: holds a lone surrogate \\ud800")
    assert decode_message(b"x" * 11, WHERE, max_bytes=10).reason == (
        f"{WHERE}: message of 11 bytes is over the 10-byte limit (dead letter keeps its first 11 characters)")
    big = decode_message(b"x" * (DEAD_BODY_LIMIT + 5), WHERE, max_bytes=10)
    assert len(big.raw) == DEAD_BODY_LIMIT
    assert decode_message(b"[]", WHERE).reason == f"{WHERE}: the array holds no events"
    good = decode_message(json.dumps([EVENTS[0], EVENTS[1]]).encode(), WHERE)
    assert good.reason is None and len(good.events) == 2


def test_refusals_are_counted_with_serves_reasons():
    assert decode_message(b"{not json", WHERE).kind == "invalid_json"
    assert decode_message(b"\xff", WHERE).kind == "invalid_json"
    assert decode_message(b"  ", WHERE).kind == "invalid_json"
    assert decode_message(b"x" * 11, WHERE, max_bytes=10).kind == "too_large"
    assert decode_message(json.dumps({"eventType": "START", "run": {"runId": "x"}}).encode(), WHERE).kind == (
        "invalid_event")


def test_a_value_that_is_not_plain_json_says_what_it_seems_to_be():
    """A producer with the wrong serializer: the reason says what the value is, not only where JSON failed."""
    import gzip
    import struct

    event = json.dumps(EVENTS[0]).encode()
    gz = decode_message(gzip.compress(event), WHERE).reason
    assert gz == f"{WHERE}: not valid UTF-8 at byte 1 (it is gzip-compressed: bridge consume reads plain JSON " \
                 "values, as openlineage-python's Kafka transport writes them; Kafka compresses batches itself " \
                 "(the producer's compression.type))"
    framed = decode_message(b"\x00" + struct.pack(">I", 7) + event, WHERE)
    assert framed.kind == "invalid_json"
    assert framed.reason.startswith(f"{WHERE}: not valid JSON: Expecting value: line 1 column 1 (char 0) (it starts "
                                    "with a Schema Registry header, schema id 7: ")
    avro = decode_message(b"\x00" + struct.pack(">I", 12) + b"\x02\x10avro", WHERE).reason
    assert "Schema Registry header, schema id 12" in avro
    assert decode_message(b"\x28\xb5\x2f\xfd\x00\x01", WHERE).reason.endswith("the producer's compression.type))")
    assert decode_message(b"{not json", WHERE).reason == (
        f"{WHERE}: not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)")
