"""Typed DataHub aspects, for users composing their own MCPs.

Frozen attrs classes with ``ASPECT_NAME`` and ``to_obj()`` (the JSON of the builders in
:mod:`translators.datahub.aspects`):
``MetadataChangeProposalWrapper(entity_urn=..., aspect=Status(), aspect_name=Status.ASPECT_NAME)``
works. DataHub's own names for them (``StatusClass``...) are in
:mod:`translators.datahub.schema_classes`. Anything else DataHub knows can be sent by name with
:func:`translators.datahub.registry.aspect_mcp`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from translators.datahub.aspects import (
    audit_stamp,
    data_platform_instance,
    dataset_properties,
    global_tags,
    ownership,
    status,
    sub_types,
)

__all__ = [
    "DataPlatformInstance",
    "DatasetProperties",
    "GlobalTags",
    "Owner",
    "Ownership",
    "Status",
    "SubTypes",
    "Upstream",
    "UpstreamLineage",
]


def _tuple(value: Iterable[Any] | None) -> tuple[Any, ...]:
    return tuple(value) if value else ()


@attrs.frozen(kw_only=True)
class Status:
    """``status``: ``removed=True`` soft-deletes the entity."""

    ASPECT_NAME = "status"
    removed: bool = False

    def to_obj(self) -> dict[str, Any]:
        return status(self.removed)


@attrs.frozen(kw_only=True)
class SubTypes:
    """``subTypes``: e.g. ``SubTypes(type_names=("Table",))``."""

    ASPECT_NAME = "subTypes"
    type_names: tuple[str, ...] = attrs.field(converter=_tuple)

    def to_obj(self) -> dict[str, Any]:
        return sub_types(self.type_names)


@attrs.frozen(kw_only=True)
class DataPlatformInstance:
    """``dataPlatformInstance``: platform URN and optional instance URN."""

    ASPECT_NAME = "dataPlatformInstance"
    platform: str
    instance: str | None = None

    def to_obj(self) -> dict[str, Any]:
        return data_platform_instance(self.platform, self.instance)


@attrs.frozen(kw_only=True)
class DatasetProperties:
    """``datasetProperties``."""

    ASPECT_NAME = "datasetProperties"
    name: str | None = None
    description: str | None = None
    qualified_name: str | None = None
    custom_properties: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    external_url: str | None = None

    def to_obj(self) -> dict[str, Any]:
        return dataset_properties(
            name=self.name,
            description=self.description,
            qualified_name=self.qualified_name,
            custom_properties=self.custom_properties,
            external_url=self.external_url,
        )


@attrs.frozen(kw_only=True)
class GlobalTags:
    """``globalTags`` from tag URNs (``urn:li:tag:pii``)."""

    ASPECT_NAME = "globalTags"
    tags: tuple[str, ...] = attrs.field(converter=_tuple)

    def to_obj(self) -> dict[str, Any]:
        return global_tags(self.tags)


@attrs.frozen(kw_only=True)
class Owner:
    """One owner: a corpuser/corpGroup URN and a DataHub ownership type."""

    owner: str
    type: str = "TECHNICAL_OWNER"


@attrs.frozen(kw_only=True)
class Ownership:
    """``ownership``; ``time_ms`` (optional) sets ``lastModified``."""

    ASPECT_NAME = "ownership"
    owners: tuple[Owner, ...] = attrs.field(converter=_tuple)
    time_ms: int | None = None

    def to_obj(self) -> dict[str, Any]:
        return ownership(((o.owner, o.type) for o in self.owners), self.time_ms)


@attrs.frozen(kw_only=True)
class Upstream:
    """One upstream dataset of :class:`UpstreamLineage`."""

    dataset: str
    type: str = "TRANSFORMED"


@attrs.frozen(kw_only=True)
class UpstreamLineage:
    """``upstreamLineage``: upstream datasets (with one audit time) and optional column lineage dicts."""

    ASPECT_NAME = "upstreamLineage"
    upstreams: tuple[Upstream, ...] = attrs.field(converter=_tuple)
    time_ms: int = 0
    fine_grained_lineages: tuple[Mapping[str, Any], ...] = attrs.field(factory=tuple, converter=_tuple)

    def to_obj(self) -> dict[str, Any]:
        obj = {
            "upstreams": [
                {"auditStamp": audit_stamp(self.time_ms), "dataset": u.dataset, "type": u.type}
                for u in self.upstreams
            ]
        }
        if self.fine_grained_lineages:
            obj["fineGrainedLineages"] = [dict(f) for f in self.fine_grained_lineages]
        return obj
