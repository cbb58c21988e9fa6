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


def _items(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if type(value) is list:
        return value
    raise Malformed(path, f"expected a list, got {type(value).__name__}")


# -- job facets -------------------------------------------------------------------


def _job_type(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "processing_type": opt_str(f.get("processingType"), f"{p}.processingType", loc),
        "integration": opt_str(f.get("integration"), f"{p}.integration", loc),
        "job_type": opt_str(f.get("jobType"), f"{p}.jobType", loc),
    }


def _documentation(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"description": opt_str(f.get("description"), f"{p}.description", loc)}


def _owners(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    owners = []
    for i, item in enumerate(_items(f.get("owners"), f"{p}.owners")):
        item = as_mapping(item, f"{p}.owners[{i}]")
        name = _ident(item.get("name"))
        if name is None:
            warn(loc, f"{p}.owners[{i}].name", "owner without a name; skipped")
            continue
        owners.append(Owner(name=name, type=opt_str(item.get("type"), f"{p}.owners[{i}].type", loc)))
    return {"owners": tuple(owners)}


def _tag_list(f: Mapping[str, Any], p: str, loc: str | None) -> tuple[Tag, ...]:
    tags = []
    for i, item in enumerate(_items(f.get("tags"), f"{p}.tags")):
        item = as_mapping(item, f"{p}.tags[{i}]")
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
                source=opt_str(item.get("source"), f"{p}.tags[{i}].source", loc),
                field=opt_str(item.get("field"), f"{p}.tags[{i}].field", loc),
            )
        )
    return tuple(tags)


def _tags(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"tags": _tag_list(f, p, loc)}


def _sql(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "sql": opt_str(f.get("query"), f"{p}.query", loc),
        "sql_dialect": opt_str(f.get("dialect"), f"{p}.dialect", loc),
    }


def _source_code(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "source_code": opt_str(f.get("sourceCode"), f"{p}.sourceCode", loc),
        "source_language": opt_str(f.get("language"), f"{p}.language", loc),
    }


def _source_location(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "source_location": SourceLocation(
            url=opt_str(f.get("url"), f"{p}.url", loc),
            type=opt_str(f.get("type"), f"{p}.type", loc),
            repo_url=opt_str(f.get("repoUrl"), f"{p}.repoUrl", loc),
            path=opt_str(f.get("path"), f"{p}.path", loc),
            version=opt_str(f.get("version"), f"{p}.version", loc),
            tag=opt_str(f.get("tag"), f"{p}.tag", loc),
            branch=opt_str(f.get("branch"), f"{p}.branch", loc),
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
            message=opt_str(f.get("message"), f"{p}.message", loc) or "",
            stack_trace=opt_str(f.get("stackTrace"), f"{p}.stackTrace", loc),
            language=opt_str(f.get("programmingLanguage"), f"{p}.programmingLanguage", loc),
        )
    }


def _processing_engine(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "processing_engine": opt_str(f.get("name"), f"{p}.name", loc),
        "processing_engine_version": opt_str(f.get("version"), f"{p}.version", loc),
        "openlineage_adapter_version": opt_str(
            f.get("openlineageAdapterVersion"), f"{p}.openlineageAdapterVersion", loc
        ),
    }


# -- dataset facets ---------------------------------------------------------------


def _schema_fields(items: Any, p: str, loc: str | None, depth: int) -> tuple[SchemaField, ...]:
    if depth > _MAX_SCHEMA_DEPTH:
        raise Malformed(p, f"nested deeper than {_MAX_SCHEMA_DEPTH} levels")
    out = []
    for i, item in enumerate(_items(items, p)):
        item = as_mapping(item, f"{p}[{i}]")
        name = _ident(item.get("name"))
        if name is None:
            warn(loc, f"{p}[{i}].name", "schema field without a name; skipped")
            continue
        children = item.get("fields")
        out.append(
            SchemaField(
                name=name,
                type=opt_str(item.get("type"), f"{p}[{i}].type", loc),
                description=opt_str(item.get("description"), f"{p}[{i}].description", loc),
                ordinal_position=opt_int(item.get("ordinal_position"), f"{p}[{i}].ordinal_position", loc),
                fields=_schema_fields(children, f"{p}[{i}].fields", loc, depth + 1) if children else (),
            )
        )
    return tuple(out)


