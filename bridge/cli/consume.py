"""``bridge consume``: read OpenLineage events from Kafka as one consumer group and deliver them."""

from __future__ import annotations

import functools
import signal
import threading
from typing import Any

import click

from bridge.cli.options import fail, handle_errors
from bridge.cli.serve import resolve, spool_delivery_options
from bridge.errors import BridgeError

__all__ = ["consume"]


def _kafka_setting(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--consumer-config")
        out[key.strip()] = value
    return out


def _serve_metrics(service: Any, host: str, port: int) -> Any:
    """``GET /metrics`` and ``/healthz`` for this worker, in a thread (the same app ``bridge serve`` runs)."""
    from bridge.intake import ServeSettings
    from bridge.intake._app import create_app
    from bridge.intake._server import ThreadedServer

    settings = ServeSettings(host=host, port=port)
    return ThreadedServer.start(create_app(None, settings, metrics=service.metrics), settings)


@click.command()
@click.option("--topic", required=True, envvar="BRIDGE_CONSUME_TOPIC", help="The OpenLineage topic to read.")
@click.option(
    "--kafka-bootstrap", "source_bootstrap", required=True, envvar="BRIDGE_CONSUME_BOOTSTRAP",
    metavar="HOST:PORT", help="Bootstrap servers of the cluster holding the topic.",
)
@click.option("--group", default="lineage-bridge", show_default=True, help="Consumer group shared by all workers.")
@click.option("--consumer-config", multiple=True, metavar="KEY=VALUE", help="Extra librdkafka setting (repeatable).")
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535),
    help="Serve GET /metrics (Prometheus) and /healthz on this port (needs the serve extra). Default: none.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
@functools.partial(spool_delivery_options, kafka_flags=False)
@handle_errors
def consume(topic: str, source_bootstrap: str, group: str, consumer_config: tuple[str, ...],
            metrics_port: int | None, metrics_host: str, workers: int | None, batch_size: int | None, synchronous: str | None, **options: Any) -> None:
    """Read OpenLineage events from a Kafka topic (openlineage-python's Kafka transport) and deliver them.

    Run any number of these with the same --group to share the topic. Offsets are
    committed only after events are durable in this worker's spool, so a crash
    re-reads instead of losing. Give each worker its own --state-dir.

    \b
    Example:
      bridge consume --topic openlineage --kafka-bootstrap kafka:9092 \\
          --emitter rest --gms-server http://gms:8080 --state-dir /var/lib/bridge/w1
    """
    from bridge.consume import ConsumeSettings
    from bridge.consume import consume as run
    from bridge.spool import SpoolService

    config, settings = resolve(
        options, {"workers": workers, "batch_size": batch_size, "synchronous": synchronous.upper() if synchronous else None}
    )
    source = ConsumeSettings(
        topic=topic, bootstrap=source_bootstrap, group_id=group, consumer_config=_kafka_setting(consumer_config)
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # Offsets are committed once events are in the spool: by default only after a flush to disk, since
    # (unlike an HTTP producer) Kafka will not send an event again once its offset is committed.
    spool_sync = settings.synchronous if synchronous or "synchronous" in config.serve else "FULL"
    service = SpoolService(config, delivery=settings.delivery, synchronous=spool_sync).start()
    http = None
    try:
        if metrics_port is not None:
            http = _serve_metrics(service, metrics_host, metrics_port)
        stats = run(service, source, stop=stop)
    except BridgeError as exc:
        fail(exc)
    finally:
        if http is not None:
            http.stop()
        service.stop()
    click.echo(f"read {stats.messages} message(s): {stats.spooled} event(s) spooled, "
               f"{stats.dead_lettered} dead-lettered", err=True)
