"""Standard dataset facets (and input/output facets) -> model fields.

Each handler takes ``(facet, json_path, location)`` and returns model keyword arguments,
or raises :class:`Malformed` (the caller then keeps the facet verbatim).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.model import ColumnLineage, DatasetStatistics, InputField, SchemaField, Symlink, Transformation

from ._access import as_item, as_list, get_int, get_str, get_str_i, ident
from ._values import Malformed, as_mapping, opt_int, opt_str, warn

__all__ = [
    "column_lineage",
    "data_source",
    "input_statistics",
    "lifecycle",
    "output_statistics",
    "schema",
    "stats_from_quality_metrics",
    "storage",
    "symlinks",
    "version",
]

# Nested schema fields deeper than this are not modelled (the facet is kept verbatim):
# it bounds recursion on hostile input; real schemas are far shallower.
_MAX_SCHEMA_DEPTH = 64


def _schema_fields(items: Any, p: str, loc: str | None, depth: int) -> tuple[SchemaField, ...]:
    if depth > _MAX_SCHEMA_DEPTH:
        raise Malformed(p, f"nested deeper than {_MAX_SCHEMA_DEPTH} levels")
    out = []
    # The hottest loop of the parser (wide tables): the common case is inlined.
    for i, item in enumerate(as_list(items, p)):
        if type(item) is not dict:
            item = as_item(item, p, i)
        get = item.get
        name = get("name")
        if type(name) is not str or not name.strip():
            name = ident(name)
            if name is None:
                warn(loc, f"{p}[{i}].name", "schema field without a name; skipped")
                continue
        kind, description, position = get("type"), get("description"), get("ordinal_position")
        if kind is not None and type(kind) is not str:
            kind = opt_str(kind, f"{p}[{i}].type", loc)
        if description is not None and type(description) is not str:
            description = opt_str(description, f"{p}[{i}].description", loc)
        if position is not None and type(position) is not int:
            position = opt_int(position, f"{p}[{i}].ordinal_position", loc)
        children = get("fields")
        out.append(
            SchemaField(
                name=name,
                type=kind,
                description=description,
                ordinal_position=position,
                fields=_schema_fields(children, f"{p}[{i}].fields", loc, depth + 1) if children else (),
            )
        )
    return tuple(out)


def schema(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"fields": _schema_fields(f.get("fields"), f"{p}.fields", loc, 0)}


def data_source(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "data_source_name": get_str(f, "name", p, loc),
        "data_source_uri": get_str(f, "uri", p, loc),
    }


def symlinks(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    links = []
    lp = f"{p}.identifiers"
    for i, item in enumerate(as_list(f.get("identifiers"), lp)):
        item = as_item(item, lp, i)
        ns, name = ident(item.get("namespace")), ident(item.get("name"))
        if ns is None or name is None:
            warn(loc, f"{p}.identifiers[{i}]", "symlink without namespace or name; skipped")
            continue
        links.append(Symlink(namespace=ns, name=name, type=get_str_i(item, "type", lp, i, loc)))
    return {"symlinks": tuple(links)}


def storage(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "storage_layer": get_str(f, "storageLayer", p, loc),
        "file_format": get_str(f, "fileFormat", p, loc),
    }


def version(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"version": get_str(f, "datasetVersion", p, loc)}


def dataset_type(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"dataset_type": get_str(f, "datasetType", p, loc), "dataset_subtype": get_str(f, "subType", p, loc)}


def lifecycle(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    previous = f.get("previousIdentifier")
    key = None
    if previous is not None:
        previous = as_mapping(previous, f"{p}.previousIdentifier")
        ns, name = ident(previous.get("namespace")), ident(previous.get("name"))
        if ns is None or name is None:
            raise Malformed(f"{p}.previousIdentifier", "needs a namespace and a name")
        key = (ns, name)
    return {
        "lifecycle_state": get_str(f, "lifecycleStateChange", p, loc),
        "previous_identifier": key,
    }


def _transformations(items: Any, p: str, loc: str | None) -> tuple[Transformation, ...]:
    out = []
    for i, item in enumerate(as_list(items, p)):
        if type(item) is not dict:
            item = as_item(item, p, i)
        get = item.get
        masking = get("masking")
        if masking is not None and type(masking) is not bool:
            raise Malformed(f"{p}[{i}].masking", f"expected a boolean, got {type(masking).__name__}")
        kind, subtype, description = get("type"), get("subtype"), get("description")
        if type(kind) is not str:
            kind = opt_str(kind, f"{p}[{i}].type", loc)
            if kind is None:
                warn(loc, f"{p}[{i}].type", "transformation without a type; taken as DIRECT")
                kind = "DIRECT"
        if subtype is not None and type(subtype) is not str:
            subtype = opt_str(subtype, f"{p}[{i}].subtype", loc)
        if description is not None and type(description) is not str:
            description = opt_str(description, f"{p}[{i}].description", loc)
        out.append(Transformation(type=kind, subtype=subtype, description=description, masking=bool(masking)))
    return tuple(out)


def _input_fields(items: Any, p: str, loc: str | None) -> tuple[InputField, ...]:
    out = []
    for i, item in enumerate(as_list(items, p)):
        item = as_item(item, p, i)
        ns, name, column = ident(item.get("namespace")), ident(item.get("name")), ident(item.get("field"))
        if ns is None or name is None or column is None:
            warn(loc, f"{p}[{i}]", "input field without namespace, name or field; skipped")
            continue
        transformations = item.get("transformations")
        out.append(
            InputField(
                namespace=ns,
                name=name,
                field=column,
                transformations=_transformations(transformations, f"{p}[{i}].transformations", loc)
                if transformations
                else (),
            )
        )
    return tuple(out)


def column_lineage(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    lineage = []
    for out_field, spec in as_mapping(f.get("fields"), f"{p}.fields").items():
        fp = f"{p}.fields.{out_field}"
        if type(out_field) is not str or not out_field.strip():
            warn(loc, fp, "column lineage for an empty column name; skipped")
            continue
        spec = as_mapping(spec, fp)
        lineage.append(
            ColumnLineage(
                output_field=out_field,
                inputs=_input_fields(spec.get("inputFields"), f"{fp}.inputFields", loc),
                transformation_description=get_str(spec, "transformationDescription", fp, loc),
                transformation_type=get_str(spec, "transformationType", fp, loc),
            )
        )
    return {
        "column_lineage": tuple(lineage),
        "dataset_lineage": _input_fields(f.get("dataset"), f"{p}.dataset", loc),
    }


def _statistics(f: Mapping[str, Any], p: str, loc: str | None, size_key: str = "size") -> DatasetStatistics:
    return DatasetStatistics(
        row_count=get_int(f, "rowCount", p, loc),
        size_bytes=opt_int(f.get(size_key), f"{p}.{size_key}", loc),
        file_count=get_int(f, "fileCount", p, loc),
    )


def input_statistics(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"input_statistics": _statistics(f, p, loc)}


def output_statistics(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"output_statistics": _statistics(f, p, loc)}


def stats_from_quality_metrics(facet: Any, p: str, loc: str | None) -> DatasetStatistics | None:
    """Row/byte/file counts of a ``dataQualityMetrics`` input facet, or ``None`` if unusable.

    The facet itself stays verbatim in ``input_facets`` (its column metrics have no model field).
    """
    if not (type(facet) is dict or isinstance(facet, Mapping)):
        return None
    try:
        stats = _statistics(facet, p, loc, size_key="bytes")
    except Malformed as exc:
        warn(loc, exc.path, exc.reason)
        return None
    return None if stats == DatasetStatistics() else stats
