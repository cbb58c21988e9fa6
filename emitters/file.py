"""The file emitter: MCPs in DataHub's file format (a JSON array of MCP objects).

The output loads as is with DataHub's file source (``datahub ingest`` with a
``file`` source). The file is a valid JSON array after every flush, so a
long-running ``bridge serve`` can be read at any time; re-opening an existing
file appends to its array instead of overwriting it (``overwrite=True`` to
start afresh).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from bridge.errors import ConfigError, DeliveryError, UndeliveredError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Callback, Destination, Emitter, as_mcp, deliver_at_exit
from emitters.breaker import naming

__all__ = ["FileEmitter", "FileEmitterConfig"]


@attrs.frozen(kw_only=True)
class FileEmitterConfig:
    """Args:
    filename: where to write (``-`` for stdout is the console emitter's job, not this one's).
    overwrite: start a new array instead of appending to an existing file.
    indent: JSON indentation of each MCP (``None``: one compact line per MCP).
    flush_every: write to disk after this many MCPs even without ``flush()``.
    """

    filename: str
    overwrite: bool = False
    indent: int | None = None
    flush_every: int = 1000

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileEmitterConfig:
        data = dict(data)
        data.pop("kind", None)
        if "filename" not in data and "path" in data:
            data["filename"] = data.pop("path")
        if not data.get("filename"):
            raise ConfigError("the file emitter needs a filename", key="filename")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"bad file emitter config: {exc}") from exc


class FileEmitter(Emitter):
    """Writes MCPs to a DataHub file-source JSON file."""

    kind = "file"
    config_class = FileEmitterConfig

    def __init__(self, config: FileEmitterConfig) -> None:
        self.config = config
        self.path = Path(config.filename)
        self._pending: list[tuple[MetadataChangeProposalWrapper, Callback | None]] = []
        self._lock = threading.Lock()
        self._file: Any = None
        self._count = 0  # MCPs already in the file's array
        self._created = False  # this emitter started the file's array (it held nothing of ours)
        self._cancel_exit_flush: Callable[[], None] | None = None
        # One encoder for every indented MCP: json.dumps() with keyword arguments builds a new one per call.
        self._encoder = None if config.indent is None else json.JSONEncoder(indent=config.indent, ensure_ascii=False)

    def encode(self, item: MetadataChangeProposalWrapper) -> bytes:
        """One MCP as the file holds it: compact, one line (``item.to_obj_json()``), or
        ``json.dumps(item.to_obj(), indent=..., ensure_ascii=False)`` with an ``indent``."""
        if self._encoder is None:
            return item.to_obj_json()
        return self._encoder.encode(item.to_obj()).encode()

    def _open(self) -> Any:
        if self._file is not None:
            return self._file
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = self.config.overwrite or not self.path.exists() or self.path.stat().st_size == 0
            if fresh:
                f = open(self.path, "w+b")  # noqa: SIM115 - kept open for the emitter's life
                f.write(b"[\n]\n")
                self._count = 0
                self._created = True
            else:
                f = open(self.path, "r+b")  # noqa: SIM115
                self._count = self._existing_count(f)
        except OSError as exc:
            raise DeliveryError(f"cannot open {self.path} for writing: {exc.strerror}") from exc
        self._file = f
        return f

    def _existing_count(self, f: Any) -> int:
        f.seek(0)
        try:
            existing = json.loads(f.read() or b"[]")
        except ValueError as exc:
            raise DeliveryError(f"{self.path} exists but is not a JSON array; pass overwrite=True to replace it") from exc
        if not isinstance(existing, list):
            raise DeliveryError(f"{self.path} exists but is not a JSON array")
        return len(existing)

    def emit(self, item: MetadataChangeProposalWrapper, callback: Callback | None = None) -> None:
        item = as_mcp(item)
        with self._lock:
            self._pending.append((item, callback))
            due = len(self._pending) >= self.config.flush_every
            if self._cancel_exit_flush is None:
                # Up to flush_every MCPs wait in memory: written at exit if nobody flushes them.
                self._cancel_exit_flush = deliver_at_exit(self)
        if due:
            self.flush()

    def flush(self, timeout: float | None = None) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            if not pending:
                return
            try:
                self._write(pending)
                error: BaseException | None = None
            except OSError as exc:
                error = DeliveryError(f"cannot write {self.path}: {exc.strerror}")
            except DeliveryError as exc:  # the file cannot be opened, or is not ours to append to
                error = exc
        if error is None:
            for item, callback in pending:
                if callback is not None:
                    callback(None, f"wrote {item.entity_urn} {item.aspect_name}")
            return
        # Every pending MCP failed alike: each hears of it (naming it), and flush says how many.
        errors = [naming(error, item.entity_urn, item.aspect_name) for item, _ in pending]
        for (item, callback), mine in zip(pending, errors, strict=True):
            if callback is not None:
                callback(mine, f"failed to write {item.entity_urn} {item.aspect_name}")
        raise UndeliveredError(len(pending), errors) from error

    def _write(self, pending: list[tuple[MetadataChangeProposalWrapper, Callback | None]]) -> None:
        f = self._open()
        # Overwrite the closing "]" so the array stays one array, then close it again.
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(end - 2, 0))
        tail = f.read()
        f.seek(end - len(tail) + tail.rfind(b"]"))
        chunks = []
        for i, (item, _) in enumerate(pending):
            sep = b",\n" if self._count + i > 0 else b""
            chunks.append(sep + self.encode(item))
        f.write(b"".join(chunks) + b"\n]\n")
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
        self._count += len(pending)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            cancel, self._cancel_exit_flush = self._cancel_exit_flush, None
            if cancel is not None:
                cancel()
            if self._file is not None:
                self._file.close()
                self._file = None

    def destination(self) -> Destination:
        """``file:<absolute path>``; fresh when this emitter starts (or started) the file's array: it is
        absent, empty or to be overwritten. So a deleted file is written whole again."""
        with self._lock:
            if self._file is None:
                fresh = self.config.overwrite or not self.path.exists() or self.path.stat().st_size == 0
            else:
                fresh = self._created
        return Destination(f"file:{self.path.resolve()}", fresh=fresh)

    def test_connection(self) -> dict[str, Any]:
        self._open()
        return {"filename": str(self.path), "mcps": self._count}
