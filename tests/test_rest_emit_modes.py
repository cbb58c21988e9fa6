"""Emit modes and the OpenAPI path of the REST emitter, against the real GMS test server.

What goes on the wire is compared with acryl-datahub's own ``DataHubRestEmitter`` run against
the same server (acryl-datahub is the reference here; the product never imports it).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from bridge.errors import AuthError, ConfigError, RejectedError, RetriableError, UndeliveredError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.rest import EmitMode, RestEmitter, RestEmitterConfig
from emitters.rest.connection import supports_openapi
from tests.servers.gms import GmsServer
from translators.datahub.urns import make_dataset_urn

FAST = {"retry_backoff_sec": 0.001, "retry_backoff_max_sec": 0.05, "trace_poll_sec": 0.01}
MODES = [m.value for m in EmitMode]
NEW_GMS = "v1.2.0"  # advertises OpenAPI ingestion and the trace API (>= 1.0.1)
OLD_GMS = "v1.0.0"


def urn(i: int) -> str:
    return make_dataset_urn("hive", f"db.table_{i}")


def ours(i: int, aspect: str = "status") -> MetadataChangeProposalWrapper:
    value = {"removed": False} if aspect == "status" else {"name": f"t{i}", "customProperties": {}, "tags": []}
    return MetadataChangeProposalWrapper(entity_urn=urn(i), aspect_name=aspect, aspect=value)


def our_patch(i: int, tag: str) -> MetadataChangeProposalWrapper:
    return MetadataChangeProposalWrapper(
        entity_urn=urn(i), aspect_name="globalTags", change_type="PATCH",
        aspect=[{"op": "add", "path": f"/tags/urn:li:tag:{tag}", "value": {"tag": f"urn:li:tag:{tag}"}}])


def theirs(mcp: MetadataChangeProposalWrapper):
    """The same proposal as acryl-datahub's own objects."""
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as DataHubMCPW
    from datahub.metadata import schema_classes as sc

    if mcp.is_patch:
        return sc.MetadataChangeProposalClass(
            entityType=mcp.entity_type, entityUrn=mcp.entity_urn, changeType="PATCH", aspectName=mcp.aspect_name,
            aspect=sc.GenericAspectClass(value=mcp.aspect_json.encode(), contentType="application/json-patch+json"))
    aspect = sc.ASPECT_NAME_MAP[mcp.aspect_name].from_obj(mcp.aspect_value)
    return DataHubMCPW(entityUrn=mcp.entity_urn, aspect=aspect)


def wire(gms: GmsServer) -> list[tuple]:
    """Every write and trace request, comparable across emitters (DataHub adds its own
    systemMetadata -- run id, client version -- so that is left out)."""
    out = []
    for r in gms.requests:
        if r.path in ("/config", "/health") or r.path.startswith("/aspects/"):
            continue
        body = json.loads(r.body) if r.body else None
        if r.path.startswith("/openapi/v3/") and body:
            for item in body:
                for name, envelope in item.items():
                    if name != "urn":
                        envelope.pop("systemMetadata", None)
        elif r.path == "/aspects":
            body = {"async": body["async"], "n": len(body.get("proposals") or [body.get("proposal")])}
        elif r.path.startswith("/openapi/v1/trace/"):
            r = r.__class__(r.method, "/openapi/v1/trace/write/<id>", r.query, {}, 0, r.status)
        out.append((r.method, r.path, tuple(sorted(r.query.items())), r.status, body))
    return out


def run_ours(gms: GmsServer, mode: str, openapi: bool, batch) -> None:
    with RestEmitter(gms_server=gms.url, emit_mode=mode, openapi_ingestion=openapi, **FAST) as emitter:
        emitter.emit(batch[0])
        emitter.emit_many(batch[1:])


def run_datahub(gms: GmsServer, mode: str, openapi: bool, batch) -> None:
    from datahub.emitter.rest_emitter import DataHubRestEmitter
    from datahub.emitter.rest_emitter import EmitMode as DataHubEmitMode

    emitter = DataHubRestEmitter(gms_server=gms.url, openapi_ingestion=openapi)
    emitter.test_connection()
    dh_mode = DataHubEmitMode[mode]
    emitter.emit_mcp(theirs(batch[0]), emit_mode=dh_mode, wait_timeout=timedelta(seconds=10))
    emitter.emit_mcps([theirs(m) for m in batch[1:]], emit_mode=dh_mode, wait_timeout=timedelta(seconds=10))
    emitter.close()


# ---------------------------------------------------------------------------- config


