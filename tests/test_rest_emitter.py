"""The REST emitter against a real GMS test server on 127.0.0.1 (tests/servers/gms.py)."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest

from bridge.errors import (
    AuthError,
    ConfigError,
    ConnectionFailedError,
    DeliveryError,
    RejectedError,
    RetriableError,
    UndeliveredError,
    is_retriable,
)
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.rest import RestEmitter
from tests.servers.gms import GmsServer
from translators.datahub.aspects import dataset_properties
from translators.datahub.urns import make_dataset_urn

# Fast retries: the tests check how many attempts were made, never how long they took.
FAST = {"retry_backoff_sec": 0.001, "retry_backoff_max_sec": 0.05}


def props_mcp(i: int, **extra) -> MetadataChangeProposalWrapper:
    return MetadataChangeProposalWrapper(
        entity_urn=make_dataset_urn("hive", f"db.table_{i}"),
        aspect_name="datasetProperties",
        aspect={"name": f"table_{i}", "customProperties": {"n": str(i)}, "tags": [], **extra},
    )


class Recorder:
    """A callback that remembers every (error, message) it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[BaseException | None, str]] = []

    def __call__(self, error: BaseException | None, message: str) -> None:
        self.calls.append((error, message))

    @property
    def errors(self) -> list[BaseException]:
        return [e for e, _ in self.calls if e is not None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- the seed example


def test_seed_example_dataset_properties_for_bigquery():
    """DataHub's example, with this project's imports: build, test the connection, emit."""
    dataset_urn = make_dataset_urn("bigquery", "my-project.my-dataset.user-table")
    properties = dataset_properties(
        description="This table stored the canonical User profile",
        custom_properties={"governance": "ENABLED"},
    )
    event = MetadataChangeProposalWrapper(entity_urn=dataset_urn, aspect_name="datasetProperties", aspect=properties)
    with GmsServer(token="s3cret", validate_aspects=True) as gms:
        emitter = RestEmitter(gms_server=gms.url, token="s3cret")
        info = emitter.test_connection()
        assert info["gms_server"] == gms.url
        assert info["version"] == gms.version
        assert info["auth"] == "accepted"
        done = Recorder()
        emitter.emit(event, callback=done)
        emitter.close()

        assert dataset_urn == "urn:li:dataset:(urn:li:dataPlatform:bigquery,my-project.my-dataset.user-table,PROD)"
        assert done.calls == [(None, f"delivered {dataset_urn} datasetProperties")]
        assert gms.aspects[(dataset_urn, "datasetProperties")] == {
            "customProperties": {"governance": "ENABLED"},
            "description": "This table stored the canonical User profile",
        }
        (request,) = gms.ingest_requests()
        assert request.query == {"action": "ingestProposal"}
        assert request.headers["x-restli-protocol-version"] == "2.0.0"
        assert request.headers["authorization"] == "Bearer s3cret"
        assert json.loads(request.body)["async"] == "false"


def test_what_gms_received_parses_with_acryl_datahub(gms_server):
    """Conformance: the proposals GMS got are what acryl-datahub's own emitter sends for the same MCP."""
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as DataHubMCPW
    from datahub.emitter.rest_emitter import DatahubRestEmitter
    from datahub.metadata.schema_classes import DatasetPropertiesClass, MetadataChangeProposalClass

    ours = props_mcp(1, description="ünïcode ☃ and \"quotes\"")
    with RestEmitter(gms_server=gms_server.url) as emitter:
        emitter.emit(ours)
    theirs = DataHubMCPW(entityUrn=ours.entity_urn, aspect=DatasetPropertiesClass.from_obj(dict(ours.aspect)))
    DatahubRestEmitter(gms_server.url, openapi_ingestion=False).emit(theirs)

    ours_sent, theirs_sent = gms_server.proposals
    parsed = DataHubMCPW.try_from_mcpc(MetadataChangeProposalClass.from_obj(ours_sent))
    assert parsed is not None and parsed.entityUrn == ours.entity_urn
    assert parsed.aspect == theirs.aspect
    for key in ("entityType", "entityUrn", "changeType", "aspectName"):
        assert ours_sent[key] == theirs_sent[key]
    assert json.loads(ours_sent["aspect"]["value"]) == json.loads(theirs_sent["aspect"]["value"])
    assert ours_sent["aspect"]["contentType"] == theirs_sent["aspect"]["contentType"] == "application/json"


def test_datahub_file_format_objects_are_accepted(gms_server):
    mcps = [props_mcp(i) for i in range(3)]
    with RestEmitter(gms_server=gms_server.url) as emitter:
        assert emitter.emit_many([m.to_obj() for m in mcps]) == 3
    assert [p["entityUrn"] for p in gms_server.proposals] == [m.entity_urn for m in mcps]


# ---------------------------------------------------------------------------- batching


def test_batches_respect_the_200_proposal_limit(gms_server):
    mcps = [props_mcp(i) for i in range(450)]
    with RestEmitter(gms_server=gms_server.url) as emitter:
        assert emitter.emit_mcps(mcps) == 450
    sizes = [len(json.loads(r.body)["proposals"]) for r in gms_server.ingest_requests()]
    assert sizes == [200, 200, 50]
    assert all(r.query == {"action": "ingestProposalBatch"} for r in gms_server.ingest_requests())
    assert [p["entityUrn"] for p in gms_server.proposals] == [m.entity_urn for m in mcps]


def test_batches_respect_the_byte_limit(gms_server):
    mcps = [props_mcp(i, description="x" * 500) for i in range(60)]
    with RestEmitter(gms_server=gms_server.url, max_batch_bytes=4096) as emitter:
        emitter.emit_many(mcps)
    requests = gms_server.ingest_requests()
    assert len(requests) > 1
    assert all(r.body_size <= 4096 for r in requests)
    assert len(gms_server.proposals) == 60


def test_payload_too_large_for_gms_is_split_until_it_fits():
    """GMS answers 413 above its body limit; the emitter halves the batch instead of failing it."""
    mcps = [props_mcp(i, description="y" * 300) for i in range(40)]
    with GmsServer(max_body_bytes=5000) as gms, RestEmitter(gms_server=gms.url) as emitter:
        emitter.emit_many(mcps)
        assert 413 in [r.status for r in gms.ingest_requests()]
        assert sorted(p["entityUrn"] for p in gms.proposals) == sorted(m.entity_urn for m in mcps)


def test_one_keep_alive_connection_for_sequential_emits(gms_server):
    with RestEmitter(gms_server=gms_server.url) as emitter:
        for i in range(20):
            emitter.emit(props_mcp(i))
    peers = {r.peer for r in gms_server.ingest_requests()}
    assert len(peers) == 1


# ---------------------------------------------------------------------------- rejections


def test_one_invalid_mcp_in_a_batch_the_rest_land():
    good = [props_mcp(i) for i in range(50)]
    bad = MetadataChangeProposalWrapper(
        entity_urn=make_dataset_urn("hive", "db.broken"), aspect_name="datasetProperties",
        aspect={"name": 42, "customProperties": {}},  # name must be a string: DataHub's schema says so
    )
    mcps = good[:17] + [bad] + good[17:]
    done = Recorder()
    with GmsServer(validate_aspects=True) as gms, RestEmitter(gms_server=gms.url, **FAST) as emitter:
        with pytest.raises(UndeliveredError) as info:
            emitter.emit_many(mcps, callback=done)
        assert info.value.failed == 1
        (error,) = info.value.errors
        assert isinstance(error, RejectedError)
        assert error.urn == bad.entity_urn and error.aspect == "datasetProperties" and error.status == 422
        assert "cannot be parsed" in error.server_message
        assert bad.entity_urn in str(info.value)
        assert {p["entityUrn"] for p in gms.proposals} == {m.entity_urn for m in good}
        assert len(done.calls) == 51 and done.errors == [error]


def test_a_patch_gms_can_never_apply_is_a_rejection_not_retried_and_the_rest_land():
    # GMS answers 500 for a patch it has no template for; sending it again would change nothing.
    good = [props_mcp(i) for i in range(20)]
    bad = MetadataChangeProposalWrapper(
        entity_urn=make_dataset_urn("hive", "db.no_template"), aspect_name="subTypes", change_type="PATCH",
        aspect=[{"op": "add", "path": "/typeNames/0", "value": "Table"}],
    )
    with GmsServer() as gms, RestEmitter(gms_server=gms.url, **FAST) as emitter:
        with pytest.raises(UndeliveredError) as info:
            emitter.emit_many(good[:7] + [bad] + good[7:])
        (error,) = info.value.errors
        assert isinstance(error, RejectedError) and error.status == 500 and error.urn == bad.entity_urn
        assert "Patch not supported for aspect with name subTypes" in error.server_message
        assert {p["entityUrn"] for p in gms.proposals} == {m.entity_urn for m in good}
        single = [r for r in gms.ingest_requests() if r.query.get("action") == "ingestProposal"]
        assert len(single) == 1  # found by bisection, then not retried


def test_rejected_single_emit_raises_and_calls_back(gms_server):
    mcp = props_mcp(7)
    gms_server.reject_urns.add(mcp.entity_urn)
    done = Recorder()
    with RestEmitter(gms_server=gms_server.url) as emitter, pytest.raises(RejectedError) as info:
        emitter.emit(mcp, callback=done)
    assert info.value.urn == mcp.entity_urn and info.value.status == 422
    assert "rejected by validator" in info.value.server_message
    assert done.errors == [info.value]
    assert len(gms_server.ingest_requests()) == 1  # 4xx: never retried


# ---------------------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [503, 500, 429, 502])
def test_retries_then_success(gms_server, status):
    gms_server.fail_next(3, status=status)
    with RestEmitter(gms_server=gms_server.url, **FAST) as emitter:
        emitter.emit(props_mcp(1))
    assert [r.status for r in gms_server.ingest_requests()] == [status, status, status, 200]
    assert len(gms_server.proposals) == 1


def test_dropped_connection_and_slow_answer_are_retried(gms_server):
    gms_server.drop_next(1)
    gms_server.slow_next(1, seconds=1.0)
    with RestEmitter(gms_server=gms_server.url, read_timeout_sec=0.2, **FAST) as emitter:
        emitter.emit(props_mcp(1))
    # dropped (no answer), timed out (answered after the client gave up), then delivered.
    assert [r.status for r in gms_server.ingest_requests()][0] is None
    assert gms_server.ingest_requests()[-1].status == 200
    assert gms_server.wait_for_proposals(1)


def test_retry_after_is_honoured(gms_server, caplog):
    gms_server.fail_next(1, status=429, retry_after=0.03)
    with caplog.at_level(logging.WARNING, logger="emitters.rest"), \
            RestEmitter(gms_server=gms_server.url, retry_backoff_sec=5, retry_backoff_max_sec=10) as emitter:
        emitter.emit(props_mcp(1))
    (record,) = [r for r in caplog.records if getattr(r, "wait_sec", None) is not None]
    assert record.wait_sec == pytest.approx(0.03)
    assert record.retry_after == pytest.approx(0.03) and record.status == 429


def test_retry_budget_exhausted_gives_a_clear_error(gms_server):
    gms_server.fail_next(10, status=503, message="GMS is restarting")
    done = Recorder()
    mcp = props_mcp(1)
    emitter = RestEmitter(gms_server=gms_server.url, retry_max_times=2, **FAST)
    with pytest.raises(RetriableError) as info:
        emitter.emit(mcp, callback=done)
    error = info.value
    assert "gave up after 3 attempts" in str(error)
    assert error.status == 503 and error.server_message == "GMS is restarting"
    assert error.urn == mcp.entity_urn
    assert len(gms_server.ingest_requests()) == 3
    assert done.errors == [error]


def test_retry_budget_exhausted_in_a_batch_reports_every_mcp(gms_server):
    gms_server.fail_next(100, status=500)
    mcps = [props_mcp(i) for i in range(250)]
    done = Recorder()
    emitter = RestEmitter(gms_server=gms_server.url, retry_max_times=1, **FAST)
    with pytest.raises(UndeliveredError) as info:
        emitter.emit_many(mcps, callback=done)
    assert info.value.failed == 250
    assert all(isinstance(e, RetriableError) for e in info.value.errors)
    assert len(done.errors) == 250 and len(done.calls) == 250
    assert gms_server.proposals == []


def test_auth_failure_is_not_retried():
    with GmsServer(token="right") as gms, RestEmitter(gms_server=gms.url, token="wrong", **FAST) as emitter:
        with pytest.raises(UndeliveredError) as info:
            emitter.emit_many([props_mcp(i) for i in range(5)])
        assert len(gms.ingest_requests()) == 1  # neither retried nor bisected
        with pytest.raises(AuthError) as single:
            emitter.emit(props_mcp(9))
        assert len(gms.ingest_requests()) == 2
    assert info.value.failed == 5
    assert all(isinstance(e, AuthError) and e.status == 401 for e in info.value.errors)
    assert single.value.status == 401


def test_token_is_not_logged(gms_server, caplog):
    gms_server.fail_next(2, status=503)
    with caplog.at_level(logging.DEBUG), \
            RestEmitter(gms_server=gms_server.url, token="tok-do-not-log", **FAST) as emitter:
        emitter.emit(props_mcp(1))
    assert caplog.records  # the retries were logged ...
    assert "tok-do-not-log" not in caplog.text  # ... without the token


# ---------------------------------------------------------------------------- background delivery


def test_background_delivery_nothing_silently_dropped(gms_server):
    mcps = [props_mcp(i) for i in range(300)]
    poison = mcps[123]
    gms_server.reject_urns.add(poison.entity_urn)
    done = Recorder()
    emitter = RestEmitter(gms_server=gms_server.url, delivery="background", linger_ms=1, **FAST)
    for mcp in mcps:
        emitter.emit(mcp, callback=done)
    with pytest.raises(UndeliveredError) as info:
        emitter.flush()
    assert info.value.failed == 1 and info.value.errors[0].urn == poison.entity_urn
    assert len(done.calls) == 300 and [e.urn for e in done.errors] == [poison.entity_urn]
    assert len(gms_server.proposals) == 299
    emitter.flush()  # failures are reported once
    emitter.close()
    emitter.close()
    with pytest.raises(DeliveryError):
        emitter.emit(mcps[0])


def test_background_delivery_survives_an_outage(gms_server):
    gms_server.fail_next(2, status=503)
    gms_server.drop_next(1)
    with RestEmitter(gms_server=gms_server.url, delivery="background", **FAST) as emitter:
        emitter.emit_many([props_mcp(i) for i in range(120)])
        emitter.flush()
    assert len(gms_server.proposals) == 120


# ---------------------------------------------------------------------------- test_connection


@pytest.mark.parametrize("pretend", ["frontend", "frontend-html", "frontend-404"])
def test_frontend_url_is_recognised(pretend):
    with GmsServer(pretend=pretend) as frontend, pytest.raises(ConfigError) as info:
        RestEmitter(gms_server=frontend.url).test_connection()
    message = str(info.value)
    assert "frontend" in message and f"{frontend.url}/api/gms" in message
    assert info.value.key == "gms_server"


def test_wrong_token_and_missing_token():
    with GmsServer(token="right") as gms:
        with pytest.raises(AuthError) as wrong:
            RestEmitter(gms_server=gms.url, token="wrong").test_connection()
        with pytest.raises(AuthError) as missing:
            RestEmitter(gms_server=gms.url).test_connection()
        assert RestEmitter(gms_server=gms.url, token="right").test_connection()["auth"] == "accepted"
    assert wrong.value.status == 401 and "refused the token" in str(wrong.value)
    assert "none is configured" in str(missing.value)


def test_nothing_listening():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailedError) as info:
        RestEmitter(gms_server=url).test_connection()
    assert "nothing is listening" in str(info.value) and url in str(info.value)
    with pytest.raises(ConnectionFailedError) as info:
        RestEmitter(gms_server=url, retry_max_times=1, **FAST).emit(props_mcp(1))
    assert "gave up after 2 attempts" in str(info.value)


