"""Scale-out on Kafka with no local point of loss (``bridge consume`` workers as real processes, the real
tansu broker, the GMS test server applying writes the way DataHub does).

Kafka is the log: a partition's offset is committed only up to what GMS acknowledged, so a worker
killed together with its disk, while DataHub is down, loses nothing; workers joining and leaving
move partitions without losing events, erasing edges or reordering a job's events; a poison message
goes to the dead-letter topic and its partition moves on.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.servers.gms import GmsServer
from tests.servers.gms_state import job_edges
from tests.servers.kafka_broker import committed_offsets, free_port, read_topic
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
GROUP_TIMING = ("session.timeout.ms=6000", "heartbeat.interval.ms=500")
FAST = {"backoff_initial": 0.1, "backoff_max": 1.0, "breaker_threshold": 2, "linger": 0.0, "idle_wait": 0.2}


def _runs(jobs: int, runs: int, *, first: int = 0) -> list[dict]:
    """``runs`` runs of each of ``jobs`` jobs (START with the run's own input dataset, then COMPLETE), in order."""
    events = []
    for r in range(first, first + runs):
        for j in range(jobs):
            run_id = str(uuid.UUID(int=(j << 32) + r + 1))
            job = {"namespace": "scale", "name": f"job_{j}"}
            base = {"run": {"runId": run_id}, "job": job, "producer": "https://example.com/scale-test",
                    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
            minute, second = divmod(r, 30)
            events.append({**base, "eventType": "START", "eventTime": f"2024-10-16T{10 + minute // 60:02d}:"
                           f"{minute % 60:02d}:{2 * second:02d}Z",
                           "inputs": [{"namespace": "postgres://db:5432", "name": f"shop.public.t_{j}_{r}"}]})
            events.append({**base, "eventType": "COMPLETE", "eventTime": f"2024-10-16T{10 + minute // 60:02d}:"
                           f"{minute % 60:02d}:{2 * second + 1:02d}Z"})
    return events


def _produce(bootstrap: str, topic: str, events: list[dict], extra: list[tuple[str | None, bytes]] = ()) -> None:
    """Write the events the way openlineage-python's Kafka transport does (keyed by job), then ``extra``."""
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    transport = KafkaTransport(KafkaConfig.from_dict({"config": {"bootstrap.servers": bootstrap}, "topic": topic,
                                                      "flush": False}))
    for obj in events:
        transport.emit(_as_event(obj))
    for key, value in extra:
        transport.producer.produce(topic, key=key, value=value)
    assert transport.producer.flush(30) == 0


def _as_event(obj: dict):
    from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState

    return RunEvent(eventType=RunState[obj["eventType"]], eventTime=obj["eventTime"], run=Run(runId=obj["run"]["runId"]),
                    job=Job(namespace=obj["job"]["namespace"], name=obj["job"]["name"]), producer=obj["producer"],
                    inputs=[InputDataset(namespace=i["namespace"], name=i["name"]) for i in obj.get("inputs", [])])


class Workers:
    """``bridge consume`` processes of one group, each with its own state dir and metrics port."""

    def __init__(self, tmp_path: Path, bootstrap: str, topic: str, gms_url: str, *extra: str,
                 batch_size: int = 500) -> None:
        self.tmp_path, self.bootstrap, self.topic, self.extra = tmp_path, bootstrap, topic, extra
        self.config = tmp_path / "bridge.json"
        self.config.write_text(json.dumps({
            "emitter": "rest", "emitters": {"rest": {"gms_server": gms_url, "retry_max_times": 0, "timeout_sec": 5}},
            "serve": {"delivery": {**FAST, "batch_size": batch_size}}}))
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> None:
        self.ports[name] = port = free_port()
        log = open(self.tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        args = ["--log-level", "info", "consume", "--topic", self.topic, "--kafka-bootstrap", self.bootstrap, "--group", f"g-{self.topic}",
                "--state-dir", str(self.state_dir(name)), "--metrics-port", str(port),
                *[f"--consumer-config={c}" for c in GROUP_TIMING], *self.extra]
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-c", "from bridge.cli import main; main()", *args], cwd=ROOT, stdout=log, stderr=log,
            env={**os.environ, "PYTHONPATH": str(ROOT), "BRIDGE_CONFIG": str(self.config)})

    def state_dir(self, name: str) -> Path:
        return self.tmp_path / f"state-{name}"

    def metric(self, name: str, metric: str) -> float:
        try:
            text = requests.get(f"http://127.0.0.1:{self.ports[name]}/metrics", timeout=5).text
        except requests.RequestException:
            return -1.0
        match = re.search(rf"^{re.escape(metric)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else -1.0

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self, name: str, sig: int = signal.SIGTERM) -> str:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(60)
        return self.log(name)

    def close(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait(10)


def _run_points(gms: GmsServer) -> list[tuple[str, int]]:
    """The run events GMS received, in the order it received them: (run urn, timestampMillis)."""
    return [(p["entityUrn"], json.loads(p["aspect"]["value"])["timestampMillis"]) for p in list(gms.proposals)
            if p["aspectName"] == "dataProcessInstanceRunEvent"]


def _expected_points(events: list[dict]) -> list[tuple[str, int]]:
    from translators.openlineage import parse_event

    out = []
    for obj in events:
        event = parse_event(obj)
        out.append((f"urn:li:dataProcessInstance:{event.run.run_id}", int(event.event_time.timestamp() * 1000)))
    return out


def _job_urn(obj: dict) -> str:
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    return next(m.entity_urn for m in DataHubTranslator().translate_aspects(parse_event(obj))
                if m.aspect_name == "dataJobInfo")


def _all_landed(gms: GmsServer, events: list[dict]) -> bool:
    return set(_expected_points(events)) <= set(_run_points(gms))


def _missing(gms: GmsServer, events: list[dict]) -> str:
    missing = set(_expected_points(events)) - set(_run_points(gms))
    return f"{len(missing)} of {len(events)} events never reached GMS"



def _gms_down() -> tuple[int, str]:
    """The port and URL of a GMS that is down (nothing listens there); ``GmsServer(port=...)`` brings it up."""
    with GmsServer() as gms:
        return gms.port, gms.url


def _new_topic(broker, name: str, partitions: int) -> str:
    topic = f"{name}-{uuid.uuid4().hex[:8]}"
    broker.create_topics([topic], partitions=partitions)
    return topic


@pytest.mark.slow
def test_a_worker_and_its_disk_lost_while_datahub_is_down_loses_nothing(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = _new_topic(kafka_broker_server, "disk-lost", 4)
    events = _runs(jobs=20, runs=10)  # 200 runs, 400 events
    port, url = _gms_down()
    workers = Workers(tmp_path, bootstrap, topic, url)
    try:
        workers.start("w1")
        workers.start("w2")
        _produce(bootstrap, topic, events)
        received = "bridge_events_received_total"
        wait_until(lambda: workers.metric("w1", received) + workers.metric("w2", received) >= len(events), 90,
                   "the two workers did not read the topic")
        assert workers.metric("w1", received) > 0 and workers.metric("w2", received) > 0
        wait_until(lambda: workers.metric("w1", "bridge_kafka_paused") == 1, 60, "w1 never paused while GMS was down")
        # Nothing was delivered, so nothing was committed: Kafka still owes every event to the group.
        assert committed_offsets(bootstrap, f"g-{topic}", topic, 4) == 0
        ready = requests.get(f"http://127.0.0.1:{workers.ports['w1']}/readyz", timeout=10)
        assert ready.status_code == 503 and "paused" in ready.json()["delivery"]
        workers.stop("w1", signal.SIGKILL)
        shutil.rmtree(workers.state_dir("w1"))  # the pod is gone, with its disk
        with GmsServer(port=port) as gms:
            workers.start("w3")
            wait_until(lambda: _all_landed(gms, events), 150, lambda: _missing(gms, events))
            held = gms.aspects
            for j in range(20):
                urn = _job_urn(events[2 * j])
                assert len(job_edges(held[(urn, "dataJobInputOutput")], "inputDatasetEdges")) == 10, urn
            wait_until(lambda: committed_offsets(bootstrap, f"g-{topic}", topic, 4) == len(events), 30,
                       "offsets were not committed once everything was delivered")
    finally:
        workers.close()


@pytest.mark.slow
def test_scale_in_erases_no_edge(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = _new_topic(kafka_broker_server, "scale-in", 4)
    first, second = _runs(jobs=20, runs=15), _runs(jobs=20, runs=15, first=15)
    with GmsServer() as gms:
        workers = Workers(tmp_path, bootstrap, topic, gms.url)
        try:
            workers.start("w1")
            workers.start("w2")
            _produce(bootstrap, topic, first)
            wait_until(lambda: _all_landed(gms, first), 120, lambda: _missing(gms, first))
            err = workers.stop("w2")  # leaves the group for good
            assert "partitions revoked" in err
            _produce(bootstrap, topic, second)
            wait_until(lambda: _all_landed(gms, first + second), 120, lambda: _missing(gms, first + second))
            edges = collections.Counter()
            for (urn, aspect), value in gms.aspects.items():
                if aspect == "dataJobInputOutput":
                    edges[urn] = len(job_edges(value, "inputDatasetEdges"))
            assert len(edges) == 20 and set(edges.values()) == {30}, edges  # 600 edges, none erased
        finally:
            workers.close()


@pytest.mark.slow
def test_a_rebalance_mid_batch_loses_nothing_and_keeps_each_jobs_order(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = _new_topic(kafka_broker_server, "rebalance", 4)
    events = _runs(jobs=16, runs=20)  # 640 events
    with GmsServer() as gms:
        # Small rounds, each answered slowly: the join lands while w1 has rounds in flight.
        gms.slow_next(60, seconds=0.25)
        workers = Workers(tmp_path, bootstrap, topic, gms.url, batch_size=10)
        try:
            workers.start("w1")
            _produce(bootstrap, topic, events)
            wait_until(lambda: len(_run_points(gms)) >= 20, 60, "w1 delivered nothing")
            workers.start("w2")  # joins mid-stream: cooperative-sticky moves only some partitions
            wait_until(lambda: _all_landed(gms, events), 150, lambda: _missing(gms, events))
            assert workers.metric("w1", "bridge_kafka_rebalances_total") >= 2  # assigned, then some revoked
            assert 0 < workers.metric("w2", "bridge_kafka_partitions_owned") < 4
            assert "partitions revoked" in workers.log("w1")
        finally:
            workers.close()
        # At-least-once may repeat an event; the first time GMS saw each event follows the job's order.
        first_seen: dict[tuple[str, int], int] = {}
        for index, point in enumerate(_run_points(gms)):
            first_seen.setdefault(point, index)
        by_job: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
        for obj, point in zip(events, _expected_points(events), strict=True):
            by_job[obj["job"]["name"]].append(point)
        for job, points in by_job.items():
            order = [first_seen[p] for p in points]
            assert order == sorted(order), f"{job}'s events reached GMS out of order"


@pytest.mark.slow
def test_poison_goes_to_the_dead_letter_topic_and_replays_once_fixed(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = _new_topic(kafka_broker_server, "poison", 1)
    dead_topic = _new_topic(kafka_broker_server, "poison-dead", 1)
    events = _runs(jobs=3, runs=2)
    rejected = _job_urn(events[2])
    with GmsServer(reject_urns=[rejected]) as gms:
        workers = Workers(tmp_path, bootstrap, topic, gms.url, "--dead-letter-topic", dead_topic)
        try:
            workers.start("w1")
            _produce(bootstrap, topic, events, extra=[(None, b"{not json"), ("k", json.dumps(events[0]).encode())])
            good = [e for e in events if e["job"]["name"] != "job_1"]
            wait_until(lambda: _all_landed(gms, good), 90, lambda: _missing(gms, good))
            # The partition moved past the poison and the rejected events once the dead letters were acked.
            wait_until(lambda: committed_offsets(bootstrap, f"g-{topic}", topic, 1) == len(events) + 2, 60,
                       "the partition did not move past its dead letters")
            letters = read_topic(bootstrap, dead_topic, count=6, timeout=5)  # all there are (5 expected)
            reasons = [dict(m.headers())["bridge.reason"].decode() for m in letters]
            assert any("not valid JSON" in r for r in reasons), reasons
            assert sum(rejected in r for r in reasons) == 4, reasons  # job_1's four events, with GMS's message
            for message in letters:
                headers = dict(message.headers())
                assert headers["bridge.source.topic"].decode() == topic
                assert headers["bridge.source.partition"] == b"0"
                assert int(headers["bridge.source.offset"]) in range(len(events) + 1)
            # Fixed in DataHub: replay the dead letters; the good ones are delivered, the poison comes back.
            gms.reject_urns.clear()
            replay = subprocess.run([sys.executable, "-c", "from bridge.cli import main; main()", "replay-dead",
                                     "--from-topic", dead_topic, "--kafka-bootstrap", bootstrap],
                                    cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert replay.returncode == 0, replay.stderr
            assert f"replayed 5 dead letter(s) from {dead_topic}: 5 to {topic}" in replay.stderr
            wait_until(lambda: _all_landed(gms, events), 90, lambda: _missing(gms, events))
            wait_until(lambda: len(read_topic(bootstrap, dead_topic, count=6, timeout=5)) == 6, 60,
                       "the poison did not come back to the dead-letter topic")
            again = subprocess.run([sys.executable, "-c", "from bridge.cli import main; main()", "replay-dead",
                                    "--from-topic", dead_topic, "--kafka-bootstrap", bootstrap],
                                   cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert f"replayed 1 dead letter(s) from {dead_topic}" in again.stderr, again.stderr
        finally:
            workers.close()


def _lag(workers: Workers, name: str) -> float:
    text = requests.get(f"http://127.0.0.1:{workers.ports[name]}/metrics", timeout=5).text
    values = re.findall(r'^bridge_kafka_consumer_lag\{partition="[^"]+"\} (\S+)$', text, re.MULTILINE)
    return sum(float(v) for v in values) if values else -1.0


@pytest.mark.slow
def test_reading_pauses_while_datahub_is_down_and_resumes(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = _new_topic(kafka_broker_server, "paused", 2)
    events = _runs(jobs=10, runs=100)  # 2000 events
    port, url = _gms_down()
    workers = Workers(tmp_path, bootstrap, topic, url, "--max-pending", "50")
    try:
        workers.start("w1")
        _produce(bootstrap, topic, events)
        wait_until(lambda: workers.metric("w1", "bridge_kafka_paused") == 1, 60, "reading never paused")
        read = workers.metric("w1", "bridge_events_received_total")
        assert 0 < read <= 50 + 500  # max_pending, plus at most one poll
        # Everything is undelivered: the lag shows it (tansu reports a partition's end as one past its last
        # record batch's first offset, so it is above zero but can be below the message count).
        wait_until(lambda: _lag(workers, "w1") > 0, 30, "the lag does not show what is undelivered")
        assert workers.metric("w1", "bridge_oldest_undelivered_age_seconds") > 0
        with GmsServer(port=port) as gms:
            wait_until(lambda: _all_landed(gms, events), 150, lambda: _missing(gms, events))
            wait_until(lambda: workers.metric("w1", "bridge_kafka_paused") == 0, 30, "reading never resumed")
            wait_until(lambda: _lag(workers, "w1") == 0, 30, "the lag stayed above zero after delivery")
        assert "partitions paused" in workers.log("w1") and "partitions resumed" in workers.log("w1")
    finally:
        workers.close()


def test_dead_letters_wait_and_say_why_while_the_dead_letter_topic_cannot_take_them(tmp_path):
    """Nothing listens where the dead-letter topic should be: the dead letter stays, waiting, and the error is kept
    (``/readyz`` shows it); its partition's offset does not move past it."""
    from bridge.consume._dead_topic import DeadLetterTopic
    from bridge.spool import Spool

    with Spool(tmp_path / "state") as spool:
        spool.add_dead([("kafka:t[0]@7", "{not json", "t[0]@7: not valid JSON")], [("t[0]", 7, 0)]).result()
        assert spool.undelivered(forwarding=True) == {"t[0]": 7}
        topic = DeadLetterTopic("dead", {"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": 500,
                                         "enable.idempotence": True, "acks": "all"})
        assert topic.forward(spool, timeout=5) == 0
        assert topic.error is not None and "timed out" in topic.error.lower()
        assert [letter.source_offset for letter in spool.to_forward()] == [7]
        assert spool.undelivered(forwarding=True) == {"t[0]": 7}
        assert spool.undelivered(forwarding=False) == {}  # without a dead-letter topic the offset moves on
        topic.close(timeout=1)