def test_emit_mode_names_default_and_legacy_spellings():
    assert RestEmitterConfig().emit_mode is EmitMode.SYNC_PRIMARY  # DataHub's default
    assert RestEmitterConfig().openapi_ingestion is None  # decided from /config, as DataHub does
    assert RestEmitterConfig.from_dict({"emit_mode": "async_wait"}).emit_mode is EmitMode.ASYNC_WAIT
    assert RestEmitterConfig.from_dict({"default_emit_mode": "SYNC_WAIT"}).emit_mode is EmitMode.SYNC_WAIT
    assert RestEmitterConfig.from_dict({"mode": "async"}).emit_mode is EmitMode.ASYNC
    assert RestEmitterConfig.from_dict({"async_flag": False}).emit_mode is EmitMode.SYNC_PRIMARY
    from datahub.emitter.rest_emitter import EmitMode as DataHubEmitMode

    assert RestEmitterConfig.from_dict({"emit_mode": DataHubEmitMode.ASYNC_WAIT}).emit_mode is EmitMode.ASYNC_WAIT
    with pytest.raises(ConfigError) as info:
        RestEmitterConfig.from_dict({"emit_mode": "eventually"})
    assert info.value.key == "emit_mode" and "ASYNC_WAIT" in str(info.value)


def test_datahub_environment_variables():
    env = {"DATAHUB_GMS_URL": "http://gms:8080", "DATAHUB_EMIT_MODE": "ASYNC_WAIT",
           "DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT": "OPENAPI"}
    cfg = RestEmitterConfig.from_env(env)
    assert (cfg.emit_mode, cfg.openapi_ingestion, cfg.gms_server) == (EmitMode.ASYNC_WAIT, True, "http://gms:8080")
    # Explicit settings win; from_settings (DataHub's constructor) reads only the two DataHub reads.
    assert RestEmitterConfig.from_env(env, emit_mode="ASYNC").emit_mode is EmitMode.ASYNC
    cfg = RestEmitterConfig.from_settings({"gms_server": "http://x:1"}, environ=env)
    assert (cfg.emit_mode, cfg.openapi_ingestion, cfg.gms_server) == (EmitMode.ASYNC_WAIT, True, "http://x:1")
    assert RestEmitterConfig.from_dict({}).emit_mode is EmitMode.SYNC_PRIMARY  # from_dict reads no environment
    with pytest.raises(ConfigError) as info:
        RestEmitterConfig.from_env({"DATAHUB_EMIT_MODE": "fast"})
    assert "DATAHUB_EMIT_MODE" in str(info.value)


def test_keyword_constructor_honours_datahub_emit_mode(monkeypatch, gms_server):
    monkeypatch.setenv("DATAHUB_EMIT_MODE", "ASYNC")
    with RestEmitter(gms_server=gms_server.url) as emitter:
        assert emitter.config.emit_mode is EmitMode.ASYNC
        emitter.emit(ours(1))
    assert json.loads(gms_server.ingest_requests()[0].body)["async"] == "true"


@pytest.mark.parametrize("version,env,expected", [
    ("v1.0.1", "core", True), ("1.3.0rc2", "core", True), ("v1.0.0", "core", False), ("v0.15.0.4", "core", False),
    ("v0.3.11", "cloud", True), ("v0.3.10.2", "cloud", False), (None, "core", False), ("null", None, False),
])
def test_openapi_advertised_by_version_as_datahub_reads_it(version, env, expected):
    from datahub.utilities.server_config_util import RestServiceConfig, ServiceFeature

    config = {"noCode": "true", "versions": {"acryldata/datahub": {"version": version}}, "datahub": {"serverEnv": env}}
    assert supports_openapi(config) is expected
    assert RestServiceConfig(raw_config=config).supports_feature(ServiceFeature.OPEN_API_SDK) is expected


# ---------------------------------------------------------------------------- the wire, against DataHub's emitter


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("openapi", [False, True], ids=["restli", "openapi"])
def test_each_mode_sends_what_datahubs_emitter_sends(mode, openapi):
    batch = [ours(0), ours(1), ours(2, "datasetProperties"), our_patch(1, "pii"), ours(3)]
    with GmsServer(version=NEW_GMS) as mine, GmsServer(version=NEW_GMS) as reference:
        run_ours(mine, mode, openapi, batch)
        run_datahub(reference, mode, openapi, batch)
        assert wire(mine) == wire(reference)
        assert mine.aspects == reference.aspects
    writes = [w for w in wire(mine) if "/trace/" not in w[1]]
    expect_async = "true" if EmitMode(mode).is_async else "false"
    if openapi:
        assert {w[2] for w in writes} == {(("async", expect_async),)}
        assert {w[3] for w in writes} == {202 if EmitMode(mode).is_async else 200}
        headers = [env["headers"] for w in writes for item in w[4] for k, env in item.items() if k != "urn"]
        assert all(h == ({"X-DataHub-Sync-Index-Update": "true"} if mode == "SYNC_WAIT" else {}) for h in headers)
        traces = [w for w in wire(mine) if "/trace/" in w[1]]
        assert len(traces) == (len(writes) if mode == "ASYNC_WAIT" else 0)
    else:
        assert {w[4]["async"] for w in writes} == {expect_async}


