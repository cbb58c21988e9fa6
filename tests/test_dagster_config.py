"""The Dagster plugin's configuration: DataHub's option names, emitter shapes, the environment table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import dagster_plugin
from bridge.errors import ConfigError
from dagster_plugin import ENV_VARS, DagsterPluginConfig, DatahubDagsterSourceConfig, SensorCursor

README = Path(__file__).resolve().parents[1] / "README.md"


def extractor(run):  # a module-level function for the "module:function" env form
    return {}


def test_defaults_match_datahubs_guide():
    config = DatahubDagsterSourceConfig(datahub_client_config={"server": "http://gms:8080"})
    assert config.capture_asset_materialization is True
    assert config.capture_input_output is False  # DataHub's default: no IO-manager storage paths
    assert config.backfill is False  # a sensor with no cursor starts from now, as DataHub's
    assert config.env == "PROD"
    assert config.dagster_url is None and config.platform_instance is None


@pytest.mark.parametrize(
    ("client", "kind", "expected"),
    [
        ({"server": "http://gms:8080", "token": "t"}, "rest", {"gms_server": "http://gms:8080", "token": "t"}),
        ({"kind": "rest", "gms_server": "http://gms:8080"}, "rest", {"gms_server": "http://gms:8080"}),
        ({"connection": {"bootstrap": "b:9092"}}, "kafka", {"connection": {"bootstrap": "b:9092"}}),
        ({"kind": "kafka", "connection": {"bootstrap": "b:9092"}}, "kafka", {"connection": {"bootstrap": "b:9092"}}),
        ({"filename": "out.json"}, "file", {"filename": "out.json"}),
        ({"kind": "console"}, "console", {}),
    ],
)
def test_client_config_shapes(client, kind, expected):
    assert DagsterPluginConfig(datahub_client_config=client).emitter() == (kind, expected)


def test_datahub_pydantic_client_config_is_accepted():
    from datahub.ingestion.graph.client import DatahubClientConfig

    config = DagsterPluginConfig(datahub_client_config=DatahubClientConfig(server="http://gms:8080", token="t"))
    kind, emitter = config.emitter()
    assert kind == "rest"
    assert emitter["gms_server"] == "http://gms:8080" and emitter["token"] == "t"
    # and the bridge's REST emitter takes what remains
    from emitters.base import emitter_class

    emitter_class("rest").config_class.from_dict(emitter)


def test_unknown_client_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="cannot tell the emitter"):
        DagsterPluginConfig(datahub_client_config={"bootstrap": "x"}).emitter()


def test_from_env_reads_every_variable_and_arguments_win():
    env = {
        "DATAHUB_GMS_URL": "http://gms:8080",
        "DATAHUB_GMS_TOKEN": "secret",
        "BRIDGE_DAGSTER_URL": "http://dagster:3000",
        "BRIDGE_DAGSTER_CAPTURE_ASSET_MATERIALIZATION": "false",
        "BRIDGE_DAGSTER_CAPTURE_INPUT_OUTPUT": "1",  # (off by default: this says on)
        "BRIDGE_DAGSTER_BACKFILL": "true",
        "BRIDGE_DAGSTER_TABLE_PLATFORM": "snowflake",
        "BRIDGE_DAGSTER_PLATFORM_INSTANCE": "eu",
        "BRIDGE_DAGSTER_ENV": "DEV",
        "BRIDGE_DAGSTER_NAMESPACE": "dagster-eu",
        "BRIDGE_DAGSTER_ASSET_LINEAGE_EXTRACTOR": "tests.test_dagster_config:extractor",
        "BRIDGE_DAGSTER_ASSET_KEY_TO_URN": "tests.test_dagster_config.extractor",
        "BRIDGE_DAGSTER_MAX_RUNS_PER_TICK": "7",
    }
    config = DagsterPluginConfig.from_env(env)
    assert config.emitter() == ("rest", {"gms_server": "http://gms:8080", "token": "secret"})
    assert config.dagster_url == "http://dagster:3000"
    assert config.capture_asset_materialization is False and config.capture_input_output is True
    assert config.backfill is True and config.table_platform == "snowflake"
    assert (config.platform_instance, config.env, config.namespace) == ("eu", "DEV", "dagster-eu")
    assert config.asset_lineage_extractor is extractor and config.asset_keys_to_dataset_urn_converter is extractor
    assert config.max_runs_per_tick == 7
    assert DagsterPluginConfig.from_env(env, env="QA", dagster_url=None).env == "QA"


def test_client_config_from_json_env_and_kafka():
    env = {"BRIDGE_DAGSTER_CLIENT_CONFIG": '{"kind": "kafka", "connection": {"bootstrap": "k:9092"}}'}
    assert DagsterPluginConfig.from_env(env).emitter() == ("kafka", {"connection": {"bootstrap": "k:9092"}})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRIDGE_DAGSTER_CAPTURE_INPUT_OUTPUT": "maybe"}, "BRIDGE_DAGSTER_CAPTURE_INPUT_OUTPUT must be true or false"),
        ({"BRIDGE_DAGSTER_MAX_RUNS_PER_TICK": "many"}, "must be an integer"),
        ({"BRIDGE_DAGSTER_CLIENT_CONFIG": "[1]"}, "must be a JSON object"),
        ({"BRIDGE_DAGSTER_ASSET_LINEAGE_EXTRACTOR": "nope.nothing:fn"}, "cannot import"),
        ({"BRIDGE_DAGSTER_URL": "dagster:3000"}, "must be an http"),
    ],
)
def test_bad_environment_values_are_named(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        DagsterPluginConfig.from_env(env)


def test_unknown_option_is_an_error():
    with pytest.raises(ConfigError, match="unknown option"):
        DagsterPluginConfig.from_dict({"capture_everything": True})


def test_every_env_var_is_documented_in_the_readme():
    text = README.read_text()
    section = text[text.index("## Dagster"):]
    for name in ENV_VARS:
        assert f"`{name}`" in section, name


def test_cursor_round_trip_and_bad_cursor():
    cursor = SensorCursor().failed("run-1", 5, "down").reported("run-0", 3)
    again = SensorCursor.parse(cursor.serialize())
    assert again == cursor and again.after == 5 and again.retry["run-1"].tries == 1
    assert SensorCursor.parse("42").after == 42
    with pytest.raises(ConfigError, match="unreadable sensor cursor"):
        SensorCursor.parse("{not json")


def test_exported_names():
    assert set(dagster_plugin.__all__) == {
        "DEFAULT_SENSOR_NAME", "ENV_VARS", "REQUEUE_TAG", "AssetEvent", "AssetInfo", "CheckEvaluation", "DagsterPluginConfig",
        "DatahubDagsterSourceConfig", "DeadLetter", "IOEvent", "OpInfo", "OpLineage", "ReportResult", "RunInfo", "RunReporter",
        "SensorCursor", "StepInfo", "build_events", "datahub_sensor", "dead_letters", "make_datahub_sensor",
        "read_run", "requeue_dead_letters", "step_run_id",
        # DataHub's names from its guide (tests/test_dagster_guide_examples.py)
        "DatahubClientConfig", "DatasetUrn", "DagsterGenerator", "DatasetLineage", "DataHubGraph",
    }
    for name in dagster_plugin.__all__:
        assert getattr(dagster_plugin, name) is not None
    assert dagster_plugin.datahub_sensor.name == "datahub_sensor"


def test_dead_letters_round_trip_in_the_cursor():
    cursor = SensorCursor().failed("run-1", 5, "bad extractor").dead_lettered("run-1", token="t1")
    again = SensorCursor.parse(cursor.serialize())
    assert again == cursor and again.retry == {} and again.dead["run-1"].token == "t1"
    back = again.requeued("run-1")
    assert back.dead == {} and back.retry["run-1"].tries == 0 and back.after == 5
    assert SensorCursor().failed("run-2", 7, "cut off", count=False).retry["run-2"].tries == 0


@pytest.mark.parametrize("option", [{"max_tries": 0}, {"tick_deadline_sec": 0}, {"tick_deadline_sec": 900}])
def test_retry_and_deadline_limits_are_checked(option):
    with pytest.raises(ConfigError, match=next(iter(option))):
        DagsterPluginConfig(**option)
