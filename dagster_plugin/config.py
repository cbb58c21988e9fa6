"""The plugin's configuration: one frozen object, and the environment read in one place.

Every option of DataHub's own plugin (``acryl-datahub-dagster-plugin``,
``DatahubDagsterSourceConfig``) is accepted under its name and honoured, or
refused with a :class:`~bridge.errors.ConfigError` naming it and what to use
instead (``emit_queries``: query entities are not written), so
a user's existing setup reads the same. DataHub's name (:class:`DatahubDagsterSourceConfig`) gives
DataHub's defaults; the bridge's name (:class:`DagsterPluginConfig`) gives the bridge's. ``datahub_client_config`` takes any bridge emitter config::

    {"kind": "rest", "gms_server": "http://gms:8080", "token": "..."}
    {"server": "http://gms:8080", "token": "..."}                 # DataHub's DatahubClientConfig shape
    DatahubClientConfig(server="http://gms:8080", token="...")     # or the object (:mod:`dagster_plugin.client_config`)
    {"kind": "kafka", "connection": {"bootstrap": "broker:9092", "schema_registry_url": "http://sr:8081"}}
    {"kind": "file", "filename": "mcps.json"}

Lookup order (first match wins, per option): the arguments given to
:meth:`DagsterPluginConfig.from_env`, then the environment variables in
:data:`ENV_VARS`, then the defaults. Only :meth:`DagsterPluginConfig.from_env` and
:func:`env_option` (one option, for a sensor whose config cannot be built) read the environment,
both through ``_env_value``. Building a config never opens a connection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError
from dagster_plugin.client_config import client_config
from dagster_plugin.env_values import parse_value

__all__ = [
    "ENV_VARS",
    "DagsterPluginConfig",
    "DatahubDagsterSourceConfig",
    "env_option",
]

#: environment variable -> (option, how to parse it). Documented in README.md ("Dagster").
ENV_VARS: dict[str, tuple[str, str]] = {
    "BRIDGE_DAGSTER_CLIENT_CONFIG": ("datahub_client_config", "json"),
    "DATAHUB_GMS_URL": ("datahub_client_config.server", "str"),
    "DATAHUB_GMS_TOKEN": ("datahub_client_config.token", "str"),
    "BRIDGE_DAGSTER_URL": ("dagster_url", "str"),
    "BRIDGE_DAGSTER_CAPTURE_ASSET_MATERIALIZATION": ("capture_asset_materialization", "bool"),
    "BRIDGE_DAGSTER_CAPTURE_INPUT_OUTPUT": ("capture_input_output", "bool"),
    "BRIDGE_DAGSTER_PLATFORM_INSTANCE": ("platform_instance", "str"),
    "BRIDGE_DAGSTER_ENV": ("env", "str"),
    "BRIDGE_DAGSTER_NAMESPACE": ("namespace", "str"),
    "BRIDGE_DAGSTER_ASSET_LINEAGE_EXTRACTOR": ("asset_lineage_extractor", "callable"),
    "BRIDGE_DAGSTER_ASSET_KEY_TO_URN": ("asset_keys_to_dataset_urn_converter", "callable"),
    "BRIDGE_DAGSTER_MAX_RUNS_PER_TICK": ("max_runs_per_tick", "int"),
    "BRIDGE_DAGSTER_MAX_TRIES": ("max_tries", "int"),
    "BRIDGE_DAGSTER_TICK_DEADLINE_SEC": ("tick_deadline_sec", "float"),
    "BRIDGE_DAGSTER_BACKFILL": ("backfill", "bool"),
    "BRIDGE_DAGSTER_TABLE_PLATFORM": ("table_platform", "str"),
}


def _env_value(environ: Mapping[str, str], name: str, kind: str) -> Any:
    """The value of variable ``name`` parsed as ``kind``; None when it is unset (or empty, but for a flag)."""
    raw = environ.get(name)
    if raw is None or (raw == "" and kind != "bool"):
        return None
    return parse_value(name, raw, kind)


def env_option(option: str, environ: Mapping[str, str] | None = None) -> Any:
    """What the environment sets one option to (read as :meth:`DagsterPluginConfig.from_env` reads it), or
    None when its variable is unset: for a sensor whose config cannot be built because another variable is wrong.

    Raises:
        ConfigError: the variable cannot be parsed (the message names it).
    """
    [(name, kind)] = [(name, kind) for name, (key, kind) in ENV_VARS.items() if key == option]
    return _env_value(os.environ if environ is None else environ, name, kind)


def _default_true(value: Any) -> bool:
    """DataHub's plugin types many flags ``Optional[bool]``: ``None`` means the default."""
    return True if value is None else bool(value)


