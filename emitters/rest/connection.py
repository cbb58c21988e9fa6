"""``test_connection``: is the configured URL really GMS, and does it take our token?

Two requests: ``GET /config`` (what GMS says about itself; the DataHub
frontend answers it differently, so a frontend URL is recognised) and an
authenticated read of one aspect (``/config`` is not behind GMS's auth filter,
so only a real authenticated call shows whether the token is accepted).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from bridge.errors import BridgeError, ConfigError
from emitters.rest.client import GmsClient, GmsResponse
from emitters.rest.errors import error_for_status, gms_url_hint

__all__ = ["check_connection", "fetch_openapi_support", "gms_error", "supports_openapi"]

logger = logging.getLogger("emitters.rest")

# A read that exists on every DataHub: the key aspect of the built-in admin user. 200 or 404 both
# prove the token was accepted; nothing is written.
_PROBE_URN = "urn:li:corpuser:datahub"
_PROBE_PATH = f"/aspects/{urllib.parse.quote(_PROBE_URN, safe='')}?aspect=corpUserKey&version=0"


# The first GMS versions with the OpenAPI v3 entity endpoints *and* the trace API, by deployment
# (DataHub's emitter gates both its OPEN_API_SDK and API_TRACING features on these).
_OPENAPI_MIN_VERSION = {"core": (1, 0, 1, 0), "cloud": (0, 3, 11, 0)}
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?")


def supports_openapi(server_config: Mapping[str, Any]) -> bool:
    """Whether GMS advertises the OpenAPI v3 entity endpoints and the write-trace API.

    Decided as DataHub's emitter decides: GMS's ``/config`` has no flag for it, so the
    version it reports (``versions["acryldata/datahub"].version``) must be at least
    1.0.1 (0.3.11 on DataHub Cloud, where ``datahub.serverEnv`` is not ``core``).

    Args:
        server_config: GMS's ``/config`` payload.

    Returns:
        ``False`` as well when the version is missing or cannot be read.
    """
    info = (server_config.get("versions") or {}).get("acryldata/datahub") or {}
    match = _VERSION.match(str(info.get("version") or "").strip())
    if not match:
        return False
    version = tuple(int(part or 0) for part in match.groups())
    env = (server_config.get("datahub") or {}).get("serverEnv")
    return version >= _OPENAPI_MIN_VERSION["cloud" if env and env != "core" else "core"]


def fetch_openapi_support(client: GmsClient) -> bool:
    """Ask GMS's ``/config`` (with the client's retries) whether it supports OpenAPI and tracing.

    Raises:
        DeliveryError subclass, ConfigError: ``/config`` could not be read (see :mod:`emitters.rest.errors`).
    """
    response = client.request("GET", "/config")
    try:
        payload = json.loads(response.body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("noCode") == "true" and supports_openapi(payload)


def _frontend(url: str) -> str:
    return f"{url} looks like the DataHub frontend (the web app), not GMS; " + gms_url_hint(url)


def check_connection(client: GmsClient) -> dict[str, Any]:
    """Check that ``client``'s URL is GMS and that it accepts the token.

    Returns:
        ``{"gms_server", "version", "commit", "server_type", "server_env", "auth", "openapi"}``;
        ``auth`` is ``"accepted"`` or ``"accepted (read not permitted)"``; ``openapi`` is
        :func:`supports_openapi` of the server's config.

    Raises:
        ConnectionFailedError: nothing listens / connection broke / host unknown.
        ConfigError: the URL is the DataHub frontend or something else than GMS.
        AuthError: GMS refused the token (or needs one and none is configured).
        DeliveryError: any other failure, with GMS's message.
    """
    url = client.base_url
    # No retries: a person is waiting for a plain answer.
    response = client.request_once("GET", "/config", timeout=client.config.timeout)
    body = response.body
    if response.status >= 300:
        raise gms_error(client, response, "/config")
    try:
        payload = json.loads(body)
    except ValueError:
        if "html" in response.content_type or body.lstrip()[:1] == b"<":
            raise ConfigError(f"{url}/config answered with an HTML page. " + _frontend(url),
                              key="gms_server") from None
        raise ConfigError(f"{url}/config did not answer JSON; is this GMS?", key="gms_server") from None
    if not isinstance(payload, dict):
        raise ConfigError(f"{url}/config answered {type(payload).__name__}, not GMS's config", key="gms_server")
    if payload.get("noCode") != "true":
        if payload.get("application") == "datahub-frontend":
            raise ConfigError(_frontend(url), key="gms_server")
        raise ConfigError(f"{url}/config is not GMS's config (no noCode=\"true\"); is this GMS?", key="gms_server")

    auth = "accepted"
    probe = client.request_once("GET", _PROBE_PATH)
    if probe.status == 403:
        # Valid token without read privileges: ingestion may still be allowed, so don't fail here.
        auth = "accepted (read not permitted)"
        logger.warning("GMS accepted the token but denied a read; ingestion may need more privileges",
                       extra={"gms_server": url})
    elif probe.status == 401:
        raise gms_error(client, probe, "/aspects")
    elif probe.status >= 300 and probe.status != 404:  # 404: no such aspect, but the token was accepted
        # Only the token is in question here; GMS answered /config, so don't fail on a quirk of this read.
        logger.debug("GMS answered the auth probe with status=%d", probe.status)

    versions = payload.get("versions") or {}
    info = versions.get("acryldata/datahub") or {}
    datahub = payload.get("datahub") or {}
    return {
        "gms_server": url,
        "version": info.get("version"),
        "commit": info.get("commit"),
        "server_type": datahub.get("serverType"),
        "server_env": datahub.get("serverEnv"),
        "auth": auth,
        "openapi": supports_openapi(payload),
    }


def gms_error(client: GmsClient, response: GmsResponse, path: str, *, urn: str | None = None) -> BridgeError:
    """The error of a GMS answer to a request of ``path`` (naming ``urn``, if given)."""
    return error_for_status(
        response.status, response.body, url=f"{client.base_url}{path}", urn=urn,
        retry_status_codes=client.config.retry_status_codes, content_type=response.content_type,
        base_url=client.base_url, token_configured=bool(client.config.token),
    )
