"""Fail fast while a destination is known to be down, and errors that name the proposal they concern.

An emitter that finds its destination unreachable (GMS refusing connections, a
Schema Registry that does not answer) after its retries opens an
:class:`Unreachable` breaker. For the next ``hold`` seconds every call fails at
once with the same error, instead of paying the whole retry sequence again per
MCP: 448 MCPs against a dead registry took minutes of identical failures. Then
one call is let through as a probe (a single attempt, no retries); an answer
closes the breaker, no answer opens it again. The errors stay what they were
(:class:`~bridge.errors.ConnectionFailedError`, retriable), so callers that
retry later still do.

:func:`naming` gives each MCP its own copy of a shared error (a failed batch, an
open breaker) with that MCP's URN and aspect, so whoever reports failures can
say which MCPs an error hit.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable

from bridge.errors import DeliveryError, UndeliveredError
from bridge.logs import log_fields

__all__ = ["UNREACHABLE_HOLD_SECONDS", "Unreachable", "naming"]

log = logging.getLogger(__name__)

#: How long an open breaker fails calls without trying, before it lets one probe through.
#: Short, so a destination that comes back is used again within seconds.
UNREACHABLE_HOLD_SECONDS = 5.0


class Unreachable:
    """A circuit breaker for one destination of one emitter.

    Args:
        what: the destination, for the log (``GMS at http://gms:8080``; no credentials).
        hold: seconds the breaker stays open before a probe.
        clock: monotonic seconds (tests pass their own).

    Attributes:
        opened: how many times it opened (a failed probe opens it again).
        short_circuited: calls failed without trying.
    """

    def __init__(self, what: str, *, hold: float = UNREACHABLE_HOLD_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.hold = hold
        self.clock = clock
        self.opened = 0
        self.short_circuited = 0
        self._error: DeliveryError | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """The destination was found unreachable and has not answered since."""
        return self._error is not None

    def check(self, urn: str | None = None, aspect: str | None = None) -> bool:
        """Call before trying the destination.

        Returns:
            ``True`` when this call is the probe: make a single attempt, without retries, and
            report the outcome with :meth:`unreachable` or :meth:`reachable`. ``False`` when the
            breaker is closed (try as usual).

        Raises:
            DeliveryError: while open, a copy of the error that opened it, naming ``urn``/``aspect``.
        """
        with self._lock:
            error = self._error
            if error is None:
                return False
            now = self.clock()
            if now >= self._until:
                # One probe per hold: if its outcome is never reported, the next hold brings another.
                self._until = now + self.hold
                return True
            self.short_circuited += 1
        raise _renamed(error, urn, aspect)

    def unreachable(self, error: DeliveryError) -> None:
        """The destination did not answer (after the retries allowed): open for ``hold`` seconds."""
        with self._lock:
            first = self._error is None
            self._error, self._until = error, self.clock() + self.hold
            self.opened += 1
        if first:
            log.warning("%s unreachable; failing further calls at once for %gs at a time instead of retrying each",
                        self.what, self.hold, extra=log_fields(destination=self.what, hold_sec=self.hold))

    def reachable(self) -> None:
        """The destination answered (whatever it said): close."""
        if self._error is None:  # the hot path: closed, nothing to do
            return
        with self._lock:
            was_open, self._error = self._error is not None, None
        if was_open:
            log.warning("%s answers again", self.what, extra=log_fields(destination=self.what))


def naming(error: BaseException, urn: str | None, aspect: str | None) -> BaseException:
    """``error`` as it concerns one proposal: the same class of error, naming ``urn`` and ``aspect``.

    Returns ``error`` itself when it already names them, when it is not a
    :class:`~bridge.errors.DeliveryError` (or is an :class:`~bridge.errors.UndeliveredError`),
    or when it cannot be copied.
    """
    if not isinstance(error, DeliveryError) or isinstance(error, UndeliveredError):
        return error
    if error.urn == urn and error.aspect == aspect:
        return error
    return _renamed(error, urn, aspect)


def _renamed(error: DeliveryError, urn: str | None, aspect: str | None) -> DeliveryError:
    """A new error of ``error``'s class and text, naming ``urn``/``aspect`` instead of what it named."""
    try:
        new = copy.copy(error)
    except Exception:  # noqa: BLE001 - a subclass that cannot be rebuilt: keep the original
        return error
    text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
    if error.urn:
        text = text.replace(f"; urn={error.urn}", "", 1)
    if error.aspect:
        text = text.replace(f"; aspect={error.aspect}", "", 1)
    # DeliveryError renders "message; urn=..; aspect=..; status=..; server said: ..": keep that order.
    tail = (f"; status={error.status}" if error.status is not None else "") + (
        f"; server said: {error.server_message}" if error.server_message else "")
    cut = text.rfind(tail) if tail else -1
    head, rest = (text[:cut], text[cut:]) if cut >= 0 else (text, "")
    new.args = (head + (f"; urn={urn}" if urn else "") + (f"; aspect={aspect}" if aspect else "") + rest,)
    new.urn, new.aspect = urn, aspect
    new.__cause__ = error.__cause__
    new.__suppress_context__ = True
    return new
