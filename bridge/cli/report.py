"""Counting what a command did, and saying it: rejected inputs as they come, a summary at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import attrs
import click

from bridge.cli.inputs import read_inputs
from bridge.errors import InvalidEventError
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Event

__all__ = ["Report", "iter_events", "iter_mcps"]


@attrs.define
class Report:
    """Running totals of one command."""

    read: int = 0
    rejected: int = 0
    mcps: int = 0
    unchanged: int = 0
    failed: int = 0
    entities: Counter = attrs.field(factory=Counter)
    _urns: set = attrs.field(factory=set)

    def reject(self, error: InvalidEventError) -> None:
        self.rejected += 1
        click.echo(f"rejected: {error}", err=True)

    def count_mcp(self, mcp: MetadataChangeProposalWrapper) -> None:
        self.mcps += 1
        if mcp.entity_urn not in self._urns:
            self._urns.add(mcp.entity_urn)
            self.entities[mcp.entity_type] += 1

    def summary(self, noun: str = "events") -> str:
        entities = ", ".join(f"{kind}={n}" for kind, n in sorted(self.entities.items())) or "none"
        text = f"{noun} read: {self.read}, rejected: {self.rejected}, MCPs: {self.mcps}"
        if self.unchanged:
            text += f", unchanged (not re-sent): {self.unchanged}"
        if self.failed:
            text += f", failed: {self.failed}"
        return f"{text}; entities: {entities}"


def iter_events(paths: Sequence[str], report: Report) -> Iterator[Event]:
    """Parse OpenLineage events from the inputs; rejected ones are reported with file, line and reason."""
    import datetime as dt

    from translators.openlineage import parse_events

    for name, data in read_inputs(paths):
        # An event without a usable eventTime takes the time it was read (the edge may read the clock).
        received_at = dt.datetime.now(dt.UTC)
        for _location, result in parse_events(data, source=name, received_at=received_at):
            report.read += 1
            if isinstance(result, InvalidEventError):
                report.reject(result)
            else:
                yield result


def iter_mcps(paths: Sequence[str], report: Report) -> Iterator[MetadataChangeProposalWrapper]:
    """Read MCPs from DataHub file-format files (JSON arrays), JSON Lines or one object; bad ones are reported."""
    from translators.openlineage import iter_json_records

    for name, data in read_inputs(paths):
        for location, obj in iter_json_records(data, source=name):
            report.read += 1
            if isinstance(obj, InvalidEventError):
                report.reject(obj)
                continue
            try:
                yield MetadataChangeProposalWrapper.from_obj(obj)  # type: ignore[arg-type]
            except InvalidEventError as exc:
                report.reject(exc.at(location))
