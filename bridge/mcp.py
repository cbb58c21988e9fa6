"""The MCP envelope: one aspect of one DataHub entity.

:class:`MetadataChangeProposalWrapper` is what translators produce and emitters
deliver. Its JSON forms are exactly what DataHub takes:

* :meth:`~MetadataChangeProposalWrapper.to_gms` -- the ``proposal`` object of
  GMS's ``POST /aspects?action=ingestProposal`` (aspect serialised as a JSON
  string with ``contentType``);
* :meth:`~MetadataChangeProposalWrapper.to_obj` -- the object DataHub's file
  source reads (aspect under ``{"json": ...}``), also what ``bridge translate``
  writes.

A ``PATCH`` proposal carries a JSON Patch instead of a whole aspect: a list of
``{"op", "path", "value"}`` operations (or DataHub's keyed form
``{"arrayPrimaryKeys": ..., "patch": [...]}``), sent with content type
``application/json-patch+json``, exactly as DataHub's own patch builders send it.
GMS applies it to the stored aspect with the aspect's patch template, so what
other writers put there stays.

The Avro form (DataHub's ``MetadataChangeProposal`` record) lives with the
Kafka emitter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from bridge._json import (
    FLOAT_FREE_ASPECTS,
    aspect_to_json,
    compact_json,
    encode_gms,
    escape_beyond_ascii,
    fast_json,
)
from bridge.errors import InvalidEventError

__all__ = ["AspectLike", "JSON_CONTENT_TYPE", "JSON_PATCH_CONTENT_TYPE", "MetadataChangeProposalWrapper",
           "entity_type_of"]

CHANGE_TYPES = frozenset({"UPSERT", "CREATE", "UPDATE", "DELETE", "PATCH", "RESTATE", "CREATE_ENTITY"})
JSON_CONTENT_TYPE = "application/json"
JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"

@runtime_checkable
class AspectLike(Protocol):
    """Anything with an aspect name and a JSON-able form can be an aspect."""

    ASPECT_NAME: str

    def to_obj(self) -> dict[str, Any]: ...


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    """System metadata as a dict: a DataHub ``SystemMetadataClass`` (``to_obj()``) is taken too."""
    if value is None or isinstance(value, Mapping):
        return value
    to_obj = getattr(value, "to_obj", None)
    return dict(to_obj()) if callable(to_obj) else value


def entity_type_of(urn: str) -> str:
    """Return the entity type of a URN: ``urn:li:dataset:(...)`` -> ``dataset``.

    Raises:
        InvalidEventError: the string is not a ``urn:li:<type>:<key>`` URN.
    """
    if not isinstance(urn, str) or not urn.startswith("urn:li:"):
        raise InvalidEventError(f"not a DataHub URN: {urn!r}", field="entityUrn")
    end = urn.find(":", 7)
    if end <= 7:
        raise InvalidEventError(f"URN has no entity type: {urn!r}", field="entityUrn")
    return urn[7:end]


#: DataHub's (acryl-datahub's) keyword names for the wrapper's fields: its users' code works unchanged.
_DATAHUB_NAMES = {"entityUrn": "entity_urn", "aspectName": "aspect_name", "entityType": "entity_type",
                  "changeType": "change_type", "systemMetadata": "system_metadata"}


@attrs.frozen(kw_only=True, init=False)
class MetadataChangeProposalWrapper:
    """One proposal: entity URN + aspect name + aspect value (or, for ``PATCH``, a JSON Patch).

    Takes DataHub's names too (``entityUrn=``, ``aspectName=``, ``entityType=``, ``changeType=``,
    ``systemMetadata=``), as in ``MetadataChangeProposalWrapper(entityUrn=urn, aspect=...)``, and
    answers to them as attributes.

    Args:
        entity_urn: the entity's URN, e.g. ``urn:li:dataset:(urn:li:dataPlatform:hive,db.t,PROD)``.
        aspect: a typed aspect (anything with ``ASPECT_NAME`` and ``to_obj()``) or a plain dict; for
            ``change_type="PATCH"`` a list of JSON Patch operations (``{"op", "path", "value"}``) or
            DataHub's keyed form ``{"arrayPrimaryKeys": {...}, "patch": [...]}``.
        aspect_name: required when ``aspect`` is a dict or a patch; derived from a typed aspect otherwise.
        entity_type: derived from the URN unless given.
        change_type: ``UPSERT`` unless given.
        system_metadata: optional DataHub ``SystemMetadata`` as a dict (``runId``, ``lastObserved``, ...).
        headers: optional MCP headers (DataHub >= 0.14), e.g. ``{"If-None-Match": "*"}`` with
            ``change_type="CREATE"``: write only if the aspect does not exist yet.
    """

    entity_urn: str
    aspect: Mapping[str, Any] | AspectLike | list[Any]
    # Optional at construction, always set afterwards (derived in __attrs_post_init__).
    aspect_name: str = attrs.field(default=None)  # type: ignore[assignment]
    entity_type: str = attrs.field(default=None)  # type: ignore[assignment]
    change_type: str = "UPSERT"
    system_metadata: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    # aspect_value and aspect_json, worked out once (plain slots: attrs' cached_property on a
    # slotted class costs a __getattr__ call per first use, a tenth of encoding an MCP).
    _value: Any = attrs.field(default=None, init=False, eq=False, hash=False, repr=False)
    _json: str | None = attrs.field(default=None, init=False, eq=False, hash=False, repr=False)
    # Built by the translator (_unchecked) with an aspect of FLOAT_FREE_ASPECTS: its JSON is not searched
    # for floats. Anything else (user code, MCP files) may hold a float or NaN wherever, and is searched.
    _float_free: bool = attrs.field(default=False, init=False, eq=False, hash=False, repr=False)

    def __init__(self, *, entity_urn: str | None = None, aspect: Any = None, aspect_name: str | None = None,
                 entity_type: str | None = None, change_type: str = "UPSERT",
                 system_metadata: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                 **datahub_names: Any) -> None:
        if datahub_names:
            given = {"entity_urn": entity_urn, "aspect_name": aspect_name, "entity_type": entity_type,
                     "change_type": change_type, "system_metadata": system_metadata}
            for name, value in datahub_names.items():
                ours = _DATAHUB_NAMES.get(name)
                if ours is None:
                    known = ", ".join(["entity_urn", "aspect", "aspect_name", "entity_type", "change_type",
                                       "system_metadata", "headers", *_DATAHUB_NAMES])
                    raise TypeError(f"MetadataChangeProposalWrapper() got an unexpected keyword argument {name!r} "
                                    f"(it takes {known})")
                if given[ours] not in (None, "UPSERT") and value is not None:
                    raise TypeError(f"MetadataChangeProposalWrapper() got both {ours}= and {name}=")
                given[ours] = value if value is not None else given[ours]
            entity_urn, aspect_name, entity_type = given["entity_urn"], given["aspect_name"], given["entity_type"]
            change_type = str(given["change_type"] or "UPSERT")
            system_metadata = given["system_metadata"]
        if entity_urn is None:
            raise TypeError("MetadataChangeProposalWrapper() needs entity_urn= (or entityUrn=)")
        if aspect is None:
            raise TypeError("MetadataChangeProposalWrapper() needs aspect=")
        self.__attrs_init__(entity_urn=entity_urn, aspect=aspect, aspect_name=aspect_name,  # type: ignore[attr-defined]
                            entity_type=entity_type, change_type=change_type,
                            system_metadata=_as_mapping(system_metadata), headers=headers)

    # DataHub's attribute names.
    entityUrn = property(lambda self: self.entity_urn)  # noqa: N815
    aspectName = property(lambda self: self.aspect_name)  # noqa: N815
    entityType = property(lambda self: self.entity_type)  # noqa: N815
    changeType = property(lambda self: self.change_type)  # noqa: N815
    systemMetadata = property(lambda self: self.system_metadata)  # noqa: N815

    @classmethod
    def _unchecked(cls, entity_urn: str, entity_type: str, aspect_name: str, aspect: Any,
                   change_type: str = "UPSERT", system_metadata: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> MetadataChangeProposalWrapper:
        """An MCP from fields already known to be right, without the constructor's checks.

        For code that builds MCPs by construction well-formed (the DataHub translator, whose
        every MCP the conformance tests validate): the checks cost more than the rest of an
        MCP's making. Everything else uses the constructor.
        """
        self = _new(cls)
        _set_urn(self, entity_urn)
        _set_aspect(self, aspect)
        _set_name(self, aspect_name)
        _set_type(self, entity_type)
        _set_change(self, change_type)
        _set_system(self, system_metadata)
        _set_headers(self, headers)
        # A plain dict or list, the translator's own, is the aspect's value as it is (no copy).
        _set_value(self, aspect if type(aspect) is dict or type(aspect) is list else None)
        _set_json(self, None)
        _set_float_free(self, aspect_name in FLOAT_FREE_ASPECTS)
        return self

    def __attrs_post_init__(self) -> None:
        if self.aspect_name is None and not isinstance(self.aspect, Mapping | list):
            object.__setattr__(self, "aspect_name", getattr(self.aspect, "ASPECT_NAME", None))
        if not self.aspect_name or not isinstance(self.aspect_name, str):
            raise InvalidEventError("aspect name is required (pass aspect_name= or a typed aspect)", field="aspectName")
        if self.entity_type is None:
            object.__setattr__(self, "entity_type", entity_type_of(self.entity_urn))
        if self.change_type not in CHANGE_TYPES:
            raise InvalidEventError(f"unknown change type {self.change_type!r}", field="changeType")
        if self.change_type == "PATCH":
            _check_patch(self.aspect)
        elif isinstance(self.aspect, list):
            raise InvalidEventError(
                f"a list of operations is a patch: pass change_type='PATCH', not {self.change_type!r}", field="aspect"
            )

    @property
    def is_patch(self) -> bool:
        """Whether this proposal is a JSON Patch (``change_type == "PATCH"``)."""
        return self.change_type == "PATCH"

    @property
    def content_type(self) -> str:
        """``application/json-patch+json`` for a patch, ``application/json`` otherwise."""
        return JSON_PATCH_CONTENT_TYPE if self.change_type == "PATCH" else JSON_CONTENT_TYPE

    @property
    def aspect_value(self) -> Any:
        """The aspect as a JSON-able dict (for a patch: its operations list or keyed-form dict)."""
        value = self._value
        if value is None:
            aspect = self.aspect
            # Plain mappings first: isinstance() against the runtime-checkable
            # Protocol costs ~15 us per call, more than encoding the whole message.
            if type(aspect) is dict or isinstance(aspect, Mapping):
                value = dict(aspect)
            elif isinstance(aspect, list):
                value = list(aspect)
            else:
                value = aspect.to_obj()
            _set_value(self, value)
        return value

    @property
    def patch_ops(self) -> list[dict[str, Any]]:
        """The operations of a patch (empty for any other change type)."""
        if self.change_type != "PATCH":
            return []
        value = self.aspect_value
        return list(value["patch"]) if isinstance(value, Mapping) else list(value)

    def with_patch_ops(self, ops: list[dict[str, Any]]) -> MetadataChangeProposalWrapper:
        """The same patch with other operations (the keyed form keeps its ``arrayPrimaryKeys``)."""
        value = self.aspect_value
        if isinstance(value, Mapping):
            return attrs.evolve(self, aspect={**value, "patch": list(ops)})
        return attrs.evolve(self, aspect=list(ops))

    @property
    def aspect_json(self) -> str:
        """The aspect serialised compactly, as GMS and the Avro record carry it."""
        text = self._json
        if text is None:
            text = aspect_to_json(self.aspect_value, floats=not self._float_free)
            _set_json(self, text)
        return text

    def to_gms(self) -> dict[str, Any]:
        """The ``proposal`` object GMS's ``ingestProposal`` takes."""
        obj: dict[str, Any] = {
            "entityType": self.entity_type,
            "entityUrn": self.entity_urn,
            "changeType": self.change_type,
            "aspectName": self.aspect_name,
            "aspect": {"value": self.aspect_json, "contentType": self.content_type},
        }
        if self.system_metadata:
            obj["systemMetadata"] = dict(self.system_metadata)
        if self.headers:
            obj["headers"] = dict(self.headers)
        return obj

    def to_gms_json(self) -> str:
        """:meth:`to_gms` as compact ASCII JSON, as GMS's request bodies carry it.

        Returns:
            exactly ``json.dumps(self.to_gms(), separators=(",", ":"))``.

        Raises:
            TypeError, ValueError: the aspect or system metadata is not JSON-serialisable.
        """
        obj = self.to_gms()
        orjson = fast_json()
        if orjson is not None and not self.system_metadata and _text_only(self.headers):
            # There are no numbers here, only strings, which orjson escapes as the json module does,
            # but for what ensure_ascii escapes besides: DEL and every non-ASCII character.
            try:
                raw = orjson.dumps(obj)
            except TypeError:  # a str subclass, say: the json module decides
                pass
            else:
                if raw.isascii() and b"\x7f" not in raw:
                    return raw.decode("ascii")
                return escape_beyond_ascii(raw.decode("utf-8"))
        return encode_gms(obj)

    def to_obj(self) -> dict[str, Any]:
        """The object DataHub's file source reads (``bridge translate`` output).

        A patch keeps DataHub's wire form (``{"value": "<JSON>", "contentType":
        "application/json-patch+json"}``), which the file source passes on as a patch.
        """
        aspect: dict[str, Any] = (
            {"value": self.aspect_json, "contentType": JSON_PATCH_CONTENT_TYPE}
            if self.change_type == "PATCH"
            else {"json": self.aspect_value}
        )
        obj: dict[str, Any] = {
            "entityType": self.entity_type,
            "entityUrn": self.entity_urn,
            "changeType": self.change_type,
            "aspectName": self.aspect_name,
            "aspect": aspect,
        }
        if self.system_metadata:
            obj["systemMetadata"] = dict(self.system_metadata)
        if self.headers:
            obj["headers"] = dict(self.headers)
        return obj

    def to_obj_json(self) -> bytes:
        """:meth:`to_obj` as compact UTF-8 JSON: exactly ``json.dumps(self.to_obj(), separators=(",", ":"),
        ensure_ascii=False)``, encoded."""
        text = self._json
        if text is not None and self.change_type != "PATCH" and not self.system_metadata and not self.headers:
            # The aspect's JSON is known already (delivery works it out for its digests): spliced in, not redone.
            head = compact_json({"entityType": self.entity_type, "entityUrn": self.entity_urn,
                                 "changeType": self.change_type, "aspectName": self.aspect_name})  # fmt: skip
            return b"%s,\"aspect\":{\"json\":%s}}" % (head[:-1], text.encode("utf-8"))
        return compact_json(self.to_obj(), floats=not self._float_free or bool(self.system_metadata))

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> MetadataChangeProposalWrapper:
        """Read an MCP in either JSON form (file-source ``json`` or GMS ``value`` string).

        Raises:
            InvalidEventError: the object is not an MCP; the error names the field.
        """
        if not isinstance(obj, Mapping):
            raise InvalidEventError(f"expected an object, got {type(obj).__name__}")
        urn = obj.get("entityUrn")
        if not isinstance(urn, str):
            raise InvalidEventError("missing or not a string", field="entityUrn")
        name = obj.get("aspectName")
        if not isinstance(name, str):
            raise InvalidEventError("missing or not a string", field="aspectName")
        wrapped = obj.get("aspect")
        if not isinstance(wrapped, Mapping):
            raise InvalidEventError("missing or not an object", field="aspect")
        if "json" in wrapped:
            value = wrapped["json"]
        elif "value" in wrapped:
            try:
                value = json.loads(wrapped["value"])
            except (TypeError, ValueError) as exc:
                raise InvalidEventError(f"not valid JSON: {exc}", field="aspect.value") from exc
        else:
            raise InvalidEventError("has neither 'json' nor 'value'", field="aspect")
        change_type = obj.get("changeType") or "UPSERT"
        if change_type != "PATCH" and not isinstance(value, Mapping):
            raise InvalidEventError("aspect value must be an object", field="aspect")
        return cls(
            entity_urn=urn,
            aspect_name=name,
            aspect=value,
            entity_type=obj.get("entityType") or None,  # type: ignore[arg-type]
            change_type=change_type,
            system_metadata=obj.get("systemMetadata") or None,
            headers=obj.get("headers") or None,
        )


