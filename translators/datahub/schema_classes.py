"""DataHub's names for the aspects the bridge defines: code written for acryl-datahub works with its
imports changed (``from datahub.metadata.schema_classes import ...`` ->
``from translators.datahub.schema_classes import ...``).

Each ``*Class`` takes DataHub's camelCase keyword arguments (``customProperties=``,
``typeNames=``, ``fineGrainedLineages=``...) as well as the bridge's snake_case ones, and
nested objects the way DataHub builds them (``GlobalTagsClass(tags=[TagAssociationClass(tag=...)])``,
``OwnershipClass(owners=[OwnerClass(owner=..., type=OwnershipTypeClass.DATAOWNER)])``,
``UpstreamLineageClass(upstreams=[UpstreamClass(dataset=..., type=DatasetLineageTypeClass.TRANSFORMED)])``).
A field the bridge's aspect does not have is a ``TypeError`` that lists what it takes. For any
other aspect, pass a dict with ``aspect_name=`` (or an acryl-datahub object, which every emitter
takes when acryl-datahub is installed).
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from translators.datahub import typed_aspects

__all__ = [
    "AuditStampClass",
    "ChangeTypeClass",
    "DataPlatformInstanceClass",
    "DatasetLineageTypeClass",
    "DatasetPropertiesClass",
    "GlobalTagsClass",
    "OwnerClass",
    "OwnershipClass",
    "OwnershipTypeClass",
    "StatusClass",
    "SubTypesClass",
    "TagAssociationClass",
    "UpstreamClass",
    "UpstreamLineageClass",
]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class ChangeTypeClass:
    """DataHub's change types (plain strings, as the wrapper's ``change_type`` takes them)."""

    UPSERT = "UPSERT"
    CREATE = "CREATE"
    PATCH = "PATCH"
    DELETE = "DELETE"
    RESTATE = "RESTATE"
    CREATE_ENTITY = "CREATE_ENTITY"
    UPDATE = "UPDATE"


class OwnershipTypeClass:
    """DataHub's ownership types."""

    TECHNICAL_OWNER = "TECHNICAL_OWNER"
    BUSINESS_OWNER = "BUSINESS_OWNER"
    DATA_STEWARD = "DATA_STEWARD"
    NONE = "NONE"
    CUSTOM = "CUSTOM"
    DATAOWNER = "DATAOWNER"
    PRODUCER = "PRODUCER"
    DEVELOPER = "DEVELOPER"
    CONSUMER = "CONSUMER"
    STAKEHOLDER = "STAKEHOLDER"
    DELEGATE = "DELEGATE"


class DatasetLineageTypeClass:
    """DataHub's dataset lineage types."""

    COPY = "COPY"
    TRANSFORMED = "TRANSFORMED"
    VIEW = "VIEW"


@attrs.frozen
class AuditStampClass:
    """``time`` (epoch milliseconds) and ``actor``; the bridge's aspects keep the time."""

    time: int
    actor: str = "urn:li:corpuser:datahub"


@attrs.frozen
class TagAssociationClass:
    """One tag of :class:`GlobalTagsClass`."""

    tag: str


def _time(stamp: Any) -> int | None:
    return None if stamp is None else int(stamp.time if isinstance(stamp, AuditStampClass) else stamp["time"])


def _datahub_class(base: type, name: str, convert: dict[str, Any] | None = None) -> type:
    """``base`` (an attrs aspect) taking DataHub's camelCase keywords; ``convert``: DataHub field ->
    ``(our field, value -> our value)`` where the shapes differ."""
    convert = convert or {}
    fields = [f.name for f in attrs.fields(base)]

    def __init__(self: Any, **kwargs: Any) -> None:  # noqa: N807 - the class's constructor
        ours: dict[str, Any] = {}
        for key, value in kwargs.items():
            target, change = convert.get(key, (_CAMEL.sub("_", key).lower(), None))
            if target not in fields:
                takes = sorted({*convert, *(re.sub(r"_(\w)", lambda m: m[1].upper(), f) for f in fields)})
                raise TypeError(f"{name}() has no field {key!r} in the bridge (it takes {', '.join(takes)}); "
                                "for anything else pass a dict with aspect_name= to MetadataChangeProposalWrapper")
            if value is not None:
                ours[target] = change(value) if change is not None else value
        base.__init__(self, **ours)  # type: ignore[misc]

    return type(name, (base,), {"__init__": __init__, "__doc__": f"DataHub's ``{name}``: {base.__doc__}",
                                "__module__": __name__})


StatusClass = _datahub_class(typed_aspects.Status, "StatusClass")
SubTypesClass = _datahub_class(typed_aspects.SubTypes, "SubTypesClass")
DataPlatformInstanceClass = _datahub_class(typed_aspects.DataPlatformInstance, "DataPlatformInstanceClass")
DatasetPropertiesClass = _datahub_class(typed_aspects.DatasetProperties, "DatasetPropertiesClass")
GlobalTagsClass = _datahub_class(typed_aspects.GlobalTags, "GlobalTagsClass", {
    "tags": ("tags", lambda tags: [getattr(t, "tag", t) for t in tags])})
OwnerClass = _datahub_class(typed_aspects.Owner, "OwnerClass")
OwnershipClass = _datahub_class(typed_aspects.Ownership, "OwnershipClass", {"lastModified": ("time_ms", _time)})
UpstreamClass = _datahub_class(typed_aspects.Upstream, "UpstreamClass")
UpstreamLineageClass = _datahub_class(typed_aspects.UpstreamLineage, "UpstreamLineageClass", {
    "upstreams": ("upstreams", lambda ups: [u if isinstance(u, typed_aspects.Upstream) else typed_aspects.Upstream(**u)
                                            for u in ups]),
    "fineGrainedLineages": ("fine_grained_lineages",
                            lambda fgl: [f.to_obj() if hasattr(f, "to_obj") else f for f in fgl])})
