"""``bridge serve --to-topic``: stateless HTTP intake onto a Kafka topic, on a real broker (tansu).

``bridge serve`` runs as a real process; producers are openlineage-python's HttpTransport; what
reached the topic is read back with a plain consumer (and, after a kill -9, delivered by a real
``bridge consume`` worker). The keys are checked against what openlineage-python's own
KafkaTransport writes for the same events.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from bridge.errors import ConfigError
from bridge.intake import ServeSettings
from bridge.intake._keys import message_key
from tests.servers.bridge_process import BridgeProcess
from tests.servers.kafka_broker import TansuBroker, free_port, read_topic
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "openlineage"
SECRET = "hunter2-not-for-logs"


def _corpus() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(CORPUS.glob("*/*.json"))]


def _with_root(event: dict) -> dict:
    """A corpus run whose parent facet also names a root job (the key follows the root)."""
    event = copy.deepcopy(event)
    parent = event["run"]["facets"]["parent"]
    parent["root"] = {"run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "orchestrator", "name": "root_dag"}}
    return event


def _static_events() -> list[dict]:
    producer, schema = "https://example.com/test", "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/"
    return [
        {"eventTime": "2024-10-16T17:00:00Z", "producer": producer, "schemaURL": schema + "JobEvent",
         "job": {"namespace": "static", "name": "a_job"}, "inputs": [], "outputs": []},
        {"eventTime": "2024-10-16T17:00:00Z", "producer": producer, "schemaURL": schema + "DatasetEvent",
         "dataset": {"namespace": "postgres://db:5432", "name": "shop.public.orders"}},
    ]


def _events() -> list[dict]:
    corpus = _corpus()
    with_parent = next(e for e in corpus if (e.get("run", {}).get("facets") or {}).get("parent"))
    return [*corpus, _with_root(with_parent), *_static_events()]


def _http_transport(url: str, **config):
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    return HttpTransport(HttpConfig.from_dict({"url": url, **config}))


def _serve(tmp_path: Path, bootstrap: str, topic: str, *args: str, port: int | None = None) -> BridgeProcess:
    return BridgeProcess(tmp_path / f"serve-{uuid.uuid4().hex[:6]}", "--to-topic", topic, "--topic-bootstrap",
                         bootstrap, "--producer-config", f"sasl.password={SECRET}", *args, port=port, spool=False)


def _lineage(url: str) -> str:
    return url + "/api/v1/lineage"


def _sample(metrics: str, name: str) -> float:
    (line,) = [line for line in metrics.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def _reference_keys(bootstrap: str, topic: str, events: list[dict]) -> None:
    """Write the same runs, jobs and datasets with openlineage-python's KafkaTransport (its typed events)."""
    from openlineage.client.event_v2 import (
        DatasetEvent,
        Job,
        JobEvent,
        Run,
        RunEvent,
        RunState,
        StaticDataset,
    )
    from openlineage.client.generated import parent_run
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    transport = KafkaTransport(KafkaConfig.from_dict({"config": {"bootstrap.servers": bootstrap}, "topic": topic}))
    for e in events:
        when, producer = e["eventTime"], e["producer"]
        typed: Any
        if "dataset" in e:
            typed = DatasetEvent(eventTime=when, producer=producer, dataset=StaticDataset(**e["dataset"]))
        elif "run" not in e:
            typed = JobEvent(eventTime=when, producer=producer, job=Job(**e["job"]))
        else:
            facets: dict[str, Any] = {}
            parent = (e["run"].get("facets") or {}).get("parent")
            if parent:
                root = parent.get("root")
                facets["parent"] = parent_run.ParentRunFacet(
                    run=parent_run.Run(runId=parent["run"]["runId"]),
                    job=parent_run.Job(namespace=parent["job"]["namespace"], name=parent["job"]["name"]),
                    root=parent_run.Root(run=parent_run.RootRun(runId=root["run"]["runId"]),
                                         job=parent_run.RootJob(**root["job"])) if root else None,
                )
            typed = RunEvent(eventType=RunState(e["eventType"]), eventTime=when, producer=producer,
                             run=Run(runId=str(uuid.uuid4()), facets=facets),
                             job=Job(namespace=e["job"]["namespace"], name=e["job"]["name"]))
        transport.emit(typed)
    transport.close()