def _schema(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"fields": _schema_fields(f.get("fields"), f"{p}.fields", loc, 0)}


def _data_source(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "data_source_name": opt_str(f.get("name"), f"{p}.name", loc),
        "data_source_uri": opt_str(f.get("uri"), f"{p}.uri", loc),
    }


def _symlinks(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    links = []
    for i, item in enumerate(_items(f.get("identifiers"), f"{p}.identifiers")):
        item = as_mapping(item, f"{p}.identifiers[{i}]")
        ns, name = _ident(item.get("namespace")), _ident(item.get("name"))
        if ns is None or name is None:
            warn(loc, f"{p}.identifiers[{i}]", "symlink without namespace or name; skipped")
            continue
        links.append(
            Symlink(
                namespace=ns, name=name, type=opt_str(item.get("type"), f"{p}.identifiers[{i}].type", loc)
            )
        )
    return {"symlinks": tuple(links)}


def _storage(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "storage_layer": opt_str(f.get("storageLayer"), f"{p}.storageLayer", loc),
        "file_format": opt_str(f.get("fileFormat"), f"{p}.fileFormat", loc),
    }


def _version(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"version": opt_str(f.get("datasetVersion"), f"{p}.datasetVersion", loc)}


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
        "lifecycle_state": opt_str(f.get("lifecycleStateChange"), f"{p}.lifecycleStateChange", loc),
        "previous_identifier": key,
    }


def _transformations(items: Any, p: str, loc: str | None) -> tuple[Transformation, ...]:
    out = []
    for i, item in enumerate(_items(items, p)):
        item = as_mapping(item, f"{p}[{i}]")
        masking = item.get("masking")
        if masking is not None and type(masking) is not bool:
            raise Malformed(f"{p}[{i}].masking", f"expected a boolean, got {type(masking).__name__}")
        kind = opt_str(item.get("type"), f"{p}[{i}].type", loc)
        if kind is None:
            warn(loc, f"{p}[{i}].type", "transformation without a type; taken as DIRECT")
            kind = "DIRECT"
        out.append(
            Transformation(
                type=kind,
                subtype=opt_str(item.get("subtype"), f"{p}[{i}].subtype", loc),
                description=opt_str(item.get("description"), f"{p}[{i}].description", loc),
                masking=bool(masking),
            )
        )
    return tuple(out)


def _input_fields(items: Any, p: str, loc: str | None) -> tuple[InputField, ...]:
    out = []
    for i, item in enumerate(_items(items, p)):
        item = as_mapping(item, f"{p}[{i}]")
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
                transformation_description=opt_str(
                    spec.get("transformationDescription"), f"{fp}.transformationDescription", loc
                ),
                transformation_type=opt_str(spec.get("transformationType"), f"{fp}.transformationType", loc),
            )
        )
    return {
        "column_lineage": tuple(lineage),
        "dataset_lineage": _input_fields(f.get("dataset"), f"{p}.dataset", loc),
    }


def _statistics(f: Mapping[str, Any], p: str, loc: str | None, size_key: str = "size") -> DatasetStatistics:
    return DatasetStatistics(
        row_count=opt_int(f.get("rowCount"), f"{p}.rowCount", loc),
        size_bytes=opt_int(f.get(size_key), f"{p}.{size_key}", loc),
        file_count=opt_int(f.get("fileCount"), f"{p}.fileCount", loc),
    )


def _input_statistics(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"input_statistics": _statistics(f, p, loc)}


def _output_statistics(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"output_statistics": _statistics(f, p, loc)}


def stats_from_quality_metrics(facet: Any, p: str, loc: str | None) -> DatasetStatistics | None:
    """Row/byte/file counts of a ``dataQualityMetrics`` input facet, or ``None`` if unusable.

    The facet itself stays verbatim in ``input_facets`` (its column metrics have no model field).
    """
    if not isinstance(facet, Mapping):
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
    if not isinstance(facets, Mapping):
        warn(loc, path, f"facets must be an object, got {type(facets).__name__}; ignored")
        return {}
    rest: dict[str, Any] = {}
    for name, facet in facets.items():
        entry = table.get(name)
        if entry is None:
            rest[name] = facet
            continue
        if not isinstance(facet, Mapping):
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
        residue = {k: v for k, v in facet.items() if k not in known}
        if residue:
            rest[name] = residue
    return rest
