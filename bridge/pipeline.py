"""The pipeline: neutral events -> MCPs (merged, deduplicated) -> emitter.

Every intake path (the Python API, ``bridge send``, ``bridge serve``'s delivery
workers, the Dagster sensor) goes through :class:`Pipeline`, so lineage
merging and de-duplication behave the same everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol

import attrs

from bridge.lineage import MERGED_ASPECTS, InMemoryLineageMemory, LineageMemory, aspect_digest, merge_aspect
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Event
from emitters.base import Callback, Emitter

__all__ = ["Pipeline", "SendResult", "Translator"]


class Translator(Protocol):
    """Anything that turns one neutral event into MCPs (``translators.datahub.DataHubTranslator``)."""

    def translate(self, event: Event) -> list[MetadataChangeProposalWrapper]: ...


@attrs.define
class SendResult:
    """What one :meth:`Pipeline.send` call did."""

    events: int = 0
    unchanged: int = 0
    sent: list[MetadataChangeProposalWrapper] = attrs.field(factory=list)

    @property
    def mcps(self) -> int:
        return len(self.sent)


class Pipeline:
    """Translate events, merge lineage with what was learned, drop unchanged aspects, emit.

    Args:
        emitter: where MCPs go.
        translator: neutral event -> MCPs; defaults to ``translators.datahub.DataHubTranslator()``.
        memory: what was learned and delivered before; defaults to an in-process memory.
        skip_unchanged: don't re-send an aspect whose value was already delivered unchanged.
    """

    def __init__(
        self,
        emitter: Emitter,
        translator: Translator | None = None,
        *,
        memory: LineageMemory | None = None,
        skip_unchanged: bool = True,
    ) -> None:
        if translator is None:
            from translators.datahub import DataHubTranslator

            translator = DataHubTranslator()
        self.emitter = emitter
        self.translator = translator
        self.memory: LineageMemory = memory if memory is not None else InMemoryLineageMemory()
        self.skip_unchanged = skip_unchanged
        self._merge_lock = threading.Lock()
        # (urn, aspect) -> digest handed to the emitter and not yet confirmed: an
        # identical value is not handed over twice while the first is in flight.
        self._in_flight: dict[tuple[str, str], str] = {}
        self._flight_lock = threading.Lock()

    def to_mcps(self, event: Event) -> list[MetadataChangeProposalWrapper]:
        """Translate one event and merge its lineage aspects with what was learned before."""
        out = []
        for mcp in self.translator.translate(event):
            if mcp.aspect_name in MERGED_ASPECTS:
                mcp = self._merged(mcp)
            out.append(mcp)
        return out

    def _merged(self, mcp: MetadataChangeProposalWrapper) -> MetadataChangeProposalWrapper:
        with self._merge_lock:
            old = self.memory.get_aspect(mcp.entity_urn, mcp.aspect_name)
            value = merge_aspect(mcp.aspect_name, old, mcp.aspect_value)
            self.memory.put_aspect(mcp.entity_urn, mcp.aspect_name, value)
        if value == mcp.aspect_value:
            return mcp
        return attrs.evolve(mcp, aspect=value)

    def send(self, events: Iterable[Event], callback: Callback | None = None) -> SendResult:
        """Translate and hand the MCPs to the emitter (which may deliver asynchronously).

        An aspect counts as delivered (and is then skipped when unchanged) once
        the emitter confirms it through its callback; while it is in flight an
        identical value is not handed over again. A failed one is sent again
        the next time it comes up.
        """
        result = SendResult()
        for event in events:
            result.events += 1
            for mcp in self.to_mcps(event):
                key = (mcp.entity_urn, mcp.aspect_name)
                digest = aspect_digest(mcp.aspect_json)
                if self.skip_unchanged and self._unchanged(key, digest):
                    result.unchanged += 1
                    continue
                with self._flight_lock:
                    self._in_flight[key] = digest
                try:
                    self.emitter.emit(mcp, callback=self._on_delivery(key, digest, callback))
                except BaseException:
                    self._land(key, digest)
                    raise
                result.sent.append(mcp)
        return result

    def _unchanged(self, key: tuple[str, str], digest: str) -> bool:
        with self._flight_lock:
            if self._in_flight.get(key) == digest:
                return True
        return self.memory.delivered_digest(*key) == digest

    def _land(self, key: tuple[str, str], digest: str) -> None:
        with self._flight_lock:
            if self._in_flight.get(key) == digest:
                del self._in_flight[key]

    def _on_delivery(self, key: tuple[str, str], digest: str, user: Callback | None) -> Callback:
        def done(error: BaseException | None, message: str) -> None:
            if error is None:
                self.memory.mark_delivered(*key, digest)
            self._land(key, digest)
            if user is not None:
                user(error, message)

        return done

    def flush(self, timeout: float | None = None) -> None:
        self.emitter.flush(timeout)

    def close(self) -> None:
        self.emitter.close()
