"""Options shared by the commands that deliver: which emitter, where, and how to translate.

Flags become explicit overrides for :func:`bridge.load_config`, so a flag beats
an environment variable, which beats the config file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bridge.config import BridgeConfig, load_config
from bridge.errors import BridgeError

__all__ = [
    "config_from_options",
    "delivery_options",
    "emitter_options",
    "fail",
    "handle_errors",
    "translator_options",
]


def fail(error: BaseException) -> None:
    """Print a BridgeError plainly (no traceback) and exit 2."""
    raise click.ClickException(str(error)) from error


def translator_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --env, --platform-instance, --dataset-platform-instance."""
    options = [
        click.option(
            "--config", "config_path", type=click.Path(dir_okay=False), envvar="BRIDGE_CONFIG",
            help="Config file (TOML, JSON or YAML). Default: ./bridge.toml if present.",
        ),
        click.option("--env", "dh_env", metavar="ENV", help="DataHub environment (fabric) of dataset URNs, e.g. PROD, DEV."),
        click.option(
            "--platform-instance", metavar="NAME",
            help="The orchestrator's DataHub platform instance (dataFlow cluster; dataPlatformInstance of flows and jobs).",
        ),
        click.option("--dataset-platform-instance", metavar="NAME", help="Default DataHub platform instance of datasets."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _known_emitter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from emitters.base import emitter_kinds

    if value is not None and value not in emitter_kinds():
        raise click.BadParameter(f"{value!r} is not an emitter; known: {', '.join(emitter_kinds())}")
    return value


def emitter_options(*, token_flag: str = "--token", kafka: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--emitter and each emitter's connection flags, plus the translator options.

    Args:
        token_flag: the flag of the GMS token (``bridge serve`` uses ``--gms-token``: its
            ``--token`` is the bridge's own).
        kafka: add the Kafka emitter flags (``bridge consume`` has its own ``--kafka-bootstrap``).
    """
    kafka_options = [
        click.option("--kafka-bootstrap", metavar="HOST:PORT", help="Kafka: bootstrap servers ($BRIDGE_KAFKA_BOOTSTRAP)."),
        click.option("--schema-registry-url", metavar="URL", help="Kafka: Schema Registry URL ($BRIDGE_SCHEMA_REGISTRY_URL)."),
    ]
    options = [
        click.option(
            "--emitter", metavar="KIND", envvar="BRIDGE_EMITTER", callback=_known_emitter,
            help="Where MCPs go: rest, kafka, file, console, or a registered emitter. "
            "Default: from config, else 'file' under the state directory.",
        ),
        click.option("--gms-server", metavar="URL", help="REST: DataHub GMS URL, e.g. http://localhost:8080 ($DATAHUB_GMS_URL)."),
        click.option(token_flag, "token", metavar="TOKEN", help="REST: DataHub access token ($DATAHUB_GMS_TOKEN). Never logged."),
        *(kafka_options if kafka else []),
        click.option("-o", "--output", metavar="FILE", help="File emitter: the DataHub file to write (appends to an existing one)."),
        click.option("--state-dir", metavar="DIR", help="Where state (spool, dead letters, default output) lives. Default: .bridge-state."),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = translator_options(func)
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


#: the emitter flags of ``bridge emit``, ``send`` and ``check``.
delivery_options = emitter_options()


def config_from_options(options: dict[str, Any]) -> BridgeConfig:
    """Resolve the config with the command's flags as the highest-priority layer.

    Consumes the option keys it knows from ``options`` (so the command sees only its own).
    """
    pop = options.pop
    emitters: dict[str, Any] = {
        "rest": {"gms_server": pop("gms_server", None), "token": pop("token", None)},
        "kafka": {
            "connection": {
                "bootstrap": pop("kafka_bootstrap", None),
                "schema_registry_url": pop("schema_registry_url", None),
            }
        },
        "file": {"filename": pop("output", None)},
    }
    overrides = {
        "emitter": pop("emitter", None),
        "state_dir": pop("state_dir", None),
        "emitters": emitters,
        "translator": {
            "env": pop("dh_env", None),
            "platform_instance": pop("platform_instance", None),
            "dataset_platform_instance": pop("dataset_platform_instance", None),
        },
    }
    path = pop("config_path", None)
    try:
        config = load_config(path, overrides=overrides)
    except BridgeError as exc:
        fail(exc)
    return config


def state_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--state-dir`` and ``--config``, for commands that look into a state directory."""
    func = click.option("--state-dir", metavar="DIR", help="The state directory. Default: from config, else .bridge-state.")(func)
    func = click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), envvar="BRIDGE_CONFIG", help="Config file."
    )(func)
    return func


def state_file(config_path: str | None, state_dir: str | None, name: str, missing: str) -> Path:
    """The file ``name`` of the configured state directory; exits with ``missing`` (``{dir}`` filled in) if absent."""
    try:
        config = load_config(config_path, overrides={"state_dir": state_dir})
    except BridgeError as exc:
        fail(exc)
    path = Path(config.state_dir) / name
    if not path.exists():
        fail(BridgeError(missing.format(dir=config.state_dir)))
    return path


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's errors into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BridgeError as exc:
            fail(exc)

    return wrapper
