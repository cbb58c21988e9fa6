"""``bridge translate``: OpenLineage events -> DataHub MCPs in DataHub's file format."""

from __future__ import annotations

import sys
from typing import Any

import click

from bridge.cli.inputs import expand_paths
from bridge.cli.options import config_from_options, handle_errors, translator_options
from bridge.cli.report import Report, iter_events

__all__ = ["translate"]


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "-o", "--output", metavar="OUT.json",
    help="Write the MCPs here (DataHub file format). An existing file is replaced, with an empty "
    "array if no MCPs come out. Default: standard output.",
)
@click.option("--skip-invalid", is_flag=True, help="Exit 0 even if some events were rejected (they are still reported).")
@click.option("--resend-unchanged", is_flag=True, help="Write every aspect, even one identical to an earlier event's.")
@translator_options
@handle_errors
def translate(paths: tuple[str, ...], output: str | None, skip_invalid: bool, resend_unchanged: bool, **options: Any) -> None:
    """Translate OpenLineage events into DataHub MCPs.

    PATH is a file (one event, a JSON array, or JSON Lines; gzip-compressed too),
    a folder (read recursively: *.json, *.jsonl, *.ndjson and the same with .gz),
    - for standard input, or a named pipe (<(zcat events.jsonl.gz)). JSON Lines
    are read a line at a time, so such a file may be of any size, a line at most
    1 GiB ($BRIDGE_MAX_INPUT_BYTES); a file of any other form, and a gzip file
    decompressed, may hold at most that much. The output
    loads as is with DataHub's file source (`datahub ingest` with a `file` source).

    Each rejected event is reported on stderr with its file, line and reason, and
    each input that holds no events with a warning; a summary follows (events
    read, rejected, MCPs, entities by type). The exit status is 1 if any event
    was rejected, unless --skip-invalid.

    \b
    Examples:
      bridge translate events/ -o mcps.json
      cat event.json | bridge translate - --env DEV
    """
    from bridge.pipeline import Pipeline
    from emitters.console import ConsoleEmitter, ConsoleEmitterConfig
    from emitters.file import FileEmitter, FileEmitterConfig
    from translators.datahub import DataHubTranslator, TranslatorConfig

    expand_paths(paths)  # a missing input is said before the output is touched
    config = config_from_options(options)
    translator = DataHubTranslator(TranslatorConfig.from_dict(config.translator))
    if output and output != "-":
        emitter: Any = FileEmitter(FileEmitterConfig(filename=output, overwrite=True))
        # Replace the file now: an older one must not outlive a run that writes nothing.
        emitter.test_connection()
    else:
        emitter = ConsoleEmitter(ConsoleEmitterConfig(stream=sys.stdout, format="array"))
    report = Report(unchanged_reason="identical to what earlier events gave, already written")
    pipeline = Pipeline(emitter, translator, skip_unchanged=not resend_unchanged)
    with emitter:
        for event in iter_events(paths, report):
            report.count_facets(event)
            result = pipeline.send([event], callback=lambda *_: None)
            report.unchanged += result.unchanged
            for mcp in result.sent:
                report.count_mcp(mcp)
    click.echo(report.summary(), err=True)
    if report.rejected and not skip_invalid:
        sys.exit(1)
