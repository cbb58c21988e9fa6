"""The project's exceptions.

One base class, :class:`BridgeError`; subclasses are named for what the caller
should do about them:

* fix the input or the configuration: :class:`InvalidEventError`,
  :class:`ConfigError`, :class:`RejectedError`, :class:`AuthError`,
  :class:`MissingDependencyError`;
* try again later: :class:`RetriableError` and its subclasses
  (:class:`ConnectionFailedError`, also an :class:`OSError`; :class:`QueueFullError`);
* give up on what is left: :class:`UndeliveredError` (``flush`` could not
  deliver everything; it carries the count and the first errors).

Third-party errors are converted at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "AuthError",
    "lone_surrogate",
    "storable",
    "BridgeError",
    "ConfigError",
    "ConnectionFailedError",
    "DeliveryError",
    "InvalidEventError",
    "MissingDependencyError",
    "QueueFullError",
    "RejectedError",
    "RetriableError",
    "UndeliveredError",
    "did_you_mean",
    "is_retriable",
    "unknown_settings",
]


class BridgeError(Exception):
    """Base class of every error the bridge raises on purpose."""


class ConfigError(BridgeError, ValueError):
    """The configuration is wrong: fix it. ``key`` names the setting."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        #: the message without the key, for callers that name the setting their own way (a CLI flag).
        self.reason = message
        super().__init__(f"{key}: {message}" if key else message)


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to a mistyped ``value``, or ``""`` if none is close."""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_settings(unknown: Iterable[object], known: Iterable[object], *, where: str | None = None) -> str:
    """Say that a config holds settings nobody reads, the same way everywhere, with "did you mean".

    A misspelt setting is otherwise silently ignored or refused without a clue, so each unknown
    name is followed by the known name it most resembles, if any.

    Args:
        unknown: the names not recognised.
        known: every name accepted at that place.
        where: where the settings came from (a file, ``$VARIABLE``), said after the names.

    Returns:
        e.g. ``unknown setting 'emiter' (did you mean 'emitter'?) in bridge.toml; known: emitter, state_dir``,
        for :class:`ConfigError` (whose ``key`` names the section).
    """
    names = sorted(str(name) for name in known)
    said = [f"{name!r}{did_you_mean(name, names)}" for name in sorted(str(name) for name in unknown)]
    plural = "s" if len(said) > 1 else ""
    text = f"unknown setting{plural} {', '.join(said)}"
    if where:
        text += f" in {where}"
    return f"{text}; known: {', '.join(names)}"


class MissingDependencyError(BridgeError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is not installed; install it with: pip install 'lineage-bridge[{extra}]'"
        )


def require(module: str, extra: str) -> Any:
    """Import an optional dependency lazily, or raise :class:`MissingDependencyError`."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module.split(".")[0], extra) from exc


class InvalidEventError(BridgeError, ValueError):
    """An event cannot be used: fix the input.

    Attributes:
        field: dotted path of the offending field (``run.runId``), if known.
        reason: what is wrong with it.
        location: where the event came from (``file.jsonl:12``), if known.
    """

    def __init__(self, reason: str, *, field: str | None = None, location: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.location = location
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.field}: {self.reason}" if self.field else self.reason
        return f"{self.location}: {text}" if self.location else text

    def at(self, location: str) -> InvalidEventError:
        """Return a copy of this error that says where the event came from."""
        err = InvalidEventError(self.reason, field=self.field, location=location)
        err.__cause__ = self.__cause__
        return err

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "reason": self.reason, "location": self.location}


class DeliveryError(BridgeError):
    """Delivering metadata to DataHub failed.

    Attributes:
        urn: entity URN of the proposal concerned, if one is known.
        aspect: aspect name of the proposal concerned, if one is known.
        status: HTTP status (REST) if there was a response.
        server_message: what the server said, verbatim (never contains our credentials).
    """

    def __init__(
        self,
        message: str,
        *,
        urn: str | None = None,
        aspect: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
    ) -> None:
        self.message = message  # (without the attributes appended below)
        self.urn = urn
        self.aspect = aspect
        self.status = status
        self.server_message = server_message
        parts = [message]
        if urn:
            parts.append(f"urn={urn}")
        if aspect:
            parts.append(f"aspect={aspect}")
        if status is not None:
            parts.append(f"status={status}")
        if server_message:
            parts.append(f"server said: {server_message}")
        super().__init__("; ".join(parts))


class RetriableError(DeliveryError):
    """A transient failure (connection, timeout, 429, 5xx): retry later."""


class ConnectionFailedError(RetriableError, OSError):
    """Nothing answered at the configured address, or the connection broke.

    Also an :class:`OSError`, as the network errors it replaces are (``socket``'s, ``requests``'
    ``ConnectionError``), so ``except OSError`` around a delivery still catches it.
    """


class QueueFullError(RetriableError):
    """The emitter's local queue stayed full for longer than allowed; slow down or flush."""


class RejectedError(DeliveryError):
    """The server rejected the proposal as invalid (400/422): fix the input; retrying won't help."""


class AuthError(DeliveryError):
    """The server refused the credentials (401/403): fix the token or permissions."""


class UndeliveredError(DeliveryError):
    """``flush`` ended with items not delivered.

    Attributes:
        failed: how many items were not delivered.
        errors: the first errors (at most ten), in the order they happened.
    """

    def __init__(self, failed: int, errors: Sequence[BaseException]) -> None:
        self.failed = failed
        self.errors = list(errors)[:10]
        first = f"; first error: {self.errors[0]}" if self.errors else ""
        super().__init__(f"{failed} item(s) were not delivered{first}")

    @property
    def retriable(self) -> bool:
        """True when every recorded error is transient (DataHub down, not the input wrong)."""
        return bool(self.errors) and all(isinstance(e, RetriableError) for e in self.errors)


def is_retriable(error: BaseException) -> bool:
    """Whether trying again later may succeed: a :class:`RetriableError`, or an
    :class:`UndeliveredError` made only of them."""
    if isinstance(error, UndeliveredError):
        return error.retriable
    return isinstance(error, RetriableError)


def lone_surrogate(char: str) -> str:
    """What is wrong with text holding ``char``, a lone surrogate: the start of every error that says so."""
    return f"holds a lone surrogate \\u{ord(char):04x} (half of a UTF-16 pair), which is not valid Unicode"


def storable(text: str, limit: int | None = None) -> str:
    """``text`` cut to ``limit`` characters, with what UTF-8 cannot encode (lone surrogates) escaped
    (``\\udcff``): as it can be stored, sent or shown."""
    if limit is not None and len(text) > limit:
        text = text[:limit]
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
