"""How the bridge writes each aspect to DataHub: the write policy, and the JSON Patch of each aspect.

DataHub is shared. Other sources (Snowflake, dbt, Tableau ingestion), people in
the UI and any number of bridge processes write to the same entities, so the
bridge never replaces what it does not own. Each aspect has a write mode:

========================  ===========  ==========================================================
aspect                    mode         why
========================  ===========  ==========================================================
``dataJobInputOutput``    ``patch``    every writer adds its own edges (datasets, upstream jobs,
                                       column lineage); a later event, a second worker or a
                                       restart on another machine erases nothing
``upstreamLineage``       ``patch``    the same for a dataset's upstreams and column lineage
``globalTags``            ``patch``    tags from the UI and other sources stay
``ownership``             ``patch``    owners from the UI and other sources stay
``datasetProperties``     ``patch``    custom properties are set per key, the description when the
``dataJobInfo``                        event has one; the rest of what DataHub holds (properties
``dataFlowInfo``                       others wrote) stays
``schemaMetadata``        ``if_absent``  written only when DataHub has no schema for the dataset:
                                       an OpenLineage schema is often partial, and must not
                                       replace the one the warehouse's own source wrote
``siblings``              ``upsert``   on the dataset the event names; on the other side of the
                          (linked      link (another source's dataset: a warehouse table,
                          side         :class:`LinkedAspect`) only while it has none, so a dbt
                          ``if_absent``) model's link stays -- unless the policy names
                                       ``siblings``, which then applies to both sides
``dataset.status``        ``if_absent``  a dataset soft-deleted in the UI or by the warehouse's
                                       stateful ingestion stays deleted; one nobody wrote yet shows
anything else             ``upsert``   run-scoped (``dataProcessInstance*``), timeseries
                                       (``operation``, ``datasetProfile``, ``assertionRunEvent``)
                                       and bridge-owned aspects (flows' and jobs' ``status``,
                                       ``subTypes``,
                                       ``browsePathsV2``, ``dataPlatformInstance``,
                                       ``dataTransformLogic``; ``assertionInfo``: the assertion's
                                       URN is derived from the dataset, column and check, so
                                       only the producer of that check writes it)
========================  ===========  ==========================================================

Modes:

* ``patch`` -- a ``PATCH`` MCP: JSON Patch ``add`` operations keyed by URN (or key), in
  exactly the form DataHub's own patch builders (``DatasetPatchBuilder``,
  ``DataJobPatchBuilder``) produce; GMS applies them to the stored aspect with the aspect's
  patch template (or its default when there is none yet), so they only ever add or set.
* ``upsert`` -- the whole aspect replaces what DataHub holds.
* ``if_absent`` -- ``CREATE`` with the MCP header ``If-None-Match: *``: DataHub writes it
  only when the aspect does not exist and silently drops it otherwise (DataHub >= 1.x; see
  the README for older servers).
* ``skip`` -- not written at all.

Change it in config (``[translator.write_policy] schemaMetadata = "upsert"``; a key may name an
entity type, ``"dataset.status"``, see :func:`write_policy`) or in a
:class:`~translators.datahub.DataHubTranslator` subclass (``get_write_mode``).

``patch_format = "generic"`` writes tags and owners the way acryl-datahub >= 1.5 does: as
DataHub's generic patch with ``arrayPrimaryKeys``. The default, ``"template"``, uses the key
layout of GMS's registered patch templates, as DataHub's own OpenLineage converter does (see
the README for which DataHub versions apply which patches).

This module is pure: aspect value in, operations out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bridge.errors import ConfigError
from bridge.mcp import MetadataChangeProposalWrapper

__all__ = [
    "DEFAULT_WRITE_POLICY",
    "PATCHABLE",
    "PATCH_FORMATS",
    "WRITE_MODES",
    "LinkedAspect",
    "WritePolicy",
    "apply_policy",
    "expiring",
    "policy_mode",
    "quote",
    "to_patch",
    "write_policy",
]

WRITE_MODES = ("patch", "upsert", "if_absent", "skip")
PATCH_FORMATS = ("template", "generic")

DEFAULT_WRITE_POLICY: Mapping[str, str] = {
    "dataJobInputOutput": "patch",
    "upstreamLineage": "patch",
    "globalTags": "patch",
    "ownership": "patch",
    "datasetProperties": "patch",
    "dataJobInfo": "patch",
    "dataFlowInfo": "patch",
    "schemaMetadata": "if_absent",
    "dataset.status": "if_absent",
}
"""Aspect name (or ``<entity type>.<aspect name>``, which wins for that entity type) -> write mode;
aspects not named are ``upsert``."""

#: The key fields acryl-datahub >= 1.5 sends as ``arrayPrimaryKeys`` (``patch_format="generic"``).
_SOURCE_KEY = "attribution\u241fsource"
_GENERIC_KEYS = {
    "globalTags": {"tags": [_SOURCE_KEY, "tag"]},
    "ownership": {"owners": ["owner", "type", "typeUrn", _SOURCE_KEY]},
}

#: Aspect -> the fields whose patch operations are lineage edges (what stale-edge expiry may remove).
_EDGE_FIELDS: Mapping[str, frozenset[str]] = {
    "dataJobInputOutput": frozenset({
        "inputDatasetEdges", "outputDatasetEdges", "inputDatajobEdges",
        "inputDatasetFields", "outputDatasetFields", "fineGrainedLineages",
    }),
    "upstreamLineage": frozenset({"upstreams", "fineGrainedLineages"}),
}  # fmt: skip


def quote(part: str) -> str:
    """One JSON Pointer path segment (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    if "/" in part or "~" in part:  # most segments (keys, many URNs) have neither: no copies then
        return part.replace("~", "~0").replace("/", "~1")
    return part


def _add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def write_policy(overrides: Mapping[str, str] | None = None) -> WritePolicy:
    """The default policy with ``overrides`` applied, checked.

    A key is an aspect name (``status``: for every entity type) or ``<entity type>.<aspect name>``
    (``dataset.status``), which wins for that entity type. An aspect named alone replaces the
    defaults' scoped entries for it: ``status = "upsert"`` means every ``status``.

    Raises:
        ConfigError: an unknown mode, or ``patch`` for an aspect this module cannot patch.
    """
    policy = dict(DEFAULT_WRITE_POLICY)
    for key, mode in (overrides or {}).items():
        entity_type, _, aspect = key.rpartition(".")
        if mode not in WRITE_MODES:
            raise ConfigError(f"must be one of {list(WRITE_MODES)}, got {mode!r}", key=f"write_policy.{key}")
        if mode == "patch" and aspect not in PATCHABLE:
            raise ConfigError(
                f"the bridge has no patch form for {aspect!r}; patchable: {sorted(PATCHABLE)}",
                key=f"write_policy.{key}",
            )
        if entity_type and key not in DEFAULT_WRITE_POLICY:  # (the defaults' own keys are known good)
            _check_scoped(entity_type, aspect, key)
        else:  # the aspect named alone: for every entity type, unless the overrides scope it too
            for default in [k for k in DEFAULT_WRITE_POLICY if k.endswith(f".{key}") and k not in overrides]:
                del policy[default]
        policy[key] = mode
    return WritePolicy(policy)


class WritePolicy(dict):  # type: ignore[type-arg]
    """A checked write policy (:func:`write_policy`): key -> mode, and which aspects some entity type
    has a mode of its own for (``scoped``), worked out once rather than per event."""

    __slots__ = ("scoped",)

    def __init__(self, policy: Mapping[str, str]) -> None:
        super().__init__(policy)
        self.scoped = frozenset(key.rpartition(".")[2] for key in policy if "." in key)

    def mode(self, entity_type: str, aspect_name: str, linked: bool = False) -> str:
        """``<entity type>.<aspect>``'s mode, else the aspect's, else ``upsert`` (only aspects some
        entity type has a mode of its own for are looked up twice); for a :class:`LinkedAspect` the
        policy does not name, ``if_absent``."""
        if linked and aspect_name not in self and f"{entity_type}.{aspect_name}" not in self:
            return "if_absent"
        if aspect_name in self.scoped:
            return self.get(f"{entity_type}.{aspect_name}") or self.get(aspect_name, "upsert")
        return self.get(aspect_name, "upsert")  # type: ignore[no-any-return]


def _check_scoped(entity_type: str, aspect: str, key: str) -> None:
    # imported here: only a configured scoped key needs the registry
    from translators.datahub.registry import entity_registry

    entities = entity_registry().entities
    if entity_type not in entities:
        raise ConfigError(f"DataHub has no entity type {entity_type!r} (as in 'dataset.status')",
                          key=f"write_policy.{key}")  # fmt: skip
    if aspect not in entities[entity_type]:
        raise ConfigError(f"a {entity_type} has no aspect {aspect!r}", key=f"write_policy.{key}")


class LinkedAspect(MetadataChangeProposalWrapper):
    """An aspect an event writes on another source's entity because of a link it makes: the other
    side of ``siblings`` (a warehouse table a dbt model may already be the sibling of).

    The policy writes it ``if_absent`` unless it names the aspect (``siblings`` or ``dataset.siblings``);
    an overridden ``get_write_mode`` sees it like any MCP (``isinstance(mcp, LinkedAspect)`` tells the
    side). :func:`apply_policy` hands on plain MCPs: none leaves the translator as this class."""

    __slots__ = ()


def policy_mode(policy: Mapping[str, str], mcp: MetadataChangeProposalWrapper) -> str:
    """The policy's mode for ``mcp``: ``<entity type>.<aspect>``'s, else the aspect's, else ``upsert``
    (``if_absent`` for a :class:`LinkedAspect` the policy does not name)."""
    return _as_policy(policy).mode(mcp.entity_type, mcp.aspect_name, type(mcp) is LinkedAspect)


def _as_policy(policy: Mapping[str, str]) -> WritePolicy:
    return policy if isinstance(policy, WritePolicy) else WritePolicy(policy)


# -- value -> operations, per aspect ---------------------------------------------------------


def _edges(ops: list[dict[str, Any]], field: str, urns: Iterable[str]) -> None:
    for urn in urns:
        ops.append(_add(f"/{field}/{quote(urn)}", {"destinationUrn": urn}))


def _fine_grained(ops: list[dict[str, Any]], lineages: Iterable[Mapping[str, Any]]) -> None:
    """Column lineage keyed ``/fineGrainedLineages/<op>/<downstream>/<query>/<upstream>`` (as DataHub's builders)."""
    for fgl in lineages:
        operation = quote(fgl.get("transformOperation") or "NONE")
        query = quote(fgl.get("query") or "NONE")
        leaf = {"confidenceScore": fgl.get("confidenceScore", 1.0)}
        for downstream in fgl.get("downstreams") or ():
            for upstream in fgl.get("upstreams") or ():
                ops.append(_add(f"/fineGrainedLineages/{operation}/{quote(downstream)}/{query}/{quote(upstream)}",
                                dict(leaf)))  # fmt: skip


def _job_io(value: Mapping[str, Any], generic: bool) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for old, edges in (("inputDatasets", "inputDatasetEdges"), ("outputDatasets", "outputDatasetEdges"),
                       ("inputDatajobs", "inputDatajobEdges")):  # fmt: skip
        urns = dict.fromkeys(value.get(old) or ())
        urns.update((e["destinationUrn"], None) for e in value.get(edges) or () if e.get("destinationUrn"))
        _edges(ops, edges, list(urns))
    for field in ("inputDatasetFields", "outputDatasetFields"):
        for urn in value.get(field) or ():
            ops.append(_add(f"/{field}/{quote(urn)}", urn))
    _fine_grained(ops, value.get("fineGrainedLineages") or ())
    return ops


def _upstreams(value: Mapping[str, Any], generic: bool) -> list[dict[str, Any]]:
    ops = [_add(f"/upstreams/{quote(u['dataset'])}", dict(u)) for u in value.get("upstreams") or ()]
    _fine_grained(ops, value.get("fineGrainedLineages") or ())
    return ops


def _tags(value: Mapping[str, Any], generic: bool) -> list[dict[str, Any]]:
    if generic:  # (attribution source, tag); no attribution -> ""
        return [_add(f"/tags//{quote(t['tag'])}", dict(t)) for t in value.get("tags") or ()]
    return [_add(f"/tags/{quote(t['tag'])}", dict(t)) for t in value.get("tags") or ()]


def _owners(value: Mapping[str, Any], generic: bool) -> list[dict[str, Any]]:
    ops = []
    for owner in value.get("owners") or ():
        path = f"/owners/{quote(owner['owner'])}/{quote(owner.get('type') or '')}"
        if generic:  # (owner, type, typeUrn, attribution source)
            path += f"/{quote(owner.get('typeUrn') or '')}/"
        ops.append(_add(path, dict(owner)))
    return ops


def _fields(names: tuple[str, ...]) -> Callable[[Mapping[str, Any], bool], list[dict[str, Any]]]:
    """Plain fields set with ``add``, ``customProperties`` set key by key."""

    def build(value: Mapping[str, Any], generic: bool) -> list[dict[str, Any]]:
        ops = [_add(f"/{name}", value[name]) for name in names if value.get(name) not in (None, "")]
        properties = value.get("customProperties")
        if properties:
            ops += [_add(f"/customProperties/{quote(k)}", v) for k, v in properties.items()]
        return ops

    return build


_PATCHES: Mapping[str, Callable[[Mapping[str, Any], bool], list[dict[str, Any]]]] = {
    "dataJobInputOutput": _job_io,
    "upstreamLineage": _upstreams,
    "globalTags": _tags,
    "ownership": _owners,
    # dataJobInfo/dataFlowInfo: name (and type) are required; a patch to an absent aspect must carry them.
    "dataJobInfo": _fields(("name", "type", "flowUrn", "description", "externalUrl")),
    "dataFlowInfo": _fields(("name", "description", "externalUrl")),
    "datasetProperties": _fields(("name", "qualifiedName", "description", "externalUrl")),
}
PATCHABLE = frozenset(_PATCHES)


def to_patch(aspect_name: str, value: Mapping[str, Any], *, patch_format: str = "template") -> Any:
    """The JSON Patch that adds what ``value`` says to whatever DataHub holds.

    Returns:
        A list of operations, or (``patch_format="generic"``, tags and owners) DataHub's keyed
        form ``{"arrayPrimaryKeys": ..., "patch": [...]}``; ``None`` when the value adds nothing.

    Raises:
        KeyError: ``aspect_name`` is not in :data:`PATCHABLE`.
    """
    generic = patch_format == "generic" and aspect_name in _GENERIC_KEYS
    ops = _PATCHES[aspect_name](value, generic)
    if not ops:
        return None
    if generic:
        return {"arrayPrimaryKeys": _GENERIC_KEYS[aspect_name], "patch": ops}
    return ops


def apply_policy(
    mcps: Iterable[MetadataChangeProposalWrapper],
    mode_of: Callable[[MetadataChangeProposalWrapper], str] | Mapping[str, str],
    *,
    patch_format: str = "template",
) -> list[MetadataChangeProposalWrapper]:
    """Whole-value ``UPSERT`` MCPs as the policy writes them (other change types pass unchanged).

    ``mode_of`` gives each MCP's mode: a function of the MCP, or a policy table (:func:`policy_mode`).
    ``patch`` -> a ``PATCH`` MCP (none when the value adds nothing); ``if_absent`` -> ``CREATE`` with
    ``If-None-Match: *``; ``skip`` -> dropped; ``upsert`` -> as is (a :class:`LinkedAspect` as a plain MCP).
    """
    table = _as_policy(mode_of).mode if isinstance(mode_of, Mapping) else None
    out = []
    for mcp in mcps:
        linked = type(mcp) is LinkedAspect
        if mcp.change_type != "UPSERT":
            mode = "upsert"
        elif table is not None:  # the table itself: no hook call per MCP
            mode = table(mcp.entity_type, mcp.aspect_name, linked)
        else:
            mode = mode_of(mcp)  # type: ignore[operator]
        if mode == "upsert":
            out.append(mcp if not linked else MetadataChangeProposalWrapper._unchecked(
                mcp.entity_urn, mcp.entity_type, mcp.aspect_name, mcp.aspect, mcp.change_type, mcp.system_metadata,
                mcp.headers))
            continue
        if mode == "skip":
            continue
        # Built from a well-formed MCP and a patch made here: the constructor's checks are skipped.
        if mode == "patch":
            patch = to_patch(mcp.aspect_name, mcp.aspect_value, patch_format=patch_format)
            if patch is not None:
                out.append(MetadataChangeProposalWrapper._unchecked(
                    mcp.entity_urn, mcp.entity_type, mcp.aspect_name, patch, "PATCH", mcp.system_metadata))
        elif mode == "if_absent":
            out.append(MetadataChangeProposalWrapper._unchecked(
                mcp.entity_urn, mcp.entity_type, mcp.aspect_name, mcp.aspect_value, "CREATE", mcp.system_metadata,
                {"If-None-Match": "*"}))
    return out


def expiring(aspect_name: str, path: str) -> bool:
    """Whether a patch operation at ``path`` is a lineage edge (what stale-edge expiry may remove)."""
    fields = _EDGE_FIELDS.get(aspect_name)
    if fields is None:
        return False
    end = path.find("/", 1)
    return end > 1 and path[1:end] in fields
