"""Moving from DataHub's plugin (acryl-datahub-dagster-plugin): its options, sensor arguments and URNs.

Every option of DataHub's ``DatahubDagsterSourceConfig`` is accepted and honoured, or refused with a
ConfigError naming it and what to use instead; under that name the options default as in DataHub's
plugin (its URNs, no ``status`` on the datasets named in lineage), under ``DagsterPluginConfig`` as
in the bridge. Runs are real (a temporary Dagster instance); the
sensor is ticked as the daemon ticks it.
"""

from __future__ import annotations

import logging

import attrs
import dagster as dg
import pytest

from bridge.errors import ConfigError
from bridge.testing import RecordingEmitter
from dagster_plugin import DagsterPluginConfig, DatahubDagsterSourceConfig, make_datahub_sensor
from tests.dagster_helpers import dataset, execute, shown, tick, validate_all, values
from tests.servers.gms import GmsServer

# Every field of DataHub's DatahubDagsterSourceConfig (client/dagster_generator.py, its
# DatasetSourceConfigMixin's env and platform_instance included) with DataHub's defaults.
DATAHUB_OPTIONS = {
    "datahub_client_config": {"server": "http://gms:8080"},
    "dagster_url": None,
    "capture_asset_materialization": True,
    "capture_input_output": False,
    "connect_ops_to_ops": False,
    "enable_asset_query_metadata_parsing": True,
    "asset_lineage_extractor": None,
    "capture_dataset_from_asset_key": True,
    "asset_keys_to_dataset_urn_converter": None,
    "materialize_dependencies": False,
    "emit_queries": False,
    "emit_assets": True,
    "debug_mode": False,
    "emit_mode": "ASYNC",
    "env": "PROD",
    "platform_instance": None,
}

WAREHOUSE_TABLE = dataset("snowflake", "db.public.orders_tbl")
FLAT = dataset("dagster", "flat")


@dg.asset(key_prefix=["prod", "snowflake", "db", "public"])
def orders_tbl() -> int:
    return 1


@dg.asset
def flat() -> int:
    return 2


@dg.op
def extract() -> int:
    return 1


@dg.op(out=dg.Out(metadata={"datahub.outputs": [dataset("snowflake", "db.public.out_tbl")]}))
def transform(value: int) -> int:
    return value + 1


@dg.job
def chain():
    transform(extract())


def report(jobs: tuple[str, ...] = ("chain", "tables"), config_class: type = DatahubDagsterSourceConfig,
           **options) -> list:
    """Run ``jobs`` in a fresh instance and tick a sensor with ``options`` once; the MCPs it sent."""
    recorder = RecordingEmitter()
    options.setdefault("capture_input_output", False)  # DataHub's default: no IO-manager pickle files
    config = config_class(backfill=True, datahub_client_config={"kind": "console"}, **options)
    sensor = make_datahub_sensor(config, emitter=lambda: recorder)
    defs = dg.Definitions(assets=[orders_tbl, flat], jobs=[chain, dg.define_asset_job("tables", [orders_tbl, flat])],
                          sensors=[sensor])
    with dg.instance_for_test() as instance:
        for job in jobs:
            execute(defs, instance, job)
        out = tick(sensor, defs, instance, None)
    assert out.skip_message.startswith(f"reported {len(jobs)} run(s)"), out.skip_message
    validate_all(recorder.mcps)
    return recorder.mcps


def job_urn(mcps: list, suffix: str) -> str:
    return next(m.entity_urn for m in mcps if m.entity_type == "dataJob" and m.entity_urn.endswith(suffix + ")"))


def edges(mcps: list, urn: str, kind: str) -> set[str]:
    """Targets of one kind of edge (``inputDatajobEdges``, ...) as PATCHes and UPSERTs write them."""
    found: set[str] = set()
    for m in mcps:
        if m.entity_urn != urn or m.aspect_name != "dataJobInputOutput":
            continue
        value = m.aspect_value
        if isinstance(value, list):  # JSON Patch
            found |= {op["value"]["destinationUrn"] for op in value
                      if op["path"].startswith(f"/{kind}/") and isinstance(op.get("value"), dict)}
        else:
            found |= {e["destinationUrn"] for e in value.get(kind) or ()}
    return found


# -- the config ----------------------------------------------------------------------------