def test_openapi_batches_per_entity_type_and_method(gms_server):
    job = MetadataChangeProposalWrapper(entity_urn="urn:li:dataJob:(urn:li:dataFlow:(airflow,dag,PROD),task)",
                                        aspect_name="status", aspect={"removed": False})
    with RestEmitter(gms_server=gms_server.url, openapi_ingestion=True, **FAST) as emitter:
        emitter.emit_many([ours(0), job, our_patch(0, "a"), ours(1), our_patch(1, "b")])
    requests = gms_server.openapi_requests()
    assert [(r.method, r.path, len(json.loads(r.body))) for r in requests] == [
        ("POST", "/openapi/v3/entity/dataset", 2), ("POST", "/openapi/v3/entity/dataJob", 1),
        ("PATCH", "/openapi/v3/entity/dataset", 2)]
    assert gms_server.aspects[(urn(1), "globalTags")] == {"tags": [{"tag": "urn:li:tag:b"}]}


def test_patches_land_the_same_through_openapi_and_restli():
    mcps = [ours(0, "datasetProperties"), our_patch(0, "a"), our_patch(0, "b"),
            MetadataChangeProposalWrapper(entity_urn=urn(0), aspect_name="globalTags", change_type="PATCH",
                                          aspect=[{"op": "remove", "path": "/tags/urn:li:tag:a"}])]
    with GmsServer() as restli, GmsServer() as openapi:
        for gms, flag in ((restli, False), (openapi, True)):
            with RestEmitter(gms_server=gms.url, openapi_ingestion=flag, **FAST) as emitter:
                for mcp in mcps:
                    emitter.emit(mcp)
        assert openapi.openapi_requests() and not restli.openapi_requests()
        assert openapi.aspects == restli.aspects


def test_create_never_replaces_through_openapi(gms_server):
    gms_server.seed(urn(0), "datasetProperties", {"name": "from the UI", "customProperties": {}, "tags": []})
    create = [MetadataChangeProposalWrapper(entity_urn=urn(i), aspect_name="datasetProperties", change_type="CREATE",
                                            aspect={"name": "ours", "customProperties": {}, "tags": []},
                                            headers={"If-None-Match": "*"} if i else None) for i in (0, 1)]
    with RestEmitter(gms_server=gms_server.url, openapi_ingestion=True, **FAST) as emitter:
        emitter.emit_many(create)
    assert gms_server.aspects[(urn(0), "datasetProperties")]["name"] == "from the UI"
    assert gms_server.aspects[(urn(1), "datasetProperties")]["name"] == "ours"
    sent = json.loads(gms_server.openapi_requests()[0].body)
    assert [item["datasetProperties"]["headers"] for item in sent] == [{"If-None-Match": "*"}] * 2


# ---------------------------------------------------------------------------- choosing OpenAPI


@pytest.mark.parametrize("version,expected", [(NEW_GMS, True), (OLD_GMS, False)])
def test_openapi_chosen_from_config_on_test_connection(version, expected):
    with GmsServer(version=version) as gms:
        with RestEmitter(gms_server=gms.url, **FAST) as emitter:
            emitter.emit(ours(0))  # undecided yet: Rest.li, as DataHub's emitter before test_connection
            info = emitter.test_connection()
            assert (info["openapi"], info["openapi_ingestion"]) == (expected, expected)
            emitter.emit(ours(1))
        assert len(gms.ingest_requests()) == (1 if expected else 2)
        assert len(gms.openapi_requests()) == (1 if expected else 0)


