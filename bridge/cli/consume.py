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

__all__ = ["consume", "replay_dead"]


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

    ``/metrics`` and ``/healthz`` are those of ``bridge serve`` plus the consumer's (lag per partition,
    rebalances, paused); ``/readyz`` answers 503 while the Kafka broker is unreachable (or not reached
    yet), the spool cannot be written, or the destination is failing (delivery paused).
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
        delivery = "paused (destination failing)" if service.delivery_paused else "running"
        ok = health.ready and spool == "ok" and not service.delivery_paused
        body = {"ready": ok, "kafka": kafka, "spool": spool, "delivery": delivery}
        if health.dead_letter_error is not None:
            body["dead_letter_topic"] = f"send failing (partitions wait): {health.dead_letter_error}"
        return JSONResponse(body,
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
@click.option(
    "--dead-letter-topic", metavar="TOPIC",
    help="Send what cannot be delivered (not an event, rejected by DataHub) to this topic, with the reason and "
         "the source partition and offset in headers; `bridge replay-dead --from-topic` sends them back. "
         "Default: dead letters stay in this worker's spool only (`bridge spool dead`).",
)
@click.option(
    "--max-dead-bytes", type=click.IntRange(1024), default=256 * 1024 * 1024, show_default=True,
    help="The spool keeps the newest dead letters of consumed messages holding about this many bytes; older ones "
         "are dropped (the messages stay in Kafka while it keeps them; with --dead-letter-topic, they are there).",
)
@click.option(
    "--max-pending", type=click.IntRange(1), default=5000, show_default=True,
    help="Events read and not delivered yet, at most: reading pauses there (and while the destination is down).",
)
@functools.partial(spool_delivery_options, kafka_flags=False)
@handle_errors
def consume(topic: str, source_bootstrap: str, group: str, consumer_config: tuple[str, ...],
            metrics_port: int | None, metrics_host: str, max_message_bytes: int, dead_letter_topic: str | None,
            max_dead_bytes: int, max_pending: int, workers: int | None, batch_size: int | None, synchronous: str | None,
            **options: Any) -> None:
    """Read OpenLineage events from a Kafka topic (openlineage-python's Kafka transport) and deliver them.

    Run any number of these with the same --group to share the topic. Kafka is
    the log: a partition's offset is committed only up to the events the
    destination has acknowledged, so a worker killed with its disk loses
    nothing; whoever gets its partitions reads the rest again. While the
    destination is down, reading pauses (the worker stays in the group). Give
    each worker its own --state-dir: it is a cache, not a copy to keep.

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
        max_pending=max_pending, dead_letter_topic=dead_letter_topic, max_dead_bytes=max_dead_bytes,
        consumer_config=_kafka_setting(consumer_config),
    )
    health = ConsumeHealth()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # The spool is a cache here (offsets wait for delivery), so it need not be flushed to disk per write.
    service = SpoolService(config, delivery=settings.delivery, synchronous=settings.synchronous).start()
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
               f"{stats.dead_lettered} dead-lettered" + (f", {stats.skipped} tombstone(s) skipped" if stats.skipped else "")
               + (f", {stats.forwarded} sent to {dead_letter_topic}" if dead_letter_topic else ""), err=True)


@click.command("replay-dead")
@click.option("--from-topic", required=True, metavar="TOPIC", help="The dead-letter topic (`consume --dead-letter-topic`).")
@click.option(
    "--kafka-bootstrap", "bootstrap", required=True, envvar="BRIDGE_CONSUME_BOOTSTRAP", metavar="HOST:PORT",
    help="Bootstrap servers of the cluster holding the topics.",
)
@click.option("--to-topic", metavar="TOPIC", help="Send them here instead of the topic each came from.")
@click.option("--group", default="bridge-replay-dead", show_default=True,
              help="Remembers what was replayed: each dead letter is sent back once per group.")
@click.option("--consumer-config", multiple=True, metavar="KEY=VALUE",
              help="Extra librdkafka setting (repeatable; security settings are used for sending too).")
@handle_errors
def replay_dead(from_topic: str, bootstrap: str, to_topic: str | None, group: str, consumer_config: tuple[str, ...]) -> None:
    """Send the dead letters of a dead-letter topic back to the topic they came from, once fixed.

    Reads what this --group has not replayed yet and was dead-lettered before it
    started, re-sends each message with its key (acks=all), then marks them
    replayed and exits. The `bridge consume` workers read them again like any event.

    \b
    Example:
      bridge replay-dead --from-topic openlineage-dead --kafka-bootstrap kafka:9092
    """
    from bridge.consume import replay_dead as run

    try:
        stats = run(from_topic, bootstrap, group=group, to_topic=to_topic, config=_kafka_setting(consumer_config))
    except BridgeError as exc:
        fail(exc)
    where = ", ".join(f"{count} to {topic}" for topic, count in sorted(stats.by_topic.items())) or "nothing to replay"
    click.echo(f"replayed {stats.sent} dead letter(s) from {from_topic}: {where}", err=True)
    if stats.not_replayed:
        shown = ", ".join(stats.not_replayed[:10]) + (", ..." if len(stats.not_replayed) > 10 else "")
        click.echo(f"not replayed: {len(stats.not_replayed)} dead letter(s) that do not hold the whole message (cut "
                   f"to fit {from_topic}, or unreadable); the messages are still in their topic while Kafka keeps "
                   f"them: {shown}", err=True)
