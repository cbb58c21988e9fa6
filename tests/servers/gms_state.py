"""What the GMS test server stores, and how it applies a proposal the way GMS does.

Modelled on DataHub's own code (``PatchItemImpl``, the entity registry's patch
templates in ``entity-registry/.../aspect/patch/template/``,
``CreateIfNotExistsValidator``); see the research notes in the issue "Writes that never erase":

* ``UPSERT`` stores the whole value.
* ``CREATE`` stores the value only if the aspect does not exist. If it does, the
  proposal is dropped silently when its ``headers`` say ``If-None-Match: *`` (a
  "filter"); otherwise the request fails: 422 ``Cannot perform CREATE since the
  aspect already exists.``
* ``PATCH`` takes the stored aspect, or the template's default when there is none,
  turns keyed arrays into maps (``/inputDatasetEdges/<urn>``, ``/tags/<urn>``,
  ``/owners/<owner>/<type>``, column lineage as
  ``/fineGrainedLineages/<op>/<downstream>/<query>/<upstream>``), creates the
  objects each operation's path needs, applies the RFC 6902 operations (``add``
  sets or replaces, ``remove`` of a missing key does nothing, ``replace`` of a
  missing one fails), rebuilds the arrays, and validates the result like any
  write (422 when it is not a valid aspect). DataHub's generic patch
  (``{"arrayPrimaryKeys": ..., "patch": [...]}``) uses the keys it is given
  instead of the template's. An aspect without a template cannot be patched:
  500 ``Patch not supported for aspect with name ...``.

A request is all or nothing: one refused proposal and nothing of the request is stored.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AspectStore", "Refused", "TEMPLATES", "apply_patch", "held", "job_edges"]

_SYSTEM_ACTOR = "urn:li:corpuser:__datahub_system"
_UNIT_SEPARATOR = "\u241f"


class Refused(Exception):
    """GMS refuses the proposal: ``status`` and the message it answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Template:
    """One registered patch template: its default value and how its arrays are keyed."""

    default: Callable[[], dict[str, Any]]
    arrays: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # field -> key fields (() = strings)
    fine_grained: bool = False


def _job_io_default() -> dict[str, Any]:
    names = ("inputDatajobEdges", "inputDatasetEdges", "outputDatasetEdges", "fineGrainedLineages",
             "inputDatasetFields", "outputDatasetFields", "inputDatajobs", "inputDatasets", "outputDatasets")
    return {name: [] for name in names}


TEMPLATES: Mapping[str, Template] = {
    "dataJobInputOutput": Template(_job_io_default, {
        "inputDatajobEdges": ("destinationUrn",), "inputDatasetEdges": ("destinationUrn",),
        "outputDatasetEdges": ("destinationUrn",), "inputDatasetFields": (), "outputDatasetFields": (),
    }, fine_grained=True),
    "upstreamLineage": Template(lambda: {"upstreams": [], "fineGrainedLineages": []},
                                {"upstreams": ("dataset",)}, fine_grained=True),
    "globalTags": Template(lambda: {"tags": []}, {"tags": ("tag",)}),
    "ownership": Template(lambda: {"owners": [], "lastModified": {"time": int(time.time() * 1000),
                                                                  "actor": _SYSTEM_ACTOR}},
                          {"owners": ("owner", "type")}),
    "datasetProperties": Template(lambda: {"tags": [], "customProperties": {}}, {"tags": ()}),
    "dataJobInfo": Template(lambda: {"customProperties": {}}),
    "dataFlowInfo": Template(lambda: {"customProperties": {}}),
}  # fmt: skip
"""The templates of a GMS of the 1.x line (no template for status or run aspects)."""