def test_a_connection_failure_is_an_os_error_like_the_network_errors_it_replaces():
    """``except OSError`` (what catches socket's and requests' connection errors) still catches it."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OSError) as info:
        RestEmitter(gms_server=url, retry_max_times=0).emit(props_mcp(1))
    assert isinstance(info.value, ConnectionFailedError) and is_retriable(info.value)
    assert info.value.errno is None and str(info.value).startswith(f"nothing is listening at {url}")


def test_gms_errors_on_config_are_plain(gms_server):
    gms_server.fail_next(1, status=500, message="database down")
    with pytest.raises(DeliveryError) as info:
        RestEmitter(gms_server=gms_server.url).test_connection()
    assert info.value.status == 500 and info.value.server_message == "database down"


# ---------------------------------------------------------------------------- headers and modes


def test_extra_headers_and_async_mode(gms_server):
    with RestEmitter(gms_server=gms_server.url, extra_headers={"X-Team": "lineage"}, mode="async") as emitter:
        emitter.emit(props_mcp(1))
        emitter.emit_many([props_mcp(2), props_mcp(3)])
    single, batch = gms_server.ingest_requests()
    assert single.headers["x-team"] == batch.headers["x-team"] == "lineage"
    assert single.headers["content-type"] == "application/json"
    assert json.loads(single.body)["async"] == json.loads(batch.body)["async"] == "true"
    assert "authorization" not in single.headers


def test_background_queue_full_raises_queue_full_error(gms_server):
    from bridge.errors import QueueFullError

    gms_server.slow_next(1, seconds=2.0)  # the first batch is stuck in flight while the queue fills
    emitter = RestEmitter(gms_server=gms_server.url, delivery="background", max_pending=1,
                          queue_timeout_sec=0.05, linger_ms=0)
    emitter.emit(props_mcp(0))
    assert gms_server.wait_for_requests(1)
    emitter.emit(props_mcp(1))  # waits in the queue (one slot)
    with pytest.raises(QueueFullError) as info:
        emitter.emit(props_mcp(2))
    assert info.value.urn == props_mcp(2).entity_urn
    emitter.close()
    assert {p["entityUrn"] for p in gms_server.proposals} == {props_mcp(0).entity_urn, props_mcp(1).entity_urn}


def test_flush_timeout_keeps_items_queued(gms_server):
    gms_server.slow_next(1, seconds=1.0)
    emitter = RestEmitter(gms_server=gms_server.url, delivery="background", linger_ms=0)
    emitter.emit(props_mcp(0))
    with pytest.raises(RetriableError) as info:
        emitter.flush(timeout=0.01)
    assert "still pending" in str(info.value)
    emitter.flush()
    emitter.close()
    assert len(gms_server.proposals) == 1


def test_a_raising_callback_does_not_stop_delivery(gms_server):
    def broken(error, message):
        raise ValueError("callback bug")

    with RestEmitter(gms_server=gms_server.url) as emitter:
        emitter.emit(props_mcp(0), callback=broken)
        emitter.emit_many([props_mcp(i) for i in range(1, 5)], callback=broken)
    assert len(gms_server.proposals) == 5


def test_concurrent_sync_emits_share_the_pool(gms_server):
    import threading

    emitter = RestEmitter(gms_server=gms_server.url, pool_maxsize=3)
    threads = [threading.Thread(target=lambda k=k: [emitter.emit(props_mcp(k * 100 + i)) for i in range(25)])
               for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    emitter.close()
    assert len(gms_server.proposals) == 150
    assert len({r.peer for r in gms_server.ingest_requests()}) <= 6


def test_through_an_http_proxy_from_the_environment(gms_server, tmp_path):
    """HTTP(S)_PROXY is honoured as requests does; here the "proxy" is the GMS test server, which
    answers absolute-form request targets like a forward proxy would pass them on."""
    import os
    import subprocess
    import sys

    script = (
        "from bridge.mcp import MetadataChangeProposalWrapper as M\n"
        "from emitters.rest import RestEmitter\n"
        "e = RestEmitter(gms_server='http://gms.invalid:8080')\n"
        "e.emit(M(entity_urn='urn:li:dataset:(urn:li:dataPlatform:hive,db.proxied,PROD)',"
        " aspect_name='status', aspect={'removed': False}))\n"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HTTP_PROXY=gms_server.url, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (request,) = gms_server.ingest_requests()
    assert request.headers["host"] == "gms.invalid:8080"
    assert gms_server.proposals[0]["entityUrn"] == "urn:li:dataset:(urn:li:dataPlatform:hive,db.proxied,PROD)"


def test_acryl_datahub_mcps_can_be_emitted_as_they_are(gms_server):
    """Users porting DataHub code can hand over DataHub's own MCP objects."""
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as DataHubMCPW
    from datahub.metadata.schema_classes import DatasetPropertiesClass, StatusClass

    urn = make_dataset_urn("bigquery", "my-project.my-dataset.user-table")
    with RestEmitter(gms_server=gms_server.url) as emitter:
        emitter.emit(DataHubMCPW(entityUrn=urn, aspect=DatasetPropertiesClass(description="Users")))
        emitter.emit_mcps([DataHubMCPW(entityUrn=urn, aspect=StatusClass(removed=False))])
    assert gms_server.aspects[(urn, "datasetProperties")]["description"] == "Users"
    assert gms_server.aspects[(urn, "status")] == {"removed": False}


def test_unusable_items_are_reported_not_dropped(gms_server):
    done = Recorder()
    with RestEmitter(gms_server=gms_server.url) as emitter, pytest.raises(UndeliveredError) as info:
        emitter.emit_many([props_mcp(1), {"entityUrn": "not-a-urn"}, 42, props_mcp(2)], callback=done)
    assert info.value.failed == 2
    assert len(done.calls) == 4 and len(done.errors) == 2
    assert len(gms_server.proposals) == 2


def test_emitting_to_the_frontend_says_to_fix_the_url():
    done = Recorder()
    with GmsServer(pretend="frontend") as frontend:
        emitter = RestEmitter(gms_server=frontend.url, **FAST)
        with pytest.raises(ConfigError) as single:
            emitter.emit(props_mcp(1), callback=done)
        with pytest.raises(UndeliveredError) as many:
            emitter.emit_many([props_mcp(i) for i in range(10)], callback=done)
        assert len(frontend.requests) == 2  # neither retried nor bisected
    assert "this is not GMS" in str(single.value) and f"{frontend.url}/api/gms" in str(single.value)
    assert many.value.failed == 10 and all(isinstance(e, ConfigError) for e in many.value.errors)
    assert len(done.errors) == 11
