"""The GMS test server's OpenAPI routes: the v3 entity endpoints and the write-trace API.

Modelled on DataHub's ``GenericEntitiesController`` / ``EntityControllerV3`` and
``TraceController`` (metadata-service/openapi-servlet) and its
``GlobalControllerExceptionHandler``:

``POST /openapi/v3/entity/<entityType>?async=true|false[&systemMetadata=true]``
    Body: a list of ``{"urn": ..., "<aspectName>": {"value": {...}, "systemMetadata": ...,
    "headers": {...}}}``. ``async`` defaults to ``true`` (as in GMS). Answers **200** when
    written (``async=false``) or **202** when queued, with the entities
    (``[{"urn": ..., "<aspectName>": {"value": ...}}]``, ``systemMetadata`` too when asked),
    and a ``traceparent: 00-<traceId>-<spanId>-01`` header.
``PATCH /openapi/v3/entity/<entityType>?async=...``
    The same, each value a patch (``{"patch": [...]}`` or DataHub's keyed form).
``DELETE /openapi/v3/entity/<entityType>/<urn>``
    Removes every aspect of the URN; 200, no body.
``POST /openapi/v1/trace/write/<traceId>?onlyIncludeErrors=true|false&detailed=...``
    Body ``{"<urn>": ["<aspect>", ...]}``; answers per URN and aspect
    ``{"success": bool, "primaryStorage": {"writeStatus": ...}, "searchStorage": {"writeStatus": ...}}``.

Writes go through the same checks and the same store as the Rest.li route (UPSERT replaces,
PATCH through the aspect's template, the ``If-None-Match: *`` header writes only what is absent),
all or nothing per request. Errors are GMS's OpenAPI ones: ``{"error": message}`` with 400 for
input GMS refuses (bad JSON, URN, aspect), 401 without the token, 413 for a body too large, and
the store's own statuses (422, 500) as on the Rest.li route; unknown routes are Spring's 404.

Tests steer the trace: ``gms.trace_outcome(urn, aspect, "failed", message=...)`` (the write
is not stored; the trace says ``ERROR``), ``"pending"`` with ``polls=n`` (the first ``n``
polls say ``PENDING``; ``polls=None``: forever), ``"search-failed"`` (stored, not indexed).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from tests.servers.gms_checks import ProposalError, check_proposal, validate_with_datahub
from tests.servers.gms_state import Refused

__all__ = ["OpenApiRoutes", "TraceOutcome"]

Answer = tuple[int, Any, dict[str, str]]  # status, JSON body (None: empty), extra headers
_OUTCOMES = {"persisted", "failed", "pending", "search-failed"}


@dataclass
class TraceOutcome:
    """What the trace API says about the writes of one (urn, aspect)."""

    kind: str = "persisted"
    polls: int | None = 0  # "pending": polls answered PENDING first (None: forever)
    message: str = "injected persistence failure"


def _error(status: int, message: str) -> Answer:
    return status, {"error": message}, {}


def _spring_404(path: str) -> Answer:
    return 404, {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime()), "status": 404,
                 "error": "Not Found", "path": path}, {}


def _storage(status: str, message: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"writeStatus": status}
    if message:
        out["writeMessage"] = message
        out["writeExceptions"] = [{"message": message, "exceptionClass": "java.lang.IllegalStateException"}]
    return out


class OpenApiRoutes:
    """The OpenAPI side of a :class:`tests.servers.gms.GmsServer` (shares its store and lock)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.outcomes: dict[tuple[str, str], TraceOutcome] = {}
        #: trace id -> (urn, aspect) -> [outcome, polls answered so far]
        self.traces: dict[str, dict[tuple[str, str], list[Any]]] = {}
        self.trace_polls = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.outcomes.clear()
            self.traces.clear()
            self.trace_polls = 0

    def trace_outcome(self, urn: str, aspect: str, kind: str, *, polls: int | None = 1,
                      message: str = "injected persistence failure") -> None:
        if kind not in _OUTCOMES:
            raise ValueError(f"unknown trace outcome {kind!r}; one of {sorted(_OUTCOMES)}")
        with self._lock:
            self.outcomes[(urn, aspect)] = TraceOutcome(kind, polls, message)

    # ------------------------------------------------------------------ routing
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Answer:
        server = self.server
        if not server.openapi:
            return _spring_404(path)
        if not server._authorized(headers):
            return _error(401, "Unauthorized to perform this action.")
        if len(body) > server.max_body_bytes:
            return _error(413, f"request body of {len(body)} bytes exceeds {server.max_body_bytes}")
        if path.startswith("/openapi/v1/trace/write/") and method == "POST":
            return self._trace(path.rsplit("/", 1)[1], query, body)
        if path.startswith("/openapi/v3/entity/"):
            rest = path[len("/openapi/v3/entity/"):]
            entity_type, _, urn = rest.partition("/")
            if urn and method == "DELETE":
                return self._delete(entity_type, urllib.parse.unquote(urn))
            if not urn and method in ("POST", "PATCH"):
                return self._write(method, entity_type, query, body)
            if not urn:
                return 405, {"error": f"Request method '{method}' is not supported"}, {}
        return _spring_404(path)

    # ------------------------------------------------------------------ writes
    def _proposals(self, method: str, entity_type: str, body: bytes) -> list[dict[str, Any]]:
        try:
            items = json.loads(body)
        except ValueError as exc:
            raise ProposalError(f"JSON parse error: {exc}") from None
        if not isinstance(items, list):
            raise ProposalError("expected a JSON array of entities")
        proposals = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("urn"), str):
                raise ProposalError(f"[{i}]: each entity needs a string 'urn'")
            urn = item["urn"]
            if not urn.startswith(f"urn:li:{entity_type}:"):
                raise ProposalError(f"Invalid urn! {urn} is not a {entity_type}")
            for name, envelope in item.items():
                if name == "urn":
                    continue
                if not isinstance(envelope, dict) or "value" not in envelope:
                    raise ProposalError(f"urn={urn} aspect={name}: expected {{\"value\": ...}}")
                aspect_headers = dict(envelope.get("headers") or {})
                change = "PATCH" if method == "PATCH" else (
                    "CREATE" if aspect_headers.get("If-None-Match") == "*" else "UPSERT")
                proposal: dict[str, Any] = {
                    "entityType": entity_type, "entityUrn": urn, "changeType": change, "aspectName": name,
                    "aspect": {"value": json.dumps(envelope["value"]), "contentType": "application/json"},
                }
                if envelope.get("systemMetadata"):
                    proposal["systemMetadata"] = envelope["systemMetadata"]
                if aspect_headers:
                    proposal["headers"] = aspect_headers
                proposals.append(proposal)
        return proposals

    def _write(self, method: str, entity_type: str, query: dict[str, str], body: bytes) -> Answer:
        server = self.server
        is_async = query.get("async", "true" if method == "POST" else "false").lower() == "true"
        with_system_metadata = query.get("systemMetadata", "false").lower() == "true"
        checked = []
        try:
            for i, proposal in enumerate(self._proposals(method, entity_type, body)):
                urn, aspect_name, value = check_proposal(proposal, i)
                if urn in server.reject_urns:
                    raise ProposalError(f"urn={urn} aspect={aspect_name}: rejected by validator (test reject list)")
                if server.validate_aspects:
                    validate_with_datahub(proposal, aspect_name, value)
                checked.append((proposal, value))
        except ProposalError as exc:
            return _error(400, exc.message)
        trace = f"{int(time.time() * 1_000_000):016x}{secrets.token_hex(8)}"
        with self._lock:
            outcomes = {(p["entityUrn"], p["aspectName"]): self.outcomes.get((p["entityUrn"], p["aspectName"]))
                        for p, _ in checked}
        stored = [(p, v) for p, v in checked
                  if (outcomes[(p["entityUrn"], p["aspectName"])] or TraceOutcome()).kind != "failed"]
        with server._lock:
            if server.store:
                try:
                    server.store_state.apply_all(stored)
                except Refused as exc:
                    return _error(exc.status, exc.message)
                server.proposals.extend(p for p, _ in stored)
            server.proposal_count += len(stored)
        with self._lock:
            self.traces[trace] = {key: [outcome or TraceOutcome(), 0] for key, outcome in outcomes.items()}
        entities: dict[str, dict[str, Any]] = {}
        for proposal, value in checked:
            envelope: dict[str, Any] = {"value": server.aspects.get((proposal["entityUrn"], proposal["aspectName"]),
                                                                    value)}
            if with_system_metadata:
                envelope["systemMetadata"] = proposal.get("systemMetadata")
            entities.setdefault(proposal["entityUrn"], {"urn": proposal["entityUrn"]})[proposal["aspectName"]] = envelope
        headers = {"traceparent": f"00-{trace}-{secrets.token_hex(8)}-01"} if server.tracing else {}
        return (202 if is_async else 200), list(entities.values()), headers

    def _delete(self, entity_type: str, urn: str) -> Answer:
        if not urn.startswith(f"urn:li:{entity_type}:"):
            return _error(400, f"Invalid urn! {urn} is not a {entity_type}")
        server = self.server
        with server._lock:
            for key in [k for k in server.aspects if k[0] == urn]:
                del server.aspects[key]
        return 200, None, {}

    # ------------------------------------------------------------------ trace
    def _trace(self, trace_id: str, query: dict[str, str], body: bytes) -> Answer:
        try:
            wanted = json.loads(body)
        except ValueError as exc:
            return _error(400, f"JSON parse error: {exc}")
        if not isinstance(wanted, dict):
            return _error(400, "expected an object of urn -> [aspect names]")
        only_errors = query.get("onlyIncludeErrors", "true").lower() == "true"
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            self.trace_polls += 1
            known = self.traces.get(trace_id, {})
            for urn, aspects in wanted.items():
                for aspect in aspects or []:
                    status = self._status(known.get((urn, aspect)))
                    if only_errors and status["success"]:
                        continue
                    out.setdefault(urn, {})[aspect] = status
        return 200, out, {}

    @staticmethod
    def _status(entry: list[Any] | None) -> dict[str, Any]:
        if entry is None:  # no such write in this trace
            return {"success": False, "primaryStorage": _storage("UNKNOWN"), "searchStorage": _storage("UNKNOWN")}
        outcome, polls = entry
        entry[1] += 1
        if outcome.kind == "pending" and (outcome.polls is None or polls < outcome.polls):
            return {"success": True, "primaryStorage": _storage("PENDING"), "searchStorage": _storage("PENDING")}
        if outcome.kind == "failed":
            return {"success": False, "primaryStorage": _storage("ERROR", outcome.message),
                    "searchStorage": _storage("ERROR")}
        if outcome.kind == "search-failed":
            return {"success": False, "primaryStorage": _storage("ACTIVE_STATE"),
                    "searchStorage": _storage("ERROR", outcome.message)}
        return {"success": True, "primaryStorage": _storage("ACTIVE_STATE"),
                "searchStorage": _storage("ACTIVE_STATE")}
