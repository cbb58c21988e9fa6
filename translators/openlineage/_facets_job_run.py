"""Standard job and run facets (and ownership/tags/documentation, shared with datasets) -> model fields.

Each handler takes ``(facet, json_path, location)`` and returns model keyword arguments,
or raises :class:`Malformed` (the caller then keeps the facet verbatim).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.model import ErrorInfo, Owner, ParentRun, SourceLocation, Tag

from ._access import as_item, as_list, get_str, get_str_i, ident
from ._values import Malformed, as_mapping, opt_str, parse_time, warn

__all__ = [
    "documentation",
    "error_message",
    "job_type",
    "nominal_time",
    "owners",
    "parent",
    "processing_engine",
    "source_code",
    "source_location",
    "sql",
    "tags",
]

# -- job facets -------------------------------------------------------------------


def job_type(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "processing_type": get_str(f, "processingType", p, loc),
        "integration": get_str(f, "integration", p, loc),
        "job_type": get_str(f, "jobType", p, loc),
    }


def documentation(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"description": get_str(f, "description", p, loc)}


def owners(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    owners = []
    lp = f"{p}.owners"
    for i, item in enumerate(as_list(f.get("owners"), lp)):
        item = as_item(item, lp, i)
        name = ident(item.get("name"))
        if name is None:
            warn(loc, f"{p}.owners[{i}].name", "owner without a name; skipped")
            continue
        owners.append(Owner(name=name, type=get_str_i(item, "type", lp, i, loc)))
    return {"owners": tuple(owners)}


def _tag_list(f: Mapping[str, Any], p: str, loc: str | None) -> tuple[Tag, ...]:
    tags = []
    lp = f"{p}.tags"
    for i, item in enumerate(as_list(f.get("tags"), lp)):
        item = as_item(item, lp, i)
        key = ident(item.get("key"))
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
                source=get_str_i(item, "source", lp, i, loc),
                field=get_str_i(item, "field", lp, i, loc),
            )
        )
    return tuple(tags)


def tags(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {"tags": _tag_list(f, p, loc)}


def sql(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "sql": get_str(f, "query", p, loc),
        "sql_dialect": get_str(f, "dialect", p, loc),
    }


def source_code(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "source_code": get_str(f, "sourceCode", p, loc),
        "source_language": get_str(f, "language", p, loc),
    }


def source_location(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "source_location": SourceLocation(
            url=get_str(f, "url", p, loc),
            type=get_str(f, "type", p, loc),
            repo_url=get_str(f, "repoUrl", p, loc),
            path=get_str(f, "path", p, loc),
            version=get_str(f, "version", p, loc),
            tag=get_str(f, "tag", p, loc),
            branch=get_str(f, "branch", p, loc),
        )
    }


# -- run facets -------------------------------------------------------------------


def _ref(obj: Any, key: str, p: str) -> str:
    """``obj[key]`` as a required identifier of a parent/root reference."""
    value = ident(as_mapping(obj, p).get(key))
    if value is None:
        raise Malformed(f"{p}.{key}", "is required but missing or not a non-empty string")
    return value


def parent(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
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


def nominal_time(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    start, end = f.get("nominalStartTime"), f.get("nominalEndTime")
    return {
        "nominal_start_time": None if start is None else parse_time(start, f"{p}.nominalStartTime", loc),
        "nominal_end_time": None if end is None else parse_time(end, f"{p}.nominalEndTime", loc),
    }


def error_message(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "error": ErrorInfo(
            message=get_str(f, "message", p, loc) or "",
            stack_trace=get_str(f, "stackTrace", p, loc),
            language=get_str(f, "programmingLanguage", p, loc),
        )
    }


def processing_engine(f: Mapping[str, Any], p: str, loc: str | None) -> dict[str, Any]:
    return {
        "processing_engine": get_str(f, "name", p, loc),
        "processing_engine_version": get_str(f, "version", p, loc),
        "openlineage_adapter_version": get_str(f, "openlineageAdapterVersion", p, loc),
    }
