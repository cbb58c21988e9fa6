"""DataHub's ``DatahubClientConfig`` as ``datahub_client_config``, and a sensor that is not configured yet.

Every field of acryl-datahub's ``DatahubClientConfig`` is accepted: those the REST emitter has are passed
on, the rest are left out with one warning naming them. A sensor that cannot report (any config error)
still records where it started, so once fixed it reports the runs finished since its first tick. Runs
are real (a temporary Dagster instance), the sensor is ticked as the daemon ticks it, and the fixed
sensor delivers to the GMS test server.
"""

from __future__ import annotations

import logging

import attrs
import dagster as dg
import pytest
from datahub.api.entities.datajob import DataFlow
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance
from datahub.emitter.rest_emitter import EmitMode
from datahub.ingestion.graph.client import DatahubClientConfig
from datahub.ingestion.graph.config import ClientMode

from dagster_plugin import DatahubDagsterSourceConfig, SensorCursor, make_datahub_sensor
from dagster_plugin.client_config import IGNORED
from emitters.rest.config import RestEmitterConfig
from tests.dagster_helpers import execute, tick
from tests.servers.gms import GmsServer


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dagster_plugin" and r.levelno == logging.WARNING]


def test_every_field_of_datahubs_client_config_is_accepted(tmp_path, caplog):
    pem = tmp_path / "x.pem"
    pem.write_text("-")
    fields = {
        "server": "http://gms:8080", "token": "t", "timeout_sec": 12.5, "retry_status_codes": [503],
        "retry_max_times": 2, "pool_connections": 3, "pool_maxsize": 7, "extra_headers": {"X-A": "1"},
        "ca_certificate_path": str(pem), "client_certificate_path": str(pem), "client_key_path": str(pem),
        "disable_ssl_verification": False, "openapi_ingestion": False, "respect_mcp_sync_marker": True,
        "client_mode": ClientMode.SDK, "datahub_component": "dagster", "server_config_refresh_interval": 60,
        "tcp_keepalive": True, "default_emit_mode": EmitMode.ASYNC,
    }
    assert set(DatahubClientConfig.model_fields) == {*fields, "auth"}  # auth: the next test (not with token)
    caplog.set_level(logging.INFO, logger="dagster_plugin")
    config = DatahubDagsterSourceConfig(datahub_client_config=DatahubClientConfig(**fields))
    kind, settings = config.emitter()
    rest = RestEmitterConfig.from_dict(settings)
    assert kind == "rest"
    assert (rest.gms_server, rest.token, rest.timeout_sec, rest.retry_status_codes, rest.retry_max_times,
            rest.pool_maxsize, dict(rest.extra_headers), rest.openapi_ingestion, rest.emit_mode.value) == (
        "http://gms:8080", "t", 12.5, frozenset({503}), 2, 7, {"X-A": "1"}, False, "ASYNC")
    assert (rest.ca_certificate_path, rest.client_certificate_path, rest.client_key_path) == (str(pem),) * 3
    ignored = {"pool_connections", "respect_mcp_sync_marker", "client_mode", "datahub_component",
               "server_config_refresh_interval", "tcp_keepalive"}
    assert ignored <= set(IGNORED) and not ignored & set(settings)
    [warning] = _warnings(caplog)  # one line, naming each
    assert all(name in warning for name in ignored), warning
    # the same as a plain mapping (BRIDGE_DAGSTER_CLIENT_CONFIG's JSON, say)
    caplog.clear()
    plain = DatahubDagsterSourceConfig(datahub_client_config={"server": "http://gms:8080", "tcp_keepalive": True})
    assert plain.emitter() == ("rest", {"gms_server": "http://gms:8080"})
    assert len(_warnings(caplog)) == 1 and "tcp_keepalive" in _warnings(caplog)[0]


def test_auth_a_static_token_is_the_token_another_provider_is_ignored_with_a_warning(caplog):
    static = DatahubClientConfig(server="http://gms:8080", auth={"type": "static", "config": {"token": "s"}})
    assert DatahubDagsterSourceConfig(datahub_client_config=static).emitter()[1] == {
        "gms_server": "http://gms:8080", "token": "s"}
    assert not _warnings(caplog)
    oidc = {"server": "http://gms:8080", "auth": {"type": "oidc_client_credentials", "config": {"client_id": "c"}}}
    assert DatahubDagsterSourceConfig(datahub_client_config=oidc).emitter()[1] == {"gms_server": "http://gms:8080"}
    assert "auth (only DataHub's static token provider" in _warnings(caplog)[0]


