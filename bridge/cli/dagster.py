"""``bridge dagster dead-letters | retry``: the runs the Dagster sensor gave up on, and trying them again.

The sensor keeps its dead letters in its cursor, in the Dagster instance (``$DAGSTER_HOME``); these
commands read that instance (see :mod:`dagster_plugin.dead_letters`).
"""

from __future__ import annotations

import json
from typing import Any

import click

from bridge.cli.options import handle_errors
from bridge.errors import require

__all__ = ["dagster"]

_SENSOR = click.option("--sensor", "sensor_name", default="datahub_sensor", show_default=True,
                       help="The sensor's name (make_datahub_sensor(name=...)).")


def _instance() -> Any:
    dg = require("dagster", "dagster")
    try:
        return dg.DagsterInstance.get()
    except dg.DagsterInvariantViolationError as exc:
        raise click.UsageError(f"no Dagster instance: set $DAGSTER_HOME to the instance's directory ({exc})") from exc


@click.group()
def dagster() -> None:
    """The Dagster sensor's dead letters: runs it gave up on after max_tries failures."""


@dagster.command("dead-letters")
@_SENSOR
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run instead of a table.")
@handle_errors
def dead_letters(sensor_name: str, as_json: bool) -> None:
    """List the runs the sensor gave up on (run id, tries, last error)."""
    from dagster_plugin import dead_letters as read

    letters = read(_instance(), sensor_name)
    for letter in letters:
        if as_json:
            click.echo(json.dumps({"run_id": letter.run_id, "tries": letter.tries, "error": letter.error}))
        else:
            click.echo(f"{letter.run_id}  tries={letter.tries}  {letter.error}")
    if not as_json:
        click.echo(f"{len(letters)} dead letter(s) of sensor {sensor_name}", err=True)


@dagster.command("retry")
@click.argument("run_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every dead letter of the sensor.")
@_SENSOR
@handle_errors
def retry(run_ids: tuple[str, ...], every: bool, sensor_name: str) -> None:
    """Have the sensor try these dead-lettered runs again at its next tick."""
    from dagster_plugin import requeue_dead_letters

    if bool(run_ids) == every:
        raise click.UsageError("give run ids or --all (not both)")
    tagged = requeue_dead_letters(_instance(), None if every else list(run_ids), sensor_name=sensor_name)
    unknown = sorted(set(run_ids) - set(tagged))
    click.echo(f"{len(tagged)} run(s) will be tried again at the sensor's next tick", err=True)
    if unknown:
        click.echo(f"no such run: {', '.join(unknown)}", err=True)
        raise SystemExit(1)
