"""What the GMS test server checks in a proposal and an aspect before it writes, as GMS does.

* :func:`check_proposal` -- the proposal's shape (``entityType``, ``entityUrn``, ``changeType``,
  ``aspectName``, ``aspect.value`` a JSON string, ``contentType``); 422 otherwise.
* :func:`validate_with_datahub` / :func:`validate_aspect` -- with ``validate_aspects=True`` (and
  always for a patch's result): the proposal and the aspect parsed by acryl-datahub's schema
  classes (test-only), unknown fields refused at any depth, as GMS's
  ``UnrecognizedFieldMode.DISALLOW``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ProposalError", "check_proposal", "record_name", "unknown_fields", "validate_aspect",
           "validate_with_datahub"]


class ProposalError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_proposal(obj: Any, index: int | None) -> tuple[str, str, dict[str, Any]]:
    """Check one proposal's shape as GMS would; return (urn, aspect name, parsed aspect)."""
    where = "proposal" if index is None else f"proposals[{index}]"
    if not isinstance(obj, dict):
        raise ProposalError(f"{where}: expected a record, got {type(obj).__name__}")
    urn, aspect_name, entity_type = obj.get("entityUrn"), obj.get("aspectName"), obj.get("entityType")
    for name, value in (("entityType", entity_type), ("entityUrn", urn), ("changeType", obj.get("changeType"))):
        if not isinstance(value, str) or not value:
            raise ProposalError(f"{where}: field {name} is required and must be a string")
    if not urn.startswith(f"urn:li:{entity_type}:"):
        raise ProposalError(f"{where}: entityUrn {urn} does not match entityType {entity_type}")
    if not isinstance(aspect_name, str) or not aspect_name:
        raise ProposalError(f"{where}: urn={urn}: field aspectName is required")
    aspect = obj.get("aspect")
    if not isinstance(aspect, dict):
        raise ProposalError(f"{where}: urn={urn} aspect={aspect_name}: field aspect is required")
    patch = obj.get("changeType") == "PATCH"
    if not patch and aspect.get("contentType") != "application/json":
        raise ProposalError(
            f"{where}: urn={urn} aspect={aspect_name}: unsupported contentType {aspect.get('contentType')!r}"
        )
    value = aspect.get("value")
    if not isinstance(value, str):
        raise ProposalError(f"{where}: urn={urn} aspect={aspect_name}: aspect.value must be a JSON string")
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ProposalError(f"{where}: urn={urn} aspect={aspect_name}: aspect.value is not JSON: {exc}") from None
    if not isinstance(parsed, dict) and not (patch and isinstance(parsed, list)):
        raise ProposalError(f"{where}: urn={urn} aspect={aspect_name}: aspect.value must be a JSON object")
    return urn, aspect_name, parsed


def validate_with_datahub(proposal: dict[str, Any], aspect_name: str, value: Any) -> None:
    """Parse the proposal and its aspect with acryl-datahub's schema classes (test-only)."""
    from datahub.metadata import schema_classes as sc

    urn = proposal["entityUrn"]
    try:
        sc.MetadataChangeProposalClass.from_obj(proposal)
    except Exception as exc:  # avro raises several types; GMS answers 422 for all of them
        raise ProposalError(f"urn={urn} aspect={aspect_name}: invalid proposal: {exc}") from None
    if proposal.get("changeType") != "PATCH":  # a patch's result is validated once it is applied
        validate_aspect(urn, aspect_name, value)


def record_name(aspect_name: str) -> str:
    """The aspect's Pegasus record name (``globalTags`` -> ``com.linkedin.common.GlobalTags``)."""
    from datahub.metadata import schema_classes as sc

    cls = sc.ASPECT_NAME_MAP.get(aspect_name)
    return cls.RECORD_SCHEMA.fullname.replace("pegasus2avro.", "") if cls is not None else aspect_name


def unknown_fields(ours: Any, theirs: Any, path: str) -> list[str]:
    """Keys of ``ours`` that DataHub's parsed record dropped: fields its schema does not have, at any depth."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for key, value in ours.items():
            if key not in theirs:
                out.append(f"{path}{key}")
            else:
                out.extend(unknown_fields(value, theirs[key], f"{path}{key}."))
        return out
    if isinstance(ours, list) and isinstance(theirs, list):
        return [u for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) for u in unknown_fields(a, b, f"{path}{i}.")]
    return []


def validate_aspect(urn: str, aspect_name: str, value: dict[str, Any]) -> None:
    """An aspect value as GMS checks it before writing (unknown fields at any depth, types, required fields)."""
    from datahub.emitter.serialization_helper import post_json_transform, pre_json_transform
    from datahub.metadata import schema_classes as sc

    cls = sc.ASPECT_NAME_MAP.get(aspect_name)
    if cls is None:
        raise ProposalError(f"urn={urn}: unknown aspect {aspect_name}")
    known = {f.name for f in cls.RECORD_SCHEMA.fields}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ProposalError(
            f"urn={urn} aspect={aspect_name}: unrecognized field found but not allowed: {', '.join(unknown)}"
        )
    try:
        parsed = cls.from_obj(post_json_transform(value))  # union keys: com.linkedin.x -> the Avro names
        ok = parsed.validate()
    except Exception as exc:
        raise ProposalError(f"urn={urn} aspect={aspect_name}: {exc}") from None
    if not ok:
        raise ProposalError(f"urn={urn} aspect={aspect_name}: aspect does not match its schema")
    nested = unknown_fields(value, pre_json_transform(parsed.to_obj()), "")
    if nested:
        raise ProposalError(
            f"urn={urn} aspect={aspect_name}: unrecognized field found but not allowed: {', '.join(nested)}"
        )