@pytest.mark.parametrize(("given", "kept"), [
    (DatahubClientConfig(server="http://gms:8080", token="t", tcp_keepalive=True),
     {"kind": "rest", "gms_server": "http://gms:8080", "token": "t"}),
    ({"server": "http://gms:8080", "auth": {"type": "static", "config": {"token": "s"}}, "default_emit_mode": "ASYNC"},
     {"kind": "rest", "gms_server": "http://gms:8080", "token": "s", "default_emit_mode": "ASYNC"}),
    ({"connection": {"bootstrap": "b:9092"}, "default_emit_mode": "ASYNC"},
     {"kind": "kafka", "connection": {"bootstrap": "b:9092"}}),
    ({"bootstrap": "x"}, {"bootstrap": "x"}),  # no emitter to tell: kept, for emitter() to refuse at the first tick
])
def test_the_client_config_is_converted_once_when_the_config_is_built(given, kept, caplog):
    """One conversion, when the config is built: what the config keeps is the emitter's config, and building
    it again from that (``attrs.evolve``) changes nothing and warns no more."""
    config = DatahubDagsterSourceConfig(datahub_client_config=given)
    assert config.datahub_client_config == kept
    warned = len(_warnings(caplog))
    assert attrs.evolve(config).datahub_client_config == kept and len(_warnings(caplog)) == warned
    if "kind" in kept:
        assert config.emitter() == (kept["kind"], {k: v for k, v in kept.items() if k != "kind"})


def test_other_emitters_settings_are_not_dropped():
    # DataHub's REST client fields mean nothing to Kafka: the Kafka emitter's own check names them
    client = {"kind": "kafka", "connection": {"bootstrap": "b:9092"}, "tcp_keepalive": True}
    assert DatahubDagsterSourceConfig(datahub_client_config=client).emitter()[1]["tcp_keepalive"] is True


@dg.op
def extract() -> int:
    return 1


@dg.job
def do_stuff():
    extract()


def _run_urn(run_id: str) -> str:
    flow = DataFlow(orchestrator="dagster", id="prod/do_stuff", env="PROD")  # DataHub's plugin's URNs
    return DataProcessInstance.from_dataflow(dataflow=flow, id=run_id).urn.urn()


def test_runs_finished_while_misconfigured_are_reported_once_fixed(instance, caplog):
    with GmsServer() as gms:
        typo = {"server": gms.url, "pool_conections": 2}  # not a setting of anyone's: a config error
        bad = make_datahub_sensor(DatahubDagsterSourceConfig(datahub_client_config=typo))
        defs = dg.Definitions(jobs=[do_stuff], sensors=[bad])
        before = execute(defs, instance, "do_stuff").run_id  # before the sensor's first tick: not reported
        first = tick(bad, defs, instance, None)
        assert "not configured" in first.skip_message and "pool_conections" in first.skip_message
        assert first.cursor is not None  # where the sensor started
        assert SensorCursor.parse(first.cursor).after > 0
        during = execute(defs, instance, "do_stuff").run_id
        second = tick(bad, defs, instance, first.cursor)
        assert "not configured" in second.skip_message and second.cursor == first.cursor  # kept
        assert gms.proposals == []  # nothing is reported while misconfigured

        fixed = make_datahub_sensor(DatahubDagsterSourceConfig(
            datahub_client_config=DatahubClientConfig(server=gms.url, tcp_keepalive=True)))
        defs = dg.Definitions(jobs=[do_stuff], sensors=[fixed])
        out = tick(fixed, defs, instance, first.cursor)
        assert out.skip_message.startswith("reported 1 run(s)"), out.skip_message
        reported = {urn for urn, aspect in gms.aspects if aspect == "dataProcessInstanceProperties"}
        assert _run_urn(during) in reported and _run_urn(before) not in reported


def test_a_misconfigured_sensor_with_backfill_stores_no_start(instance, caplog):
    bad = make_datahub_sensor(DatahubDagsterSourceConfig(datahub_client_config={"bootstrap": "x"}, backfill=True))
    defs = dg.Definitions(jobs=[do_stuff], sensors=[bad])
    execute(defs, instance, "do_stuff")
    with caplog.at_level(logging.INFO, logger="dagster_plugin"):
        for _ in range(3):
            out = tick(bad, defs, instance, None)
            assert "cannot tell the emitter" in out.skip_message and out.cursor is None  # the fixed sensor reports all
    # nothing is reported while it cannot report: no tick says "every finished run ... is reported"
    assert not [r for r in caplog.records if "backfill is on" in r.getMessage()], caplog.text


@pytest.mark.parametrize(("backfill", "stored"), [
    ("1", False), ("true", False), (" TRUE ", False), ("maybe", False),  # on, or may be: no start stored
    ("false", True), ("0", True), ("", True), (None, True),  # off, as the config reads it: the start is stored
])
def test_the_ready_sensor_whose_environment_cannot_be_read_keeps_backfill(instance, monkeypatch, backfill, stored):
    """``datahub_sensor`` with an unreadable ``$BRIDGE_DAGSTER_CLIENT_CONFIG``: its config is unknown, so
    ``$BRIDGE_DAGSTER_BACKFILL`` is read as the config reads it; on (or unreadable: it may mean on), no start is
    stored (the fixed sensor reports every run)."""
    from dagster_plugin import datahub_sensor

    monkeypatch.setenv("BRIDGE_DAGSTER_CLIENT_CONFIG", "{bad")
    if backfill is None:
        monkeypatch.delenv("BRIDGE_DAGSTER_BACKFILL", raising=False)
    else:
        monkeypatch.setenv("BRIDGE_DAGSTER_BACKFILL", backfill)
    defs = dg.Definitions(jobs=[do_stuff], sensors=[datahub_sensor])
    execute(defs, instance, "do_stuff")
    out = tick(datahub_sensor, defs, instance, None)
    assert "not configured" in out.skip_message
    assert (out.cursor is not None) is stored

