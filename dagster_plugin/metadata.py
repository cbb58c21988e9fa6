"""Dagster metadata values -> plain data (str, number, dict, list), so everything after reading is pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["metadata_value", "plain"]


def metadata_value(value: Any) -> Any:
    """Turn a Dagster metadata value into plain data (str, number, dict, list) or the raw value.

    Table schemas become ``{"columns": [{"name", "type", "description", "tags"}]}``;
    column lineage becomes ``{"deps_by_column": {col: [{"asset_key": [...], "column_name": ...}]}}``.
    """
    import dagster as dg

    if isinstance(value, dg.TableSchemaMetadataValue):
        value = value.schema
    if isinstance(value, dg.TableSchema):
        return {
            "columns": [
                {"name": c.name, "type": c.type, "description": c.description, "tags": dict(c.tags or {})}
                for c in value.columns
            ]
        }
    if isinstance(value, dg.TableColumnLineageMetadataValue):
        value = value.column_lineage
    if isinstance(value, dg.TableColumnLineage):
        return {
            "deps_by_column": {
                column: [{"asset_key": list(d.asset_key.path), "column_name": d.column_name} for d in deps]
                for column, deps in value.deps_by_column.items()
            }
        }
    if isinstance(value, dg.PathMetadataValue):
        return {"path": str(value.value)}
    if isinstance(value, dg.UrlMetadataValue):
        return {"url": value.value}
    if isinstance(value, dg.AssetKey):
        return {"asset_key": list(value.path)}
    if isinstance(value, dg.MetadataValue):
        raw = value.value
        if isinstance(raw, str | int | float | bool | list | dict) or raw is None:
            return raw
        return str(raw)
    return value


def plain(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k): metadata_value(v) for k, v in (metadata or {}).items()}