# --------------------------------------------------------------------------------------- fast checks


def test_message_key_follows_the_root_then_the_parent_then_the_job():
    run = {"eventType": "START", "run": {"runId": "r"}, "job": {"namespace": "ns", "name": "child"}}
    assert message_key(run) == "run:ns/child"
    parent = {"run": {"runId": "p"}, "job": {"namespace": "ns", "name": "dag"}}
    assert message_key({**run, "run": {"runId": "r", "facets": {"parent": parent}}}) == "run:ns/dag"
    root = {**parent, "root": {"run": {"runId": "x"}, "job": {"namespace": "af", "name": "root"}}}
    assert message_key({**run, "run": {"runId": "r", "facets": {"parent": root}}}) == "run:af/root"
    assert message_key({"job": {"namespace": "ns", "name": "j"}}) == "job:ns/j"
    assert message_key({"dataset": {"namespace": "pg", "name": "t"}}) == "dataset:pg/t"


def test_topic_settings_are_checked():
    assert ServeSettings(to_topic="ol", topic_bootstrap="k:9092").to_topic == "ol"
    with pytest.raises(ConfigError, match="topic_bootstrap"):
        ServeSettings(to_topic="ol")
    with pytest.raises(ConfigError, match="not set"):
        ServeSettings(topic_bootstrap="k:9092")
    with pytest.raises(ConfigError, match="acks is always all"):
        ServeSettings(to_topic="ol", topic_bootstrap="k:9092", producer_config={"acks": "1"})
    with pytest.raises(ConfigError, match="enable.idempotence"):
        ServeSettings.from_dict({"to_topic": "ol", "topic_bootstrap": "k", "producer_config": {"enable.idempotence": "false"}})
    with pytest.raises(ConfigError, match="not a Kafka topic name"):
        ServeSettings(to_topic="a topic", topic_bootstrap="k:9092")
    assert SECRET not in repr(ServeSettings(to_topic="ol", topic_bootstrap="k", producer_config={"sasl.password": SECRET}))