class AspectStore:
    """The latest value of every (urn, aspect), changed only by :meth:`apply_all`.

    Args:
        validate: ``fn(urn, aspect name, value)`` raising :class:`Refused` for an invalid aspect
            (the server passes acryl-datahub's schema check); applied to every patch result.
    """

    def __init__(self, validate: Callable[[str, str, dict[str, Any]], None] | None = None) -> None:
        self.aspects: dict[tuple[str, str], dict[str, Any]] = {}
        self.filtered = 0  # CREATE proposals dropped because the aspect existed (If-None-Match: *)
        self._validate = validate

    def apply_all(self, proposals: list[tuple[dict[str, Any], Any]]) -> None:
        """Apply ``(proposal, parsed aspect value)`` pairs as one request: all of them, or none.

        Raises:
            Refused: a proposal GMS would refuse; nothing was stored.
        """
        try:
            staged, filtered = self._stage(proposals)
        except Refused:
            raise
        except Exception as exc:  # noqa: BLE001 - what GMS would answer for an unexpected failure
            raise Refused(500, f"{type(exc).__name__}: {exc}") from exc
        self.aspects.update(staged)
        self.filtered += filtered

    def _stage(self, proposals: list[tuple[dict[str, Any], Any]]) -> tuple[dict[tuple[str, str], Any], int]:
        staged: dict[tuple[str, str], dict[str, Any]] = {}
        filtered = 0
        for proposal, value in proposals:
            key = (proposal["entityUrn"], proposal["aspectName"])
            current = staged[key] if key in staged else self.aspects.get(key)
            change = proposal["changeType"]
            if change == "PATCH":
                staged[key] = apply_patch(key[0], key[1], current, value)
                if self._validate is not None:
                    self._validate(key[0], key[1], staged[key])
            elif change in ("CREATE", "CREATE_ENTITY"):
                if current is None:
                    staged[key] = value
                elif (proposal.get("headers") or {}).get("If-None-Match") == "*":
                    filtered += 1
                else:
                    raise Refused(422, f"urn={key[0]} aspect={key[1]}: Cannot perform CREATE since the aspect "
                                       "already exists.")  # fmt: skip
            elif change in ("UPSERT", "RESTATE"):
                staged[key] = value
            else:
                raise Refused(400, f"urn={key[0]} aspect={key[1]}: change type {change} is not supported")
        return staged, filtered

    def apply_mcps(self, mcps: Any) -> AspectStore:
        """Apply our MCP objects one by one, in order, as GMS would (each its own request)."""
        for mcp in mcps:
            self.apply_all([(mcp.to_gms(), json.loads(mcp.aspect_json))])
        return self


