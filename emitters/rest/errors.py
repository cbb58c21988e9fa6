"""HTTP status and transport failure -> the bridge's error classes, decided here and only here.

=====================  =========================================  ===================
what happened          class                                      the caller should
=====================  =========================================  ===================
400, 413, 422          :class:`~bridge.errors.RejectedError`        fix the input
500 from a patch GMS   :class:`~bridge.errors.RejectedError`        fix the input
cannot apply
401, 403               :class:`~bridge.errors.AuthError`            fix the token
retryable status       :class:`~bridge.errors.RetriableError`       retry later
(429, 5xx by default)
connection refused,    :class:`~bridge.errors.ConnectionFailedError` retry later /
reset, dropped                                                      check the URL
timeout                :class:`~bridge.errors.RetriableError`       retry later
404, 405 (not GMS)     :class:`~bridge.errors.ConfigError`          fix gms_server
404, 405 on /openapi   :class:`~bridge.errors.ConfigError`          openapi_ingestion=false
TLS failure, other     :class:`~bridge.errors.DeliveryError`        fix the config
statuses
=====================  =========================================  ===================
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import requests
import urllib3

from bridge.errors import (
    AuthError,
    BridgeError,
    ConfigError,
    ConnectionFailedError,
    DeliveryError,
    RejectedError,
    RetriableError,
)

__all__ = ["error_for_exception", "error_for_status", "gms_url_hint", "server_message"]

REJECTED_STATUSES = frozenset({400, 413, 422})
#: What GMS answers (HTTP 500) for a PATCH it can never apply: no patch template for the aspect,
#: stored column lineage it cannot key, an operation its JSON Patch library refuses. Sending it
#: again changes nothing, so it is a rejection (the batch is bisected, the event dead-lettered).
_PATCH_REFUSALS = ("Patch not supported for aspect", "Patching not supported", "UnsupportedOperationException",
                   "JsonException", "Invalid JSON Patch", "Unsupported PATCH operation", "template is null")


def server_message(body: bytes | str | None, content_type: str = "") -> str | None:
    """What GMS said: the Rest.li error ``message``, else the start of the body."""
    if not body:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        obj: Any = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        for key in ("message", "error", "errorMessage"):
            if isinstance(obj.get(key), str) and obj[key]:
                return obj[key]
    if "html" in content_type or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        return "(an HTML page, not a GMS answer)"
    text = " ".join(text.split())
    return text[:500] + ("..." if len(text) > 500 else "")


def gms_url_hint(base_url: str) -> str:
    """How to point ``gms_server`` at GMS, for errors that say the URL is something else."""
    base = base_url.rstrip("/")
    gms = "point gms_server at GMS (usually http://<gms-host>:8080)"
    if base.endswith("/api/gms"):
        # Already the frontend's GMS proxy path: appending it again would only make things worse.
        return f"{gms}, or at the /api/gms of a host that runs the DataHub frontend ({base} does not proxy GMS)"
    return f"{gms} or, through the DataHub frontend, at {base}/api/gms"


def error_for_status(
    status: int,
    body: bytes | str | None,
    *,
    url: str,
    retry_status_codes: frozenset[int],
    content_type: str = "",
    urn: str | None = None,
    aspect: str | None = None,
    base_url: str | None = None,
    token_configured: bool = True,
) -> BridgeError:
    """The error for a non-2xx answer from GMS.

    Args:
        status: the HTTP status.
        body: the response body (a Rest.li error object, usually).
        url: what was called (no credentials in it).
        retry_status_codes: the statuses the emitter retries.
        content_type: the response's Content-Type.
        urn: entity URN of the proposal concerned, if a single one.
        aspect: aspect name of the proposal concerned, if a single one.
        base_url: the configured GMS URL, to suggest a better one on a 404.
        token_configured: whether a token was sent (a 401 then means it was refused, else missing).

    Returns:
        A :class:`~bridge.errors.BridgeError` subclass named for what to do:
        :class:`~bridge.errors.ConfigError` when the URL is not GMS's, else a
        :class:`~bridge.errors.DeliveryError` subclass.
    """
    said = server_message(body, content_type)
    kw: dict[str, Any] = {"urn": urn, "aspect": aspect, "status": status, "server_message": said}
    if status == 401:
        if token_configured:
            return AuthError(f"GMS at {url} refused the token (wrong, expired or revoked?)", **kw)
        return AuthError(f"GMS at {url} needs a token and none is configured (set token or DATAHUB_GMS_TOKEN)", **kw)
    if status == 403:
        return AuthError(f"GMS at {url} says the token lacks the privileges needed", **kw)
    if status == 500 and said and any(text in said for text in _PATCH_REFUSALS):
        return RejectedError("GMS cannot apply the patch", **kw)
    if status in retry_status_codes:
        return RetriableError(f"GMS at {url} is unavailable for now", **kw)
    if status in REJECTED_STATUSES:
        what = "the request is too large" if status == 413 else "GMS rejected the proposal"
        return RejectedError(what, **kw)
    if status in (404, 405) and "/openapi/" in url:
        # GMS answered, so the URL is right; this GMS lacks the OpenAPI route (older than DataHub 1.0.1).
        return ConfigError(
            f"GMS at {url} answered {status} ({said or 'no message'}): this GMS has no such OpenAPI endpoint "
            "(it needs DataHub >= 1.0.1). Set openapi_ingestion=false (and an emit_mode other than ASYNC_WAIT)",
            key="openapi_ingestion",
        )
    if status in (404, 405):
        return ConfigError(
            f"{url} answered {status} ({said or 'no message'}); this is not GMS. "
            + gms_url_hint(base_url or url.rsplit("/", 1)[0]),
            key="gms_server",
        )
    return DeliveryError(f"GMS at {url} failed", **kw)


def error_for_exception(exc: BaseException, *, url: str) -> DeliveryError:
    """The error for a request that got no HTTP answer (refused, dropped, timed out, TLS).

    Handles both ``requests`` and ``urllib3`` exceptions (the client talks to the
    session's urllib3 pool directly on its hot path).
    """
    reason = _root_reason(exc)
    lowered = reason.lower()
    if isinstance(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError)):
        return DeliveryError(
            f"TLS handshake with {url} failed ({reason}); set ca_certificate_path to the CA that signed "
            "GMS's certificate, or client_certificate_path if GMS requires one"
        )
    if isinstance(exc, urllib3.exceptions.NameResolutionError) or "name or service not known" in lowered \
            or "nodename nor servname" in lowered or "name resolution" in lowered:
        return ConnectionFailedError(f"cannot resolve the host of {url} ({reason})")
    if "refused" in lowered:
        return ConnectionFailedError(f"nothing is listening at {url} (connection refused)")
    connect_timeout = (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)
    if isinstance(exc, connect_timeout) and not isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ConnectionFailedError(f"no answer from {url} while connecting (timed out; is the host reachable?)")
    if isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return RetriableError(f"GMS at {url} did not answer in time ({reason})")
    if isinstance(exc, (requests.exceptions.ConnectionError, urllib3.exceptions.NewConnectionError,
                        urllib3.exceptions.ProtocolError, ConnectionError)):
        return ConnectionFailedError(f"the connection to {url} broke ({reason})")
    return DeliveryError(f"request to {url} failed ({reason})")


def _root_reason(exc: BaseException) -> str:
    """The innermost cause's message: ``[Errno 111] Connection refused`` rather than urllib3's wrapper chain."""
    seen = set()
    current: BaseException | None = exc
    last = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        last = current
        nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        if nxt is None and hasattr(current, "reason") and isinstance(current.reason, BaseException):
            nxt = current.reason
        current = nxt
    text = str(last) or type(last).__name__
    # urllib3 prefixes "<urllib3.connection.HTTPConnection object at 0x...>: "; drop it.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return text
