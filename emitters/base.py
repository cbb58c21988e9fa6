"""The one interface every emitter implements, and the registry that finds them by kind.

An emitter delivers :class:`~bridge.mcp.MetadataChangeProposalWrapper` items
somewhere (GMS over REST, Kafka, a file, the console). It never translates.

Emitters are looked up by ``kind`` (``rest``, ``kafka``, ``file``, ``console``).
Third-party emitters register the same way the built-ins do: an entry point in
the ``lineage_bridge.emitters`` group naming ``module:Class``.
"""

from __future__ import annotations

import abc
import atexit
import importlib
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from types import TracebackType
from typing import Any, ClassVar

import attrs

from bridge.errors import ConfigError, InvalidEventError, did_you_mean
from bridge.mcp import MetadataChangeProposalWrapper

__all__ = ["Callback", "Destination", "Emitter", "as_mcp", "create_emitter", "deliver_at_exit", "emitter_class",
           "emitter_kinds"]

log = logging.getLogger(__name__)


def as_mcp(item: Any) -> MetadataChangeProposalWrapper:
    """What an emitter delivers: a wrapper as it is; a DataHub MCP object (file or GMS JSON form); or any
    object with ``to_obj()`` giving one -- acryl-datahub's own wrapper, for code ported from it.

    Raises:
        InvalidEventError: ``item`` is none of those (the error says what it got).
    """
    if isinstance(item, MetadataChangeProposalWrapper):
        return item
    if isinstance(item, Mapping):
        return MetadataChangeProposalWrapper.from_obj(item)
    to_obj = getattr(item, "to_obj", None)
    if callable(to_obj):
        obj = to_obj()
        if isinstance(obj, Mapping):
            return MetadataChangeProposalWrapper.from_obj(obj)
    raise InvalidEventError(f"emitters deliver MetadataChangeProposalWrapper items (or their JSON objects), "
                            f"got {type(item).__name__}")

#: Longest an emitter's exit flush waits (see :func:`deliver_at_exit`).
EXIT_FLUSH_TIMEOUT = 30.0

#: ``callback(error, message)``: ``error`` is ``None`` on success, ``message`` says what happened.
#: A failure shared by many MCPs (a failed batch, a destination that is down) reaches each MCP's
#: callback as its own copy naming that MCP's ``urn`` and ``aspect`` (``emitters.breaker.naming``).
Callback = Callable[[BaseException | None, str], None]

ENTRY_POINT_GROUP = "lineage_bridge.emitters"

_BUILTIN: dict[str, str] = {
    "rest": "emitters.rest:RestEmitter",
    "kafka": "emitters.kafka:KafkaEmitter",
    "file": "emitters.file:FileEmitter",
    "console": "emitters.console:ConsoleEmitter",
}


@attrs.frozen
class Destination:
    """Where an emitter's MCPs end up, as the lineage memory keys it.

    Attributes:
        key: names the place: emitter kind plus server, bootstrap and topic, or file
            (``rest:http://gms:8080``); two emitters writing to the same place share it.
        fresh: the place holds nothing the bridge wrote before (a new file, the console),
            so what was remembered of it does not apply.
    """

    key: str
    fresh: bool = False


