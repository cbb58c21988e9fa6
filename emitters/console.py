"""The console emitter: MCPs as JSON on standard output (or any text stream).

``format="lines"`` prints one MCP per line (JSON Lines); ``format="array"``
prints DataHub's file format (one JSON array), closed by ``close()``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import attrs

from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Callback, Emitter, as_mcp, deliver_at_exit

__all__ = ["ConsoleEmitter", "ConsoleEmitterConfig"]


@attrs.frozen(kw_only=True)
class ConsoleEmitterConfig:
    """Args:
    stream: where to write; standard output by default.
    format: ``lines`` (JSON Lines) or ``array`` (DataHub's file format).
    """

    stream: TextIO | None = None
    format: str = attrs.field(default="lines", validator=attrs.validators.in_(("lines", "array")))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsoleEmitterConfig:
        return cls(stream=data.get("stream"), format=data.get("format", "lines"))


class ConsoleEmitter(Emitter):
    """Prints MCPs in DataHub's file-source form, one JSON object per line."""

    kind = "console"
    config_class = ConsoleEmitterConfig

    def __init__(self, config: ConsoleEmitterConfig | None = None) -> None:
        self.config = config or ConsoleEmitterConfig()
        self._count = 0
        self._closed = False
        self._cancel_exit_close: Callable[[], None] | None = None

    @property
    def _stream(self) -> TextIO:
        return self.config.stream or sys.stdout

    def emit(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None) -> None:
        item = as_mcp(item)
        text = item.to_obj_json().decode("utf-8")  # the file emitter's form
        if self.config.format == "array":
            if self._count == 0 and self._cancel_exit_close is None:
                # A program that ends without close() still prints a whole JSON array.
                self._cancel_exit_close = deliver_at_exit(self, close=True)
            text = ("[\n" if self._count == 0 else ",\n") + text
        else:
            text += "\n"
        self._stream.write(text)
        self._count += 1
        if callback is not None:
            callback(None, f"printed {item.entity_urn} {item.aspect_name}")

    def flush(self, timeout: float | None = None) -> None:
        self._stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._cancel_exit_close is not None:
            self._cancel_exit_close()
        if self.config.format == "array":
            self._stream.write("\n]\n" if self._count else "[]\n")
        self.flush()

    def test_connection(self) -> dict[str, Any]:
        return {"stream": getattr(self._stream, "name", "<stream>")}
