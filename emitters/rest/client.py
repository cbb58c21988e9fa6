"""The HTTP side of the REST emitter: one keep-alive ``requests`` session, timeouts, TLS, retries.

Retries (exponential backoff with full jitter, ``Retry-After`` honoured) happen
here and only for what :func:`~bridge.errors.is_retriable` allows:
connection failures, timeouts and the configured statuses (429, 5xx). Other
4xx answers are returned to the caller at once. Once GMS gave no answer through
a whole retry sequence (refused, timed out), the client's
:class:`~emitters.breaker.Unreachable` breaker fails the next requests at once
instead of retrying each, probing GMS with a single attempt now and then.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import urllib.parse
from typing import Any

import requests
import requests.adapters
import urllib3

from bridge.errors import BridgeError, DeliveryError, QueueFullError, RetriableError, is_retriable
from emitters.breaker import Unreachable
from emitters.rest.config import RestEmitterConfig
from emitters.rest.errors import error_for_exception, error_for_status

__all__ = ["GmsClient", "GmsResponse", "USER_AGENT"]

logger = logging.getLogger("emitters.rest")

USER_AGENT = "lineage-bridge-rest-emitter/0.1"
RESTLI_HEADERS = {"X-RestLi-Protocol-Version": "2.0.0", "Content-Type": "application/json"}


class GmsResponse:
    """A settled HTTP answer (any status)."""

    __slots__ = ("status", "body", "headers", "url")

    def __init__(self, status: int, body: bytes, headers: Any, url: str) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.url = url

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") if self.headers is not None else ""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class GmsClient:
    """Talks HTTP to GMS. Builds its session lazily: constructing it does no IO.

    Args:
        config: the emitter config (URL, token, timeouts, TLS, retry policy).
    """

    def __init__(self, config: RestEmitterConfig) -> None:
        self.config = config
        self.base_url = config.gms_server
        self._session: requests.Session | None = None
        self._settings: dict[str, Any] = {}
        self._headers: dict[str, str] = {}
        self._pool: Any = None
        self._path_prefix = ""
        self._timeout: Any = None
        self._lock = threading.Lock()
        self._random = random.Random()
        self.closed = False
        #: Open while GMS is known not to answer: requests then fail at once (see emitters.breaker).
        self.breaker = Unreachable(f"GMS at {self._display(self.base_url)}")

    # ------------------------------------------------------------------ session
    def _ensure_session(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            if self.closed:
                raise DeliveryError("the REST emitter is closed")
            cfg = self.config
            session = requests.Session()
            # One pool per host, kept alive; retries are ours (urllib3's would hide Retry-After and errors).
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=1, pool_maxsize=cfg.pool_maxsize, max_retries=0, pool_block=False
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **RESTLI_HEADERS}
            if cfg.token:
                headers["Authorization"] = f"Bearer {cfg.token}"
            headers.update(cfg.extra_headers)
            session.headers.update(headers)
            if cfg.disable_ssl_verification:
                session.verify = False
            elif cfg.ca_certificate_path:
                session.verify = cfg.ca_certificate_path
            if cfg.client_certificate_path:
                session.cert = (
                    (cfg.client_certificate_path, cfg.client_key_path)
                    if cfg.client_key_path else cfg.client_certificate_path
                )
            # Resolve proxies / CA bundle from requests' usual sources once, not per request.
            self._settings = session.merge_environment_settings(
                self.base_url, {}, False, session.verify, session.cert
            )
            self._headers = dict(session.headers)
            self._pool, self._path_prefix = self._direct_pool(adapter)
            self._timeout = urllib3.Timeout(connect=cfg.timeout[0], read=cfg.timeout[1])
            self._session = session

    def _direct_pool(self, adapter: requests.adapters.HTTPAdapter) -> tuple[Any, str]:
        """The session's own urllib3 pool for GMS, unless a proxy is in the way.

        The hot path calls this pool directly: ``Session.request`` re-merges
        environment settings, cookies and hooks on every call, which on loopback
        costs as much as the exchange itself. TLS settings are applied by the
        adapter when it hands out the pool, exactly as for ``Session.request``.
        """
        proxies = self._settings.get("proxies") or {}
        if requests.utils.select_proxy(self.base_url, proxies):
            return None, ""
        probe = requests.PreparedRequest()
        probe.prepare(method="GET", url=self.base_url + "/")
        pool = adapter.get_connection_with_tls_context(
            probe, self._settings.get("verify", True), proxies, self._settings.get("cert")
        )
        return pool, urllib.parse.urlsplit(self.base_url).path

    @property
    def session(self) -> requests.Session:
        """The one keep-alive session (built on first use)."""
        self._ensure_session()
        session = self._session
        if session is None:  # closed by another thread meanwhile
            raise DeliveryError("the REST emitter is closed")
        return session

    def close(self) -> None:
        """Close pooled connections. Safe to call twice."""
        with self._lock:
            self.closed = True
            session, self._session = self._session, None
        if session is not None:
            session.close()

    # ------------------------------------------------------------------ requests
    def request_once(self, method: str, path: str, body: bytes | None = None,
                     timeout: tuple[float, float] | None = None) -> GmsResponse:
        """One HTTP exchange, no retries.

        Raises:
            DeliveryError subclass when no answer came (refused, dropped, timeout, TLS).
        """
        self._ensure_session()
        url = self.base_url + path
        if self._pool is not None:
            return self._request_direct(method, path, body, timeout, url)
        # Through a proxy: the ordinary requests path, which knows how to address proxies.
        session = self.session
        try:
            raw = session.request(method, url, data=body, timeout=timeout or self.config.timeout,
                                  allow_redirects=False)
            content = raw.content
        except requests.RequestException as exc:
            raise error_for_exception(exc, url=self._display(url)) from exc
        return GmsResponse(raw.status_code, content, raw.headers, url)

    def _request_direct(self, method: str, path: str, body: bytes | None,
                        timeout: tuple[float, float] | None, url: str) -> GmsResponse:
        headers = self._headers
        if body is None:
            headers = {k: v for k, v in headers.items() if k != "Content-Type"}
        try:
            raw = self._pool.urlopen(
                method, self._path_prefix + path, body=body, headers=headers,
                retries=False, redirect=False, assert_same_host=False, preload_content=True,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]) if timeout else self._timeout,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise error_for_exception(exc, url=self._display(url)) from exc
        return GmsResponse(raw.status, raw.data, raw.headers, url)

    def request(self, method: str, path: str, body: bytes | None = None, *,
                urn: str | None = None, aspect: str | None = None) -> GmsResponse:
        """An HTTP exchange with retries; returns a 2xx answer.

        Args:
            method: ``GET`` or ``POST``.
            path: path and query under the GMS base URL (``/aspects?action=ingestProposal``).
            body: the request body (already JSON-encoded).
            urn: URN to name in errors, when the request carries a single proposal.
            aspect: aspect name to name in errors, likewise.

        Raises:
            DeliveryError subclass: the answer was not 2xx, or no answer came, after the retries allowed;
                at once (no request) while GMS is known not to answer.
        """
        cfg = self.config
        probe = self.breaker.check(urn, aspect)  # raises while GMS is known not to answer
        attempt = 0
        while True:
            retry_after = None
            try:
                response = self.request_once(method, path, body)
            except DeliveryError as exc:
                error: BridgeError = exc
            else:
                self.breaker.reachable()
                if response.status < 300:
                    return response
                error = error_for_status(
                    response.status, response.body, url=self._display(response.url),
                    retry_status_codes=cfg.retry_status_codes, content_type=response.content_type,
                    urn=urn, aspect=aspect, base_url=self.base_url, token_configured=bool(cfg.token),
                )
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            # A probe of a GMS known not to answer is a single attempt: the breaker is the backoff.
            if not is_retriable(error) or attempt >= cfg.retry_max_times or self.closed or probe:
                if isinstance(error, RetriableError) and attempt:
                    error = type(error)(
                        f"gave up after {attempt + 1} attempts: {error.args[0].split('; ')[0]}",
                        urn=error.urn or urn, aspect=error.aspect or aspect,
                        status=error.status, server_message=error.server_message,
                    )
                if _unanswered(error):
                    self.breaker.unreachable(error)  # type: ignore[arg-type]
                elif probe:
                    self.breaker.reachable()  # something answered (TLS, an odd status): not "down"
                raise error
            wait = self._backoff(attempt, retry_after)
            logger.warning(
                "GMS request failed, retrying path=%s attempt=%d wait_sec=%.3f error=%s",
                path.split("?")[0], attempt + 1, wait, error,
                extra={"attempt": attempt + 1, "wait_sec": wait, "status": getattr(error, "status", None),
                       "retry_after": retry_after},
            )
            time.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cap = self.config.retry_backoff_max_sec
        if retry_after is not None:
            return min(retry_after, cap)
        # Full jitter: spreads retries of many clients hitting the same overloaded GMS.
        return self._random.uniform(0, min(cap, self.config.retry_backoff_sec * (2 ** attempt)))

    @property
    def display_url(self) -> str:
        """The GMS URL, safe to show (no credentials, no query)."""
        return self._display(self.base_url)

    @staticmethod
    def _display(url: str) -> str:
        """A URL safe to show: without userinfo and query."""
        parts = urllib.parse.urlsplit(url.split("?", 1)[0])
        if "@" in parts.netloc:
            parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
        return urllib.parse.urlunsplit(parts)


def _unanswered(error: BaseException) -> bool:
    """No HTTP answer came at all (refused, unreachable, timed out): GMS is down, not unhappy."""
    return isinstance(error, RetriableError) and error.status is None and not isinstance(error, QueueFullError)
