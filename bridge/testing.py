"""Test doubles for users testing their own pipelines (public API).

``RecordingEmitter`` keeps every MCP it is given, and can be told to fail some,
so a user's tests can assert on what their code would send to DataHub.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from bridge.errors import DeliveryError, RejectedError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Callback, Emitter

__all__ = ["RecordingEmitter", "RecordingEmitterConfig"]


@attrs.frozen(kw_only=True)
class RecordingEmitterConfig:
    """Args:
    fail_when: a predicate; MCPs for which it returns True are failed with ``error_class``.
    raise_errors: a failed MCP's error is raised by ``emit`` (as a synchronous emitter's is), besides
        being given to the callback.
    """

    fail_when: Callable[[MetadataChangeProposalWrapper], bool] | None = None
    error_class: type[DeliveryError] = RejectedError
    raise_errors: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordingEmitterConfig:
        return cls(**{k: v for k, v in data.items() if k != "kind"})


class RecordingEmitter(Emitter):
    """Records MCPs in ``.mcps`` (delivered) and ``.failed`` (refused), in order."""

    kind = "recording"
    config_class = RecordingEmitterConfig

    def __init__(self, config: RecordingEmitterConfig | None = None) -> None:
        self.config = config or RecordingEmitterConfig()
        self.mcps: list[MetadataChangeProposalWrapper] = []
        self.failed: list[tuple[MetadataChangeProposalWrapper, DeliveryError]] = []
        self.flushes = 0
        self.closed = False

    def emit(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None) -> None:
        if self.config.fail_when is not None and self.config.fail_when(item):
            error = self.config.error_class("refused by the test", urn=item.entity_urn, aspect=item.aspect_name)
            self.failed.append((item, error))
            if callback is not None:
                callback(error, str(error))
            if self.config.raise_errors:
                raise error
            return
        self.mcps.append(item)
        if callback is not None:
            callback(None, f"recorded {item.entity_urn} {item.aspect_name}")

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True

    def aspects(self, aspect_name: str) -> list[MetadataChangeProposalWrapper]:
        """The recorded MCPs of one aspect name."""
        return [m for m in self.mcps if m.aspect_name == aspect_name]

    def urns(self, entity_type: str | None = None) -> list[str]:
        """Distinct entity URNs recorded (of one type if given), in first-seen order."""
        seen: dict[str, None] = {}
        for m in self.mcps:
            if entity_type is None or m.entity_type == entity_type:
                seen.setdefault(m.entity_urn, None)
        return list(seen)
