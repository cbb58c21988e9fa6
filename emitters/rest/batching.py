"""GMS wire format and batch splitting.

Each proposal is encoded once, to ASCII JSON (so its length in characters is
its length in bytes), then request bodies are joined from the encoded pieces:
``{"proposal": ..., "async": ...}`` for one, ``{"proposals": [...], "async": ...}``
for many. Batches are cut to stay under GMS's limits (200 proposals, 15 MiB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from bridge.errors import RejectedError
from bridge.mcp import MetadataChangeProposalWrapper

__all__ = ["Encoded", "INGEST_BATCH_PATH", "INGEST_PATH", "batch_body", "encode", "single_body", "split_batches"]

INGEST_PATH = "/aspects?action=ingestProposal"
INGEST_BATCH_PATH = "/aspects?action=ingestProposalBatch"

# Framing around the proposals: {"proposals":[ ... ],"async":"false"}
_BATCH_OVERHEAD = len('{"proposals":[],"async":"false"}')


class Encoded:
    """One proposal, encoded for GMS, with what an error needs to name it."""

    __slots__ = ("item", "json", "callback")

    def __init__(self, item: MetadataChangeProposalWrapper, json_text: str, callback: Any = None) -> None:
        self.item = item
        self.json = json_text
        self.callback = callback

    @property
    def urn(self) -> str:
        return self.item.entity_urn

    @property
    def aspect(self) -> str:
        return self.item.aspect_name

    def __len__(self) -> int:
        return len(self.json)


def encode(item: MetadataChangeProposalWrapper, callback: Any = None) -> Encoded:
    """Encode one MCP as GMS's ``proposal`` object.

    Raises:
        RejectedError: the aspect cannot be serialised to JSON (names the URN and aspect).
    """
    try:
        return Encoded(item, item.to_gms_json(), callback)
    except (TypeError, ValueError) as exc:
        raise RejectedError(f"aspect is not JSON-serialisable: {exc}",
                            urn=getattr(item, "entity_urn", None), aspect=getattr(item, "aspect_name", None)) from exc


def _async(async_flag: bool) -> str:
    return '"true"' if async_flag else '"false"'


def single_body(encoded: Encoded, async_flag: bool) -> bytes:
    """Body of ``ingestProposal``."""
    return f'{{"proposal":{encoded.json},"async":{_async(async_flag)}}}'.encode("ascii")


def batch_body(batch: list[Encoded], async_flag: bool) -> bytes:
    """Body of ``ingestProposalBatch``."""
    return ('{"proposals":[' + ",".join([e.json for e in batch]) + '],"async":'
            + _async(async_flag) + "}").encode("ascii")


def split_batches(items: Iterable[Encoded], max_size: int, max_bytes: int) -> Iterator[list[Encoded]]:
    """Cut encoded proposals into batches of at most ``max_size`` proposals and ``max_bytes`` bytes.

    A proposal larger than ``max_bytes`` on its own still gets a batch of its
    own; GMS's answer (413) then names it, instead of it being dropped here.
    """
    batch: list[Encoded] = []
    size = _BATCH_OVERHEAD
    for enc in items:
        n = len(enc.json) + 1  # + the comma
        if batch and (len(batch) >= max_size or size + n > max_bytes):
            yield batch
            batch, size = [], _BATCH_OVERHEAD
        batch.append(enc)
        size += n
    if batch:
        yield batch
