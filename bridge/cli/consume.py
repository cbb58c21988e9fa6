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


def _serve_metrics(service: Any, health: Any, host: str, port: int) -> Any:
    """``GET /metrics``, ``/healthz`` and ``/readyz`` for this worker, in a thread.

    ``/metrics`` and ``/healthz`` are those of ``bridge serve``; ``/readyz`` answers 503 while the Kafka
    broker is unreachable (or not reached yet) or the spool cannot be written.
    """
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from bridge.intake import ServeSettings
    from bridge.intake._app import create_app
    from bridge.intake._server import ThreadedServer

    async def readyz(request: Any) -> Any:
        kafka = health.kafka if health.kafka != "unreachable" else f"unreachable: {health.kafka_error}"
        try:
            await asyncio.wait_for(asyncio.to_thread(service.spool.check_writable), 5)
            spool = "ok" if health.spool_error is None else f"write failing: {health.spool_error}"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            spool = f"not writable: {exc or type(exc).__name__}"
        ok = health.ready and spool == "ok"
        delivery = "paused (destination failing)" if service.delivery_paused else "running"
        return JSONResponse({"ready": ok, "kafka": kafka, "spool": spool, "delivery": delivery},
                            status_code=200 if ok else 503)

    settings = ServeSettings(host=host, port=port)
    app = Starlette(routes=[Route("/readyz", readyz, methods=["GET"]),
                            Mount("/", app=create_app(None, settings, metrics=service.metrics))])
    return ThreadedServer.start(app, settings, metrics=service.metrics)


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
    help="Serve GET /metrics (Prometheus), /healthz and /readyz on this port (needs the serve extra). Default: none.",
)
@click.option(
    "--max-message-bytes", type=click.IntRange(1), default=16 * 1024 * 1024, show_default=True,
    help="A larger message is dead-lettered unread (the dead letter keeps its first MiB).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
@functools.partial(spool_delivery_options, kafka_flags=False)
@handle_errors
def consume(topic: str, source_bootstrap: str, group: str, consumer_config: tuple[str, ...],
            metrics_port: int | None, metrics_host: str, max_message_bytes: int, workers: int | None, batch_size: int | None, synchronous: str | None, **options: Any) -> None:
    """Read OpenLineage events from a Kafka topic (openlineage-python's Kafka transport) and deliver them.

    Run any number of these with the same --group to share the topic. Offsets are
    committed only after events are durable in this worker's spool, so a crash
    re-reads instead of losing. Give each worker its own --state-dir.

    \b
    Example:
      bridge consume --topic openlineage --kafka-bootstrap kafka:9092 \\
          --emitter rest --gms-server http://gms:8080 --state-dir /var/lib/bridge/w1
    """
    from bridge.consume import ConsumeHealth, ConsumeSettings
    from bridge.consume import consume as run
    from bridge.spool import SpoolService

    config, settings = resolve(
        options, {"workers": workers, "batch_size": batch_size, "synchronous": synchronous.upper() if synchronous else None}
    )
    source = ConsumeSettings(
        topic=topic, bootstrap=source_bootstrap, group_id=group, max_message_bytes=max_message_bytes,
        consumer_config=_kafka_setting(consumer_config),
    )
    health = ConsumeHealth()
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
            http = _serve_metrics(service, health, metrics_host, metrics_port)
        stats = run(service, source, stop=stop, health=health)
    except BridgeError as exc:
        fail(exc)
    finally:
        if http is not None:
            http.stop()
        service.stop()
    click.echo(f"read {stats.messages} message(s): {stats.spooled} event(s) spooled, "
               f"{stats.dead_lettered} dead-lettered" + (f", {stats.skipped} tombstone(s) skipped" if stats.skipped else ""),
               err=True)