def test_spool_flags_with_to_topic_are_a_usage_error(tmp_path):
    from bridge.cli import main

    result = CliRunner().invoke(main, ["serve", "--to-topic", "ol", "--topic-bootstrap", "127.0.0.1:1",
                                       "--emitter", "rest", "--workers", "2", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "not with --to-topic" in result.output
    assert all(flag in result.output for flag in ("--emitter", "--workers", "--state-dir"))
    assert "bridge consume" in result.output
    assert not (tmp_path / "s").exists()
    result = CliRunner().invoke(main, ["serve", "--to-topic", "ol", "--topic-bootstrap", "127.0.0.1:1",
                                       "--producer-config", "sasl.password"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


# ------------------------------------------------------------------------------------ on the broker


@pytest.mark.slow
def test_corpus_over_http_lands_in_the_topic_keyed_like_the_kafka_transport(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic, reference = f"ol-http-{uuid.uuid4().hex[:8]}", f"ol-ref-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic, reference], partitions=4)
    events = _events()
    config = tmp_path / "bridge.toml"  # a state directory in the config file is not used
    config.write_text(f'state_dir = "{tmp_path / "unused-state"}"\n')
    with _serve(tmp_path, bootstrap, topic, "--config", str(config), "--bridge-token", "s3cret") as server:
        transport = _http_transport(server.url, auth={"type": "api_key", "apiKey": "s3cret"}, compression="gzip")
        for event in events:
            assert transport.emit(event).status_code == 201
        assert requests.get(server.url + "/readyz", timeout=30).json() == {"ready": True, "kafka": "ok",
                                                                           "topic": topic}
        metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert _sample(metrics, "bridge_topic_events_produced_total") == len(events)
    assert _sample(metrics, "bridge_topic_events_acked_total") == len(events)
    assert _sample(metrics, "bridge_topic_events_failed_total") == 0
    assert "bridge_events_spooled_total" not in metrics
    assert not (tmp_path / "unused-state").exists()
    assert SECRET not in server.log_tail(100_000)

    from openlineage.client.serde import Serde

    got = read_topic(bootstrap, topic, count=len(events))
    # The value is the event exactly as accepted (what the transport sent, after gzip).
    assert Counter(m.value() for m in got) == Counter(Serde.to_json(e).encode() for e in events)
    _reference_keys(bootstrap, reference, events)
    expected = read_topic(bootstrap, reference, count=len(events))
    assert Counter(m.key() for m in got) == Counter(m.key() for m in expected)
    assert b"run:orchestrator/root_dag" in {m.key() for m in got}
    # Same key, same partition: HTTP and the Kafka transport can share one topic, in order per job.
    assert {m.key(): m.partition() for m in got} == {m.key(): m.partition() for m in expected}


def _consume_until_delivered(tmp_path: Path, bootstrap: str, topic: str, count: int) -> str:
    """Run a ``bridge consume`` worker (file emitter) until it delivered ``count`` events; the MCPs' text."""
    port, output = free_port(), tmp_path / "mcps.json"
    cmd = [sys.executable, "-c", "from bridge.cli import main; main()", "consume", "--topic", topic,
           "--kafka-bootstrap", bootstrap, "--group", f"g-{uuid.uuid4().hex[:6]}", "--metrics-port", str(port),
           "--consumer-config", "session.timeout.ms=6000", "--consumer-config", "heartbeat.interval.ms=500",
           "--emitter", "file", "-o", str(output), "--state-dir", str(tmp_path / "worker")]
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        def delivered() -> float:
            try:
                return _sample(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text,
                               "bridge_events_delivered_total")
            except requests.RequestException:
                return 0
        wait_until(lambda: delivered() >= count, 120, "bridge consume did not deliver every event")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    return output.read_text()


@pytest.mark.slow
def test_an_acknowledged_event_survives_kill_9(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = f"ol-kill-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic], partitions=2)
    template = _corpus()[0]
    acknowledged: list[str] = []
    enough = threading.Event()
    server = _serve(tmp_path, bootstrap, topic).start()

    def post_until_killed() -> None:
        transport = _http_transport(server.url, retry={"total": 0})
        while True:
            event = copy.deepcopy(template)
            event["run"]["runId"] = str(uuid.uuid4())
            try:
                transport.emit(event)
            except Exception:  # noqa: BLE001 - the server was killed
                return
            acknowledged.append(event["run"]["runId"])
            if len(acknowledged) >= 40:
                enough.set()

    posters = [threading.Thread(target=post_until_killed) for _ in range(4)]
    for poster in posters:
        poster.start()
    try:
        assert enough.wait(60), server.log_tail()
        server.kill()  # right after a 201, with others in flight
    finally:
        server.kill()
        for poster in posters:
            poster.join(30)
    done = list(acknowledged)
    # (more may be there: produced, but killed before their 201 went out)
    messages = read_topic(bootstrap, topic, count=len(done) + 1000, timeout=10)
    assert set(done) <= {json.loads(m.value())["run"]["runId"] for m in messages}
    # ... and bridge consume delivers every one of them.
    mcps = _consume_until_delivered(tmp_path, bootstrap, topic, len(messages))
    assert all(run_id in mcps for run_id in done)


@pytest.mark.slow
def test_invalid_events_are_422_and_nothing_is_produced(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = f"ol-bad-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    good = _corpus()[0]
    bad = {**good, "job": {"namespace": "ns"}}
    with _serve(tmp_path, bootstrap, topic, "--max-event-bytes", "4096") as server:
        answer = requests.post(_lineage(server.url), json=bad, timeout=30)
        assert answer.status_code == 422
        assert answer.json() == {"error": "invalid_event", "field": "job.name", "reason": "is required but missing"}
        mixed = requests.post(_lineage(server.url), json=[good, bad], timeout=30)  # the whole request: as spooling
        assert mixed.status_code == 422 and mixed.json()["errors"][0]["index"] == 1
        huge = {**good, "job": {**good["job"], "facets": {"x": {"blob": "y" * 5000}}}}
        assert requests.post(_lineage(server.url), json=huge, timeout=30).status_code == 422
        assert requests.post(_lineage(server.url), data=b"{not json", timeout=30).status_code == 400
        marker = {**good, "run": {**good["run"], "runId": str(uuid.uuid4())}}
        assert requests.post(_lineage(server.url), json=marker, timeout=30).status_code == 201
        metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert _sample(metrics, "bridge_topic_events_produced_total") == 1
    (message,) = read_topic(bootstrap, topic, count=2, timeout=5)
    assert json.loads(message.value())["run"]["runId"] == marker["run"]["runId"]


@pytest.mark.slow
def test_an_event_too_large_for_the_topic_fails_alone(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = f"ol-large-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    good = _corpus()[0]
    large = {**good, "job": {**good["job"], "facets": {"x": {"blob": "y" * 20_000}}}}
    runs = [str(uuid.uuid4()) for _ in range(20)]
    answers: dict[str, requests.Response] = {}
    with _serve(tmp_path, bootstrap, topic, "--producer-config", "message.max.bytes=10000") as server:
        def post(run_id: str, event: dict) -> None:
            answers[run_id] = requests.post(_lineage(server.url), timeout=60,
                                            json={**event, "run": {**event["run"], "runId": run_id}})

        threads = [threading.Thread(target=post, args=(run_id, good)) for run_id in runs]
        threads.append(threading.Thread(target=post, args=("large", large)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert answers["large"].status_code == 422
    reason = answers["large"].json()["reason"]
    assert topic in reason and "MSG_SIZE_TOO_LARGE" in reason and "message.max.bytes" in reason
    assert all(answers[run_id].status_code == 201 for run_id in runs)
    got = read_topic(bootstrap, topic, count=len(runs) + 1, timeout=5)
    assert sorted(json.loads(m.value())["run"]["runId"] for m in got) == sorted(runs)


@pytest.mark.slow
def test_broker_down_is_503_and_not_ready_then_201_once_it_is_back(tmp_path):
    broker = TansuBroker().start()
    topic = "ol-outage"
    try:
        broker.create_topics([topic], partitions=2)
        with _serve(tmp_path, broker.bootstrap, topic, "--producer-config", "message.timeout.ms=2000") as server:
            transport = _http_transport(server.url)
            before = {**_corpus()[0]}
            assert transport.emit(before).status_code == 201
            broker.stop()

            answer = requests.post(_lineage(server.url), json=before, timeout=60)
            assert answer.status_code == 503
            body = answer.json()
            assert body["error"] == "topic_unavailable" and body["topic"] == topic
            assert "did not acknowledge the events within 2 s" in body["reason"]
            assert "_MSG_TIMED_OUT: Local: Message timed out" in body["reason"]
            ready = requests.get(server.url + "/readyz", timeout=30)
            assert ready.status_code == 503
            assert ready.json()["ready"] is False and "does not answer" in ready.json()["kafka"]
            assert "Traceback" not in answer.text + ready.text

            broker.start()  # the same port, empty (tansu keeps topics in memory)
            broker.create_topics([topic], partitions=2)
            wait_until(lambda: requests.get(server.url + "/readyz", timeout=30).status_code == 200, 60,
                       "not ready again after the broker came back")
            after = {**before, "run": {**before["run"], "runId": str(uuid.uuid4())}}
            # The broker forgot the idempotent producer (a fatal error): serve replaces the producer
            # and the new one sends the event, so even the first request is 201.
            assert requests.post(_lineage(server.url), json=after, timeout=60).status_code == 201
            metrics = requests.get(server.url + "/metrics", timeout=10).text
        assert _sample(metrics, "bridge_topic_producer_restarts_total") == 1
        assert _sample(metrics, "bridge_topic_events_failed_total") >= 1
        got = read_topic(broker.bootstrap, topic, count=2, timeout=5)
        assert [json.loads(m.value())["run"]["runId"] for m in got] == [after["run"]["runId"]]
        assert SECRET not in server.log_tail(100_000)
    finally:
        broker.stop()