def _text_only(headers: Mapping[str, str] | None) -> bool:
    """No headers, or only strings (``If-None-Match: *``): JSON with no number in it."""
    return not headers or all(type(k) is str and type(v) is str for k, v in headers.items())


# The slots' own setters: what _unchecked() fills in, without the frozen class's __setattr__ (half the cost).
_new = object.__new__
(_set_urn, _set_aspect, _set_name, _set_type, _set_change, _set_system, _set_headers, _set_value, _set_json,
 _set_float_free) = (
    MetadataChangeProposalWrapper.__dict__[name].__set__
    for name in ("entity_urn", "aspect", "aspect_name", "entity_type", "change_type", "system_metadata", "headers",
                 "_value", "_json", "_float_free")
)


def _check_patch(value: Any) -> None:
    """A patch is a list of ``{"op", "path"}`` objects, or DataHub's keyed form holding one."""
    if isinstance(value, Mapping) and not isinstance(value.get("arrayPrimaryKeys") or {}, Mapping):
        raise InvalidEventError("arrayPrimaryKeys must map array fields to their key fields", field="aspect")
    ops = value.get("patch") if isinstance(value, Mapping) else value
    if type(ops) is list and all(
        type(op) is dict and op.get("op") in _PATCH_OPS and type(op.get("path")) is str for op in ops
    ):
        return  # the common case, checked cheaply; what follows finds and names the problem
    if not isinstance(ops, list):
        raise InvalidEventError(
            "a PATCH aspect is a list of JSON Patch operations or {\"arrayPrimaryKeys\": ..., \"patch\": [...]}",
            field="aspect",
        )
    for i, op in enumerate(ops):
        if not isinstance(op, Mapping) or op.get("op") not in _PATCH_OPS or not isinstance(op.get("path"), str):
            raise InvalidEventError(
                f"not a JSON Patch operation (needs an op of RFC 6902 and a path): {op!r}", field=f"aspect[{i}]"
            )


_PATCH_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