def test_every_datahub_option_is_accepted_with_its_default():
    config = DatahubDagsterSourceConfig(**DATAHUB_OPTIONS)
    assert isinstance(config, DagsterPluginConfig)
    ours = {a.name for a in attrs.fields(DatahubDagsterSourceConfig)}
    assert set(DATAHUB_OPTIONS) <= ours
    # DataHub types most flags Optional[bool]: None means the default
    nones = DatahubDagsterSourceConfig(**{k: None for k in DATAHUB_OPTIONS if k != "datahub_client_config"})
    assert (nones.emit_assets, nones.connect_ops_to_ops, nones.capture_dataset_from_asset_key) == (True, False, True)


def test_datahubs_name_defaults_as_datahubs_plugin_and_the_bridges_name_as_the_bridge():
    datahub = DatahubDagsterSourceConfig()
    # emit_mode None: the emitter's own default (DataHub's ASYNC is a REST-only setting, and an error with
    # Kafka); emit_queries None is False; enable_asset_query_metadata_parsing None: on when sqlglot is installed
    same = {k: v for k, v in DATAHUB_OPTIONS.items()
            if k not in ("datahub_client_config", "emit_mode", "emit_queries", "enable_asset_query_metadata_parsing")}
    assert {k: getattr(datahub, k) for k in same} == same
    assert datahub.urn_scheme == "datahub-dagster-plugin"  # DataHub's URNs: a moved pipeline is not shown twice
    assert DatahubDagsterSourceConfig(materialize_dependencies=None).materialize_dependencies is False  # as DataHub's
    assert DatahubDagsterSourceConfig.from_env({}).urn_scheme == "datahub-dagster-plugin"
    assert DatahubDagsterSourceConfig(urn_scheme="bridge", materialize_dependencies=True).urn_scheme == "bridge"
    bridge = DagsterPluginConfig()
    assert (bridge.urn_scheme, bridge.materialize_dependencies) == ("bridge", None)


def test_an_unknown_option_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) emit_everything; known: .*connect_ops_to_ops"):
        DatahubDagsterSourceConfig(emit_everything=True)


def test_emit_queries_is_refused_naming_the_option_and_what_to_use():
    with pytest.raises(ConfigError) as info:
        DatahubDagsterSourceConfig(emit_queries=True)
    assert info.value.key == "emit_queries"
    assert "enable_asset_query_metadata_parsing" in str(info.value)


def test_emit_mode_reaches_the_rest_emitter_and_wins_over_the_client_config():
    from datahub.emitter.rest_emitter import EmitMode

    config = DatahubDagsterSourceConfig(datahub_client_config={"server": "http://gms:8080",
                                                               "default_emit_mode": "SYNC_WAIT"},
                                        emit_mode=EmitMode.ASYNC_WAIT)
    kind, emitter = config.emitter()
    assert kind == "rest" and emitter["emit_mode"] == "ASYNC_WAIT" and "default_emit_mode" not in emitter
    from emitters.base import emitter_class

    assert emitter_class("rest").config_class.from_dict(emitter).emit_mode == "ASYNC_WAIT"
    # without emit_mode, DataHub's client-config default_emit_mode is kept for the REST emitter
    kind, emitter = DatahubDagsterSourceConfig(
        datahub_client_config={"server": "http://gms:8080", "default_emit_mode": "ASYNC"}).emitter()
    assert emitter_class("rest").config_class.from_dict(emitter).emit_mode == "ASYNC"


def test_emit_mode_errors_name_the_option():
    with pytest.raises(ConfigError, match="emit_mode"):
        DatahubDagsterSourceConfig(emit_mode="SOMETIMES")
    with pytest.raises(ConfigError, match="emit_mode: applies to DataHub's REST API only"):
        DatahubDagsterSourceConfig(datahub_client_config={"kind": "file", "filename": "x.json"}, emit_mode="ASYNC")


# -- the options, honoured on real runs -----------------------------------------------------


def test_connect_ops_to_ops():
    off = report(("chain",))
    assert edges(off, job_urn(off, "prod/transform"), "inputDatajobEdges") == set()
    on = report(("chain",), connect_ops_to_ops=True)
    assert edges(on, job_urn(on, "prod/transform"), "inputDatajobEdges") == {job_urn(on, "prod/extract")}


