"""DataHub's ``MetadataChangeProposal`` Avro record, in Confluent's wire format.

The schema is DataHub's published ``MetadataChangeProposal.avsc`` (kept in
``schemas/`` verbatim, so it registers as the same schema DataHub's own
emitter registers). A Kafka value is::

    0x00 | schema id (4 bytes, big-endian) | Avro binary of the record

:class:`MCPAvroEncoder` writes the record. The schema is parsed once with
fastavro. The hot fields of every proposal (entity type and URN, change type,
aspect name, the aspect's JSON bytes) are written by a precompiled writer
derived from that parsed schema: Avro's binary encoding of strings, unions and
enums is simple enough that assembling it directly is ~10x cheaper than
fastavro's generic writer, which matters at hundreds of thousands of
proposals per second. The writer is only used after checking that the
schema's field layout is the one it was written for; the rare optional
sub-records (``systemMetadata``) are written by fastavro's own
``schemaless_writer`` with the parsed sub-schema, and cached by value. Tests
check the output is byte-identical to fastavro's writer.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import json
from collections.abc import Mapping
from typing import Any

from bridge.errors import InvalidEventError, require
from bridge.mcp import MetadataChangeProposalWrapper

__all__ = ["MCPAvroEncoder", "confluent_header", "load_mcp_schema", "mcp_record"]

SCHEMA_FILE = "MetadataChangeProposal.avsc"
MAGIC_BYTE = b"\x00"
# contentType of the aspect (Avro string: zig-zag length, then the bytes), by change type.
_CONTENT_TYPES = {False: b"\x20application/json", True: b"\x36application/json-patch+json"}

# The field layout the precompiled writer is written for, as
# (name, type signature) where the signature is what _signature() returns.
_FAST_LAYOUT = (
    ("auditHeader", "union[null,record]"),
    ("entityType", "string"),
    ("entityUrn", "union[null,string]"),
    ("entityKeyAspect", "union[null,record]"),
    ("changeType", "enum"),
    ("aspectName", "union[null,string]"),
    ("aspect", "union[null,record]"),
    ("systemMetadata", "union[null,record]"),
    ("headers", "union[null,map]"),
)
_SYSTEM_METADATA_CACHE_SIZE = 256


@functools.cache
def load_mcp_schema() -> str:
    """The ``MetadataChangeProposal`` schema JSON text, as DataHub publishes it."""
    return importlib.resources.files(__package__).joinpath("schemas", SCHEMA_FILE).read_text(encoding="utf-8")


def confluent_header(schema_id: int) -> bytes:
    """The 5-byte Confluent wire-format prefix for ``schema_id``."""
    return MAGIC_BYTE + int(schema_id).to_bytes(4, "big")


def _varint(n: int) -> bytes:
    """Avro ``long``: zig-zag, then base-128 varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Length prefixes of strings/bytes up to 8 KiB are looked up rather than computed.
_LENGTHS = tuple(_varint(i) for i in range(8192))


def _length(n: int) -> bytes:
    return _LENGTHS[n] if n < 8192 else _varint(n)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _length(len(data)) + data


def mcp_record(mcp: MetadataChangeProposalWrapper, aspect: bytes | None = None) -> dict[str, Any]:
    """The Avro record (as a dict fastavro writes) for one proposal.

    Args:
        mcp: the proposal.
        aspect: the aspect's JSON bytes, if already made; ``mcp.aspect_json`` otherwise.
    """
    return {
        "auditHeader": None,
        "entityType": mcp.entity_type,
        "entityUrn": mcp.entity_urn,
        "entityKeyAspect": None,
        "changeType": mcp.change_type,
        "aspectName": mcp.aspect_name,
        "aspect": {
            "value": mcp.aspect_json.encode("utf-8") if aspect is None else aspect,
            "contentType": mcp.content_type,
        },
        "systemMetadata": dict(mcp.system_metadata) if mcp.system_metadata else None,
        "headers": dict(mcp.headers) if mcp.headers else None,
    }


