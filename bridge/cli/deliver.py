"""``bridge emit``, ``bridge send`` and ``bridge check``: delivering to the configured emitter."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from typing import Any

import click

from bridge.cli.options import config_from_options, delivery_options, fail, handle_errors, url_option
from bridge.cli.report import Report, iter_events, iter_mcps
from bridge.config import BridgeConfig, http_url
from bridge.errors import BridgeError, DeliveryError, InvalidEventError, UndeliveredError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.base import Emitter, create_emitter

__all__ = ["check", "emit", "send"]


class _Failures:
    """Delivery callback that counts failures, grouped by error; they are said at the end (:func:`_finish`).

    Emitters give each MCP's error its URN and aspect (``emitters.breaker.naming``), so the
    groups can name the first MCPs each error hit; ``mcp`` does when the error cannot.
    """

    def __init__(self, report: Report) -> None:
        self.report = report
        self.seen: set[int] = set()

    def __call__(self, error: BaseException | None, message: str) -> None:
        if error is not None:
            self.seen.add(id(error))
            self.report.fail(error)

    def raised(self, error: BaseException, mcp: MetadataChangeProposalWrapper | None = None) -> None:
        """An error emit() raised: count it unless the callback already did."""
        if isinstance(error, UndeliveredError):  # sums up failures each MCP's callback already heard of
            return
        if id(error) not in self.seen:
            self.seen.add(id(error))
            self.report.fail(error, mcp)


def _emitter(config: BridgeConfig) -> Emitter:
    return create_emitter(config.emitter, config.emitter_config)


def _finish(emitter: Emitter, report: Report, noun: str, failures: _Failures) -> None:
    """Flush and close, then say the failures (one line per distinct error) and the summary.

    A flush that reports undelivered items is counted, not counted twice: each failure went
    through the callback, except those the emitter could not settle (still queued at the end).
    """
    try:
        emitter.close()
    except UndeliveredError as exc:
        missing = exc.failed - report.failures.total
        if missing > 0:
            unseen = [e for e in exc.errors if id(e) not in failures.seen]
            report.failures.add(unseen[0] if unseen else exc, count=missing)
            report.failed = report.failures.total
    except BridgeError as exc:
        failures.raised(exc)
    report.print_failures()
    click.echo(report.summary(noun), err=True)
    if report.rejected or report.failed:
        sys.exit(1)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="MCPFILE...")
@delivery_options
@handle_errors
def emit(paths: tuple[str, ...], **options: Any) -> None:
    """Deliver MCP files to DataHub through the configured emitter.

    MCPFILE is DataHub's file format (a JSON array of MCPs, as `bridge translate`
    writes), JSON Lines of MCPs, a folder of them, or - for standard input.
    Bad MCPs are reported with their location and reason; failed deliveries at
    the end, one line per distinct error with its count and the first MCPs it hit.
    The exit status is 1 if any. A destination that does not answer is not
    retried per MCP: the rest fail at once with the same error.

    \b
    Examples:
      bridge emit mcps.json --emitter rest --gms-server http://localhost:8080 --token "$TOKEN"
      bridge emit mcps.json --emitter kafka --kafka-bootstrap localhost:9092 --schema-registry-url http://localhost:8081
    """
    config = config_from_options(options)
    report = Report()
    emitter = _emitter(config)
    callback = _Failures(report)
    try:
        for mcp in iter_mcps(paths, report):
            report.count_mcp(mcp)
            try:
                emitter.emit(mcp, callback=callback)
            except (DeliveryError, InvalidEventError) as exc:  # this MCP only; the rest go on
                callback.raised(exc, mcp)
    finally:
        _finish(emitter, report, "MCPs", callback)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--to", "to_url", metavar="URL", callback=url_option(lambda url: http_url(url, key="to")),
    help="Post the events to a running `bridge serve` (e.g. http://127.0.0.1:5000; http:// when no scheme is given) "
    "instead of delivering them here.",
)
@click.option("--bridge-token", metavar="TOKEN", envvar="BRIDGE_TOKEN", help="With --to: the bridge's bearer token.")
@click.option("--bridge-ca", metavar="PEM", type=click.Path(exists=True, dir_okay=False),
              help="With --to https://...: CA bundle to check the bridge's certificate against.")
@delivery_options
@handle_errors
def send(paths: tuple[str, ...], to_url: str | None, bridge_token: str | None, bridge_ca: str | None,
         **options: Any) -> None:
    """Translate OpenLineage events and deliver them in one step.

    PATH is as for `bridge translate`. Without --to, the events are translated
    here and delivered through the configured emitter (REST, Kafka, file,
    console); what the destination already holds from earlier runs (the lineage
    memory in the state directory) is not sent again. With --to, they are posted
    to a running `bridge serve`, which makes them durable before it acknowledges
    them: in batches of 100 events (at most 4 MiB), a refused batch posted again
    event by event so each bad event is reported with its file and line, a busy
    or unreachable bridge tried again 5 times with backoff; when it stops, it
    says how many events were accepted and the first one that was not.

    \b
    Examples:
      bridge send spark-events/ --emitter rest --gms-server http://localhost:8080
      bridge send events.jsonl --to http://127.0.0.1:5000
    """
    if to_url:
        _send_to(paths, to_url, bridge_token, bridge_ca or True)
        return
    from bridge.lineage import LineageMemory
    from bridge.pipeline import Pipeline
    from translators.datahub import DataHubTranslator, TranslatorConfig

    config = config_from_options(options)
    report = Report()
    memory = LineageMemory.in_state_dir(config.state_dir)
    pipeline = Pipeline(_emitter(config), DataHubTranslator(TranslatorConfig.from_dict(config.translator)),
                        memory=memory, lineage_ttl_days=config.lineage_ttl_days)  # fmt: skip
    callback = _Failures(report)
    try:
        for event in iter_events(paths, report):
            report.count_facets(event)
            try:
                result = pipeline.send([event], callback=callback)
            except (DeliveryError, InvalidEventError) as exc:  # this event only; the rest go on
                callback.raised(exc)
                continue
            report.unchanged += result.unchanged
            for mcp in result.sent:
                report.count_mcp(mcp)
    finally:
        try:
            _finish(pipeline.emitter, report, "events", callback)
        finally:
            pipeline.core.commit()
            memory.close()


def _send_to(paths: Iterable[str], url: str, token: str | None, verify: bool | str) -> None:
    from bridge.intake._replay import send_files

    try:
        summary = send_files(list(paths), url, token=token, verify=verify)
    except BridgeError as exc:
        done = getattr(exc, "summary", None)  # what was accepted before it, and where it stopped
        if done is not None:
            click.echo(str(done), err=True)
        fail(exc)
    click.echo(str(summary), err=True)
    if not summary.ok:
        sys.exit(1)


@click.command()
@delivery_options
@handle_errors
def check(**options: Any) -> None:
    """Test the connection of the configured emitter and say what is wrong if it fails.

    For REST: GMS answers /config (and not the DataHub frontend), the token is
    accepted. For Kafka: the broker and the Schema Registry answer. For file:
    the output file can be written.
    """
    config = config_from_options(options)
    emitter = _emitter(config)
    try:
        details = emitter.test_connection()
    finally:
        with contextlib.suppress(BridgeError):
            emitter.close()
    shown = ", ".join(f"{k}={v}" for k, v in (details or {}).items())
    click.echo(f"ok: {config.emitter} emitter" + (f" ({shown})" if shown else ""))
