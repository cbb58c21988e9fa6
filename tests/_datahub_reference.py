"""acryl-datahub as the reference validator for our MCPs (tests only).

``check_mcp`` proves one of our proposals is something DataHub accepts, using
DataHub's own code: its MCP wrapper and typed aspect classes (``from_obj`` +
``validate``), its entity registry, its URN parser, and the ``strlen`` rules of
its Avro schemas (which the Python ``validate()`` does not enforce but GMS
does). It also checks that DataHub's parsed aspect still holds everything we
sent: a field DataHub's schema does not know would be silently dropped.

A ``PATCH`` is checked as GMS would take it: DataHub's ``MetadataChangeProposal``
class parses it, its operations are JSON Patch with parseable URNs, and applied to
the aspect's patch template (:mod:`tests.servers.gms_state`, as GMS does for an
aspect that does not exist yet) it gives an aspect that passes every check above.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from datahub.emitter.mcp import MetadataChangeProposalWrapper as DataHubMCPW
from datahub.emitter.serialization_helper import pre_json_transform
from datahub.metadata import schema_classes as sc
from datahub.utilities.urns.urn import Urn

from bridge.mcp import JSON_PATCH_CONTENT_TYPE, MetadataChangeProposalWrapper
from tests.servers.gms_state import apply_patch

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def iter_urns(value: Any, schema: Any, names: dict[str, Any] | None = None, is_urn: bool = False) -> Iterator[str]:
    """The strings of a JSON aspect value in the fields DataHub's Avro ``schema`` types as URNs (``Urn``
    annotation, or the Urn Java class): the ones GMS parses. Free text (a name, a custom property) that
    happens to start with ``urn:li:`` is not one."""
    if names is None:
        names = {}
        _collect_names(schema, names)
    if isinstance(schema, str):
        if schema in names:
            yield from iter_urns(value, names[schema], names, is_urn)
        elif is_urn and isinstance(value, str):
            yield value
        return
    if isinstance(schema, list):  # a union: a record value may come wrapped as {"<type name>": value}
        if isinstance(value, dict) and len(value) == 1:
            (key, inner), = value.items()
            for branch in schema:
                full = branch if isinstance(branch, str) else _full_name(branch)
                if full is not None and (full == key or full.rsplit(".", 1)[-1] == key):
                    yield from iter_urns(inner, branch, names, is_urn)
                    return
        for branch in schema:
            if branch != "null":
                yield from iter_urns(value, branch, names, is_urn)
        return
    kind = schema.get("type")
    if kind == "record" and isinstance(value, dict):
        for field in schema["fields"]:
            if field["name"] in value:
                urn = "Urn" in field or "Urn" in str((field.get("java") or {}).get("class", ""))
                yield from iter_urns(value[field["name"]], field["type"], names, urn)
    elif kind == "array" and isinstance(value, list):
        for item in value:
            yield from iter_urns(item, schema["items"], names, is_urn)
    elif kind == "map" and isinstance(value, dict):
        for item in value.values():
            yield from iter_urns(item, schema["values"], names, is_urn)
    elif kind == "string" and is_urn and isinstance(value, str):  # {"type": "string", ...}
        yield value
    elif isinstance(kind, (list, dict)):  # {"type": <a union or a schema>}
        yield from iter_urns(value, kind, names, is_urn)


def _full_name(schema: Any) -> str | None:
    if not isinstance(schema, dict) or "name" not in schema:
        return schema.get("type") if isinstance(schema, dict) and isinstance(schema.get("type"), str) else None
    return f"{schema['namespace']}.{schema['name']}" if schema.get("namespace") else schema["name"]


def _collect_names(schema: Any, names: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _collect_names(branch, names)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            names[_full_name(schema)] = schema  # type: ignore[index]
        for field in schema.get("fields", ()):
            _collect_names(field["type"], names)
        for key in ("items", "values", "type"):
            if isinstance(schema.get(key), (dict, list)):
                _collect_names(schema[key], names)


def assert_subset(ours: Any, theirs: Any, path: str = "aspect") -> None:
    """Everything in ``ours`` is in ``theirs`` unchanged (DataHub may add defaults)."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), f"{path}: DataHub has {theirs!r}, we sent an object"
        for key, value in ours.items():
            assert key in theirs, f"{path}.{key}: dropped by DataHub's schema (unknown field?)"
            assert_subset(value, theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs), f"{path}: list changed"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_subset(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs, f"{path}: we sent {ours!r}, DataHub read {theirs!r}"


def _avro_name(union_key: str) -> str:
    # JSON uses com.linkedin.schema.X; the Avro schema com.linkedin.pegasus2avro.schema.X.
    return union_key.replace("com.linkedin.", "com.linkedin.pegasus2avro.", 1)


def _named_types(schema: Any, names: dict[str, Any]) -> dict[str, Any]:
    """Every named type a schema defines (a later field may refer to one defined in an earlier, empty one)."""
    if isinstance(schema, list):
        for item in schema:
            _named_types(item, names)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and schema.get("name"):
            full = f"{schema.get('namespace', '')}.{schema['name']}"
            if full not in names:
                names[full] = names.setdefault(schema["name"], schema)
                for f in schema.get("fields", ()):
                    _named_types(f["type"], names)
        else:
            for key in ("type", "items", "values"):
                if isinstance(schema.get(key), dict | list):
                    _named_types(schema[key], names)
    return names


def check_strlen(schema: Any, value: Any, names: dict[str, Any], path: str) -> None:
    """Enforce the ``validate.strlen`` annotations of DataHub's Avro schema on ``value``."""
    if not names:
        _named_types(schema, names)
    if value is None:
        return
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return
        schema = names[schema]
    if isinstance(schema, list):  # union
        branches = [b for b in schema if b != "null"]
        if isinstance(value, dict) and len(value) == 1:
            (key,) = value
            for b in branches:
                full = b if isinstance(b, str) else b.get("namespace", "") + "." + b.get("name", "")
                if isinstance(b, dict) and b.get("name") and full == _avro_name(key):
                    names[full] = b
                    return check_strlen(b, value[key], names, f"{path}.{key}")
                if isinstance(b, str) and b == _avro_name(key):
                    return check_strlen(b, value[key], names, f"{path}.{key}")
        if len(branches) == 1:
            return check_strlen(branches[0], value, names, path)
        return
    kind = schema.get("type")
    if kind == "record":
        full = f"{schema.get('namespace', '')}.{schema['name']}"
        names.setdefault(full, schema)
        names.setdefault(schema["name"], schema)
        for f in schema["fields"]:
            if f["name"] not in value:
                continue
            item = value[f["name"]]
            rule = (f.get("validate") or {}).get("strlen")
            if rule and isinstance(item, str):
                assert rule.get("min", 0) <= len(item) <= rule.get("max", 1 << 31), (
                    f"{path}.{f['name']}: length {len(item)} outside DataHub's strlen {rule}"
                )
            check_strlen(f["type"], item, names, f"{path}.{f['name']}")
    elif kind == "array":
        for i, item in enumerate(value):
            check_strlen(schema["items"], item, names, f"{path}[{i}]")
    elif kind == "map":
        for key, item in value.items():
            check_strlen(schema["values"], item, names, f"{path}.{key}")
    elif isinstance(kind, (dict, list)) or (
        isinstance(kind, str) and kind not in _PRIMITIVES | {"enum", "fixed"}
    ):
        check_strlen(kind, value, names, path)


def _check_envelope(mcp: MetadataChangeProposalWrapper) -> sc.MetadataChangeProposalClass:
    """DataHub's MCP class reads both JSON forms of the proposal (GMS's and the file source's)."""
    label = f"{mcp.entity_urn} {mcp.aspect_name} {mcp.change_type}"
    parsed = sc.MetadataChangeProposalClass.from_obj(copy.deepcopy(mcp.to_gms()))
    assert parsed.validate(), f"{label}: DataHub's MetadataChangeProposal rejects it"
    assert parsed.changeType == mcp.change_type and parsed.aspect.contentType == mcp.content_type, label
    again = DataHubMCPW.from_obj(copy.deepcopy(mcp.to_obj()))
    assert again.validate(), f"{label}: the file form is rejected"
    assert (again.changeType, again.aspectName) == (mcp.change_type, mcp.aspect_name), label
    if mcp.headers:
        assert parsed.headers == dict(mcp.headers), label
    return parsed


def check_patch(mcp: MetadataChangeProposalWrapper) -> DataHubMCPW:
    """Assert GMS accepts the patch ``mcp``; return the aspect it makes of it (parsed by DataHub)."""
    label = f"{mcp.entity_urn} {mcp.aspect_name} PATCH"
    parsed = _check_envelope(mcp)
    assert parsed.aspect.contentType == JSON_PATCH_CONTENT_TYPE, label
    Urn.from_string(mcp.entity_urn)
    ops = mcp.patch_ops
    assert ops, f"{label}: an empty patch"
    for op in ops:
        assert op["op"] in ("add", "remove") and op["path"].startswith("/"), f"{label}: {op}"
        for part in op["path"][1:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if part.startswith("urn:li:"):
                Urn.from_string(part)
    whole = apply_patch(mcp.entity_urn, mcp.aspect_name, None, json.loads(mcp.aspect_json))
    return check_mcp(MetadataChangeProposalWrapper(entity_urn=mcp.entity_urn, aspect_name=mcp.aspect_name,
                                                   aspect=whole))


def check_mcp(mcp: MetadataChangeProposalWrapper) -> DataHubMCPW:
    """Assert DataHub accepts ``mcp``; return DataHub's parsed wrapper (for a patch: of the aspect it makes)."""
    if mcp.change_type == "PATCH":
        return check_patch(mcp)
    if mcp.change_type != "UPSERT":  # e.g. CREATE with If-None-Match: the envelope, then the aspect
        _check_envelope(mcp)
        mcp = MetadataChangeProposalWrapper(entity_urn=mcp.entity_urn, aspect_name=mcp.aspect_name,
                                            aspect=mcp.aspect_value)
    obj = mcp.to_obj()
    label = f"{mcp.entity_urn} {mcp.aspect_name}"
    # URNs: the entity's and every URN inside the aspect parse with DataHub's parser.
    Urn.from_string(mcp.entity_urn)
    # The aspect is one DataHub's entity registry allows on this entity type.
    allowed = sc.ENTITY_TYPE_TO_ASPECT_NAMES.get(mcp.entity_type)
    assert allowed is not None, f"{label}: DataHub has no entity type {mcp.entity_type!r}"
    assert mcp.aspect_name in allowed, f"{label}: not an aspect of {mcp.entity_type}"
    urns = list(iter_urns(obj["aspect"]["json"], sc.ASPECT_NAME_MAP[mcp.aspect_name].RECORD_SCHEMA.to_json()))
    for urn in urns:
        Urn.from_string(urn)
    # DataHub's wrapper parses it into its typed aspect class, which validates.
    parsed = DataHubMCPW.from_obj(copy.deepcopy(obj))
    assert isinstance(parsed, DataHubMCPW), f"{label}: DataHub could not type the aspect"
    assert parsed.validate(), f"{label}: DataHub's validate() failed"
    assert parsed.entityType == mcp.entity_type and parsed.aspectName == mcp.aspect_name, label
    assert isinstance(parsed.aspect, sc.ASPECT_NAME_MAP[mcp.aspect_name]), label
    # Nothing we sent was dropped or changed by DataHub's schema.
    assert_subset(obj["aspect"]["json"], pre_json_transform(parsed.aspect.to_obj()), f"{label}: aspect")
    check_strlen(parsed.aspect.RECORD_SCHEMA.to_json(), obj["aspect"]["json"], {}, label)
    # The GMS form parses too (aspect serialised as a JSON string).
    gms = mcp.to_gms()
    assert json.loads(gms["aspect"]["value"]) == obj["aspect"]["json"], label
    again = DataHubMCPW.from_obj(copy.deepcopy(gms))
    assert isinstance(again, DataHubMCPW) and again.validate(), f"{label}: GMS form rejected"
    return parsed