def _default_false(value: Any) -> bool:
    return bool(value)


def _emit_mode(value: Any) -> str | None:
    if value is None:
        return None
    from emitters.rest.modes import parse_emit_mode

    try:
        return parse_emit_mode(value).value
    except ValueError as exc:
        raise ConfigError(str(exc), key="emit_mode") from None


def _not_supported(instead: str) -> Callable[[Any, attrs.Attribute, Any], None]:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value:
            raise ConfigError(f"True is not supported by this plugin: {instead}", key=attribute.name)

    return check


_NO_QUERIES = (
    "DataHub query entities are not written; SQL in asset metadata still becomes table lineage "
    "(enable_asset_query_metadata_parsing); remove the option or set it to False"
)


def _sql_parsing(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value:
        from dagster_plugin.sql import sqlglot_available

        if not sqlglot_available():
            raise ConfigError("True needs sqlglot: pip install 'lineage-bridge[sql]'", key=attribute.name)


def _keys(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _extractor(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _optional_callable(instance, attribute, value)
    if value is not None:
        from dagster_plugin.extractors import extractor_style

        extractor_style(value)  # a shape no call fits is an error now, not on every run


def _optional_callable(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigError(f"must be callable, got {type(value).__name__}", key=attribute.name)


@attrs.frozen(kw_only=True)
class DagsterPluginConfig:
    """What the sensor needs; holds no connection.

    Attributes:
        datahub_client_config: the emitter config (REST, Kafka, file, console, or DataHub's ``{"server": ...}``).
        dagster_url: base URL of the Dagster UI; when set, flows, jobs, runs and assets link to it.
        capture_asset_materialization: report materialized/observed assets as datasets.
        capture_input_output: read datasets from handled outputs / loaded inputs (path, URI, table name) and
            the ``path`` an IO manager adds to a materialization. False (DataHub's default) leaves the IO
            manager's storage (``file,/…/storage/<asset>`` pickles) out; ``dagster/table_name`` and
            ``dagster/uri`` metadata name an asset's physical dataset either way.
        platform_instance: DataHub platform instance of the flows, jobs and the ``dagster`` asset datasets.
        env: DataHub environment (``PROD``, ``DEV``, ...).
        namespace: the job namespace the events carry (the DataHub orchestrator cluster).
        asset_lineage_extractor: ``fn(run) -> {op_name: OpLineage}`` adding datasets per op (see
            :mod:`dagster_plugin.runs`); ``fn(run, context)`` and DataHub's
            ``fn(context, dagster_generator, graph)`` work too (:mod:`dagster_plugin.extractors`).
        asset_keys_to_dataset_urn_converter: ``fn(asset_key_path) -> dataset URN | None`` naming the dataset
            an asset is (``None`` keeps the default ``dagster`` dataset).
        translator: extra ``translators.datahub.TranslatorConfig`` settings (a dict).
        max_runs_per_tick: how many finished runs one sensor tick tries at most (retries included).
        max_tries: after this many failed tries a run is dead-lettered (kept in the sensor's cursor, listed
            by :func:`dagster_plugin.dead_letters`, retried only on request with
            :func:`dagster_plugin.requeue_dead_letters`), so it never uses up the ticks of the others.
            Failures that mean "DataHub is unreachable" count only in a tick where another run got through.
        connect_ops_to_ops: as DataHub's plugin: an op's data job lists the ops it runs after as
            upstream data jobs (``inputDatajobEdges``).
        capture_dataset_from_asset_key: read DataHub's asset-key convention ``[env, platform, *name]``
            (``["prod", "snowflake", "db", "schema", "table"]``) as the asset's physical table.
        emit_assets: report assets as ``dagster`` datasets; False connects the ops to the physical
            datasets only (tables named by metadata, key convention or converter), as DataHub's plugin.
        emit_siblings: link each asset to its physical table with ``siblings`` (the bridge's option: DataHub's
            plugin writes no siblings).
        dagster_is_primary_sibling: make the asset, not its table, the primary sibling (the bridge's option).
        materialize_dependencies: write ``status`` (and schema) on the datasets the runs read and
            write, creating them in DataHub; False names them in lineage only. None: True here,
            False under :class:`DatahubDagsterSourceConfig` (DataHub's default).
        emit_mode: DataHub's ``EmitMode`` (``SYNC_PRIMARY``, ``SYNC_WAIT``, ``ASYNC``, ``ASYNC_WAIT``)
            for the REST emitter; a name or DataHub's enum.
        debug_mode: log every delivered MCP at DEBUG level (on the ``dagster_plugin`` logger).
        urn_scheme: ``bridge`` (the default here; flows ``(dagster,<job>,<env>)``, jobs ``<job>.<op>``) or
            ``datahub-dagster-plugin`` (the default of :class:`DatahubDagsterSourceConfig`): the URNs
            DataHub's plugin writes (``(dagster,<module>/<job>,<env>)``, jobs ``<module>/<op>``, see
            :mod:`dagster_plugin.compat`), so moving from it makes no duplicates.
            ``translator={"compat": "datahub-dagster-plugin"}`` means the same.
        enable_asset_query_metadata_parsing: turn SQL in asset metadata (``asset_query_metadata_keys``) into
            table lineage with sqlglot (:mod:`dagster_plugin.sql`), as DataHub's plugin: the tables it reads
            are the asset's upstreams and its step's inputs, the tables it writes its step's outputs. None
            (default): when sqlglot is installed (``pip install 'lineage-bridge[sql]'``); True requires it.
        asset_query_metadata_keys: the metadata keys holding an asset's SQL (``("Query",)``, DataHub's key).
        emit_queries: only False (or None) is accepted: DataHub query entities are not written.
        tick_deadline_sec: a tick starts no new run after this many seconds and stops waiting for a
            delivery at this point; what is left is carried to the next tick in the cursor. Keep it well
            under Dagster's sensor timeout (60 s by default).
        table_platform: the DataHub platform (``snowflake``, ``postgres``, ...) of a ``dagster/table_name``
            when nothing about the asset names one: no table kind (``kinds={"snowflake"}``), no
            ``dagster/storage_kind`` tag, no ``dagster/uri`` with a table platform's scheme. Unset, such a
            table name stays a property only (its platform would be a guess).
        backfill: what a sensor with no cursor (its first tick, or after its cursor was reset) does with the
            runs that finished before: False (default, as DataHub's plugin and Dagster's run-status
            sensors) starts from now and reports only runs finishing later; True reports them all,
            oldest first, spread over ticks by ``max_runs_per_tick`` and ``tick_deadline_sec``.
    """

    datahub_client_config: Mapping[str, Any] = attrs.field(factory=dict, converter=client_config)
    dagster_url: str | None = None
    capture_asset_materialization: bool = True
    capture_input_output: bool = False
    platform_instance: str | None = None
    env: str = "PROD"
    namespace: str = "dagster"
    asset_lineage_extractor: Callable[..., Any] | None = attrs.field(default=None, validator=_extractor)
    asset_keys_to_dataset_urn_converter: Callable[..., Any] | None = attrs.field(
        default=None, validator=_optional_callable
    )
    translator: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    max_runs_per_tick: int = 25
    max_tries: int = 5
    tick_deadline_sec: float = attrs.field(default=40.0, converter=float)
    backfill: bool = attrs.field(default=False, converter=_default_false)
    table_platform: str | None = None
    # DataHub's plugin options, with its defaults except materialize_dependencies (None: the bridge's
    # default, materialize; DatahubDagsterSourceConfig has DataHub's). emit_siblings and
    # dagster_is_primary_sibling are the bridge's own (DataHub's plugin writes no siblings).
    connect_ops_to_ops: bool = attrs.field(default=False, converter=_default_false)
    capture_dataset_from_asset_key: bool = attrs.field(default=True, converter=_default_true)
    emit_assets: bool = attrs.field(default=True, converter=_default_true)
    emit_siblings: bool = attrs.field(default=True, converter=_default_true)
    dagster_is_primary_sibling: bool = attrs.field(default=False, converter=_default_false)
    materialize_dependencies: bool | None = None
    emit_mode: str | None = attrs.field(default=None, converter=_emit_mode)
    debug_mode: bool = attrs.field(default=False, converter=_default_false)
    urn_scheme: str = "bridge"
    enable_asset_query_metadata_parsing: bool | None = attrs.field(default=None, validator=_sql_parsing)
    asset_query_metadata_keys: tuple[str, ...] = attrs.field(default=("Query",), converter=_keys)
    emit_queries: bool | None = attrs.field(default=None, validator=_not_supported(_NO_QUERIES))

    def __attrs_post_init__(self) -> None:
        if self.max_runs_per_tick < 1:
            raise ConfigError("must be at least 1", key="max_runs_per_tick")
        if self.max_tries < 1:
            raise ConfigError("must be at least 1", key="max_tries")
        if not 0 < self.tick_deadline_sec <= 300:
            raise ConfigError(f"must be between 0 and 300 seconds, got {self.tick_deadline_sec}",
                              key="tick_deadline_sec")
        from dagster_plugin.compat import URN_SCHEMES

        if self.urn_scheme not in URN_SCHEMES:
            raise ConfigError(f"must be one of {list(URN_SCHEMES)}, got {self.urn_scheme!r}", key="urn_scheme")
        if self.emit_mode is not None and self.datahub_client_config:
            self.emitter()  # emit_mode with a non-REST emitter: say so now, not at the first tick
        if self.dagster_url is not None and not self.dagster_url.startswith(("http://", "https://")):
            raise ConfigError(f"must be an http(s) URL, got {self.dagster_url!r}", key="dagster_url")

    def parses_sql(self) -> bool:
        """Whether SQL in asset metadata is parsed (see ``enable_asset_query_metadata_parsing``)."""
        if self.enable_asset_query_metadata_parsing is None:
            from dagster_plugin.sql import sqlglot_available

            return sqlglot_available()
        return bool(self.enable_asset_query_metadata_parsing)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DagsterPluginConfig:
        """Build from a plain mapping; unknown keys are errors naming the known ones."""
        _check_known(cls, data)
        return cls(**dict(data))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> DagsterPluginConfig:
        """Resolve the config: ``options`` first, then the environment (:data:`ENV_VARS`), then defaults.

        With :func:`env_option`, the only function that reads the environment.

        Args:
            environ: the environment to read (defaults to ``os.environ``).
            options: explicit options (``None`` values are ignored).

        Returns:
            The frozen config.

        Raises:
            ConfigError: a variable cannot be parsed (the message names it).
        """
        environ = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for name, (option, kind) in ENV_VARS.items():
            value = _env_value(environ, name, kind)
            if value is None:
                continue
            if "." in option:
                section, key = option.split(".", 1)
                data.setdefault(section, {})
                if isinstance(data[section], dict):
                    data[section].setdefault(key, value)
            elif option == "datahub_client_config":
                data[option] = {**value, **data.get(option, {})}
            else:
                data[option] = value
        for key, value in options.items():
            if value is not None:
                data[key] = value
        return cls.from_dict(data)

    def emitter(self) -> tuple[str, dict[str, Any]]:
        """The emitter kind and its config dict, from ``datahub_client_config`` (as
        :func:`~dagster_plugin.client_config.client_config` converted it).

        ``emit_mode`` wins over the client config's, as in DataHub's plugin.

        Raises:
            ConfigError: no emitter kind can be told, or ``emit_mode`` is set for a non-REST emitter.
        """
        config = dict(self.datahub_client_config)
        kind = config.pop("kind", None)
        if kind is None:
            raise ConfigError(
                "cannot tell the emitter: give 'kind' (rest, kafka, file, console) or 'server' "
                "(or set DATAHUB_GMS_URL / BRIDGE_DAGSTER_CLIENT_CONFIG)",
                key="datahub_client_config",
            )
        if self.emit_mode is not None:
            if kind != "rest":
                raise ConfigError(f"applies to DataHub's REST API only, not to the {kind} emitter; remove it",
                                  key="emit_mode")
            config.pop("default_emit_mode", None)
            config["emit_mode"] = self.emit_mode
        return kind, config


@attrs.frozen(kw_only=True, init=False)
class DatahubDagsterSourceConfig(DagsterPluginConfig):
    """:class:`DagsterPluginConfig` under the name DataHub's plugin users know, with DataHub's defaults.

    The same options; those that decide what is written default as in DataHub's plugin, so a pipeline
    moved from it writes to the same flows, jobs and runs and no more than it did:

    * ``urn_scheme="datahub-dagster-plugin"``: DataHub's plugin's URNs (:mod:`dagster_plugin.compat`),
      not the bridge's (which would show every moved pipeline twice);
    * ``materialize_dependencies=False`` (``None`` too, as in DataHub's plugin): the datasets named in
      lineage get no ``status`` (a dataset someone soft-deleted stays deleted).

    The bridge's own name, :class:`DagsterPluginConfig`, keeps the bridge's defaults.

    Raises:
        ConfigError: an unknown option (the message lists the known ones), or an option value
            this plugin cannot honour (the message says what to use instead).
    """

    urn_scheme: str = "datahub-dagster-plugin"
    materialize_dependencies: bool = attrs.field(default=False, converter=_default_false)

    def __init__(self, **options: Any) -> None:
        _check_known(type(self), options)
        self.__attrs_init__(**options)  # type: ignore[attr-defined]


def _check_known(cls: type, data: Mapping[str, Any]) -> None:
    known = {a.name for a in attrs.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
