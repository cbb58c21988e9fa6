"""Native column types -> DataHub ``SchemaFieldDataType`` and schema fields.

OpenLineage schema facets carry whatever type text the producer's engine uses
(Spark ``decimal(10,2)`` / ``array<struct<...>>``, BigQuery ``INT64`` /
``RECORD``, Postgres ``timestamptz``, Snowflake ``VARIANT``...). DataHub wants
one of its fixed type classes (``com.linkedin.schema.NumberType`` ...) beside the
native text, which it shows verbatim. :func:`datahub_type` does that mapping;
unknown types map to ``NullType`` (DataHub's "unknown") rather than failing.

Nested columns become DataHub v1 field paths (``parent.child``), which is what
DataHub's own OpenLineage and Spark integrations emit and what column-level
lineage from OpenLineage refers to.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any

from bridge.model import SchemaField

__all__ = [
    "DATAHUB_TYPES",
    "datahub_type",
    "field_path_items",
    "schema_field_type",
]

_NS = "com.linkedin.schema."

DATAHUB_TYPES = (
    "BooleanType",
    "FixedType",
    "StringType",
    "BytesType",
    "NumberType",
    "DateType",
    "TimeType",
    "EnumType",
    "NullType",
    "MapType",
    "ArrayType",
    "UnionType",
    "RecordType",
)
"""DataHub's ``SchemaFieldDataType`` member classes (short names)."""

# Base type word (lower-case, parameters stripped) -> DataHub class short name.
_BY_NAME: dict[str, str] = {}


def _register(kind: str, *names: str) -> None:
    for name in names:
        _BY_NAME[name] = kind


_register("BooleanType", "boolean", "bool", "bit")
_register(
    "NumberType",
    "int",
    "integer",
    "int2",
    "int4",
    "int8",
    "int16",
    "int32",
    "int64",
    "int128",
    "int256",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "tinyint",
    "smallint",
    "mediumint",
    "bigint",
    "byte",
    "short",
    "long",
    "long64",
    "float",
    "float4",
    "float8",
    "float32",
    "float64",
    "double",
    "double precision",
    "real",
    "decimal",
    "numeric",
    "number",
    "bignumeric",
    "bigdecimal",
    "money",
    "smallmoney",
    "serial",
    "bigserial",
    "smallserial",
    "hugeint",
    "ubigint",
    "uinteger",
    "dec",
    "fixed",
    "oid",
)
_register(
    "StringType",
    "string",
    "str",
    "text",
    "varchar",
    "char",
    "character",
    "character varying",
    "nvarchar",
    "nchar",
    "ntext",
    "tinytext",
    "mediumtext",
    "longtext",
    "clob",
    "nclob",
    "uuid",
    "uniqueidentifier",
    "citext",
    "name",
    "bpchar",
    "json",
    "jsonb",
    "xml",
    "inet",
    "cidr",
    "macaddr",
    "interval",
    "geography",
    "geometry",
    "varchar2",
    "nvarchar2",
    "enum8",
    "enum16",
    "lowcardinality",
)
_register(
    "BytesType",
    "binary",
    "varbinary",
    "bytes",
    "bytea",
    "blob",
    "tinyblob",
    "mediumblob",
    "longblob",
    "raw",
    "image",
    "long raw",
)
_register("DateType", "date", "date32")
_register(
    "TimeType",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "timestamp_ntz",
    "timestamp_ltz",
    "timestamp_tz",
    "datetime",
    "datetime2",
    "datetime64",
    "datetimeoffset",
    "smalldatetime",
    "timestamp with time zone",
    "timestamp without time zone",
    "time with time zone",
    "time without time zone",
    "timestamp with local time zone",
)
_register("EnumType", "enum", "set")
_register("MapType", "map", "hstore", "object", "variant", "dict", "dictionary")
_register("ArrayType", "array", "list", "repeated", "_array", "tuple")
_register("UnionType", "union", "oneof")
_register("RecordType", "struct", "record", "row", "nested", "tuple_struct", "super")
_register("NullType", "null", "void", "none", "unknown")

# Things such as "decimal(10,2)", "varchar(255)", "array<int>", "INT64 NOT NULL".
_BASE = re.compile(r"^\s*([a-z_][a-z0-9_ ]*?)\s*(?:[(<\[].*)?$", re.DOTALL)


@functools.lru_cache(maxsize=1024)
def datahub_type(native_type: str | None) -> str:
    """Map a native column type to a DataHub type class short name.

    Args:
        native_type: the type text the producer reported (any case), or ``None``.

    Returns:
        One of :data:`DATAHUB_TYPES`; ``NullType`` (DataHub's "unknown") when the
        type is missing or not recognised.
    """
    if not native_type:
        return "NullType"
    text = native_type.strip().lower()
    kind = _BY_NAME.get(text)
    if kind is not None:
        return kind
    if text.endswith("[]"):  # postgres arrays: integer[]
        return "ArrayType"
    match = _BASE.match(text)
    if match is None:
        return "NullType"
    base = match.group(1).strip()
    for suffix in (" not null", " null", " unsigned", " signed", " array"):
        if base.endswith(suffix):
            if suffix == " array":
                return "ArrayType"
            base = base[: -len(suffix)].strip()
    kind = _BY_NAME.get(base)
    if kind is not None:
        return kind
    # Common prefixes of parameterised families: "nullable(...)" wraps another type.
    if base == "nullable" and "(" in text:
        return datahub_type(text[text.index("(") + 1 : text.rindex(")")] if ")" in text else None)
    if base.startswith(("int", "uint")):
        return "NumberType"
    if base.startswith(("timestamp", "datetime")):
        return "TimeType"
    if base.startswith(("varchar", "char", "string")):
        return "StringType"
    return "NullType"


@functools.lru_cache(maxsize=1024)
def schema_field_type(native_type: str | None) -> dict[str, Any]:
    """The ``SchemaFieldDataType`` JSON for a native type (shared, do not mutate).

    Args:
        native_type: the producer's type text, or ``None``.

    Returns:
        ``{"type": {"com.linkedin.schema.<Kind>": {...}}}`` as DataHub's JSON takes it.
    """
    kind = datahub_type(native_type)
    body: dict[str, Any] = {}
    if kind == "ArrayType" and native_type:
        inner = _inner_type(native_type)
        if inner:
            body = {"nestedType": [inner]}
    return {"type": {_NS + kind: body}}


def _inner_type(native_type: str) -> str | None:
    """The element type text of ``array<x>`` / ``ARRAY<x>`` / ``x[]``, if written."""
    text = native_type.strip()
    if text.endswith("[]"):
        return text[:-2].strip() or None
    start = text.find("<")
    if start > 0 and text.endswith(">"):
        return text[start + 1 : -1].strip() or None
    return None


def field_path_items(
    fields: Iterable[SchemaField], prefix: str = ""
) -> Iterator[tuple[str, SchemaField, bool]]:
    """Walk (nested) schema fields depth-first, parents before children.

    Args:
        fields: the top-level fields of a dataset.
        prefix: the parent's path (``""`` for top level).

    Yields:
        ``(field_path, field, has_children)`` with v1 dotted paths (``a.b.c``).
    """
    for f in fields:
        path = f"{prefix}.{f.name}" if prefix else f.name
        yield path, f, bool(f.fields)
        if f.fields:
            yield from field_path_items(f.fields, path)
