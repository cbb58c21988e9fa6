"""Standard OpenLineage facets -> keyword arguments of the neutral model.

Each handler reads one standard facet and returns the model fields it fills.
A handler raises :class:`Malformed` when the facet cannot be used; the caller
then keeps the facet verbatim (nothing is lost) and warns. Keys of a standard
facet that the model has no field for (``contentType``, ``pullRequestNumber``,
producer extensions) are kept as a *residue* under the facet's name in the
``facets`` dict, so :mod:`._dump` can put them back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bridge.errors import InvalidEventError
from bridge.model import (
    ColumnLineage,
    DatasetStatistics,
    ErrorInfo,
    InputField,
    Owner,
    ParentRun,
    SchemaField,
    SourceLocation,
    Symlink,
    Tag,
    Transformation,
)

from ._values import Malformed, as_mapping, opt_int, opt_str, parse_time, warn

__all__ = [
    "DATASET_FACETS",
    "INPUT_FACETS",
    "JOB_FACETS",
    "OUTPUT_FACETS",
    "RUN_FACETS",
    "apply_facets",
    "stats_from_quality_metrics",
]

_META = ("_producer", "_schemaURL")
# Nested schema fields deeper than this are not modelled (the facet is kept verbatim):
# it bounds recursion on hostile input; real schemas are far shallower.
_MAX_SCHEMA_DEPTH = 64

Handler = Callable[[Mapping[str, Any], str, "str | None"], dict[str, Any]]


def _ident(value: Any) -> str | None:
    """A usable identifier (non-blank string; numbers as text) or ``None``."""
    if type(value) is str:
        return value if value.strip() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


# Fast paths: the common value (a string, None, a dict) is returned without building
# the JSON path, which is only needed for a warning or an error.


def _s(obj: Mapping[str, Any], key: str, p: str, loc: str | None) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    return opt_str(value, f"{p}.{key}", loc)


def _si(obj: Mapping[str, Any], key: str, p: str, i: int, loc: str | None) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    return opt_str(value, f"{p}[{i}].{key}", loc)


def _i(obj: Mapping[str, Any], key: str, p: str, loc: str | None) -> int | None:
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    return opt_int(value, f"{p}.{key}", loc)


def _ii(obj: Mapping[str, Any], key: str, p: str, i: int, loc: str | None) -> int | None:
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    return opt_int(value, f"{p}[{i}].{key}", loc)


def _item(item: Any, p: str, i: int) -> Mapping[str, Any]:
    if type(item) is dict:
        return item
    return as_mapping(item, f"{p}[{i}]")


def _items(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if type(value) is list:
        return value
    raise Malformed(path, f"expected a list, got {type(value).__name__}")


# -- job facets -------------------------------------------------------------------


def _job_type(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "processing_type": _s(f, "processingType", p, loc),
        "integration": _s(f, "integration", p, loc),
        "job_type": _s(f, "jobType", p, loc),
    }


def _documentation(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"description": _s(f, "description", p, loc)}


def _owners(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    owners = []
    lp = f"{p}.owners"
    for i, item in enumerate(_items(f.get("owners"), lp)):
        item = _item(item, lp, i)
        name = _ident(item.get("name"))
        if name is None:
            warn(loc, f"{p}.owners[{i}].name", "owner without a name; skipped")
            continue
        owners.append(Owner(name=name, type=_si(item, "type", lp, i, loc)))
    return {"owners": tuple(owners)}


def _tag_list(f: Mapping[str, Any], p: str, loc: str | None) -> tuple[Tag, ...]:
    tags = []
    lp = f"{p}.tags"
    for i, item in enumerate(_items(f.get("tags"), lp)):
        item = _item(item, lp, i)
        key = _ident(item.get("key"))
        if key is None:
            warn(loc, f"{p}.tags[{i}].key", "tag without a key; skipped")
            continue
        value = item.get("value")
        if type(value) is bool:  # some producers send flags; OpenLineage wants strings
            value = "true" if value else "false"
        tags.append(
            Tag(
                key=key,
                value=opt_str(value, f"{p}.tags[{i}].value", loc),
                source=_si(item, "source", lp, i, loc),
                field=_si(item, "field", lp, i, loc),
            )
        )
    return tuple(tags)


def _tags(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"tags": _tag_list(f, p, loc)}


def _sql(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "sql": _s(f, "query", p, loc),
        "sql_dialect": _s(f, "dialect", p, loc),
    }


def _source_code(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "source_code": _s(f, "sourceCode", p, loc),
        "source_language": _s(f, "language", p, loc),
    }


def _source_location(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "source_location": SourceLocation(
            url=_s(f, "url", p, loc),
            type=_s(f, "type", p, loc),
            repo_url=_s(f, "repoUrl", p, loc),
            path=_s(f, "path", p, loc),
            version=_s(f, "version", p, loc),
            tag=_s(f, "tag", p, loc),
            branch=_s(f, "branch", p, loc),
        )
    }


# -- run facets -------------------------------------------------------------------


def _ref(obj: Any, key: str, p: str) -> str:
    """``obj[key]`` as a required identifier of a parent/root reference."""
    value = _ident(as_mapping(obj, p).get(key))
    if value is None:
        raise Malformed(f"{p}.{key}", "is required but missing or not a non-empty string")
    return value


def _parent(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    run, job = f.get("run"), f.get("job")
    root = f.get("root")
    root_run_id = root_ns = root_name = None
    if root is not None:
        root = as_mapping(root, f"{p}.root")
        root_run_id = _ref(root.get("run"), "runId", f"{p}.root.run")
        root_ns = _ref(root.get("job"), "namespace", f"{p}.root.job")
        root_name = _ref(root.get("job"), "name", f"{p}.root.job")
    parent = ParentRun(
        run_id=_ref(run, "runId", f"{p}.run"),
        job_namespace=_ref(job, "namespace", f"{p}.job"),
        job_name=_ref(job, "name", f"{p}.job"),
        root_run_id=root_run_id,
        root_job_namespace=root_ns,
        root_job_name=root_name,
    )
    return {"parent": parent}


def _nominal_time(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    start, end = f.get("nominalStartTime"), f.get("nominalEndTime")
    return {
        "nominal_start_time": None if start is None else parse_time(start, f"{p}.nominalStartTime", loc),
        "nominal_end_time": None if end is None else parse_time(end, f"{p}.nominalEndTime", loc),
    }


def _error_message(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "error": ErrorInfo(
            message=_s(f, "message", p, loc) or "",
            stack_trace=_s(f, "stackTrace", p, loc),
            language=_s(f, "programmingLanguage", p, loc),
        )
    }


def _processing_engine(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "processing_engine": _s(f, "name", p, loc),
        "processing_engine_version": _s(f, "version", p, loc),
        "openlineage_adapter_version": _s(f, "openlineageAdapterVersion", p, loc),
    }


# -- dataset facets ---------------------------------------------------------------


def _schema_fields(items: Any, p: str, loc: str | None, depth: int) -> tuple[SchemaField, ...]:
    if depth > _MAX_SCHEMA_DEPTH:
        raise Malformed(p, f"nested deeper than {_MAX_SCHEMA_DEPTH} levels")
    out = []
    # The hottest loop of the parser (wide tables): the common case is inlined.
    for i, item in enumerate(_items(items, p)):
        if type(item) is not dict:
            item = _item(item, p, i)
        get = item.get
        name = get("name")
        if type(name) is not str or not name.strip():
            name = _ident(name)
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


def _schema(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"fields": _schema_fields(f.get("fields"), f"{p}.fields", loc, 0)}


def _data_source(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "data_source_name": _s(f, "name", p, loc),
        "data_source_uri": _s(f, "uri", p, loc),
    }


def _symlinks(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    links = []
    lp = f"{p}.identifiers"
    for i, item in enumerate(_items(f.get("identifiers"), lp)):
        item = _item(item, lp, i)
        ns, name = _ident(item.get("namespace")), _ident(item.get("name"))
        if ns is None or name is None:
            warn(loc, f"{p}.identifiers[{i}]", "symlink without namespace or name; skipped")
            continue
        links.append(Symlink(namespace=ns, name=name, type=_si(item, "type", lp, i, loc)))
    return {"symlinks": tuple(links)}


def _storage(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "storage_layer": _s(f, "storageLayer", p, loc),
        "file_format": _s(f, "fileFormat", p, loc),
    }


def _version(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"version": _s(f, "datasetVersion", p, loc)}


def _lifecycle(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    previous = f.get("previousIdentifier")
    key = None
    if previous is not None:
        previous = as_mapping(previous, f"{p}.previousIdentifier")
        ns, name = _ident(previous.get("namespace")), _ident(previous.get("name"))
        if ns is None or name is None:
            raise Malformed(f"{p}.previousIdentifier", "needs a namespace and a name")
        key = (ns, name)
    return {
        "lifecycle_state": _s(f, "lifecycleStateChange", p, loc),
        "previous_identifier": key,
    }


def _transformations(items: Any, p: str, loc: str | None) -> tuple[Transformation, ...]:
    out = []
    for i, item in enumerate(_items(items, p)):
        if type(item) is not dict:
            item = _item(item, p, i)
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
    for i, item in enumerate(_items(items, p)):
        item = _item(item, p, i)
        ns, name, column = _ident(item.get("namespace")), _ident(item.get("name")), _ident(item.get("field"))
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


def _column_lineage(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
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
                transformation_description=_s(spec, "transformationDescription", fp, loc),
                transformation_type=_s(spec, "transformationType", fp, loc),
            )
        )
    return {
        "column_lineage": tuple(lineage),
        "dataset_lineage": _input_fields(f.get("dataset"), f"{p}.dataset", loc),
    }


def _statistics(f: Mapping[str, Any], p: str, loc: str | None, size_key: str = "size") -> DatasetStatistics:
    return DatasetStatistics(
        row_count=_i(f, "rowCount", p, loc),
        size_bytes=opt_int(f.get(size_key), f"{p}.{size_key}", loc),
        file_count=_i(f, "fileCount", p, loc),
    )


def _input_statistics(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"input_statistics": _statistics(f, p, loc)}


def _output_statistics(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
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


# -- tables -----------------------------------------------------------------------
# facet name -> (handler, keys the handler models); other keys become the residue.


def _table(**entries: tuple[Handler, tuple[str, ...]]) -> dict[str, tuple[Handler, frozenset[str]]]:
    return {name: (handler, frozenset(keys + _META)) for name, (handler, keys) in entries.items()}


JOB_FACETS = _table(
    jobType=(_job_type, ("processingType", "integration", "jobType")),
    documentation=(_documentation, ("description",)),
    ownership=(_owners, ("owners",)),
    tags=(_tags, ("tags",)),
    sql=(_sql, ("query", "dialect")),
    sourceCode=(_source_code, ("sourceCode", "language")),
    sourceCodeLocation=(_source_location, ("url", "type", "repoUrl", "path", "version", "tag", "branch")),
)
RUN_FACETS = _table(
    parent=(_parent, ("run", "job", "root")),
    nominalTime=(_nominal_time, ("nominalStartTime", "nominalEndTime")),
    errorMessage=(_error_message, ("message", "stackTrace", "programmingLanguage")),
    processing_engine=(_processing_engine, ("name", "version", "openlineageAdapterVersion")),
    tags=(_tags, ("tags",)),
)
DATASET_FACETS = _table(
    schema=(_schema, ("fields",)),
    dataSource=(_data_source, ("name", "uri")),
    symlinks=(_symlinks, ("identifiers",)),
    storage=(_storage, ("storageLayer", "fileFormat")),
    version=(_version, ("datasetVersion",)),
    lifecycleStateChange=(_lifecycle, ("lifecycleStateChange", "previousIdentifier")),
    columnLineage=(_column_lineage, ("fields", "dataset")),
    ownership=(_owners, ("owners",)),
    tags=(_tags, ("tags",)),
    documentation=(_documentation, ("description",)),
)
INPUT_FACETS = _table(inputStatistics=(_input_statistics, ("rowCount", "size", "fileCount")))
OUTPUT_FACETS = _table(outputStatistics=(_output_statistics, ("rowCount", "size", "fileCount")))


def apply_facets(
    facets: Any,
    table: Mapping[str, tuple[Handler, frozenset[str]]],
    path: str,
    loc: str | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Fill ``kwargs`` from the standard facets in ``facets``; return what the model cannot hold.

    Args:
        facets: the facets object of the event (may be ``None`` or, from bad producers, anything).
        table: which facets are standard here, see :data:`JOB_FACETS` and friends.
        path: JSON path of ``facets`` (for warnings).
        loc: where the event came from (for warnings).
        kwargs: model keyword arguments, updated in place.

    Returns:
        The facets to keep verbatim: unknown facets, malformed or ``_deleted`` standard
        facets, and the residue (unmodelled keys) of standard ones.
    """
    if not facets:
        return {}
    if not (type(facets) is dict or isinstance(facets, Mapping)):
        warn(loc, path, f"facets must be an object, got {type(facets).__name__}; ignored")
        return {}
    rest: dict[str, Any] = {}
    for name, facet in facets.items():
        entry = table.get(name)
        if entry is None:
            rest[name] = facet
            continue
        if not (type(facet) is dict or isinstance(facet, Mapping)):
            if facet is not None:
                warn(
                    loc, f"{path}.{name}", f"facet must be an object, got {type(facet).__name__}; kept as is"
                )
            rest[name] = facet
            continue
        if facet.get("_deleted"):
            rest[name] = facet
            continue
        handler, known = entry
        try:
            kwargs.update(handler(facet, f"{path}.{name}", loc))
        except Malformed as exc:
            warn(loc, exc.path, f"{exc.reason}; facet kept as is")
            rest[name] = facet
            continue
        except InvalidEventError as exc:  # a model validator disagreed: same treatment
            warn(loc, f"{path}.{name}", f"{exc.reason}; facet kept as is")
            rest[name] = facet
            continue
        if not facet.keys() <= known:  # set comparison in C; the residue is rare
            rest[name] = {k: v for k, v in facet.items() if k not in known}
    return rest
