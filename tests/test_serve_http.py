"""``bridge serve`` over real HTTP: routes, arrays, gzip, answers, auth, limits, probes, metrics,
and openlineage-python's own HttpTransport as the producer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import requests

from bridge.intake import LINEAGE_ROUTES, ServeSettings, post_events, send_files
from bridge.mcp import MetadataChangeProposalWrapper
from tests.servers.gms_state import held, job_edges
from tests.waiting import wait_until

CORPUS = Path(__file__).parent / "corpus" / "openlineage"


def _corpus(folder: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((CORPUS / folder).glob("*.json"))]


def _bodies(spool) -> list[dict]:
    return [json.loads(e.body) for e in spool.pending(limit=10_000)]


@pytest.mark.parametrize("route", LINEAGE_ROUTES)
def test_single_event_is_201_once_spooled(bridge_serve, route):
    server = bridge_serve(deliver=False)
    event = _corpus("simple_run_event")[0]
    response = requests.post(server.url + route, json=event, timeout=10)
    assert response.status_code == 201, response.text
    assert response.json() == {"accepted": 1}
    assert _bodies(server.service.spool) == [event]


def test_array_and_gzip_bodies(bridge_serve):
    server = bridge_serve(deliver=False)
    events = _corpus("airflow")[:5]
    body = gzip.compress(json.dumps(events).encode())
    response = requests.post(
        server.url + "/api/v1/lineage", data=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, timeout=10,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"accepted": 5}
    assert _bodies(server.service.spool) == events


def test_unparseable_json_is_400_with_reason(bridge_serve):
    server = bridge_serve(deliver=False)
    response = requests.post(server.url + "/api/v1/lineage", data=b'{"eventType": ', timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert "not valid JSON" in response.json()["reason"]
    assert server.service.spool.depth() == 0


def test_unusable_event_is_422_naming_the_field(bridge_serve):
    server = bridge_serve(deliver=False)
    event = _corpus("simple_run_event")[0]
    del event["run"]["runId"]
    response = requests.post(server.url + "/api/v1/lineage", json=event, timeout=10)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_event"
    assert body["field"] == "run.runId"
    assert body["reason"]


def test_array_is_all_or_nothing_and_names_the_bad_element(bridge_serve):
    server = bridge_serve(deliver=False)
    events = _corpus("airflow")[:3]
    events[1] = {**events[1], "job": {"namespace": "ns"}}
    response = requests.post(server.url + "/api/v1/lineage", json=events, timeout=10)
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "job.name"
    assert body["reason"].startswith("event [1]")
    assert [e["index"] for e in body["errors"]] == [1]
    assert server.service.spool.depth() == 0
    empty = requests.post(server.url + "/api/v1/lineage", json=[], timeout=10)
    assert empty.status_code == 422


def test_body_size_limit_is_413_plain_and_gzipped(bridge_serve):
    server = bridge_serve(deliver=False, max_body_bytes=4096)
    event = _corpus("simple_run_event")[0]
    event["run"]["facets"] = {"padding": {"_producer": "x", "_schemaURL": "x", "text": "a" * 10_000}}
    plain = requests.post(server.url + "/api/v1/lineage", json=event, timeout=10)
    assert plain.status_code == 413
    assert "4096" in plain.json()["reason"]
    # Small on the wire, large once inflated: the limit applies after decompression.
    bomb = gzip.compress(json.dumps(event).encode())
    assert len(bomb) < 4096
    zipped = requests.post(server.url + "/api/v1/lineage", data=bomb, headers={"Content-Encoding": "gzip"}, timeout=10)
    assert zipped.status_code == 413
    broken = requests.post(server.url + "/api/v1/lineage", data=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"},
                           timeout=10)
    assert broken.status_code == 400
    assert server.service.spool.depth() == 0


def test_auth_no_token_401_wrong_token_403_and_nothing_spooled(bridge_serve):
    server = bridge_serve(deliver=False, token="s3cret")
    event = _corpus("simple_run_event")[0]
    url = server.url + "/api/v1/lineage"
    missing = requests.post(url, json=event, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(url, json=event, headers={"Authorization": "Bearer s3cre"}, timeout=10)
    assert wrong.status_code == 403
    basic = requests.post(url, json=event, headers={"Authorization": "Basic czNjcmV0"}, timeout=10)
    assert basic.status_code == 403
    assert server.service.spool.depth() == 0
    assert server.service.metrics.get("spooled") == 0
    assert server.service.metrics.rejected("unauthorized") == 1
    assert server.service.metrics.rejected("forbidden") == 2
    right = requests.post(url, json=event, headers={"Authorization": "Bearer s3cret"}, timeout=10)
    assert right.status_code == 201
    assert server.service.spool.depth() == 1


def test_probes_and_metrics(bridge_serve):
    server = bridge_serve()
    assert requests.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["spool"] == "ok" and ready.json()["emitter"] == "ok"
    events = _corpus("spark_dataproc_simple_producer_test")
    assert requests.post(server.url + "/api/v1/lineage", json=events, timeout=10).status_code == 201
    requests.post(server.url + "/api/v1/lineage", data=b"nope", timeout=10)
    server.service.spool.wake()
    # delivered is counted as soon as the emitter confirms; the spool forgets the events just after
    wait_until(lambda: server.service.metrics.get("delivered") == len(events) and server.service.spool.depth() == 0)
    text = requests.get(server.url + "/metrics", timeout=10)
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = dict(
        line.rsplit(" ", 1) for line in text.text.splitlines() if line and not line.startswith("#")
    )
    assert samples["bridge_events_received_total"] == str(len(events))
    assert samples["bridge_events_spooled_total"] == str(len(events))
    assert samples["bridge_events_delivered_total"] == str(len(events))
    assert samples['bridge_events_rejected_total{reason="invalid_json"}'] == "1"
    assert samples["bridge_spool_depth"] == "0"
    assert samples["bridge_delivery_latency_seconds_count"] == str(len(events))
    for name in ("bridge_delivery_retries_total", "bridge_events_dead_lettered_total", "bridge_dead_letters"):
        assert samples[name] == "0"


def test_default_bind_is_loopback():
    assert ServeSettings().host == "127.0.0.1"
    assert ServeSettings.from_dict({"port": "5001", "workers": 2}).delivery.workers == 2


def test_openlineage_python_http_transport_with_api_key_and_gzip(bridge_serve):
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    server = bridge_serve(token="s3cret")
    config = HttpConfig.from_dict(
        {"url": server.url, "auth": {"type": "api_key", "apiKey": "s3cret"}, "compression": "gzip"}
    )
    client = OpenLineageClient(transport=HttpTransport(config))
    run = Run(runId="0191e6f1-1a57-7d5c-8a53-6b5c2f1e0a01")
    job = Job(namespace="ol-python", name="nightly_orders")
    client.emit(RunEvent(eventType=RunState.START, eventTime="2024-10-16T17:00:00Z", run=run, job=job,
                         producer="https://example.com/ol-test",
                         inputs=[InputDataset(namespace="postgres://db:5432", name="shop.public.orders")],
                         outputs=[OutputDataset(namespace="s3://lake", name="orders")]))
    client.emit(RunEvent(eventType=RunState.COMPLETE, eventTime="2024-10-16T17:05:00Z", run=run, job=job,
                         producer="https://example.com/ol-test"))
    assert server.service.metrics.get("spooled") == 2
    wait_until(lambda: server.service.metrics.get("delivered") == 2)
    server.service.emitter.flush()
    mcps = json.loads(Path(server.service.config.emitter_config["filename"]).read_text())
    io = {urn: v for (urn, aspect), v in held(MetadataChangeProposalWrapper.from_obj(m) for m in mcps).items()
          if aspect == "dataJobInputOutput"}  # fmt: skip
    (job_urn,) = io
    assert "nightly_orders" in job_urn
    assert any("shop.public.orders" in urn for urn in job_edges(io[job_urn], "inputDatasetEdges"))

    wrong = OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(
        {"url": server.url, "auth": {"type": "api_key", "apiKey": "wrong"}, "compression": "gzip"})))
    with pytest.raises(requests.HTTPError, match="403"):
        wrong.transport.emit(RunEvent(eventType=RunState.START, eventTime="2024-10-16T17:00:00Z", run=run, job=job,
                                      producer="https://example.com/ol-test"))
    assert server.service.metrics.get("spooled") == 2


def test_replay_client_posts_batches_and_isolates_bad_events(bridge_serve, tmp_path):
    server = bridge_serve(deliver=False, token="t")
    events = _corpus("airflow")[:7]
    bad = {**events[3], "job": {"namespace": "airflow"}}
    texts = [json.dumps(e) for e in events[:3]] + [json.dumps(bad)] + [json.dumps(e) for e in events[3:]]
    handled = []
    result = post_events(server.url, texts, "t", batch=4, progress=handled.append)
    assert (result.sent, result.accepted) == (8, 7)
    assert [(index, field) for index, field, _ in result.rejected] == [(3, "job.name")]
    assert sum(handled) == 8
    assert _bodies(server.service.spool) == events

    folder = tmp_path / "replay"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(json.dumps(e) for e in events[:2]) + "\n{oops\n")
    (folder / "b.json").write_text(json.dumps(events[2:4]))
    (folder / "c.json.gz").write_bytes(gzip.compress(json.dumps(events[4:6]).encode()))
    summary = send_files([str(folder)], server.url, token="t", progress=False)
    assert (summary.files, summary.sent, summary.accepted) == (3, 7, 6)
    assert not summary.ok
    assert "a.jsonl:3" in str(summary)


def test_job_and_dataset_events_are_accepted_and_delivered(bridge_serve):
    server = bridge_serve()
    job_event = {
        "eventTime": "2024-10-16T17:00:00Z", "producer": "https://example.com/t",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "static", "name": "defined_job"},
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}], "outputs": [],
    }
    dataset_event = {
        "eventTime": "2024-10-16T17:00:00Z", "producer": "https://example.com/t",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {"namespace": "s3://lake", "name": "orders"},
    }
    response = requests.post(server.url + "/api/v1/lineage", json=[job_event, dataset_event], timeout=10)
    assert response.status_code == 201, response.text
    wait_until(lambda: server.service.metrics.get("delivered") == 2)
    assert server.service.spool.dead_count() == 0
    server.service.emitter.flush()
    urns = {m["entityUrn"] for m in json.loads(Path(server.service.config.emitter_config["filename"]).read_text())}
    assert any("defined_job" in urn for urn in urns)
    assert any("orders" in urn and urn.startswith("urn:li:dataset:") for urn in urns)


def test_event_without_event_time_is_delivered_at_the_time_it_was_received(bridge_serve):
    import time

    server = bridge_serve()
    event = {k: v for k, v in _corpus("simple_run_event")[0].items() if k != "eventTime"}
    before = time.time() * 1000
    assert requests.post(server.url + "/api/v1/lineage", json=event, timeout=10).status_code == 201
    wait_until(lambda: server.service.metrics.get("delivered") == 1)
    assert server.service.metrics.get("dead_lettered") == 0
    server.service.emitter.flush()
    mcps = json.loads(Path(server.service.config.emitter_config["filename"]).read_text())
    times = [m["aspect"]["json"]["created"]["time"] for m in mcps if m["aspectName"] == "dataProcessInstanceProperties"]
    assert times and all(before - 1000 <= t <= time.time() * 1000 for t in times)


def test_integers_beyond_64_bits_are_kept_exact_from_body_to_delivery(bridge_serve):
    # orjson, which reads bodies and spooled events, would read them as floats
    from bridge._json import read_json  # as delivery reads a spooled event

    server = bridge_serve(deliver=False)
    huge, low = 123456789012345678901234567890, -9223372036854775809
    events = [dict(e, run=dict(e["run"], facets={"custom": {"_producer": "p", "_schemaURL": "s", "n": n}}))
              for e, n in zip(_corpus("simple_run_event") * 2, (huge, low), strict=True)]
    events[1]["eventType"] = "COMPLETE"
    for body in (events, events[0]):  # an array is stored event by event; a single event as received
        response = requests.post(server.url + "/api/v1/lineage", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 201, response.text
    stored = [e.body for e in server.service.spool.pending(limit=10)]
    assert [read_json(b)["run"]["facets"]["custom"]["n"] for b in stored] == [huge, low, huge]
