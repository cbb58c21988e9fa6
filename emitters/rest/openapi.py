"""GMS's OpenAPI v3 entity endpoints: routes and request bodies.

What DataHub's emitter sends with ``openapi_ingestion`` (its ``OpenApiRequest``):

* ``POST /openapi/v3/entity/<entityType>?async=true|false`` for upserts (and CREATE etc.),
  ``PATCH`` on the same URL for patches, one request per entity type and method, its body
  a JSON list of ``{"urn": ..., "<aspectName>": {"value": <aspect object>,
  "systemMetadata": ... or null, "headers": {...}}}``. A patch's value is
  ``{"patch": [operations]}`` (or DataHub's keyed form as it is).
* ``SYNC_WAIT`` adds the aspect header ``X-DataHub-Sync-Index-Update: true``.
* The OpenAPI body has no change type: a ``CREATE`` is told from an upsert only by its
  ``If-None-Match: *`` header. DataHub's emitter sends a ``CREATE`` without that header as
  a plain upsert, which would overwrite; this one adds the header, so a ``CREATE`` never
  replaces what is there (the bridge's own ``CREATE`` proposals always carry it).
* ``DELETE /openapi/v3/entity/<entityType>/<urn>``, no body, one per proposal.

GMS answers 200 (written) or 202 (queued, ``async=true``) with the entities written, and
a W3C ``traceparent`` header whose trace id the trace API (:mod:`emitters.rest.trace`) takes.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping

from emitters.rest.batching import Encoded
from emitters.rest.modes import EmitMode

__all__ = ["SYNC_INDEX_HEADER", "Route", "group_by_route", "request_body", "route", "trace_id"]

#: The MCP header that makes GMS update the search index before it answers (SYNC_WAIT).
SYNC_INDEX_HEADER = "X-DataHub-Sync-Index-Update"
ENTITY_PATH = "/openapi/v3/entity/"

Route = tuple[str, str]  # (HTTP method, path with query)


def route(enc: Encoded, emit_mode: EmitMode) -> Route:
    """The OpenAPI request a proposal goes in: ``(method, path)``."""
    item = enc.item
    if item.change_type == "DELETE":
        # The URN is one path segment to GMS (Spring matches ``{entityUrn:urn:li:.+}``).
        return "DELETE", f"{ENTITY_PATH}{item.entity_type}/{urllib.parse.quote(item.entity_urn, safe=':(),/')}"
    method = "PATCH" if item.is_patch else "POST"
    return method, f"{ENTITY_PATH}{item.entity_type}?async={'true' if emit_mode.is_async else 'false'}"


def group_by_route(batch: Iterable[Encoded], emit_mode: EmitMode) -> list[tuple[Route, list[Encoded]]]:
    """Split a batch into OpenAPI requests: one per entity type and method, in first-seen order.

    A ``DELETE`` goes alone (its URN is in the path). Proposals keep their relative order
    within a request.
    """
    groups: dict[Route, list[Encoded]] = {}
    out: list[tuple[Route, list[Encoded]]] = []
    for enc in batch:
        key = route(enc, emit_mode)
        if key[0] == "DELETE":
            out.append((key, [enc]))
            continue
        if key not in groups:
            groups[key] = []
            out.append((key, groups[key]))
        groups[key].append(enc)
    return out


def _item_json(enc: Encoded, emit_mode: EmitMode) -> str:
    item = enc.item
    headers = dict(item.headers or {})
    if item.change_type in ("CREATE", "CREATE_ENTITY"):
        headers.setdefault("If-None-Match", "*")
    if emit_mode is EmitMode.SYNC_WAIT:
        headers[SYNC_INDEX_HEADER] = "true"
    value = item.aspect_json  # cached: the aspect is serialised once, whatever the endpoint
    if item.is_patch and isinstance(item.aspect_value, list):
        value = '{"patch":' + value + "}"
    system_metadata = dict(item.system_metadata) if item.system_metadata else None
    return (f'{{"urn":{json.dumps(item.entity_urn)},{json.dumps(item.aspect_name)}:{{"value":{value},'
            f'"systemMetadata":{json.dumps(system_metadata)},"headers":{json.dumps(headers)}}}}}')


def request_body(batch: list[Encoded], emit_mode: EmitMode) -> bytes | None:
    """The body of one OpenAPI request (``None`` for a ``DELETE``)."""
    if batch and batch[0].item.change_type == "DELETE":
        return None
    return ("[" + ",".join(_item_json(enc, emit_mode) for enc in batch) + "]").encode("utf-8")


def trace_id(headers: Mapping[str, str]) -> str | None:
    """The trace id of GMS's answer: the second field of its ``traceparent`` header."""
    value = (headers.get("traceparent") or "").strip()
    if not value:
        return None
    parts = value.split("-")
    return parts[1] if len(parts) >= 2 and parts[1] else None
