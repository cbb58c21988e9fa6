"""``bridge ui``: the status page over a state directory, when no ``bridge serve`` runs there."""

from __future__ import annotations

import click

from bridge.cli.options import config_from_options, handle_errors, state_options

__all__ = ["ui"]


@click.command()
@state_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=5050, show_default=True, help="Port.")
@click.option("--bridge-token", "bridge_token", metavar="TOKEN",
              help="Token the page's JSON needs ($BRIDGE_TOKEN or [serve] token); also what allows retrying.")
@handle_errors
def ui(config_path: str | None, state_dir: str | None, host: str, port: int, bridge_token: str | None) -> None:
    """Show the status page of a state directory: what was received, delivered and dead-lettered,
    and the lineage learned. `bridge serve` shows the same page, live, at its own address (/).

    Without a running server there are no live counters; the spool, the dead letters, the
    recent runs and the lineage memory are read from the directory (read-only). A retry
    re-queues the dead letter for the next `bridge serve`, as `bridge spool retry` does.
    From the config file: the state directory, the translator settings (which explain the
    URNs and make each event's MCPs again) and [serve] token (which guards the page).

    \b
    Examples:
      bridge ui --state-dir .bridge-state
      bridge ui --state-dir /var/lib/bridge --port 8081 --bridge-token s3cret
    """
    from bridge.intake import ServeSettings, run_foreground
    from bridge.ui import offline_app

    config = config_from_options({"state_dir": state_dir, "config_path": config_path})
    token = bridge_token or config.serve.get("token") or None
    click.echo(f"status page of {config.state_dir}: http://{host}:{port}/", err=True)
    run_foreground(offline_app(config, token), ServeSettings(host=host, port=port, token=token), None,
                   what="bridge ui", state_dir=config.state_dir)
