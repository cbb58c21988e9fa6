"""What one delivery round decided: its writes, and per event whether all of them landed.

:class:`~bridge.delivery.DeliveryCore` plans a :class:`Round` of :class:`Write` s (one per
entity, aspect and kind of change, standing for every event that carried it), sends them, and
settles each when the emitter confirms it; :meth:`Round.outcome` then says, per event, whether it
was delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Any

import attrs

from bridge.errors import InvalidEventError, RejectedError, RetriableError
from bridge.mcp import MetadataChangeProposalWrapper

__all__ = ["Round", "Write", "digest", "is_rejection"]

MCPW = MetadataChangeProposalWrapper


def digest(text: str) -> str:
    """A short stable digest of a serialised value."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


@attrs.define
class Write:
    """One MCP of a round, and the events it speaks for."""

    mcp: MCPW
    ids: list[Hashable]
    slots: list[tuple[str, str]]  # (path, digest) of each operation; ("", digest) for a whole value
    merged: bool = False
    held: list[Any] = attrs.field(factory=list)  # what the destination held at each slot when planned
    skipped: bool = False
    # writes of other rounds, on their way, that carry slots this one skipped: it landed only if they did
    depends: list[Write] = attrs.field(factory=list)
    error: BaseException | None = None
    settled: bool = False


@attrs.define
class Round:
    """What one call of :meth:`DeliveryCore.plan` decided."""

    writes: list[Write]
    ids: list[Hashable]

    @property
    def sent(self) -> list[MCPW]:
        return [w.mcp for w in self.writes if not w.skipped]

    @property
    def unchanged(self) -> int:
        return sum(w.skipped for w in self.writes)

    def outcome(self) -> dict[Hashable, BaseException | None]:
        """Per event: ``None`` when all its writes landed (or were not needed), else the error (a rejection first)."""
        out: dict[Hashable, BaseException | None] = {i: None for i in self.ids}
        for write in self.writes:
            error = write.error or _failed_dependency(write)
            if error is None:
                continue
            for i in write.ids:
                if out[i] is None or (is_rejection(error) and not is_rejection(out[i])):
                    out[i] = error
        return out


def _failed_dependency(write: Write) -> BaseException | None:
    """A skipped write relied on another round's identical write: if that one failed (or is still not
    confirmed), this event is not delivered either -- as a retriable error, its own content was not refused."""
    for other in write.depends:
        if other.error is not None or not other.settled:
            why = other.error or "it was not confirmed"
            return RetriableError(f"an identical write of another event did not land: {why}",
                                 urn=write.mcp.entity_urn, aspect=write.mcp.aspect_name)  # fmt: skip
    return None


def is_rejection(error: BaseException | None) -> bool:
    """Whether an error is the content's fault (it will never be accepted), not the destination's."""
    return isinstance(error, RejectedError | InvalidEventError)
