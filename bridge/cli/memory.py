"""``bridge memory show | reset``: what the lineage memory says each destination holds, and forgetting it.

The memory (``<state_dir>/memory.sqlite3``) only lets the bridge skip what a
destination already holds. If that destination lost it -- a DataHub rebuilt at the
same URL, entities hard-deleted -- reset its memory and everything is sent again.
"""

from __future__ import annotations

import json
from typing import Any

import click

from bridge.cli.options import fail, handle_errors, state_file, state_options
from bridge.errors import BridgeError

__all__ = ["memory"]


def _open(config_path: str | None, state_dir: str | None) -> Any:
    from bridge.lineage import MEMORY_FILE, LineageMemory

    return LineageMemory(state_file(config_path, state_dir, MEMORY_FILE,
                                    "no lineage memory in {dir} (nothing was delivered from there yet)"))  # fmt: skip


@click.group()
def memory() -> None:
    """Inspect or reset the lineage memory (what each destination already holds)."""


@memory.command()
@state_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def show(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """Each destination the memory knows, with how many aspects and lineage edges it remembers, and how many
    runs it knows by two names (--json: the destinations only)."""
    lineage = _open(config_path, state_dir)
    try:
        rows = lineage.summary()
        named = lineage.run_names.count()
    finally:
        lineage.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows and not named:
        click.echo("the memory is empty")
    for row in rows:
        click.echo(f"{row['destination']}: {row['entities']} entities, {row['slots']} slots, {row['edges']} edges")
    if named:
        click.echo(f"runs known by two names: {named}")


@memory.command()
@state_options
@click.argument("destinations", nargs=-1, metavar="DESTINATION...")
@click.option("--all", "everything", is_flag=True,
              help="Forget every destination, and the runs known by two names: the memory is then empty.")  # fmt: skip
@handle_errors
def reset(config_path: str | None, state_dir: str | None, destinations: tuple[str, ...], everything: bool) -> None:
    """Forget what DESTINATION holds (as `bridge memory show` names it, e.g. rest:http://gms:8080),
    so that everything is sent to it again. Run it when a DataHub was rebuilt at the same address.

    With --all, the runs known by two names are forgotten too (under compat = "datahub-airflow-plugin",
    a task run's URN from its OpenLineage run id -> the plugin's URN): a query whose task run's events
    came before the reset then names that run by its OpenLineage run id."""
    if not destinations and not everything:
        fail(BridgeError("name the destinations to forget (see `bridge memory show`), or pass --all"))
    lineage = _open(config_path, state_dir)
    try:
        known = [row["destination"] for row in lineage.summary()]
        unknown = sorted(set(destinations) - set(known))
        if unknown:
            fail(BridgeError(f"the memory knows no destination {', '.join(unknown)}; it knows: {', '.join(known)}"))
        for key in known if everything else destinations:
            lineage.destination(key, fresh=True)
            click.echo(f"forgot {key}")
        if everything:
            click.echo(f"forgot the other names of runs ({lineage.run_names.forget()})")
    finally:
        lineage.close()
