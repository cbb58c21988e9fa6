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

from bridge.config import BridgeConfig, http_url, load_config
from bridge.errors import BridgeError, ConfigError, did_you_mean

__all__ = [
    "config_from_options",
    "delivery_options",
    "emitter_options",
    "fail",
    "gms_flags",
    "handle_errors",
    "old_token",
    "state_file",
    "state_options",
    "translator_options",
    "url_option",
    "with_options",
]


def fail(error: BaseException) -> None:
    """Print a BridgeError plainly (no traceback) and exit 2."""
    raise click.ClickException(str(error)) from error


def with_options(func: Callable[..., Any], options: list[Callable[[Any], Any]]) -> Callable[..., Any]:
    """``func`` with click ``options``, shown in ``--help`` in the order given."""
    for option in reversed(options):
        func = option(func)
    return func


def _config_option() -> Callable[[Any], Any]:
    """--config ($BRIDGE_CONFIG), as :func:`bridge.load_config` looks for the file."""
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="BRIDGE_CONFIG",
                        help="Config file (TOML, JSON or YAML; $BRIDGE_CONFIG). Default: ./bridge.toml if present.")


def translator_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --env, --platform-instance, --dataset-platform-instance."""
    options = [
        _config_option(),
        click.option("--env", "dh_env", metavar="ENV", help="DataHub environment (fabric) of dataset URNs, e.g. PROD, DEV."),
        click.option(
            "--platform-instance", metavar="NAME",
            help="The orchestrator's DataHub platform instance (dataFlow cluster; dataPlatformInstance of flows and jobs).",
        ),
        click.option("--dataset-platform-instance", metavar="NAME", help="Default DataHub platform instance of datasets."),
    ]
    return with_options(func, options)


def _hint(ctx: click.Context, param: click.Parameter) -> str | None:
    """``'--flag' (from $VAR)`` when the value came from the option's environment variable, else ``None``
    (click's own hint): whoever set a variable long ago should not hunt for a flag they never typed."""
    if param.name and ctx.get_parameter_source(param.name) is click.core.ParameterSource.ENVIRONMENT:
        return f"'{param.opts[-1]}' (from ${param.envvar})"
    return None


def _known_emitter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from emitters.base import emitter_kinds

    known = emitter_kinds()
    if value is not None and value not in known:
        raise click.BadParameter(f"{value!r} is not an emitter{did_you_mean(value, known)}; known: {', '.join(known)}",
                                 ctx, param, _hint(ctx, param))
    return value


def url_option(check: Callable[[str], str]) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A click callback that checks a URL option with ``check`` (which raises ConfigError), as a usage error.

    The URL is refused before anything is sent, in one line naming the flag and the value, where
    ``requests`` would otherwise fail at the first request with a traceback.
    """

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check(value)
        except ConfigError as exc:
            raise click.BadParameter(exc.reason, ctx, param, _hint(ctx, param)) from exc

    return callback


def _gms_url(value: str) -> str:
    from emitters.rest.config import normalize_gms_url

    return normalize_gms_url(value)


def _registry_urls(value: str) -> str:
    return ",".join(http_url(url, key="schema_registry_url") for url in value.split(",") if url.strip())


def gms_flags(prefix: str = "") -> list[Callable[[Any], Any]]:
    """``--gms-server`` and ``--gms-token`` (``prefix`` starts their help: ``"REST: "``)."""
    return [
        click.option("--gms-server", metavar="URL", callback=url_option(_gms_url),
                     help=f"{prefix}DataHub GMS URL, e.g. http://localhost:8080 ($DATAHUB_GMS_URL)."),
        click.option("--gms-token", "token", metavar="TOKEN",
                     help=f"{prefix}DataHub access token ($DATAHUB_GMS_TOKEN). Never logged."),
    ]


def old_token(instead: str, other: str) -> click.Option:
    """The hidden old ``--token`` flag: still taken, with a warning naming ``instead`` (``other``: the
    flag of the other token, so nobody mixes them up)."""

    def warn(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            click.echo(f"warning: --token is deprecated here: use {instead} ({other})", err=True)
        return value

    return click.option("--token", f"old_{instead.lstrip('-').replace('-', '_')}", metavar="TOKEN", hidden=True,
                        callback=warn)


def emitter_options(*, old_token_flag: bool = True, kafka: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--emitter and each emitter's connection flags, plus the translator options.

    Args:
        old_token_flag: also take the GMS token as ``--token`` (its old spelling in ``send``, ``emit`` and
            ``check``), with a deprecation warning. ``serve`` and ``consume`` have no such alias.
        kafka: add the Kafka emitter flags (``bridge consume`` has its own ``--kafka-bootstrap``).
    """
    kafka_options = [
        click.option("--kafka-bootstrap", metavar="HOST:PORT", help="Kafka: bootstrap servers ($BRIDGE_KAFKA_BOOTSTRAP)."),
        click.option("--schema-registry-url", metavar="URL", callback=url_option(_registry_urls),
                     help="Kafka: Schema Registry URL ($BRIDGE_SCHEMA_REGISTRY_URL)."),
    ]
    options = [
        click.option(
            "--emitter", metavar="KIND", envvar="BRIDGE_EMITTER", callback=_known_emitter,
            help="Where MCPs go: rest, kafka, file, console, or a registered emitter. "
            "Default: from config, else 'file' under the state directory.",
        ),
        *gms_flags("REST: "),
        *([old_token("--gms-token", "the bridge's own token is --bridge-token")] if old_token_flag else []),
        *(kafka_options if kafka else []),
        click.option("-o", "--output", metavar="FILE", help="File emitter: the DataHub file to write (appends to an existing one)."),
        click.option("--state-dir", metavar="DIR", help="Where state (spool, dead letters, default output) lives. Default: from config, else .bridge-state."),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return with_options(translator_options(func), options)

    return decorate


#: the emitter flags of ``bridge emit``, ``send`` and ``check``.
delivery_options = emitter_options()


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def config_from_options(options: dict[str, Any]) -> BridgeConfig:
    """Resolve the config with the command's flags as the highest-priority layer.

    Consumes the option keys it knows from ``options`` (so the command sees only its own).
    """
    pop = options.pop
    emitters: dict[str, Any] = {
        "rest": {"gms_server": pop("gms_server", None), "token": _first(pop("token", None), pop("old_gms_token", None))},
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
    return with_options(func, [
        _config_option(),
        click.option("--state-dir", metavar="DIR", help="The state directory. Default: from config, else .bridge-state."),
    ])


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
