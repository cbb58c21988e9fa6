"""``bridge spool status | dead | retry | purge``: look into the spool and act on dead letters.

These open the spool database next to a running server (SQLite WAL allows it);
a running ``bridge serve`` picks re-queued events up on its next round.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from bridge.cli.options import handle_errors, state_file, state_options

__all__ = ["spool"]


def _open(config_path: str | None, state_dir: str | None) -> Any:
    from bridge.spool import Spool
    from bridge.spool._store import SPOOL_FILE

    path = state_file(config_path, state_dir, SPOOL_FILE,
                      "no spool in {dir} (has `bridge serve` run with this --state-dir?)")  # fmt: skip
    return Spool(path.parent, exclusive=False)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.group()
def spool() -> None:
    """Inspect the durable spool and its dead letters."""


@spool.command()
@state_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def status(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """Events waiting, retrying, dead-lettered, and the last delivery error."""
    with _open(config_path, state_dir) as store:
        info = store.status()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"spool:    {info['spool']}")
    age = info["oldest_pending_age_s"]
    click.echo(f"pending:  {info['pending']}" + (f" (oldest {age:.1f}s old)" if age is not None else ""))
    click.echo(f"retrying: {info['retrying']} (most attempts: {info['max_attempts']})")
    if info["last_error"]:
        click.echo(f"last error: {info['last_error']}")
    click.echo(f"dead:     {info['dead']}" + (f" (last at {_when(info['last_dead_at'])})" if info["dead"] else ""))


@spool.command()
@state_options
@click.option("--limit", type=int, default=100, show_default=True, help="Most dead letters to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, each with the full event.")
@handle_errors
def dead(config_path: str | None, state_dir: str | None, limit: int, as_json: bool) -> None:
    """List dead letters: id, when, job, and why DataHub (or the translator) refused the event."""
    with _open(config_path, state_dir) as store:
        letters = store.dead_letters(limit=limit)
    for letter in letters:
        if as_json:
            click.echo(json.dumps(letter.to_dict(), ensure_ascii=False))
            continue
        where = f" {letter.urn} {letter.aspect}" if letter.urn else ""
        status = f" [{letter.status}]" if letter.status else ""
        click.echo(f"{letter.id}\t{_when(letter.failed_at)}\t{letter.key}{where}{status}\t{letter.reason}")
    if not letters and not as_json:
        click.echo("no dead letters", err=True)


def _ids(ids: tuple[int, ...], all_: bool, verb: str) -> list[int] | None:
    if ids and all_:
        raise click.UsageError("give dead-letter ids or --all, not both")
    if not ids and not all_:
        raise click.UsageError(f"say which dead letters to {verb}: ids (see `bridge spool dead`) or --all")
    return None if all_ else list(ids)


@spool.command()
@state_options
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@handle_errors
def retry(config_path: str | None, state_dir: str | None, ids: tuple[int, ...], all_: bool) -> None:
    """Put dead letters back in the queue (after fixing what DataHub refused)."""
    selected = _ids(ids, all_, "retry")
    with _open(config_path, state_dir) as store:
        moved = store.requeue_dead(selected).result()
    click.echo(f"re-queued {moved} event(s)")


@spool.command()
@state_options
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@handle_errors
def purge(config_path: str | None, state_dir: str | None, ids: tuple[int, ...], all_: bool, yes: bool) -> None:
    """Delete dead letters for good."""
    selected = _ids(ids, all_, "purge")
    if not yes:
        what = "ALL dead letters" if selected is None else f"{len(selected)} dead letter(s)"
        click.confirm(f"delete {what}?", abort=True)
    with _open(config_path, state_dir) as store:
        deleted = store.purge_dead(selected).result()
    click.echo(f"deleted {deleted} dead letter(s)")