def _signature(schema: Any) -> str:
    if isinstance(schema, list):
        return "union[" + ",".join(_signature(s) for s in schema) + "]"
    if isinstance(schema, dict):
        return str(schema.get("type"))
    return str(schema)


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value


class MCPAvroEncoder:
    """Encodes proposals as DataHub ``MetadataChangeProposal`` Avro binary.

    Args:
        schema_text: the schema JSON; DataHub's published one by default.

    Raises:
        MissingDependencyError: fastavro is not installed (``pip install 'lineage-bridge[kafka]'``).
    """

    def __init__(self, schema_text: str | None = None) -> None:
        fastavro = require("fastavro", "kafka")
        self.schema_text = schema_text or load_mcp_schema()
        self._schema = json.loads(self.schema_text)
        self._named: dict[str, Any] = {}
        self.parsed = fastavro.parse_schema(self._schema, named_schemas=self._named)
        self._writer = fastavro.schemaless_writer
        fields = self._schema.get("fields", [])
        layout = tuple((f["name"], _signature(self._resolve(f["type"]))) for f in fields)
        self.fast = layout == _FAST_LAYOUT
        if self.fast:
            self._symbols = {s: _varint(i) for i, s in enumerate(self._resolve(fields[4]["type"])["symbols"])}
            self._system_metadata_schema = fastavro.parse_schema(self._resolve(fields[7]["type"])[1])
        self._entity_parts: dict[str, bytes] = {}
        self._middle_parts: dict[tuple[str, str], bytes] = {}
        self._system_metadata: dict[Any, bytes] = {}
        try:
            import orjson

            # Types json.dumps refuses (datetimes, dataclasses) make orjson refuse too, so they
            # take the envelope's path and fail the same way there; subclasses of str/int/dict
            # are left to json.dumps, which writes them its own way.
            self._dumps_option = (
                orjson.OPT_PASSTHROUGH_DATETIME
                | orjson.OPT_PASSTHROUGH_DATACLASS
                | orjson.OPT_PASSTHROUGH_SUBCLASS
            )
            self._dumps: Any = orjson.dumps
        except ImportError:  # optional speed-up; the envelope's own JSON is used instead
            self._dumps = None
        if self.fast:
            self.fast = self._fast_writer_agrees()

    def _fast_writer_agrees(self) -> bool:
        """The field layout matched; also check the bytes match fastavro's on a probe proposal.

        Guards against a schema whose nested records changed in ways the layout check
        cannot see; such a schema is written by fastavro's generic writer instead.
        """
        probe = MetadataChangeProposalWrapper(
            entity_urn="urn:li:dataset:(urn:li:dataPlatform:hive,probe,PROD)",
            aspect_name="status",
            aspect={"removed": False},
            system_metadata={"runId": "probe", "lastObserved": 1, "properties": {"k": "v"}},
        )
        try:
            return self.frame(probe, b"") == self.encode_generic(probe)
        except InvalidEventError:
            return False

    def _resolve(self, schema: Any) -> Any:
        """Replace references to named types by their definitions (one level)."""
        if isinstance(schema, list):
            return [self._resolve(s) for s in schema]
        if isinstance(schema, str) and schema in self._named:
            return self._named[schema]
        return schema

    def encode(self, mcp: MetadataChangeProposalWrapper) -> bytes:
        """The Avro binary of ``mcp`` (without the Confluent header).

        Raises:
            InvalidEventError: the proposal cannot be written with the schema.
        """
        return self.frame(mcp, b"")

    def aspect_bytes(self, mcp: MetadataChangeProposalWrapper) -> bytes:
        """The aspect's compact JSON as UTF-8 bytes.

        orjson (when installed) writes plain-dict aspects straight to bytes, several
        times faster than ``json.dumps`` + ``encode``; its output is the same compact
        JSON as :attr:`~bridge.mcp.MetadataChangeProposalWrapper.aspect_json` (only
        tiny floats differ in spelling: ``1e-7`` for ``1e-07``, the same number).
        Anything orjson refuses (non-string keys, huge ints) takes the envelope's path.

        Raises:
            InvalidEventError: the aspect cannot be written as JSON.
        """
        aspect = mcp.aspect
        if self._dumps is not None and type(aspect) in (dict, list):
            try:
                return self._dumps(aspect, option=self._dumps_option)
            except TypeError:  # orjson.JSONEncodeError is a TypeError
                pass
        try:
            return mcp.aspect_json.encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidEventError(f"not JSON-serialisable: {exc}", field="aspect") from exc

    def frame(self, mcp: MetadataChangeProposalWrapper, header: bytes) -> bytes:
        """``header`` followed by the Avro binary of ``mcp``: the Kafka message value.

        Raises:
            InvalidEventError: the proposal cannot be written with the schema.
        """
        if not self.fast or mcp.headers:
            return header + self.encode_generic(mcp)
        entity = self._entity_parts.get(mcp.entity_type)
        if entity is None:
            # auditHeader: null (branch 0) | entityType | entityUrn: string (branch 1)
            entity = self._entity_parts[mcp.entity_type] = b"\x00" + _string(mcp.entity_type) + b"\x02"
        middle = self._middle_parts.get((mcp.change_type, mcp.aspect_name))
        if middle is None:
            middle = self._middle(mcp.change_type, mcp.aspect_name)
        urn = mcp.entity_urn.encode("utf-8")
        aspect = self.aspect_bytes(mcp)
        system_metadata = mcp.system_metadata
        tail = b"\x00\x00" if not system_metadata else self._system_metadata_part(system_metadata) + b"\x00"
        return b"".join(
            (
                header,
                entity,
                _LENGTHS[len(urn)] if len(urn) < 8192 else _varint(len(urn)),
                urn,
                middle,
                _LENGTHS[len(aspect)] if len(aspect) < 8192 else _varint(len(aspect)),
                aspect,
                _CONTENT_TYPES[mcp.change_type == "PATCH"],
                tail,  # systemMetadata, then headers: null
            )
        )

    def _middle(self, change_type: str, aspect_name: str) -> bytes:
        symbol = self._symbols.get(change_type)
        if symbol is None:
            raise InvalidEventError(
                f"change type {change_type!r} is not in the Avro schema", field="changeType"
            )
        # entityKeyAspect: null | changeType enum | aspectName: string | aspect: GenericAspect (branch 1)
        part = b"\x00" + symbol + b"\x02" + _string(aspect_name) + b"\x02"
        if len(self._middle_parts) < 4096:
            self._middle_parts[(change_type, aspect_name)] = part
        return part

    def _system_metadata_part(self, system_metadata: Mapping[str, Any]) -> bytes:
        try:
            key = _hashable(system_metadata)
            cached = self._system_metadata.get(key)
        except TypeError:  # an unhashable leaf: just encode it
            key, cached = None, None
        if cached is not None:
            return cached
        buf = io.BytesIO()
        buf.write(b"\x02")  # union branch 1: SystemMetadata
        try:
            self._writer(buf, self._system_metadata_schema, dict(system_metadata))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InvalidEventError(
                f"not a valid DataHub SystemMetadata: {exc}", field="systemMetadata"
            ) from exc
        part = buf.getvalue()
        if key is not None:
            if len(self._system_metadata) >= _SYSTEM_METADATA_CACHE_SIZE:
                self._system_metadata.clear()
            self._system_metadata[key] = part
        return part

    def encode_generic(self, mcp: MetadataChangeProposalWrapper) -> bytes:
        """The Avro binary of ``mcp`` written by fastavro's generic writer (reference path).

        Raises:
            InvalidEventError: the proposal cannot be written with the schema.
        """
        buf = io.BytesIO()
        record = mcp_record(mcp, self.aspect_bytes(mcp))
        try:
            self._writer(buf, self.parsed, record)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InvalidEventError(
                f"cannot be written as a DataHub MetadataChangeProposal: {exc}", field="aspect"
            ) from exc
        return buf.getvalue()

    def decode(self, value: bytes) -> dict[str, Any]:
        """Read a Confluent-framed value back into a record dict (for error reports and tests)."""
        fastavro = require("fastavro", "kafka")
        return fastavro.schemaless_reader(io.BytesIO(value[5:]), self.parsed, None)
