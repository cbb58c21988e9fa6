"""The ``bridge`` command line.

Each subcommand lives in its own module of this package and is registered in
:data:`_COMMANDS`; ``bridge --help`` lists them all.
"""

from __future__ import annotations

import importlib
import logging

import click

from bridge import __version__

__all__ = ["main"]

# (module, attribute) of each top-level command, in help order.
_COMMANDS: list[tuple[str, str]] = [
    ("bridge.cli.translate", "translate"),
    ("bridge.cli.explain", "explain"),
    ("bridge.cli.deliver", "emit"),
    ("bridge.cli.deliver", "send"),
    ("bridge.cli.deliver", "check"),
    ("bridge.cli.serve", "serve"),
    ("bridge.cli.ui", "ui"),
    ("bridge.cli.consume", "consume"),
    ("bridge.cli.consume", "replay_dead"),
    ("bridge.cli.spool", "spool"),
    ("bridge.cli.memory", "memory"),
    ("bridge.cli.dagster", "dagster"),
]


_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


def _configure_logging(level: str) -> None:
    from bridge.logs import configure_logging

    configure_logging(getattr(logging, level.upper()))


def _subcommand_log_level(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _configure_logging(value)


def _with_log_level(command: click.Command) -> click.Command:
    """Accept ``--log-level`` after the subcommand too (``bridge send --log-level info ...``), where
    people put it; given there, it wins over the one before the subcommand and $BRIDGE_LOG_LEVEL."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_log_level(sub)
    if not any(param.name == "log_level" for param in command.params):
        command.params.append(click.Option(
            ["--log-level"], type=_LEVELS, expose_value=False, is_eager=True, callback=_subcommand_log_level,
            help="How much to log (as `bridge --log-level`).",
        ))
    return command


class _OrderedGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_OrderedGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bridge")
@click.option(
    "--log-level",
    type=_LEVELS,
    default="warning",
    show_default=True,
    envvar="BRIDGE_LOG_LEVEL",
    help="How much to log (to stderr, one key=value line per record).",
)
def main(log_level: str) -> None:
    """Carry run/job/dataset lineage into DataHub.

    Reads OpenLineage events (files, folders, stdin, HTTP, Kafka) or MCP files and
    delivers DataHub MetadataChangeProposals through the configured emitter:
    REST to GMS, Kafka (Avro + Schema Registry), a DataHub file-source file, or the console.

    Configuration comes from flags, then environment variables (BRIDGE_*, DATAHUB_GMS_URL,
    DATAHUB_GMS_TOKEN), then the config file (--config, $BRIDGE_CONFIG or ./bridge.toml),
    then defaults. With no configuration, output goes to a DataHub file under .bridge-state/.
    """
    _configure_logging(log_level)


for _module, _attr in _COMMANDS:
    main.add_command(_with_log_level(getattr(importlib.import_module(_module), _attr)))