def test_capture_dataset_from_asset_key():
    asset = dataset("dagster", "prod.snowflake.db.public.orders_tbl")
    on = report(("tables",))
    assert values(on, asset, "siblings")[-1]["siblings"] == [WAREHOUSE_TABLE]
    off = report(("tables",), capture_dataset_from_asset_key=False)
    assert not values(off, asset, "siblings")
    assert WAREHOUSE_TABLE not in {m.entity_urn for m in off}


def test_the_key_conventions_env_is_the_keys_own_whatever_env_is_configured():
    """``["prod", "snowflake", ...]`` names the PROD table under ``env="DEV"`` too, as DataHub's plugin
    (``DatasetUrn(platform=key[1], env=key[0], ...)``); the asset itself is in the configured env."""
    mcps = report(("tables",), env="DEV")
    asset = dataset("dagster", "prod.snowflake.db.public.orders_tbl", "DEV")
    assert values(mcps, asset, "siblings")[-1]["siblings"] == [WAREHOUSE_TABLE]
    assert dataset("snowflake", "db.public.orders_tbl", "DEV") not in {m.entity_urn for m in mcps}


def test_emit_assets_false_reports_only_physical_datasets():
    mcps = report(("tables",), emit_assets=False)
    urns = {m.entity_urn for m in mcps}
    assert not any(":dagster," in u for u in urns if u.startswith("urn:li:dataset:")), sorted(urns)
    step = job_urn(mcps, "prod/prod__snowflake__db__public__orders_tbl")  # DataHub's plugin's job id
    assert edges(mcps, step, "outputDatasetEdges") == {WAREHOUSE_TABLE}
    assert edges(mcps, job_urn(mcps, "prod/flat"), "outputDatasetEdges") == set()


def test_emit_siblings_and_primary():
    asset = dataset("dagster", "prod.snowflake.db.public.orders_tbl")
    assert values(report(("tables",), dagster_is_primary_sibling=True), asset, "siblings")[-1]["primary"]
    assert not values(report(("tables",), emit_siblings=False), asset, "siblings")


def test_materialize_dependencies():
    out_table = dataset("snowflake", "db.public.out_tbl")
    assert not values(report(("chain",)), out_table, "status")  # DataHub's default under DataHub's name
    assert not values(report(("chain",), materialize_dependencies=None), out_table, "status")  # as DataHub's
    assert values(report(("chain",), config_class=DagsterPluginConfig), out_table, "status")  # the bridge's default
    assert values(report(("chain",), materialize_dependencies=True), out_table, "status")
    lineage_only = report(("chain",), materialize_dependencies=False)
    assert not values(lineage_only, out_table, "status")
    assert out_table in edges(lineage_only, job_urn(lineage_only, "prod/transform"), "outputDatasetEdges")


def test_a_dataset_someone_soft_deleted_stays_deleted():
    out_table = dataset("snowflake", "db.public.out_tbl")
    with GmsServer() as gms, dg.instance_for_test() as instance:
        gms.seed(out_table, "status", {"removed": True})
        sensor = make_datahub_sensor(DatahubDagsterSourceConfig(datahub_client_config={"server": gms.url},
                                                                backfill=True))
        defs = dg.Definitions(jobs=[chain], sensors=[sensor])
        assert execute(defs, instance, "chain").success
        assert tick(sensor, defs, instance, None).skip_message.startswith("reported 1 run(s)")
        assert gms.aspects[(out_table, "status")] == {"removed": True}
        transform = next(u for (u, a) in gms.aspects if a == "dataJobInputOutput" and u.endswith("prod/transform)"))
        assert shown(gms.aspects, transform, "dataJobInputOutput")["outputDatasets"] == [out_table]


def test_debug_mode_logs_every_mcp(caplog):
    with caplog.at_level(logging.DEBUG, logger="dagster_plugin"):
        mcps = report(("chain",), debug_mode=True)
    logged = [r for r in caplog.records if r.levelno == logging.DEBUG and r.getMessage().startswith("run ")]
    assert len(logged) == len(mcps)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="dagster_plugin"):
        report(("chain",))
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG and r.getMessage().startswith("run ")]


def test_flat_asset_is_unchanged_by_default():
    mcps = report(("tables",))
    assert values(mcps, FLAT, "subTypes")
