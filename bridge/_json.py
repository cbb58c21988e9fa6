"""JSON text of MCPs, byte for byte what the json module writes, faster with orjson when installed.

orjson comes with the serve and kafka extras; without it the json module writes everything.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

__all__ = ["aspect_to_json", "encode_gms", "fast_json", "orjson_would_round"]

# One encoder for every aspect: json.dumps() with keyword arguments builds a
# new JSONEncoder per call (~1 us each, ~12 aspects per event).
_encode_aspect = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
encode_gms = json.JSONEncoder(separators=(",", ":")).encode


@functools.cache
def fast_json() -> Any:
    """orjson (serve/kafka extras; encodes ~4x faster than the json module) or None.

    Imported on first use: importing a core module loads no optional dependency.
    """
    try:
        import orjson
    except ImportError:  # pragma: no cover - exercised only without the extras
        return None
    return orjson


# orjson's text equals the json module's for str/int/bool/None/dict/list
# values (tests/test_mcp_aspect_json.py checks every code point), but it spells
# floats differently (1e-05 -> 0.00001) and writes NaN/Infinity as null. In
# compact output every number or null follows a key's closing '":', a "," or
# a "[", and every float is digits then "." or "e"; output matching this
# pattern (also true of a few plain strings, e.g. "a,1.5", and of None values)
# goes to the json module. Exception: a float orjson writes as "N.0" with at
# most 16 digits is the integer N exactly (its output round-trips), which the
# json module (repr) also writes as "N.0" below 1e16 -- e.g. lineage's
# confidenceScore 1.0. (One difference left, only for aspects the json module
# refuses: orjson writes plain Enum and UUID values instead of raising.)
_MAYBE_FLOAT = re.compile(rb'[:,\[](?<![^"]:)(?:-?(?![0-9]{1,16}\.0[,\]}])[0-9]+[.eE]|null)').search


def _refuse(value: Any) -> Any:
    """orjson ``default``: anything the json module would not take natively goes back to it."""
    raise TypeError(type(value).__name__)


def aspect_to_json(value: Any) -> str:
    """Compact JSON of an aspect, byte for byte what the json module writes."""
    orjson = fast_json()
    if orjson is not None:
        try:
            raw = orjson.dumps(
                value, default=_refuse, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            )
        except TypeError:  # orjson.JSONEncodeError subclasses TypeError: big ints, surrogates, odd keys...
            pass
        else:
            if _MAYBE_FLOAT(raw) is None:
                return raw.decode("utf-8")
    return _encode_aspect(value)


# orjson reads an integer beyond 64 bits as a float, silently (123456789012345678901234567890 becomes
# 1.2345678901234568e+29); the json module keeps it exact. Any run of 19 digits or more may be one
# (-9223372036854775809 has 19); text with none is read alike by both.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")


def orjson_would_round(data: bytes | str) -> bool:
    """Whether ``data`` may hold an integer orjson would read as a float (then read it with json.loads)."""
    pattern = _LONG_DIGITS if isinstance(data, bytes | bytearray) else _LONG_DIGITS_TEXT
    return pattern.search(data) is not None  # type: ignore[arg-type]
