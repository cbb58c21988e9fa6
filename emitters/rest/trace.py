"""``ASYNC_WAIT``: wait on GMS's write-trace API until queued writes are persisted.

GMS queues an ``async=true`` write and answers at once, with a ``traceparent`` header.
``POST /openapi/v1/trace/write/<traceId>?onlyIncludeErrors=false&detailed=true`` with
``{"<urn>": ["<aspect>", ...]}`` then answers, per URN and aspect,
``{"success": bool, "primaryStorage": {"writeStatus": ...}, "searchStorage": {"writeStatus": ...}}``
(``writeStatus``: ``PENDING``, ``ACTIVE_STATE``, ``HISTORIC_STATE``, ``NO_OP``, ``ERROR``, ...;
failures carry ``writeMessage`` / ``writeExceptions``). As DataHub's emitter does, a write
is settled once neither storage is ``PENDING``, and failed when ``success`` is false.

Polls back off from ``trace_poll_sec``, doubling, up to 30 s; after ``trace_timeout_sec``
the still-pending writes are reported as :class:`~bridge.errors.RetriableError`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bridge.errors import BridgeError, DeliveryError, RejectedError, RetriableError
from emitters.rest.batching import Encoded
from emitters.rest.client import GmsClient

__all__ = ["PENDING", "await_persisted", "trace_path"]

logger = logging.getLogger("emitters.rest")

PENDING = "PENDING"
_MAX_POLL_SEC = 30.0


def trace_path(trace_id: str) -> str:
    """The trace API's path for one trace id (DataHub's emitter asks for every status, detailed)."""
    return f"/openapi/v1/trace/write/{trace_id}?onlyIncludeErrors=false&detailed=true"


def _message(status: dict[str, Any]) -> str:
    """What went wrong, from the storage status that failed."""
    for storage in ("primaryStorage", "searchStorage"):
        part = status.get(storage) or {}
        if part.get("writeStatus") == "ERROR" or part.get("writeMessage") or part.get("writeExceptions"):
            exceptions = part.get("writeExceptions") or []
            said = part.get("writeMessage") or (exceptions[0].get("message") if exceptions else None)
            return f"{storage} {part.get('writeStatus')}: {said or 'no message'}"
    return json.dumps(status)[:500]


def _failure(trace_id: str, enc: Encoded, status: dict[str, Any]) -> BridgeError:
    said = _message(status)
    primary = (status.get("primaryStorage") or {}).get("writeStatus")
    kw: dict[str, Any] = {"urn": enc.urn, "aspect": enc.aspect, "server_message": said}
    if primary == "ERROR":
        # GMS took the request but refused to write it: the async twin of a 422.
        return RejectedError(f"GMS accepted the write but did not persist it (trace {trace_id})", **kw)
    return DeliveryError(f"GMS persisted the write but could not index it for search (trace {trace_id})", **kw)


def await_persisted(client: GmsClient, trace_id: str, batch: list[Encoded], *, timeout_sec: float,
                    poll_sec: float) -> list[tuple[Encoded, BridgeError]]:
    """Poll the trace API until every proposal of ``batch`` is persisted or failed.

    Args:
        client: the emitter's HTTP client (retries apply to each poll).
        trace_id: from the ``traceparent`` of GMS's answer to the write.
        batch: the proposals that request carried.
        timeout_sec: give up after this long.
        poll_sec: first wait between polls (doubles, capped at 30 s).

    Returns:
        ``(proposal, error)`` for each proposal whose write failed per the trace, or was still
        pending at the timeout; the others were persisted.

    Raises:
        DeliveryError subclass: the trace API itself failed (see :mod:`emitters.rest.errors`).
    """
    pending: dict[tuple[str, str], list[Encoded]] = {}
    for enc in batch:
        pending.setdefault((enc.urn, enc.aspect), []).append(enc)
    failures: list[tuple[Encoded, BridgeError]] = []
    deadline = time.monotonic() + timeout_sec
    wait = poll_sec
    last: dict[tuple[str, str], Any] = {}
    while pending:
        query: dict[str, list[str]] = {}
        for urn, aspect in pending:
            query.setdefault(urn, []).append(aspect)
        response = client.request("POST", trace_path(trace_id), json.dumps(query).encode("utf-8"))
        try:
            statuses = json.loads(response.body)
        except ValueError:
            statuses = None
        if not isinstance(statuses, dict):
            raise DeliveryError(f"GMS's trace API answered something else than statuses for trace {trace_id}",
                                server_message=response.body[:200].decode("utf-8", "replace"))
        for key in list(pending):
            status = (statuses.get(key[0]) or {}).get(key[1])
            if not isinstance(status, dict):
                continue  # not traced yet: still pending
            last[key] = status
            if not status.get("success", False):
                failures.extend((enc, _failure(trace_id, enc, status)) for enc in pending.pop(key))
                continue
            storages = (status.get("primaryStorage") or {}, status.get("searchStorage") or {})
            if all(s.get("writeStatus") != PENDING for s in storages):
                del pending[key]
        if not pending:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            for key, encs in pending.items():
                seen = last.get(key) or {}
                where = ", ".join(f"{s} {(seen.get(s) or {}).get('writeStatus', PENDING)}"
                                  for s in ("primaryStorage", "searchStorage"))
                error = RetriableError(
                    f"ASYNC_WAIT: GMS had not persisted the write after {timeout_sec:g}s (trace {trace_id}: "
                    f"{where}); it may still land. Raise trace_timeout_sec, or use another emit_mode",
                    urn=key[0], aspect=key[1])
                failures.extend((enc, error) for enc in encs)
            break
        logger.debug("waiting for GMS to persist %d aspect(s) trace_id=%s wait_sec=%.3f",
                     len(pending), trace_id, min(wait, left))
        time.sleep(min(wait, left))
        wait = min(wait * 2, _MAX_POLL_SEC)
    return failures
