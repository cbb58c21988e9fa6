"""JSON text of MCPs, byte for byte what the json module writes, and JSON read to the json module's values,
both faster with orjson when installed.

orjson comes with the serve and kafka extras; without it the json module writes everything.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

__all__ = ["FLOAT_FREE_ASPECTS", "aspect_to_json", "compact_json", "encode_gms", "escape_beyond_ascii", "fast_json", "loads", "read_json"]

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


#: Aspects the bridge writes whose DataHub schema holds no ``float`` or ``double`` anywhere
#: (tests/test_mcp_aspect_json.py checks this against DataHub's own schema). The JSON of such an
#: aspect that the translator built (``MetadataChangeProposalWrapper._unchecked``) is orjson's without
#: a search for floats: its numbers are the model's and the hooks' checked whole numbers. A float that
#: a hook put where DataHub wants text breaks the aspect's schema, and GMS refuses it however it is
#: spelled. Anyone else's aspect may hold a float or NaN wherever, and is searched.
FLOAT_FREE_ASPECTS = frozenset({
    "assertionInfo", "browsePathsV2", "container", "containerProperties", "dataFlowInfo", "dataJobInfo",
    "dataPlatformInstance", "dataProcessInstanceInput", "dataProcessInstanceOutput",
    "dataProcessInstanceProperties", "dataProcessInstanceRelationships", "dataProcessInstanceRunEvent",
    "dataTransformLogic", "datasetProperties", "globalTags", "operation", "ownership", "schemaMetadata",
    "siblings", "status", "subTypes",
})  # fmt: skip


def _orjson_text(value: Any, floats: bool) -> bytes | None:
    """orjson's compact text of ``value`` when it is the json module's too; None: ask the json module."""
    orjson = fast_json()
    if orjson is None:
        return None
    try:
        raw = orjson.dumps(
            value, default=_refuse, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
        )
    except TypeError:  # orjson.JSONEncodeError subclasses TypeError: big ints, surrogates, odd keys...
        return None
    return raw if not floats or _MAYBE_FLOAT(raw) is None else None


def compact_json(value: Any, *, floats: bool = True) -> bytes:
    """Compact UTF-8 JSON of ``value``, byte for byte what the json module writes
    (``separators=(",", ":"), ensure_ascii=False``), encoded.

    ``floats=False``: the caller knows the value holds no float (a translator-built aspect of
    :data:`FLOAT_FREE_ASPECTS`), so orjson's text is not searched for one.
    """
    raw = _orjson_text(value, floats)
    return raw if raw is not None else _encode_aspect(value).encode("utf-8")


def aspect_to_json(value: Any, *, floats: bool = True) -> str:
    """Compact JSON of an aspect, byte for byte what the json module writes (see :func:`compact_json`)."""
    raw = _orjson_text(value, floats)
    return raw.decode("utf-8") if raw is not None else _encode_aspect(value)


def _as_ascii_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a surrogate pair, as the json module writes it
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"


def escape_beyond_ascii(text: str) -> str:
    """JSON text with DEL and every non-ASCII character escaped (``\\uXXXX``), exactly as the json
    module's ``ensure_ascii`` escapes them (the text's strings hold no lone surrogate: orjson refuses those)."""
    return _BEYOND_ASCII.sub(_as_ascii_escape, text)


_BEYOND_ASCII = re.compile("[^\x00-\x7e]")


# orjson reads an integer beyond 64 bits as a float, silently (123456789012345678901234567890 becomes
# 1.2345678901234568e+29); the json module keeps it exact. Any run of 19 digits or more may be one
# (-9223372036854775809 has 19); text with none is read alike by both. (bytes.translate, digits to "1",
# then one substring test: ~15x faster than a regex search over the body.)
_DIGITS_AS_ONES = bytes.maketrans(b"0123456789", b"1111111111")
_NINETEEN_DIGITS = b"1" * 19


def orjson_would_round(data: bytes | str) -> bool:
    """Whether ``data`` may hold an integer orjson would read as a float."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    return _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ONES)


def loads(data: bytes | str, *, fast: bool = True) -> tuple[Any, bool]:
    """JSON text -> ``(value, read_by_orjson)``, the json module's value either way.

    orjson (``fast``, when installed) reads the usual text several times faster; what it refuses
    (NaN/Infinity, lone surrogates, a byte-order mark, UTF-16) or would round goes to :func:`json.loads`,
    whose errors (``ValueError``, ``RecursionError``) are raised.
    """
    orjson = fast_json() if fast else None
    if orjson is not None and not orjson_would_round(data):
        try:
            return orjson.loads(data), True
        except ValueError:  # orjson.JSONDecodeError
            pass
    return json.loads(data), False


def read_json(data: bytes | str) -> Any:
    """JSON text -> value, as :func:`json.loads` reads it and raises (:func:`loads`, without saying who read it)."""
    return loads(data)[0]
