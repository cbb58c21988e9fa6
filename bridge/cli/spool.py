"""``bridge spool status | dead | retry | purge | check | recover``: look into the spool, act on dead letters,
and save what can be saved of a damaged one.

These open the spool database next to a running server (SQLite WAL allows it);
a running ``bridge serve`` picks re-queued events up on its next round. ``recover``
is the exception: it needs the server stopped.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from bridge.cli.options import handle_errors, state_file, state_options

__all__ = ["spool"]


def _spool_path(config_path: str | None, state_dir: str | None) -> Path:
    from bridge.spool._store import SPOOL_FILE

    return state_file(config_path, state_dir, SPOOL_FILE,
                      "no spool in {dir} (has `bridge serve` run with this --state-dir?)")  # fmt: skip


def _open(config_path: str | None, state_dir: str | None) -> Any:
    from bridge.spool import Spool

    return Spool(_spool_path(config_path, state_dir).parent, exclusive=False)


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


def _existing(store: Any, ids: list[int] | None) -> tuple[list[int] | None, list[int]]:
    """``(ids that are dead letters, ids that are not)``; ``None`` (all) stays ``None``."""
    if ids is None:
        return None, []
    found = {letter.id for letter in store.dead_letters(ids=ids, limit=len(ids))}
    return [i for i in ids if i in found], sorted(set(ids) - found)


def _say_missing(missing: list[int]) -> None:
    """Exit 1 naming the ids that are no dead letter: a mistyped id must not pass for done."""
    if missing:
        which = ", ".join(str(i) for i in missing)
        raise click.ClickException(f"no dead letter with id {which} (see `bridge spool dead`)")


@spool.command()
@state_options
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@handle_errors
def retry(config_path: str | None, state_dir: str | None, ids: tuple[int, ...], all_: bool) -> None:
    """Put dead letters back in the queue (after fixing what DataHub refused)."""
    selected = _ids(ids, all_, "retry")
    with _open(config_path, state_dir) as store:
        selected, missing = _existing(store, selected)
        moved = store.requeue_dead(selected).result() if selected != [] else 0
    if moved or not missing:
        click.echo(f"re-queued {moved} event(s)")
    _say_missing(missing)


@spool.command()
@state_options
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@handle_errors
def purge(config_path: str | None, state_dir: str | None, ids: tuple[int, ...], all_: bool, yes: bool) -> None:
    """Delete dead letters for good."""
    selected = _ids(ids, all_, "purge")
    with _open(config_path, state_dir) as store:
        selected, missing = _existing(store, selected)
        if selected != []:
            if not yes:
                what = "ALL dead letters" if selected is None else f"{len(selected)} dead letter(s)"
                click.confirm(f"delete {what}?", abort=True)
            deleted = store.purge_dead(selected).result()
            click.echo(f"deleted {deleted} dead letter(s)")
    _say_missing(missing)


@spool.command()
@state_options
@handle_errors
def check(config_path: str | None, state_dir: str | None) -> None:
    """Check the spool's file for damage (SQLite's integrity check); exit 1 if damaged.

    Safe while a server runs. Reads the whole file: about a second per 60 MB from a cold disk.
    """
    from bridge.spool._recover import check_spool

    result = check_spool(_spool_path(config_path, state_dir).parent)
    if result.ok:
        click.echo(f"ok: {result.path} ({result.pending} pending, {result.dead} dead letters)")
        return
    click.echo(f"corrupt: {result.path}")
    for problem in result.problems:
        click.echo(f"  {problem}")
    click.echo("stop the bridge, then run `bridge spool recover` to copy what can still be read into a fresh spool")
    click.get_current_context().exit(1)


def _lost(name: str, table: Any) -> str:
    if not table.unreadable and not table.invalid:
        return f"{name}: none"
    ranges = ", ".join(f"{lo}-{hi if hi is not None else 'end'}" for lo, hi in table.unreadable[:10])
    if len(table.unreadable) > 10:
        ranges += f" and {len(table.unreadable) - 10} more ranges"
    bound = table.lost_at_most
    text = f"{name}: at most {bound}" if bound is not None else f"{name}: unknown (ids from {table.unreadable[-1][0]} on)"
    text += f" (unreadable ids {ranges})" if ranges else ""
    return text + (f", {table.invalid} unusable row(s)" if table.invalid else "")


@spool.command()
@state_options
@handle_errors
def recover(config_path: str | None, state_dir: str | None) -> None:
    """Save what can be read of a damaged spool into a fresh one; the damaged file is kept beside it.

    Stop `bridge serve` / `bridge consume` first. Pending events and dead letters keep their ids;
    the report says how many rows were saved and which ids could not be read.
    """
    from bridge.spool._recover import check_spool, recover_spool

    path = _spool_path(config_path, state_dir)
    checked = check_spool(path.parent)
    if checked.ok:
        click.echo(f"ok: {path} is not damaged; nothing to recover")
        return
    result = recover_spool(path.parent)
    click.echo(f"recovered {result.path}: saved {result.events.saved} pending event(s) and "
               f"{result.dead.saved} dead letter(s)")
    click.echo(f"lost rows: {_lost('events', result.events)}; {_lost('dead letters', result.dead)}")
    click.echo(f"the damaged file is kept as {result.kept_as}")