def held(mcps: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """What DataHub would hold after these MCPs, starting from nothing: ``(urn, aspect) -> value``."""
    return AspectStore().apply_mcps(mcps).aspects


def job_edges(value: Mapping[str, Any] | None, field: str) -> set[str]:
    """The URNs of a ``dataJobInputOutput``'s ``inputDatasetEdges`` (etc.) and its older URN list."""
    if not value:
        return set()
    old = {"inputDatasetEdges": "inputDatasets", "outputDatasetEdges": "outputDatasets",
           "inputDatajobEdges": "inputDatajobs"}.get(field)  # fmt: skip
    return {e["destinationUrn"] for e in value.get(field) or ()} | set(value.get(old) or () if old else ())


# -- PATCH ------------------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    if not path.startswith("/"):
        raise Refused(400, f"Invalid JSON Patch: path {path!r} does not start with /")
    return [s.replace("~1", "/").replace("~0", "~") for s in path[1:].split("/")]


def _key_value(element: Any, key: str) -> str:
    node = element
    for part in key.split(_UNIT_SEPARATOR):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def _to_map(elements: list[Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for element in elements:
        if not keys:
            out[str(element)] = element
            continue
        node = out
        for key in keys[:-1]:
            node = node.setdefault(_key_value(element, key), {})
        last = _key_value(element, keys[-1])
        old = node.get(last)
        node[last] = {**old, **element} if isinstance(old, dict) and isinstance(element, dict) else element
    return out


def _to_list(node: Any, keys: tuple[str, ...]) -> list[Any]:
    if isinstance(node, list):
        return node  # the whole field was replaced with an array
    if node is None:
        return []
    if not keys:
        return list(node.values())
    out: list[Any] = []

    def walk(value: Any, depth: int, path: list[str]) -> None:
        if depth == len(keys):
            if isinstance(value, list):
                out.extend(value)
                return
            if isinstance(value, dict) and len(keys) == 1 and keys[0] not in value:
                value = {keys[0]: path[-1], **value}  # newer GMS: the key comes back from the path
            out.append(value)
            return
        for k, v in value.items():
            walk(v, depth + 1, [*path, k])

    walk(node, 0, [])
    return out


def _fgl_to_map(lineages: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fgl in lineages:
        downstreams = fgl.get("downstreams") or []
        if len(downstreams) != 1:
            raise Refused(500, "java.lang.UnsupportedOperationException: Patching not supported on fine grained "
                               "lineages with not exactly one downstream. Current fine grained lineage implementation "
                               "is downstream derived and patches are keyed on the root of this derivation.")  # fmt: skip
        by_query = out.setdefault(fgl.get("transformOperation") or "NONE", {}).setdefault(downstreams[0], {})
        leaves = by_query.setdefault(fgl.get("query") or "NONE", {})
        for upstream in fgl.get("upstreams") or []:
            leaves[upstream] = {
                "confidenceScore": fgl.get("confidenceScore", 1.0),
                "upstreamType": fgl.get("upstreamType", "FIELD_SET"),
                "downstreamType": fgl.get("downstreamType", "FIELD"),
            }
    return out


def _fgl_to_list(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return node
    out = []
    for operation, by_downstream in (node or {}).items():
        for downstream, by_query in by_downstream.items():
            for query, leaves in by_query.items():
                if not leaves:
                    continue
                confidence, up_type, down_type = 1.0, "FIELD_SET", "FIELD"
                for leaf in leaves.values():
                    if not isinstance(leaf, dict):
                        raise Refused(500, f"java.lang.ClassCastException: fine grained lineage leaf {leaf!r} "
                                           "is not an object")  # fmt: skip
                    confidence = min(confidence, float(leaf.get("confidenceScore", 1.0)))
                    up_type = leaf.get("upstreamType", up_type)
                    down_type = leaf.get("downstreamType", down_type)
                fgl = {"upstreamType": up_type, "upstreams": list(leaves), "downstreamType": down_type,
                       "downstreams": [downstream], "confidenceScore": confidence, "transformOperation": operation}
                if query != "NONE":
                    fgl["query"] = query
                out.append(fgl)
    return out


def _fail(op: Mapping[str, Any], why: str) -> Refused:
    return Refused(500, f"jakarta.json.JsonException: The JSON Patch operation '{op.get('op')}' failed: {why}")


def _index(parent: list[Any], part: str, op: Mapping[str, Any], *, append: bool) -> int:
    """An array index of RFC 6902: digits within the array (``-``, or the length, to append)."""
    if append and part == "-":
        return len(parent)
    if not part.isdigit() or int(part) > len(parent) - (0 if append else 1):
        raise _fail(op, f"{part!r} is not an index of an array of {len(parent)}")
    return int(part)


def _parent(doc: dict[str, Any], parts: list[str], op: Mapping[str, Any], *, create_leaf: bool) -> Any:
    """The container of the path's last part. GMS creates every missing object on the way (and, for
    ``remove``, the leaf too: removing what is not there changes nothing)."""
    node: Any = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[_index(node, part, op, append=False)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise Refused(500, f"java.lang.ClassCastException: cannot walk into {op['path']}")
    if create_leaf and isinstance(node, dict):
        node.setdefault(parts[-1], {})
    return node


def _take(doc: dict[str, Any], path: str, op: Mapping[str, Any], *, remove: bool) -> Any:
    parts = _segments(path)
    parent = _parent(doc, parts, op, create_leaf=remove and op.get("op") == "remove")
    last = parts[-1]
    if isinstance(parent, list):
        i = _index(parent, last, op, append=False)
        return parent.pop(i) if remove else copy.deepcopy(parent[i])
    if not isinstance(parent, dict) or last not in parent:
        raise _fail(op, f"path {path} does not exist")
    return parent.pop(last) if remove else copy.deepcopy(parent[last])


def _put(doc: dict[str, Any], path: str, value: Any, op: Mapping[str, Any], *, replace: bool = False) -> None:
    parts = _segments(path)
    parent = _parent(doc, parts, op, create_leaf=False)
    last = parts[-1]
    if isinstance(parent, list):
        i = _index(parent, last, op, append=not replace)
        if replace:
            parent[i] = value
        else:
            parent.insert(i, value)
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise _fail(op, f"path {path} does not exist")
        parent[last] = value
    else:
        raise Refused(500, f"java.lang.ClassCastException: cannot write into {path}")


def _apply_op(doc: dict[str, Any], op: Mapping[str, Any]) -> None:
    """One RFC 6902 operation (GMS accepts all six, upper or lower case)."""
    kind, path = str(op.get("op", "")).lower(), op["path"]
    if kind == "add":
        _put(doc, path, copy.deepcopy(op.get("value")), op)
    elif kind == "remove":
        _take(doc, path, op, remove=True)
    elif kind == "replace":
        _put(doc, path, copy.deepcopy(op.get("value")), op, replace=True)
    elif kind in ("move", "copy"):
        if not isinstance(op.get("from"), str):
            raise Refused(400, f"Invalid JSON Patch: {kind} needs 'from': {dict(op)!r}")
        _put(doc, path, _take(doc, op["from"], op, remove=kind == "move"), op)
    elif kind == "test":
        if _take(doc, path, op, remove=False) != op.get("value"):
            raise _fail(op, f"the value at {path} is not {op.get('value')!r}")
    else:
        raise Refused(500, f"Unsupported PATCH operation: `{op.get('op')}`")


def apply_patch(urn: str, aspect_name: str, current: dict[str, Any] | None, value: Any) -> dict[str, Any]:
    """The aspect after applying a patch proposal's value to ``current`` (``None``: not stored yet)."""
    template = TEMPLATES.get(aspect_name)
    if isinstance(value, dict):
        ops = value.get("patch")
        keys = {k: tuple(v) for k, v in (value.get("arrayPrimaryKeys") or {}).items()}
        generic = bool(keys) or bool(value.get("forceGenericPatch"))
        if not isinstance(ops, list):
            raise Refused(400, f"Invalid JSON Patch: {value!r}")
    elif isinstance(value, list):
        ops, keys, generic = value, {}, False
    else:
        raise Refused(400, f"Invalid JSON Patch: {value!r}")
    if not generic:
        if template is None:
            if current is None:
                raise Refused(500, f"java.lang.UnsupportedOperationException: Patch not supported for aspect with "
                                   f"name {aspect_name}. Default aspect is required because no aspect currently "
                                   f"exists for urn {urn}.")  # fmt: skip
            raise Refused(500, "java.lang.NullPointerException: Cannot invoke \"Template.applyPatch\" because "
                               "\"template\" is null")  # fmt: skip
        keys = dict(template.arrays)
    doc = copy.deepcopy(current) if current is not None else (template.default() if template else {})
    fine_grained = not generic and template is not None and template.fine_grained
    for name, key_fields in keys.items():
        if isinstance(doc.get(name), list):
            doc[name] = _to_map(doc[name], key_fields)
    if fine_grained and isinstance(doc.get("fineGrainedLineages"), list):
        doc["fineGrainedLineages"] = _fgl_to_map(doc["fineGrainedLineages"])
    for op in ops:
        if not isinstance(op, Mapping) or "path" not in op:
            raise Refused(400, f"Invalid JSON Patch: {op!r}")
        _apply_op(doc, op)
    for name, key_fields in keys.items():
        if name in doc or (template is not None and name in template.default()):
            doc[name] = _to_list(doc.get(name), key_fields)
    if fine_grained:
        doc["fineGrainedLineages"] = _fgl_to_list(doc.get("fineGrainedLineages"))
    return doc
