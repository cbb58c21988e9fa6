"""``bridge consume`` against what breaks consumers: poison messages, a failing disk, a broker that is down.

Everything runs against the real broker (tansu) and the real spool; ``bridge consume`` runs as a
real process where the claim is about the process (it does not exit, what it prints, ``/readyz``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from bridge.config import BridgeConfig
from bridge.consume import ConsumeHealth, ConsumeSettings, Decoded, KafkaWatch, consume
from bridge.spool import Spool, SpoolService, event_key
from tests.servers.kafka_broker import TansuBroker, committed_offsets, free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
GROUP_TIMING = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
RAW_LIBRDKAFKA = re.compile(r"^%\d\|\d+\.\d+\|[A-Z]+\|", re.MULTILINE)  # librdkafka's own stderr format
DEEP = b"[" * 100_000 + b"]" * 100_000


def _event(i: int, name: str | None = None, pad: int = 0) -> dict:
    event = {
        "eventType": "COMPLETE", "eventTime": "2024-10-16T17:00:00Z",
        "run": {"runId": f"00000000-0000-4000-8000-{i:012d}"},
        "job": {"namespace": "poison", "name": name or f"job_{i}"},
        "producer": "https://example.com/poison",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "inputs": [], "outputs": [],
    }
    if pad:
        event["job"]["facets"] = {"documentation": {
            "_producer": "https://example.com/poison",
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DocumentationJobFacet.json",
            "description": "x" * pad,
        }}
    return event


SURROGATE = json.dumps(_event(999, name="job_\ud800")).encode()  # json.dumps writes it as the escape \ud800
assert b"\\ud800" in SURROGATE


def _produce(bootstrap: str, topic: str, values: list[bytes | None]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 10_000_000})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(10) == 0



def _start(args: list[str], stderr: Path, **popen) -> subprocess.Popen:
    with stderr.open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-c", "from bridge.cli import main; main()", "consume", *args],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=err, **popen,
        )


def _stop(process: subprocess.Popen, stderr: Path) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    return stderr.read_text()


def _jobs_delivered(state: Path) -> set[str]:
    try:
        return {m["entityUrn"] for m in json.loads((state / "mcps.json").read_text()) if m["entityType"] == "dataJob"}
    except (OSError, ValueError):
        return set()


@pytest.mark.slow
def test_poison_messages_are_dead_lettered_and_the_partition_moves_on(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = f"poison-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    _produce(bootstrap, topic, [DEEP, SURROGATE] + [json.dumps(_event(i)).encode() for i in range(20)])
    state, group = tmp_path / "state", f"g-{topic}"
    args = ["--topic", topic, "--kafka-bootstrap", bootstrap, "--group", group, "--state-dir", str(state),
            *[f"--consumer-config={k}={v}" for k, v in GROUP_TIMING.items()]]

    process = _start(args, tmp_path / "run1.err")
    try:
        wait_until(lambda: process.poll() is not None or len(_jobs_delivered(state)) == 20, 90,
                   "the 20 good events after the poison were not delivered")
        assert process.poll() is None, (tmp_path / "run1.err").read_text()
        wait_until(lambda: committed_offsets(bootstrap, group, topic) == 22, 30, "offsets were not committed past all 22")
    finally:
        err = _stop(process, tmp_path / "run1.err")
    assert process.returncode == 0, err
    assert "read 22 message(s): 20 event(s) spooled, 2 dead-lettered" in err
    with Spool(state, exclusive=False) as spool:
        dead = {d.key: d for d in spool.dead_letters()}
    assert set(dead) == {f"kafka:{topic}[0]@0", f"kafka:{topic}[0]@1"}
    assert dead[f"kafka:{topic}[0]@0"].reason == f"{topic}[0]@0: not usable JSON: nested too deeply"
    assert dead[f"kafka:{topic}[0]@0"].body == DEEP.decode()
    assert dead[f"kafka:{topic}[0]@1"].reason.startswith(f"{topic}[0]@1: job.name: holds a lone surrogate \\ud800")
    assert dead[f"kafka:{topic}[0]@1"].body == SURROGATE.decode()

    # A restart starts after the committed offsets: it reads only the one new message, no poison again.
    _produce(bootstrap, topic, [json.dumps(_event(20)).encode()])
    process = _start(args, tmp_path / "run2.err")
    try:
        wait_until(lambda: process.poll() is not None or len(_jobs_delivered(state)) == 21, 60,
                   "the new event was not delivered after the restart")
    finally:
        err = _stop(process, tmp_path / "run2.err")
    assert "read 1 message(s): 1 event(s) spooled, 0 dead-lettered" in err, err


def _permissive(value: bytes | None, location: str) -> Decoded:
    """The decoder as it was: lets a lone surrogate through to the spool, which cannot store it."""
    obj = json.loads(value or b"")
    return Decoded(events=((event_key(obj), json.dumps(obj, ensure_ascii=False)),), raw=(value or b"").decode())


@pytest.mark.slow
def test_what_the_spool_refuses_is_found_and_dead_lettered_alone(kafka_broker_server, tmp_path):
    """Defence in depth: a message that gets past the decoder but not into the spool costs only itself."""
    bootstrap = kafka_broker_server.bootstrap
    topic = f"unstorable-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    values = [json.dumps(_event(i)).encode() for i in range(10)]
    values[4] = SURROGATE
    _produce(bootstrap, topic, values)
    service = SpoolService(BridgeConfig(state_dir=str(tmp_path / "state")), deliver=False).start()
    stop = threading.Event()
    settings = ConsumeSettings(topic=topic, bootstrap=bootstrap, group_id=f"g-{topic}", consumer_config=GROUP_TIMING,
                               drain_timeout=0)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(consume(service, settings, stop=stop, decode=_permissive)))
    worker.start()
    timer = threading.Timer(60, stop.set)
    timer.start()
    try:
        # Nothing is delivered here (deliver=False): the nine good events wait in the spool.
        wait_until(lambda: service.spool.depth() == 9 and service.spool.dead_count() == 1 or not worker.is_alive(),
                   60, "the batch was not spooled")
        stop.set()
        worker.join(60)
        [stats] = done
        assert (stats.messages, stats.spooled, stats.dead_lettered) == (10, 9, 1)
        [dead] = service.spool.dead_letters()
        assert dead.key == f"kafka:{topic}[0]@4"
        assert dead.reason.startswith(f"{topic}[0]@4: could not be spooled: UnicodeEncodeError")
        assert dead.body == SURROGATE.decode()
        assert service.metrics.rejected("unstorable") == 1
    finally:
        timer.cancel()
        service.stop()


@pytest.mark.slow
def test_tombstones_are_skipped_and_oversized_messages_dead_lettered(kafka_broker_server, tmp_path):
    bootstrap = kafka_broker_server.bootstrap
    topic = f"odd-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    big = json.dumps(_event(1, pad=5000)).encode()
    _produce(bootstrap, topic, [None, big, json.dumps(_event(2)).encode()])
    service = SpoolService(BridgeConfig(state_dir=str(tmp_path / "state")), deliver=False).start()
    stop = threading.Event()
    settings = ConsumeSettings(topic=topic, bootstrap=bootstrap, group_id=f"g-{topic}", max_message_bytes=4096,
                               consumer_config=GROUP_TIMING)
    timer = threading.Timer(60, stop.set)
    timer.start()
    try:
        stats = consume(service, settings, stop=stop, on_commit=lambda s: s.messages >= 3 and stop.set())
        assert (stats.messages, stats.spooled, stats.dead_lettered, stats.skipped) == (3, 1, 1, 1)
        [dead] = service.spool.dead_letters()
        assert dead.reason == f"{topic}[0]@1: message of {len(big)} bytes is over the 4096-byte limit " \
                              f"(dead letter keeps its first {len(big)} characters)"
        assert service.metrics.rejected("tombstone") == 1
    finally:
        timer.cancel()
        service.stop()


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as a full disk")
def test_a_full_disk_dead_letters_nothing_and_commits_nothing(kafka_broker_server, tmp_path):
    """The spool's own failure is not the messages' fault: they are read again once it works."""
    bootstrap = kafka_broker_server.bootstrap
    topic = f"diskfull-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    n = 200
    _produce(bootstrap, topic, [json.dumps(_event(i, pad=20_000)).encode() for i in range(n)])  # ~4 MB
    state, group, port = tmp_path / "state", f"g-{topic}", free_port()
    args = ["--topic", topic, "--kafka-bootstrap", bootstrap, "--group", group, "--state-dir", str(state),
            "--emitter", "console", "--metrics-port", str(port),
            *[f"--consumer-config={k}={v}" for k, v in GROUP_TIMING.items()]]
    # Every file the process writes stops growing at 2 MB: the spool's database and log fill up.
    process = _start(args, tmp_path / "full.err", preexec_fn=_limit_file_size(2 * 1024 * 1024))
    try:
        ready = wait_until(
            lambda: process.poll() is not None or "write failing" in (r := _ready(port))[1].get("spool", "") and r,
            90, "the spool never reported a failing write")
        assert process.poll() is None, (tmp_path / "full.err").read_text()
        assert ready[0] == 503
        time.sleep(3)  # a few retries of the batch
        assert process.poll() is None
        stuck_at = committed_offsets(bootstrap, group, topic)
        assert stuck_at < n
    finally:
        err = _stop(process, tmp_path / "full.err")
    assert "spool write failed: reading the batch again after a pause" in err
    with Spool(state, exclusive=False) as spool:
        assert spool.dead_letters() == []

    # With room on the disk again, everything not committed is read again: nothing lost, nothing dead.
    process = _start(args, tmp_path / "room.err")
    try:
        wait_until(lambda: process.poll() is not None or committed_offsets(bootstrap, group, topic) == n, 90,
                   "the events not committed were not read again")
        assert process.poll() is None, (tmp_path / "room.err").read_text()
    finally:
        err = _stop(process, tmp_path / "room.err")
    assert f"read {n - stuck_at} message(s): {n - stuck_at} event(s) spooled, 0 dead-lettered" in err
    with Spool(state, exclusive=False) as spool:
        assert spool.dead_letters() == []


def _ready(port: int) -> tuple[int, dict]:
    try:
        response = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    except requests.ConnectionError:
        return 0, {}
    return response.status_code, response.json()


@pytest.mark.slow
def test_a_broker_that_is_down_is_said_plainly_once_and_readyz_follows_it(tmp_path):
    """No broker on the port: a few key=value lines (no raw librdkafka flood), /readyz 503; then it starts."""
    kafka_port, metrics_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    secret = "hunter2-sasl-password"
    stderr = tmp_path / "consume.err"
    process = _start(["--topic", "t", "--kafka-bootstrap", bootstrap, "--state-dir", str(tmp_path / "state"),
                      "--metrics-port", str(metrics_port), "--consumer-config", f"sasl.password={secret}",
                      *[f"--consumer-config={k}={v}" for k, v in GROUP_TIMING.items()]], stderr)
    broker = TansuBroker(port=kafka_port)
    try:
        status, body = wait_until(lambda: (r := _ready(metrics_port))[1].get("kafka", "").startswith("unreachable")
                                  and r, 30, "/readyz never said the broker is unreachable")
        assert status == 503
        assert "Connection refused" in body["kafka"]
        time.sleep(8)  # librdkafka retries the connection every ~50 ms meanwhile: ~150 attempts
        down = stderr.read_text()
        assert not RAW_LIBRDKAFKA.search(down), down[:2000]
        assert down.count(f'msg="Kafka broker unreachable at {bootstrap}"') == 1, down
        assert len(down.splitlines()) <= 5, down
        assert _ready(metrics_port)[0] == 503

        broker.start()
        wait_until(lambda: _ready(metrics_port)[0] == 200, 30, "/readyz did not turn 200 once the broker was up")
    finally:
        text = _stop(process, stderr)
        broker.stop()
    assert f'msg="Kafka broker reachable again at {bootstrap}"' in text, text
    assert not RAW_LIBRDKAFKA.search(text)
    assert secret not in text
    assert process.returncode == 0, text


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_librdkafka_lines_are_rate_limited_and_scrubbed():
    handler = _Records()
    logger = logging.getLogger("bridge.consume.kafka")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        watch = KafkaWatch("k:9092", ConsumeHealth(), {"sasl.password": "s3cret-pw", "client.id": "c"})
        for attempt in range(500):  # what librdkafka says while a broker refuses connections
            watch.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1",
                      f"[thrd:k:9092/bootstrap]: Connect failed: refused (after {attempt % 7}ms in state CONNECT)")
        watch.log(logging.WARNING, "%s [%s] %s", "SASL", "rdkafka#consumer-1", "login s3cret-pw refused")
        assert [r.getMessage() for r in handler.records] == [
            "Connect failed: refused (after 0ms in state CONNECT)", "login *** refused"]
        assert handler.records[0].fields["facility"] == "FAIL"
        watch.every = 0.0  # the next one is let through, saying how many were held back
        watch.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1",
                  "[thrd:k:9092/bootstrap]: Connect failed: refused (after 3ms in state CONNECT)")
        assert handler.records[-1].fields["suppressed"] == 499
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
