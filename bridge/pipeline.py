"""The pipeline: neutral events -> MCPs -> what the destination lacks -> emitter.

The Python API, ``bridge send`` and the Dagster sensor hand events to
:class:`Pipeline`; ``bridge serve`` and ``bridge consume`` hand spooled batches
to the same :class:`~bridge.delivery.DeliveryCore`, so coalescing, skipping and
remembering behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import attrs

from bridge.delivery import DeliveryCore
from bridge.errors import InvalidEventError, lone_surrogate, storable
from bridge.lineage import LineageMemory
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Event
from bridge.rounds import Round
from emitters.base import Callback, Emitter

__all__ = ["Pipeline", "SendResult", "Translator"]


class Translator(Protocol):
    """Anything that turns one neutral event into MCPs (``translators.datahub.DataHubTranslator``)."""

    def translate(self, event: Event) -> list[MetadataChangeProposalWrapper]: ...


@attrs.define
class SendResult:
    """What one :meth:`Pipeline.send` call (or one :meth:`bridge.Bridge.emit`) did.

    Attributes:
        events: events translated.
        unchanged: MCPs not sent: the destination holds them already.
        sent: the MCPs handed to the emitter (of the last round only, for an emit of many rounds).
        sent_before: MCPs handed to the emitter by the earlier rounds of the same emit: counted, not kept.
    """

    events: int = 0
    unchanged: int = 0
    sent: list[MetadataChangeProposalWrapper] = attrs.field(factory=list)
    sent_before: int = 0

    @property
    def mcps(self) -> int:
        """MCPs handed to the emitter."""
        return self.sent_before + len(self.sent)


class Pipeline:
    """Translate events, skip what the destination already has, emit.

    Args:
        emitter: where MCPs go.
        translator: neutral event -> MCPs; defaults to ``translators.datahub.DataHubTranslator()``.
        memory: what each destination holds (:class:`~bridge.lineage.LineageMemory`); in-process by default.
        skip_unchanged: don't re-send what the destination already confirmed.
        lineage_ttl_days: remove lineage edges no event carried for this long (0 = never).
    """

    def __init__(
        self,
        emitter: Emitter,
        translator: Translator | None = None,
        *,
        memory: LineageMemory | None = None,
        skip_unchanged: bool = True,
        lineage_ttl_days: float = 0.0,
    ) -> None:
        if translator is None:
            from translators.datahub import DataHubTranslator

            translator = DataHubTranslator()
        self.core = DeliveryCore(emitter, translator, memory, skip_unchanged=skip_unchanged,
                                 lineage_ttl_days=lineage_ttl_days)  # fmt: skip
        self._open: list[Round] = []  # rounds with writes the emitter has not confirmed yet

    @property
    def emitter(self) -> Emitter:
        return self.core.emitter

    @property
    def translator(self) -> Translator:
        return self.core.translator

    def send(self, events: Iterable[Event], callback: Callback | None = None, *,
             name_event: Callable[[int], str] | None = None) -> SendResult:
        """Translate the events and hand what the destination lacks to the emitter, as one round.

        Delivery may be asynchronous (call :meth:`flush`); each MCP is remembered once the emitter
        confirms it, and ``callback(error, message)`` hears about each. ``name_event(i)`` is the
        location errors give the ``i``-th event (``event 12``), when it has none of its own.

        Raises:
            InvalidEventError: an event cannot be translated, or holds text that is not valid Unicode (a
                lone surrogate, which no text sent can hold); nothing of this call was sent.
            DeliveryError: without a ``callback``, the first error the emitter raised (a
                synchronous emitter); the rest of the round was still sent. Its ``result`` is the
                :class:`SendResult`.
        """
        self.core.commit()
        translated = []
        for i, event in enumerate(events):
            try:
                translated.append((i, self.core.translator.translate(event)))
            except InvalidEventError as exc:
                if name_event is None or exc.location:
                    raise
                raise exc.at(name_event(i)) from exc.__cause__
        try:
            round_ = self.core.plan(translated)
        except UnicodeEncodeError:
            raise _not_unicode(translated, name_event) from None
        raised = self.core.send(round_, callback)
        self._open = [r for r in self._open if not all(w.settled for w in r.writes)]
        if round_.sent:
            self._open.append(round_)
        self.core.housekeeping()
        result = SendResult(events=len(translated), unchanged=round_.unchanged, sent=round_.sent)
        if raised and callback is None:
            raised[0].result = result  # type: ignore[attr-defined]
            raise raised[0]
        return result

    def flush(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then write what the destination confirmed to the memory.

        A write the emitter did not confirm by then counts as failed: it is sent again next time.
        """
        try:
            self.core.emitter.flush(timeout)
        finally:
            for round_ in self._open:
                self.core.settle_unconfirmed(round_)
            self._open = []
            self.core.commit()

    def close(self) -> None:
        try:
            self.core.emitter.close()
        finally:
            self.core.commit()


def _not_unicode(translated: list[tuple[int, list[MetadataChangeProposalWrapper]]],
                 name_event: Callable[[int], str] | None) -> InvalidEventError:
    """The error for a round that could not be planned because some text holds a lone surrogate: which
    event, URN and aspect (looked for only then: every MCP's JSON is encoded once more)."""
    for index, mcps in translated:
        for mcp in mcps:
            for text in (mcp.entity_urn, mcp.aspect_json):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    urn, near = storable(mcp.entity_urn), storable(text[max(0, exc.start - 40):exc.start + 1])
                    error = InvalidEventError(f"{lone_surrogate(exc.object[exc.start])} and cannot be sent: in "
                                              f"{mcp.aspect_name} of {urn}, at ...{near}")
                    return error.at(name_event(index)) if name_event is not None else error
    return InvalidEventError("holds text that is not valid Unicode (a lone surrogate) and cannot be sent")