def test_openapi_setting_wins_over_config(monkeypatch):
    with GmsServer(version=NEW_GMS) as gms:
        with RestEmitter(gms_server=gms.url, openapi_ingestion=False) as emitter:
            assert emitter.test_connection()["openapi_ingestion"] is False
            emitter.emit(ours(0))
        monkeypatch.setenv("DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT", "RESTLI")
        with RestEmitter(gms_server=gms.url) as emitter:
            assert emitter.test_connection()["openapi_ingestion"] is False
        assert not gms.openapi_requests()
    with GmsServer(version=OLD_GMS) as gms, RestEmitter(gms_server=gms.url, openapi_ingestion=True) as emitter:
        assert emitter.test_connection()["openapi_ingestion"] is True
        emitter.emit(ours(0))
        assert len(gms.openapi_requests()) == 1


def test_async_wait_asks_config_itself_when_undecided():
    with GmsServer(version=NEW_GMS) as gms:
        with RestEmitter(gms_server=gms.url, emit_mode="ASYNC_WAIT", **FAST) as emitter:
            emitter.emit(ours(0))
        assert [r.path for r in gms.requests][:3] == ["/config", "/openapi/v3/entity/dataset",
                                                     "/openapi/v1/trace/write/" + gms.requests[2].path.rsplit("/")[-1]]


# ---------------------------------------------------------------------------- ASYNC_WAIT


def test_async_wait_waits_until_persisted():
    with GmsServer(version=NEW_GMS) as gms:
        gms.trace_outcome(urn(1), "status", "pending", polls=3)
        with RestEmitter(gms_server=gms.url, emit_mode="ASYNC_WAIT", openapi_ingestion=True, **FAST) as emitter:
            emitter.emit_many([ours(0), ours(1), ours(2)])
        assert gms.trace_polls == 4  # 3 x PENDING, then persisted
        bodies = [json.loads(r.body) for r in gms.requests if "/trace/" in r.path]
        assert bodies[0] == {urn(i): ["status"] for i in range(3)}
        assert all(list(b) == [urn(1)] for b in bodies[1:])  # only what is still pending is asked again


def test_async_wait_reports_a_write_that_failed_per_the_trace():
    calls = []
    with GmsServer(version=NEW_GMS) as gms:
        gms.trace_outcome(urn(1), "status", "failed", message="Validation error: aspect too large")
        with RestEmitter(gms_server=gms.url, emit_mode="ASYNC_WAIT", openapi_ingestion=True, **FAST) as emitter:
            with pytest.raises(UndeliveredError) as info:
                emitter.emit_many([ours(0), ours(1), ours(2)], callback=lambda e, m: calls.append(e))
            assert info.value.failed == 1
            error = info.value.errors[0]
            assert isinstance(error, RejectedError)
            assert (error.urn, error.aspect) == (urn(1), "status")
            assert "aspect too large" in str(error) and "trace" in str(error)
            assert sum(e is not None for e in calls) == 1 and len(calls) == 3
            with pytest.raises(RejectedError):
                emitter.emit(ours(1))
        assert (urn(1), "status") not in gms.aspects and (urn(2), "status") in gms.aspects


def test_async_wait_search_failure_is_reported_but_not_a_rejection():
    with GmsServer(version=NEW_GMS) as gms:
        gms.trace_outcome(urn(0), "status", "search-failed", message="elasticsearch: index read-only")
        emitter = RestEmitter(gms_server=gms.url, emit_mode="ASYNC_WAIT", openapi_ingestion=True, **FAST)
        with emitter, pytest.raises(Exception) as info:
            emitter.emit(ours(0))
        assert not isinstance(info.value, RejectedError)
        assert "index read-only" in str(info.value) and "search" in str(info.value)


def test_async_wait_times_out_with_a_retriable_error():
    with GmsServer(version=NEW_GMS) as gms:
        gms.trace_outcome(urn(0), "status", "pending", polls=None)
        emitter = RestEmitter(gms_server=gms.url, emit_mode="ASYNC_WAIT", openapi_ingestion=True,
                              trace_timeout_sec=0.2, **FAST)
        with emitter, pytest.raises(RetriableError) as info:
            emitter.emit(ours(0))
        assert "0.2s" in str(info.value) and "trace_timeout_sec" in str(info.value)
        assert info.value.urn == urn(0) and gms.trace_polls >= 2


def test_async_wait_in_background_delivery_reports_at_flush():
    with GmsServer(version=NEW_GMS) as gms:
        gms.trace_outcome(urn(1), "status", "failed")
        emitter = RestEmitter(gms_server=gms.url, emit_mode="ASYNC_WAIT", openapi_ingestion=True,
                              delivery="background", linger_ms=0, **FAST)
        emitter.emit_many([ours(0), ours(1)])
        with pytest.raises(UndeliveredError) as info:
            emitter.flush(timeout=10)
        assert info.value.failed == 1
        emitter.close()


