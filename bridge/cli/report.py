"""Counting what a command did, and saying it: rejected inputs as they come, failures and a summary at the end.

Failed deliveries are not printed one by one: a destination that is down fails
every MCP alike, and 448 identical lines hide what matters. They are grouped by
error (its text without the MCP's URN and aspect), each group said once with its
count and the URN and aspect of the first MCPs it hit.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence

import attrs
import click

from bridge.cli.inputs import read_inputs
from bridge.errors import DeliveryError, InvalidEventError
from bridge.files import UnreadableInput
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Event

__all__ = ["Failures", "Report", "iter_events", "iter_mcps"]

#: URN/aspect pairs shown per distinct error.
EXAMPLES = 3
#: Distinct errors shown; the rest are summed up in one line.
GROUPS = 10


def _generic(error: BaseException) -> str:
    """The error's text without the URN and aspect of the MCP it concerns: the same for every MCP it hit."""
    text = str(error) or type(error).__name__
    if isinstance(error, DeliveryError):
        if error.urn:
            text = text.replace(f"; urn={error.urn}", "", 1)
        if error.aspect:
            text = text.replace(f"; aspect={error.aspect}", "", 1)
    return text


@attrs.define
class _Group:
    text: str
    count: int = 0
    examples: list[str] = attrs.field(factory=list)


@attrs.define
class Failures:
    """Failed deliveries grouped by error (thread-safe: emitters report from their own threads)."""

    total: int = 0
    _groups: dict[str, _Group] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def add(self, error: BaseException, mcp: MetadataChangeProposalWrapper | None = None, count: int = 1) -> None:
        """Count ``count`` failures with ``error``; ``mcp`` names the MCP when the error does not."""
        urn = getattr(error, "urn", None) or (mcp.entity_urn if mcp is not None else None)
        aspect = getattr(error, "aspect", None) or (mcp.aspect_name if mcp is not None else None)
        key = _generic(error)
        with self._lock:
            self.total += count
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(key)
            group.count += count
            if urn and len(group.examples) < EXAMPLES:
                group.examples.append(f"urn={urn}" + (f" aspect={aspect}" if aspect else ""))

    def lines(self) -> list[str]:
        """One line per distinct error (most frequent first) with its count, then its first URNs and aspects."""
        with self._lock:
            groups = sorted(self._groups.values(), key=lambda g: -g.count)  # stable: ties in order seen
        out: list[str] = []
        for group in groups[:GROUPS]:
            out.append(f"failed ({group.count} MCP{'s' if group.count != 1 else ''}): {group.text}")
            out.extend(f"  {example}" for example in group.examples)
        rest = groups[GROUPS:]
        if rest:
            out.append(f"failed ({sum(g.count for g in rest)} more MCPs): {len(rest)} other distinct errors")
        return out


@attrs.define
class Report:
    """Running totals of one command."""

    read: int = 0
    rejected: int = 0
    mcps: int = 0
    unchanged: int = 0
    failed: int = 0
    #: why the ``unchanged`` ones were not sent, for the summary.
    unchanged_reason: str = "the destination already holds them, from earlier events or runs"
    entities: Counter = attrs.field(factory=Counter)
    #: facet name -> how often it occurred in the events without being mapped to anything
    unmapped: Counter = attrs.field(factory=Counter)
    failures: Failures = attrs.field(factory=Failures)
    _urns: set = attrs.field(factory=set)

    def reject(self, error: InvalidEventError) -> None:
        self.rejected += 1
        click.echo(f"rejected: {error}", err=True)

    def empty(self, name: str, noun: str) -> None:
        """Say that input ``name`` held nothing: an empty file is more often a mistake than intended."""
        click.echo(f"warning: {name} holds no {noun}", err=True)

    def fail(self, error: BaseException, mcp: MetadataChangeProposalWrapper | None = None) -> None:
        """Count a failed delivery; it is said, grouped with its like, by :meth:`print_failures`."""
        self.failures.add(error, mcp)
        self.failed = self.failures.total

    def print_failures(self) -> None:
        for line in self.failures.lines():
            click.echo(line, err=True)

    def count_mcp(self, mcp: MetadataChangeProposalWrapper) -> None:
        self.mcps += 1
        if mcp.entity_urn not in self._urns:
            self._urns.add(mcp.entity_urn)
            self.entities[mcp.entity_type] += 1

    def count_facets(self, event: Event) -> None:
        """Count the event's facets that the translator maps to nothing (see :mod:`translators.datahub.facets`)."""
        from translators.datahub.facets import unmapped_facets

        self.unmapped.update(unmapped_facets(event))

    def summary(self, noun: str = "events") -> str:
        entities = ", ".join(f"{kind}={n}" for kind, n in sorted(self.entities.items())) or "none"
        text = f"{noun} read: {self.read}, rejected: {self.rejected}, MCPs: {self.mcps}"
        if self.unchanged:
            text += f", skipped as unchanged: {self.unchanged} ({self.unchanged_reason})"
        if self.failed:
            text += f", failed: {self.failed}"
        text += f"; entities: {entities}"
        if self.unmapped:
            # most frequent first, then by name; kept only as JSON with capture_raw_facets
            facets = sorted(self.unmapped.items(), key=lambda item: (-item[1], item[0]))
            text += "; facets not mapped: " + ", ".join(f"{name}\u00d7{n}" for name, n in facets)
        return text


def iter_events(paths: Sequence[str], report: Report) -> Iterator[Event]:
    """Parse OpenLineage events from the inputs; rejected ones are reported with file, line and reason."""
    import datetime as dt

    from translators.openlineage._read import parse_record

    for name, records in read_inputs(paths):
        before, unreadable = report.read, False
        # An event without a usable eventTime takes the time it was read (the edge may read the clock).
        received_at = dt.datetime.now(dt.UTC)
        for location, obj in records:
            if isinstance(obj, UnreadableInput):
                report.reject(obj)
                unreadable = True
                continue
            report.read += 1
            result = parse_record(obj, location, received_at)
            if isinstance(result, InvalidEventError):
                report.reject(result)
            else:
                yield result
        if report.read == before and not unreadable:
            report.empty(name, "events")


def iter_mcps(paths: Sequence[str], report: Report) -> Iterator[MetadataChangeProposalWrapper]:
    """Read MCPs from DataHub file-format files (JSON arrays), JSON Lines or one object; bad ones are reported."""
    for name, records in read_inputs(paths):
        before, unreadable = report.read, False
        for location, obj in records:
            if isinstance(obj, UnreadableInput):
                report.reject(obj)
                unreadable = True
                continue
            report.read += 1
            if isinstance(obj, InvalidEventError):
                report.reject(obj)
                continue
            try:
                yield MetadataChangeProposalWrapper.from_obj(obj)  # type: ignore[arg-type]
            except InvalidEventError as exc:
                report.reject(exc.at(location))
        if report.read == before and not unreadable:
            report.empty(name, "MCPs")