class Emitter(abc.ABC):
    """Delivers MCPs. Subclasses set ``kind`` and ``config_class`` and implement ``emit``.

    A ``config_class`` is a frozen attrs class with a ``from_dict(mapping)``
    classmethod; constructors take that config object and never do network IO.
    """

    kind: ClassVar[str]
    config_class: ClassVar[Any]  # a frozen attrs class with a ``from_dict`` classmethod

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Any) -> Emitter:
        """Build the emitter from its config object or from a plain dict."""
        if isinstance(config, Mapping):
            config = cls.config_class.from_dict(config)
        return cls(config)  # type: ignore[call-arg]

    @abc.abstractmethod
    def emit(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None) -> None:
        """Deliver (or queue) one MCP. ``callback(error, message)`` is called once it is settled."""

    def emit_many(self, items: Iterable[MetadataChangeProposalWrapper]) -> int:
        """Deliver many MCPs; returns how many were handed over. Emitters batch where they can."""
        count = 0
        for item in items:
            self.emit(item)
            count += 1
        return count

    # DataHub's emitters' names for the same calls.
    def emit_mcps(self, items: Iterable[MetadataChangeProposalWrapper]) -> int:
        return self.emit_many(items)

    def emit_mcp(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None) -> None:
        self.emit(item, callback)

    def flush(self, timeout: float | None = None) -> None:  # noqa: B027 - emitters that deliver in emit() have nothing to flush
        """Deliver everything pending. Raises :class:`~bridge.errors.UndeliveredError` if some could not be."""

    def close(self) -> None:
        """Flush and release resources. Safe to call twice."""
        self.flush()

    def destination(self) -> Destination:
        """Where this emitter delivers, for the lineage memory (never does network IO).

        Emitters that write somewhere lasting override it so the memory can skip what the
        place already holds. The default names no place and is always ``fresh``: everything
        is sent again by a new process, which is always correct.
        """
        return Destination(f"{self.kind}:{type(self).__module__}.{type(self).__qualname__}", fresh=True)

    def test_connection(self) -> dict[str, Any]:
        """Check that the destination is reachable and usable; return what it said about itself.

        Raises:
            BridgeError subclass with a plain explanation when it is not.
        """
        return {}

    def __enter__(self) -> Emitter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def emitter_kinds() -> list[str]:
    """Every kind that can be created: built-ins plus registered entry points."""
    kinds = set(_BUILTIN)
    kinds.update(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    return sorted(kinds)


def emitter_class(kind: str) -> type[Emitter]:
    """Find the emitter class for ``kind`` (imports it lazily)."""
    target = _BUILTIN.get(kind)
    if target is None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == kind:
                target = ep.value
                break
    if target is None:
        known = emitter_kinds()
        raise ConfigError(f"unknown emitter {kind!r}{did_you_mean(kind, known)}; known: {', '.join(known)}",
                          key="emitter")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Emitter)):
        raise ConfigError(f"{target} is not an Emitter subclass", key="emitter")
    return cls


def create_emitter(kind: str, config: Mapping[str, Any] | Any = None) -> Emitter:
    """Create an emitter of ``kind`` from its config (object or dict)."""
    return emitter_class(kind).from_config(config if config is not None else {})


def deliver_at_exit(emitter: Emitter, timeout: float = EXIT_FLUSH_TIMEOUT, *, close: bool = False) -> Callable[[], None]:
    """Flush ``emitter`` when the interpreter exits, so MCPs still queued are delivered, not dropped.

    For emitters that deliver from a background thread (REST ``delivery="background"``, Kafka) or
    buffer (file): a script that emits and ends without ``flush()``/``close()`` would otherwise
    lose what was still queued when its daemon threads stopped. The emitter is held weakly. What
    cannot be delivered within ``timeout`` seconds is logged as an error.

    Args:
        close: call ``close()`` instead of ``flush(timeout)`` (an output that must be finished,
            such as the console emitter's JSON array).

    Returns:
        A function that cancels the exit flush (``close()`` calls it).
    """
    ref = weakref.ref(emitter)

    def flush_at_exit() -> None:
        target = ref()
        if target is None:
            return
        try:
            if close:
                target.close()
            else:
                target.flush(timeout)
        except Exception as exc:  # noqa: BLE001 - the interpreter is exiting: say what was lost
            log.error("MCPs not delivered before exit", extra={"emitter": type(target).__name__, "error": str(exc)})

    atexit.register(flush_at_exit)
    # An emitter dropped without close() takes its exit flush with it (only then: not at exit).
    cancel = weakref.finalize(emitter, atexit.unregister, flush_at_exit)
    cancel.atexit = False
    return cancel