@pytest.mark.parametrize("server", [{"version": OLD_GMS}, {"version": NEW_GMS, "tracing": False}],
                         ids=["restli", "no-traceparent"])
def test_async_wait_without_tracing_warns_and_sends_async(server, caplog):
    with GmsServer(**server) as gms, caplog.at_level(logging.WARNING, logger="emitters.rest"):
        with RestEmitter(gms_server=gms.url, emit_mode="ASYNC_WAIT", **FAST) as emitter:
            emitter.emit(ours(0))
            emitter.emit(ours(1))
        assert gms.trace_polls == 0 and len(gms.aspects) == 2
        warnings = [r.getMessage() for r in caplog.records if "ASYNC_WAIT" in r.getMessage()]
        assert len(warnings) == 1 and "1.0.1" in warnings[0]


def test_per_call_emit_mode_and_datahubs_async_flag(gms_server):
    with RestEmitter(gms_server=gms_server.url, openapi_ingestion=True, **FAST) as emitter:
        emitter.emit(ours(0), emit_mode=EmitMode.ASYNC)
        emitter.emit_mcp(ours(1), async_flag=False)
        emitter.emit_mcps([ours(2), ours(3)], emit_mode="SYNC_WAIT")
        with pytest.raises(ConfigError):
            emitter.emit(ours(4), emit_mode="soon")
    assert [r.query["async"] for r in gms_server.openapi_requests()] == ["true", "false", "false"]


def test_datahubs_call_shapes_with_wait_timeout():
    with GmsServer(version=NEW_GMS) as gms:
        gms.trace_outcome(urn(0), "status", "pending", polls=None)
        with RestEmitter(gms_server=gms.url, openapi_ingestion=True, **FAST) as emitter:
            emitter.emit_mcps([ours(1), ours(2)], EmitMode.ASYNC)  # DataHub: emit_mcps(mcps, emit_mode)
            with pytest.raises(RetriableError) as info:
                emitter.emit_mcp(ours(0), emit_mode=EmitMode.ASYNC_WAIT, wait_timeout=timedelta(seconds=0.1))
            assert "0.1s" in str(info.value)
            with pytest.raises(UndeliveredError):
                emitter.emit_mcps([ours(0)], emit_mode="ASYNC_WAIT", wait_timeout=0.1)
        assert gms.openapi_requests()[0].query == {"async": "true"}


# ---------------------------------------------------------------------------- errors


def test_openapi_forced_against_a_gms_without_it_says_what_to_do():
    with GmsServer(openapi=False) as gms, RestEmitter(gms_server=gms.url, openapi_ingestion=True) as emitter, \
            pytest.raises(ConfigError) as info:
        emitter.emit(ours(0))
    assert info.value.key == "openapi_ingestion"
    assert "openapi_ingestion=false" in str(info.value) and "1.0.1" in str(info.value)


def test_openapi_rejection_is_bisected_and_named(gms_server):
    gms_server.reject_urns.add(urn(2))
    emitter = RestEmitter(gms_server=gms_server.url, openapi_ingestion=True, **FAST)
    with emitter, pytest.raises(UndeliveredError) as info:
        emitter.emit_many([ours(i) for i in range(5)])
    error = info.value.errors[0]
    assert isinstance(error, RejectedError) and error.status == 400 and error.urn == urn(2)
    assert "rejected by validator" in error.server_message
    assert {k[0] for k in gms_server.aspects} == {urn(i) for i in (0, 1, 3, 4)}


def test_openapi_auth_and_server_errors():
    with GmsServer(token="right") as gms:
        emitter = RestEmitter(gms_server=gms.url, token="wrong", openapi_ingestion=True)
        with emitter, pytest.raises(AuthError):
            emitter.emit(ours(0))
        gms.fail_next(1, status=503, retry_after=0)
        with RestEmitter(gms_server=gms.url, token="right", openapi_ingestion=True, **FAST) as emitter:
            emitter.emit(ours(0))  # retried
        assert [r.status for r in gms.openapi_requests()][-2:] == [503, 200]


def test_openapi_delete(gms_server):
    with RestEmitter(gms_server=gms_server.url, openapi_ingestion=True, **FAST) as emitter:
        emitter.emit_many([ours(0), ours(1)])
        emitter.emit(MetadataChangeProposalWrapper(entity_urn=urn(0), aspect_name="datasetKey",
                                                   change_type="DELETE", aspect={}))
    assert {k[0] for k in gms_server.aspects} == {urn(1)}
    assert gms_server.openapi_requests()[-1].method == "DELETE"
