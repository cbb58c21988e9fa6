"""The GMS test server's Rest.li routes: ``/aspects?action=ingestProposal[Batch]`` and aspect reads.

Error bodies are Rest.li's (``{"exceptionClass": ..., "message": ..., "status": ..., "stackTrace": ...}``
with header ``X-RestLi-Error-Response: true``); see :mod:`tests.servers.gms` for the checks made.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from tests.servers.gms_checks import ProposalError, check_proposal, record_name, validate_with_datahub
from tests.servers.gms_http import Response
from tests.servers.gms_state import Refused

__all__ = ["RESTLI_EXCEPTION", "RestliRoutes", "restli_error", "restli_response"]

RESTLI_EXCEPTION = "com.linkedin.restli.server.RestLiServiceException"


def restli_error(status: int, message: str) -> dict[str, Any]:
    """The body GMS (Rest.li) answers with on an error."""
    return {
        "exceptionClass": RESTLI_EXCEPTION,
        "stackTrace": f"{RESTLI_EXCEPTION} [HTTP Status:{status}]: {message}\n\tat com.linkedin.metadata"
        ".resources.entity.AspectResource.ingestProposal(AspectResource.java:212)",
        "message": message,
        "status": status,
    }


def restli_response(status: int, message: str, **kw: Any) -> Response:
    """A Rest.li error answer."""
    resp = Response.json(status, restli_error(status, message), **kw)
    resp.headers["X-RestLi-Error-Response"] = "true"
    return resp


def key_aspect_name(urn: str) -> str | None:
    """The key aspect of the URN's entity type, from acryl-datahub's URN classes (None if unknown)."""
    from datahub.metadata import urns  # noqa: F401 - registers the specific URN types
    from datahub.utilities.urns._urn_base import URN_TYPES

    parts = urn.split(":", 3)
    cls = URN_TYPES.get(parts[2]) if len(parts) == 4 else None
    return cls.underlying_key_aspect_type().ASPECT_NAME if cls is not None else None


def key_aspect_value(urn: str) -> dict[str, Any]:
    """The key aspect GMS derives from a URN (``datasetKey``: platform, name, origin)."""
    from datahub.metadata import urns  # noqa: F401
    from datahub.utilities.urns._urn_base import Urn

    return dict(Urn.from_string(urn).to_key_aspect().to_obj())


class RestliRoutes:
    """The Rest.li side of a :class:`tests.servers.gms.GmsServer` (shares its store and lock)."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Response:
        if headers.get("x-restli-protocol-version") != "2.0.0":
            return restli_response(
                400, "Rest.li protocol version 2.0.0 required (header X-RestLi-Protocol-Version)"
            )
        if not self.server._authorized(headers):
            return restli_response(401, "Unauthorized to perform this action.")
        if method == "GET" and path.startswith("/aspects/"):
            return self._get_aspect(urllib.parse.unquote(path[len("/aspects/"):]), query)
        if method != "POST":
            return restli_response(405, f"method {method} not allowed on /aspects")
        if len(body) > self.server.max_body_bytes:
            return restli_response(413, f"request body of {len(body)} bytes exceeds {self.server.max_body_bytes}")
        action = query.get("action")
        if action not in {"ingestProposal", "ingestProposalBatch"}:
            return restli_response(400, f"unsupported action {action!r} on /aspects")
        return self._ingest(action, body)

    def _get_aspect(self, urn: str, query: dict[str, str]) -> Response:
        name = query.get("aspect", "")
        with self.server._lock:
            value = self.server.aspects.get((urn, name))
            # GMS writes an entity's key aspect with its first aspect: the entity exists once
            # anything was written to it (DataHubGraph.exists reads the key aspect).
            if (value is None and name == key_aspect_name(urn)
                    and any(held == urn for held, _ in self.server.aspects)):
                value = key_aspect_value(urn)
        if value is None:
            return restli_response(404, f"No aspect {name} found for urn {urn}")
        # A VersionedAspect: ``aspect`` is the Aspect union, keyed by the record's full name.
        return Response.json(200, {"aspect": {record_name(name): value}, "version": 0})

    def _ingest(self, action: str, body: bytes) -> Response:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return restli_response(400, f"Input JSON is not valid: {exc}")
        if not isinstance(payload, dict):
            return restli_response(400, "request body must be a JSON object")
        if payload.get("async", "false") not in {"true", "false"}:
            return restli_response(400, f"parameter async must be \"true\" or \"false\", got {payload['async']!r}")
        if action == "ingestProposal":
            if "proposal" not in payload:
                return restli_response(400, "Parameter 'proposal' is required")
            raw: Any = [payload["proposal"]]
            batch = False
        else:
            raw = payload.get("proposals")
            if not isinstance(raw, list):
                return restli_response(400, "Parameter 'proposals' is required and must be an array")
            batch = True
        checked = []
        try:
            for i, proposal in enumerate(raw):
                urn, aspect_name, value = check_proposal(proposal, i if batch else None)
                if urn in self.server.reject_urns:
                    raise ProposalError(f"urn={urn} aspect={aspect_name}: rejected by validator (test reject list)")
                if self.server.validate_aspects:
                    try:
                        validate_with_datahub(proposal, aspect_name, value)
                    except ProposalError as exc:
                        where = f"proposals[{i}]" if batch else "proposal"
                        raise ProposalError(f"{where}: {exc.message}") from None
                checked.append((urn, aspect_name, value, proposal))
        except ProposalError as exc:
            return restli_response(422, f"Failed to validate record: {exc.message}")
        with self.server._lock:
            if self.server.store:
                try:
                    self.server.store_state.apply_all([(proposal, value) for _, _, value, proposal in checked])
                except Refused as exc:
                    return restli_response(exc.status, exc.message)
                self.server.proposals.extend(proposal for *_, proposal in checked)
            self.server.proposal_count += len(checked)
        urns = [c[0] for c in checked]
        return Response.json(200, {"value": urns if batch else urns[0]})
