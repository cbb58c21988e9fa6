"""``bridge serve``: the OpenLineage HTTP endpoint, in front of a durable spool or a Kafka topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from bridge.cli.options import (
    config_from_options,
    emitter_options,
    fail,
    handle_errors,
    old_token,
    with_options,
)
from bridge.errors import BridgeError

__all__ = ["serve", "spool_delivery_options"]


def spool_delivery_options(func: Callable[..., Any], *, kafka_flags: bool = True) -> Callable[..., Any]:
    """Emitter flags for long-running commands."""
    options = [
        click.option("--workers", type=click.IntRange(1, 64), help="Delivery threads (default 1: strict order)."),
        click.option("--batch-size", type=click.IntRange(1, 100_000), help="Events per delivery round (default 500)."),
        click.option(
            "--synchronous", type=click.Choice(["FULL", "NORMAL"], case_sensitive=False),
            help="When events count as stored. NORMAL: committed to the spool's write-ahead log (survives a "
                 "killed process; flushed to disk within 10 ms). FULL: flushed to disk first (survives power "
                 "loss; slower at low concurrency). Default: NORMAL. (For consume the spool is a cache: Kafka keeps "
                 "every event until it is delivered.)",
        ),
    ]
    return with_options(emitter_options(old_token_flag=False, kafka=kafka_flags)(func), options)


def resolve(options: dict[str, Any], serve_overrides: dict[str, Any]) -> tuple[Any, Any]:
    """(BridgeConfig, ServeSettings) from the flags; flags beat env, which beats the config file."""
    from bridge.intake import ServeSettings

    config = config_from_options(options)
    serve_section = dict(config.serve)
    delivery = dict(serve_section.pop("delivery", {}) or {})
    for key in ("workers", "batch_size"):
        value = serve_overrides.pop(key, None)
        if value is not None:
            delivery[key] = value
    producer_config = serve_overrides.pop("producer_config", None)
    if producer_config:  # flags on top of the config file's [serve.producer_config]
        serve_section["producer_config"] = {**(serve_section.get("producer_config") or {}), **producer_config}
    serve_section.update({k: v for k, v in serve_overrides.items() if v is not None})
    serve_section["delivery"] = delivery
    try:
        settings = ServeSettings.from_dict(serve_section)
    except BridgeError as exc:
        fail(exc)
    return config, settings


def _key_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():  # (not echoed: it may hold a secret)
            raise click.BadParameter("expected KEY=VALUE, got " + ("no '='" if not sep else "an empty KEY"))
        out[key.strip()] = value
    return out


#: What makes no sense with --to-topic: serve then translates and delivers nothing, and keeps nothing.
_SPOOL_ONLY = ("emitter", "gms_server", "token", "kafka_bootstrap", "schema_registry_url", "output", "state_dir",
               "dh_env", "platform_instance", "dataset_platform_instance", "workers", "batch_size", "synchronous")


def _check_mode(ctx: click.Context, settings: Any) -> None:
    """With --to-topic (or [serve] to_topic), the spool and delivery flags are a usage error."""
    if not settings.to_topic:
        return
    given = [max(p.opts, key=len) for p in ctx.command.params
             if p.name in _SPOOL_ONLY and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(
            f"{', '.join(given)}: not with --to-topic. With a topic, serve only puts the events on it and keeps "
            "nothing locally; `bridge consume` workers translate and deliver them, so give these flags to "
            "bridge consume (or drop --to-topic to spool and deliver from this machine).")


@click.command()
@click.option("--host", help="Address to bind. Default 127.0.0.1 (loopback only); 0.0.0.0 to accept from anywhere.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port. Default 5000.")
@click.option(
    "--bridge-token", "bridge_token", metavar="TOKEN",
    help="Bearer token producers must send ($BRIDGE_TOKEN or [serve] token). Never logged.",
)
@old_token("--bridge-token", "DataHub's token is --gms-token")
@click.option("--max-body-bytes", type=click.IntRange(1024), help="Largest request body (after gzip). Default 16 MiB.")
@click.option("--max-event-bytes", type=click.IntRange(1024), help="Largest single event (422 above). Default 8 MiB.")
@click.option("--max-connections", type=click.IntRange(1), help="Open connections at once (503 above). Default 1000.")
@click.option("--max-connections-per-client", type=click.IntRange(1),
              help="Open connections at once from one IP address (503 above). Default 100; behind a proxy, "
                   "raise it to --max-connections.")
@click.option("--tls-cert", metavar="PEM", help="Serve HTTPS with this certificate (chain) file ([serve] tls_cert).")
@click.option("--tls-key", metavar="PEM", help="The private key of --tls-cert ([serve] tls_key).")
@click.option("--noop-route", is_flag=True, hidden=True, help="Benchmark: also serve a no-op endpoint.")
@click.option(
    "--to-topic", metavar="TOPIC",
    help="Produce events to this Kafka topic instead of the local spool, and answer 201 once the broker "
         "acked them; `bridge consume` workers deliver them ([serve] to_topic). Keeps nothing locally.",
)
@click.option("--topic-bootstrap", metavar="HOST:PORT", help="Bootstrap servers of --to-topic ([serve] topic_bootstrap).")
@click.option(
    "--producer-config", multiple=True, metavar="KEY=VALUE", callback=_key_values,
    help="librdkafka setting of --to-topic's producer, e.g. sasl.password=... or message.timeout.ms=10000 "
         "(repeatable; [serve.producer_config]). Never logged.",
)
@spool_delivery_options
@handle_errors
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, bridge_token: str | None,
          old_bridge_token: str | None, max_body_bytes: int | None, max_event_bytes: int | None, max_connections: int | None,
          max_connections_per_client: int | None,
          tls_cert: str | None, tls_key: str | None, noop_route: bool, to_topic: str | None,
          topic_bootstrap: str | None, producer_config: dict[str, str], workers: int | None,
          batch_size: int | None, synchronous: str | None, **options: Any) -> None:
    """Accept OpenLineage events over HTTP and deliver them to DataHub, losing nothing.

    Any OpenLineage HTTP transport (Airflow, Spark, dbt, Flink, openlineage-python)
    can point at it unchanged:

    \b
      POST /api/v1/lineage                      (OpenLineage / Marquez path)
      POST /openapi/openlineage/api/v1/lineage  (DataHub GMS path)
      GET  /healthz  /readyz  /metrics

    By default an event is answered 201 only once it is committed to the spool
    (SQLite under the state directory); delivery workers then translate and emit it, retrying
    while DataHub is down and dead-lettering what DataHub rejects
    (see `bridge spool`). With no configuration, MCPs go to a DataHub file
    under .bridge-state/.

    Which mode: on one machine, the default -- the local spool, delivered by
    this process. To scale out, run any number of `bridge serve --to-topic TOPIC`
    behind a load balancer, feeding `bridge consume` workers that read TOPIC:
    each event is produced to the topic (keyed by job, as openlineage-python's
    Kafka transport keys it) and answered 201 only once the broker acked it
    (idempotent producer, acks=all); nothing is kept locally, so the emitter,
    delivery and --state-dir flags are for `bridge consume` then. If the broker
    does not ack within message.timeout.ms (4 s), the answer is 503.

    Before a request reaches the token check, headers over 64 KiB get 431, a
    connection that has not sent its headers within 10 s is closed, and
    connections over --max-connections (or over --max-connections-per-client from
    one IP address) get 503 ([serve] max_header_bytes, header_timeout,
    body_timeout, max_connections, max_connections_per_client; see README, "Limits").

    \b
    Examples:
      bridge serve
      bridge serve --emitter rest --gms-server http://localhost:8080 --bridge-token s3cret
      bridge serve --host 0.0.0.0 --bridge-token s3cret --tls-cert cert.pem --tls-key key.pem
      bridge serve --host 0.0.0.0 --bridge-token s3cret --to-topic openlineage --topic-bootstrap kafka:9092
    """
    from bridge.intake import serve as run

    overrides = {
        "host": host, "port": port, "token": bridge_token or old_bridge_token, "max_body_bytes": max_body_bytes,
        "max_event_bytes": max_event_bytes, "max_connections": max_connections,
        "max_connections_per_client": max_connections_per_client,
        "synchronous": synchronous.upper() if synchronous else None, "workers": workers, "batch_size": batch_size,
        "noop_route": noop_route or None, "tls_cert": tls_cert, "tls_key": tls_key,
        "to_topic": to_topic, "topic_bootstrap": topic_bootstrap, "producer_config": producer_config,
    }
    config, settings = resolve(options, overrides)
    _check_mode(ctx, settings)
    run(config, settings)
