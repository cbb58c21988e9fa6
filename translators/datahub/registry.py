"""Which aspects DataHub accepts on which entity type.

The data comes from DataHub's own entity registry (``entity-registry.yml``, as
code-generated into acryl-datahub), shipped as ``entity_registry.json`` and
regenerated with ``python -m tests.tools.gen_entity_registry``; a test keeps it
in sync with the installed acryl-datahub. It lets users emit any aspect DataHub
knows from a plain dict by name (:func:`aspect_mcp`), with a clear error when
the name is misspelt or the entity type cannot carry it -- instead of GMS
rejecting the proposal later.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs

from bridge.errors import InvalidEventError
from bridge.mcp import MetadataChangeProposalWrapper, entity_type_of

__all__ = [
    "EntityRegistry",
    "RawAspect",
    "aspect_mcp",
    "entity_registry",
]


@attrs.frozen(kw_only=True)
class EntityRegistry:
    """Entity types, their key aspect and the aspects each accepts.

    Attributes:
        source: what the data was generated from (``acryl-datahub <version>``).
        entities: entity type -> frozenset of aspect names (key aspect included).
        key_aspects: entity type -> its key aspect name.
        timeseries: names of timeseries aspects (e.g. ``dataProcessInstanceRunEvent``).
    """

    source: str
    entities: Mapping[str, frozenset[str]]
    key_aspects: Mapping[str, str]
    timeseries: frozenset[str]

    @functools.cached_property
    def all_aspects(self) -> frozenset[str]:
        """Every aspect name any entity type accepts."""
        return frozenset().union(*self.entities.values()) if self.entities else frozenset()

    def aspects_of(self, entity_type: str) -> frozenset[str]:
        """Aspect names ``entity_type`` accepts.

        Raises:
            InvalidEventError: DataHub has no such entity type.
        """
        aspects = self.entities.get(entity_type)
        if aspects is None:
            raise InvalidEventError(
                f"DataHub has no entity type {entity_type!r}{_suggest(entity_type, self.entities)}",
                field="entityType",
            )
        return aspects

    def supports(self, entity_type: str, aspect_name: str) -> bool:
        """True when ``entity_type`` exists and accepts ``aspect_name``."""
        return aspect_name in self.entities.get(entity_type, ())

    def check(self, entity_type: str, aspect_name: str) -> None:
        """Raise unless ``entity_type`` accepts ``aspect_name``.

        Raises:
            InvalidEventError: unknown entity type, unknown aspect name, or an
                aspect of another entity type; the message suggests close names.
        """
        aspects = self.aspects_of(entity_type)
        if aspect_name in aspects:
            return
        if aspect_name not in self.all_aspects:
            reason = f"DataHub has no aspect named {aspect_name!r}{_suggest(aspect_name, self.all_aspects)}"
        else:
            reason = (
                f"entity type {entity_type!r} does not accept aspect {aspect_name!r}"
                f"{_suggest(aspect_name, aspects)}"
            )
        raise InvalidEventError(reason, field="aspectName")


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=3)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


@functools.lru_cache(maxsize=1)
def entity_registry() -> EntityRegistry:
    """The registry shipped with this package (loaded once)."""
    text = resources.files(__package__).joinpath("entity_registry.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    entities = {name: frozenset(entry["aspects"]) | {entry["key"]} for name, entry in doc["entities"].items()}
    keys = {name: entry["key"] for name, entry in doc["entities"].items()}
    return EntityRegistry(
        source=doc["source"], entities=entities, key_aspects=keys, timeseries=frozenset(doc["timeseries"])
    )


@attrs.frozen(kw_only=True)
class RawAspect:
    """Any aspect DataHub knows, given by name as a plain JSON-able dict.

    Args:
        name: the aspect name (``editableDatasetProperties``, ``domains``, ...).
        value: the aspect's JSON form, as DataHub's REST API takes it.

    Raises:
        InvalidEventError: DataHub has no aspect of that name.
    """

    name: str
    value: Mapping[str, Any] = attrs.field(converter=dict)

    def __attrs_post_init__(self) -> None:
        registry = entity_registry()
        if self.name not in registry.all_aspects:
            raise InvalidEventError(
                f"DataHub has no aspect named {self.name!r}{_suggest(self.name, registry.all_aspects)}",
                field="aspectName",
            )

    @property
    def ASPECT_NAME(self) -> str:  # noqa: N802 - the AspectLike protocol's spelling
        return self.name

    def to_obj(self) -> dict[str, Any]:
        return dict(self.value)


def aspect_mcp(entity_urn: str, aspect_name: str, value: Mapping[str, Any]) -> MetadataChangeProposalWrapper:
    """Build an MCP for any aspect DataHub knows, checking the name against the entity type.

    Args:
        entity_urn: the entity's URN; its type decides which aspects are allowed.
        aspect_name: e.g. ``domains``, ``editableDatasetProperties``, ``glossaryTerms``.
        value: the aspect's JSON form.

    Returns:
        An UPSERT proposal.

    Raises:
        InvalidEventError: the URN is malformed, or DataHub does not accept
            ``aspect_name`` on that entity type (the message suggests close names).
    """
    entity_type = entity_type_of(entity_urn)
    entity_registry().check(entity_type, aspect_name)
    return MetadataChangeProposalWrapper(
        entity_urn=entity_urn, entity_type=entity_type, aspect_name=aspect_name, aspect=dict(value)
    )
