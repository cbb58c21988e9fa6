"""``bridge consume`` attacked where Kafka itself carries the harm: dead letters too large for the dead-letter
topic, a compressed record batch librdkafka cannot read, batches of messages near the size limit.

Real parts only: the tansu broker, the GMS test server, ``bridge consume`` as a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bridge.consume import DEAD_BODY_LIMIT
from tests.servers.gms import GmsServer
from tests.servers.kafka_broker import committed_offsets, read_topic
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
GROUP_TIMING = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
MiB = 1024 * 1024


def _event(name: str) -> dict:
    return {"eventType": "COMPLETE", "eventTime": "2024-10-16T17:00:00Z",
            "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, name))},
            "job": {"namespace": "attacks", "name": name}, "producer": "https://example.com/attacks",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "inputs": [], "outputs": []}


def _produce(bootstrap: str, topic: str, values: list[bytes], **config: object) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 1_000_000_000, **config})
    for value in values:
        while True:
            try:
                producer.produce(topic, value=value)
                break
            except BufferError:
                producer.poll(0.5)
    assert producer.flush(60) == 0


class Consume:
    """One ``bridge consume`` process delivering to a GMS test server."""

    def __init__(self, tmp_path: Path, bootstrap: str, topic: str, gms: GmsServer, *extra: str) -> None:
        self.group, self.err = f"g-{topic}", tmp_path / "consume.err"
        args = ["--topic", topic, "--kafka-bootstrap", bootstrap, "--group", self.group,
                "--state-dir", str(tmp_path / "state"), "--emitter", "rest", "--gms-server", gms.url,
                *[f"--consumer-config={k}={v}" for k, v in GROUP_TIMING.items()], *extra]
        with self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from bridge.cli import main; main()", "--log-level", "info", "consume", *args],
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=err)

    def alive(self) -> bool:
        return self.process.poll() is None

    def peak_rss(self) -> int:
        """The process's peak resident memory so far, in bytes (Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")

    def stop(self) -> str:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        finally:
            if self.alive():
                self.process.kill()
        return self.err.read_text()


def _jobs(gms: GmsServer) -> set[str]:
    return {p["entityUrn"].rpartition(",")[2].rstrip(")") for p in list(gms.proposals) if p["entityType"] == "dataJob"}


@pytest.mark.slow
def test_a_dead_letter_too_large_for_the_dead_letter_topic_is_cut_and_its_partition_moves_on(
        kafka_broker_server, tmp_path):
    """librdkafka's producer takes at most 1,000,000 bytes (a broker's default too); the dead letter of a
    1.5 MB poison message was refused every time, and every dead letter behind it waited with it: the
    partition's offset never moved again."""
    bootstrap = kafka_broker_server.bootstrap
    topic, dead = f"bigdead-{uuid.uuid4().hex[:8]}", f"bigdead-dead-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic, dead])
    poison = b"{" + b"x" * (1500 * 1024)
    _produce(bootstrap, topic, [poison, b"{not json", json.dumps(_event("after")).encode()])
    with GmsServer() as gms:
        worker = Consume(tmp_path, bootstrap, topic, gms, "--dead-letter-topic", dead)
        try:
            wait_until(lambda: not worker.alive() or committed_offsets(bootstrap, worker.group, topic) == 3, 90,
                       "the partition did not move past its dead letters")
            assert worker.alive(), worker.err.read_text()
            assert "after" in _jobs(gms)
        finally:
            log = worker.stop()
    letters = read_topic(bootstrap, dead, count=3, timeout=10)
    assert len(letters) == 2, log
    big, small = letters
    headers = dict(big.headers())
    assert len(big.value()) + len(big.key()) + sum(len(k) + len(v) for k, v in big.headers()) < 1_000_000
    assert big.value() == poison[:len(big.value())]
    assert int(headers["bridge.truncated"]) == DEAD_BODY_LIMIT  # what the worker's spool kept of the message
    assert headers["bridge.reason"].startswith(f"{topic}[0]@0: not valid JSON".encode())
    assert (headers["bridge.source.offset"], small.value()) == (b"0", b"{not json")
    assert "bridge.truncated" not in dict(small.headers())

    # A cut dead letter is not the message: replay-dead sends back only the whole one, and says where the other is.
    replay = subprocess.run([sys.executable, "-c", "from bridge.cli import main; main()", "replay-dead",
                             "--from-topic", dead, "--kafka-bootstrap", bootstrap, "--to-topic", f"{topic}-replayed"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert f"replayed 1 dead letter(s) from {dead}: 1 to {topic}-replayed" in replay.stderr
    assert "not replayed: 1 dead letter(s) that do not hold the whole message" in replay.stderr
    assert f"{topic}[0]@0" in replay.stderr
    [replayed] = read_topic(bootstrap, f"{topic}-replayed", count=2, timeout=5)
    assert replayed.value() == b"{not json"


@pytest.mark.slow
def test_the_dead_letter_topics_own_smaller_limit_cuts_dead_letters_shorter(kafka_broker_server, tmp_path):
    """Where the dead-letter topic takes less than the producer's limit, a refusal as too large makes the
    next dead letters shorter, until they fit."""
    from bridge.consume._dead_topic import DeadLetterTopic, producer_settings
    from bridge.spool import Spool

    bootstrap = kafka_broker_server.bootstrap
    dead = f"small-dead-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([dead])
    with Spool(tmp_path / "state") as spool:
        spool.add_dead([("kafka:t[0]@7", "y" * 300_000, "t[0]@7: not valid JSON")], [("t[0]", 7, 0)]).result()
        # The producer takes 50 KB at most, as a topic with max.message.bytes=50000 would.
        topic = DeadLetterTopic(dead, {**producer_settings(bootstrap, {}), "message.max.bytes": 50_000})
        topic.max_bytes = 1_000_000  # what it believes at first
        sent = [topic.forward(spool, timeout=10) for _ in range(6)]
        assert sum(sent) == 1, sent
        assert spool.to_forward() == []
        topic.close()
    [letter] = read_topic(bootstrap, dead, count=1, timeout=10)
    assert dict(letter.headers())["bridge.truncated"] == b"300000"
    assert 0 < len(letter.value()) < 50_000


@pytest.mark.slow
def test_a_record_batch_librdkafka_cannot_read_is_dead_lettered_and_the_partition_moves_on(
        kafka_broker_server, tmp_path):
    """A zstd batch larger decompressed than receive.message.max.bytes (or a corrupt one): librdkafka reports
    _BAD_COMPRESSION at its offset and fetches it again forever, so the events behind it were never read."""
    bootstrap = kafka_broker_server.bootstrap
    topic = f"zstd-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    _produce(bootstrap, topic, [json.dumps(_event("before")).encode()])
    _produce(bootstrap, topic, [b" " * (5 * MiB)], **{"compression.type": "zstd"})  # a few hundred bytes on the wire
    _produce(bootstrap, topic, [json.dumps(_event(f"after_{i}")).encode() for i in range(3)])
    with GmsServer() as gms:
        worker = Consume(tmp_path, bootstrap, topic, gms, "--consumer-config=receive.message.max.bytes=2000000",
                         "--consumer-config=fetch.max.bytes=1000000")
        try:
            wait_until(lambda: not worker.alive() or {"before", "after_0", "after_1", "after_2"} <= _jobs(gms), 90,
                       "the events behind the unreadable batch were not delivered")
            assert worker.alive(), worker.err.read_text()
            wait_until(lambda: committed_offsets(bootstrap, worker.group, topic) == 5, 30, "offsets stopped short")
        finally:
            log = worker.stop()
    assert "read 5 message(s): 4 event(s) spooled, 1 dead-lettered" in log, log
    from bridge.spool import Spool

    with Spool(tmp_path / "state", exclusive=False) as spool:
        [letter] = spool.dead_letters()
    assert letter.key == f"kafka:{topic}[0]@1"
    assert letter.reason.startswith(f"{topic}[0]@1: the Kafka record batch holding this message cannot be read "
                                    "(Decompression (codec 0x4) of message at 1"), letter.reason


@pytest.mark.slow
@pytest.mark.parametrize("inside", [2, 12], ids=["3-records", "13-records"])
def test_an_unreadable_batch_of_many_records_is_dead_lettered_once_and_the_partition_moves_past_it(
        kafka_broker_server, tmp_path, inside):
    """librdkafka reports an unreadable batch at its first offset X, and fetches the whole batch again for any
    offset inside it: seeking to X+1 gave the same error at X, dead-lettered again, forever (only the events
    before it were delivered). Producers batch many records, so this is the usual case. The batch's end is
    found exactly: no event right after it is skipped. (Not at the log's end: tansu's high watermark is the
    last batch's first offset + 1, so there the worker waits for a record past the batch.)"""
    bootstrap = kafka_broker_server.bootstrap
    topic = f"zstdmany-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    _produce(bootstrap, topic, [json.dumps(_event("before")).encode()])
    # Offsets 1..inside+1: one zstd record batch (linger.ms holds it together), larger decompressed than the
    # consumer takes.
    _produce(bootstrap, topic, [b" " * (5 * MiB)] + [json.dumps(_event(f"inbatch_{i}")).encode() for i in range(inside)],
             **{"compression.type": "zstd", "linger.ms": 2000, "batch.size": 100_000_000, "batch.num.messages": 100})
    after = 3
    _produce(bootstrap, topic, [json.dumps(_event(f"after_{i}")).encode() for i in range(after)])
    end = 2 + inside + after
    wanted = {"before"} | {f"after_{i}" for i in range(after)}
    with GmsServer() as gms:
        worker = Consume(tmp_path, bootstrap, topic, gms, "--consumer-config=receive.message.max.bytes=2000000",
                         "--consumer-config=fetch.max.bytes=1000000")
        try:
            # A deadline on waiting: the old worker dead-lettered offset 1 again and again and never got further.
            wait_until(lambda: not worker.alive() or wanted <= _jobs(gms), 90,
                       "the events behind the unreadable batch were not delivered")
            assert worker.alive(), worker.err.read_text()
            wait_until(lambda: committed_offsets(bootstrap, worker.group, topic) == end, 30, "offsets stopped short")
            jobs = _jobs(gms)
        finally:
            log = worker.stop()
    assert jobs == wanted  # the batch was one: none of it could be read
    assert f"read {after + 2} message(s): {after + 1} event(s) spooled, 1 dead-lettered" in log, log
    from bridge.spool import Spool

    with Spool(tmp_path / "state", exclusive=False) as spool:
        [letter] = spool.dead_letters()
    assert letter.key == f"kafka:{topic}[0]@1"
    assert letter.reason.startswith(f"{topic}[0]@1: the Kafka record batch holding this message cannot be read "
                                    "(Decompression (codec 0x4) of message at 1"), letter.reason
    assert f"dead-lettered unread: offsets 1..{inside + 1} of {topic}[0] were skipped unread" in letter.reason
    assert "They stay in Kafka while it keeps them" in letter.reason


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory from /proc")
def test_a_batch_of_messages_near_the_size_limit_is_bounded_in_bytes(kafka_broker_server, tmp_path):
    """``consume(500)`` bounds only the count: 120 messages of 3.9 MB read at once held them all (and their
    decoded text). A batch now holds what fits in batch_bytes (32 MiB)."""
    bootstrap = kafka_broker_server.bootstrap
    topic = f"nearlimit-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    n = 120
    _produce(bootstrap, topic, [b"{" + bytes([65 + i % 26]) * (4 * MiB - 100_000) for i in range(n)]
             + [json.dumps(_event("behind")).encode()], **{"linger.ms": 200})
    with GmsServer() as gms:
        worker = Consume(tmp_path, bootstrap, topic, gms, "--max-message-bytes", str(4 * MiB))
        try:
            wait_until(lambda: not worker.alive() or "behind" in _jobs(gms), 120, "the event behind was not delivered")
            assert worker.alive(), worker.err.read_text()
            peak = worker.peak_rss()
        finally:
            log = worker.stop()
    assert f"read {n + 1} message(s): 1 event(s) spooled, {n} dead-lettered" in log, log
    # The messages are 470 MB in all; the process once held most of them at the same time (over 1 GB with
    # their text); now a batch of at most 32 MiB, with librdkafka's own read-ahead beside it.
    assert peak < 400 * MiB, f"peak RSS {peak / MiB:.0f} MiB"


@pytest.mark.slow
def test_a_stream_of_poison_costs_bounded_disk_and_says_so_in_a_few_lines(kafka_broker_server, tmp_path):
    """Every dead letter of a consumed message was kept in the worker's spool forever (up to a MiB each):
    a stream of poison filled its disk, and then nothing was read at all. Now the newest ones within
    --max-dead-bytes are kept, and the log says what happens once a minute, not once a message."""
    from bridge.spool import Spool

    bootstrap = kafka_broker_server.bootstrap
    topic = f"poisonstream-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    n, limit = 1500, 2 * MiB
    _produce(bootstrap, topic, [b"{" + bytes([65 + i % 26]) * 100_000 for i in range(n)]  # 150 MB of poison
             + [json.dumps(_event("behind")).encode()])
    with GmsServer() as gms:
        worker = Consume(tmp_path, bootstrap, topic, gms, "--max-dead-bytes", str(limit))
        try:
            wait_until(lambda: not worker.alive() or "behind" in _jobs(gms), 120, "the event behind was not delivered")
            assert worker.alive(), worker.err.read_text()
        finally:
            log = worker.stop()
    assert f"read {n + 1} message(s): 1 event(s) spooled, {n} dead-lettered" in log, log
    with Spool(tmp_path / "state", exclusive=False) as spool:
        kept = spool.dead_letters(limit=n)
    assert 0 < len(kept) < n
    # The newest are kept, up to the limit (and what came since the last trim, a quarter of it at most).
    assert [d.key for d in kept] == [f"kafka:{topic}[0]@{i}" for i in range(n - len(kept), n)]
    assert sum(len(d.body) + len(d.reason) + len(d.key) for d in kept) <= limit * 1.25
    # The spool's file: the dead letters kept, plus one poll's (32 MiB) before they are trimmed.
    assert (tmp_path / "state" / "spool.sqlite3").stat().st_size < limit * 1.25 + 40 * MiB
    lines = [line for line in log.splitlines() if 'msg="message dead-lettered"' in line]
    assert len(lines) == 1 and "kind=invalid_json" in lines[0] and f"reason=\"{topic}[0]@0: not valid JSON" in lines[0]
    assert 'msg="oldest dead letters dropped from the spool' in log


def _metric(port: int, name: str) -> float:
    import requests

    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except requests.RequestException:
        return -1.0
    return next((float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " ")), -1.0)


@pytest.mark.slow
def test_reading_pauses_while_dead_letters_wait_for_a_failing_dead_letter_topic(kafka_broker_server, tmp_path):
    """A dead letter waiting for the dead-letter topic holds its partition's offset but not its reading: with
    the topic refusing every send, a stream of poison piled up in the spool without end."""
    from tests.servers.kafka_broker import free_port

    bootstrap = kafka_broker_server.bootstrap
    topic = f"dltdown-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    n = 3000
    _produce(bootstrap, topic, [b"{not json %d" % i for i in range(n)])
    port = free_port()
    with GmsServer() as gms:
        worker = Consume(tmp_path, bootstrap, topic, gms, "--dead-letter-topic", "not a topic!", "--metrics-port",
                         str(port))
        try:
            wait_until(lambda: not worker.alive() or _metric(port, "bridge_kafka_paused") == 1, 90,
                       "reading did not pause while dead letters waited")
            assert worker.alive(), worker.err.read_text()
            read = _metric(port, "bridge_events_received_total")
            assert 256 <= read <= 256 + 500  # the threshold, plus at most one poll
            assert committed_offsets(bootstrap, worker.group, topic) == 0
        finally:
            log = worker.stop()
    assert "dead letters wait for the dead-letter topic" in log, log


@pytest.mark.slow
def test_a_password_in_a_namespace_never_reaches_the_log(kafka_broker_server, tmp_path):
    """An event's job namespace is in its ordering key and in its job's URN, and both were logged as they
    were when DataHub rejected the event: ``postgres://admin:<password>@db`` in clear text."""
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    secret = "hunter2-in-a-namespace"
    bootstrap = kafka_broker_server.bootstrap
    topic = f"secretns-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    event = _event("rejected")
    event["job"]["namespace"] = f"postgres://admin:{secret}@db:5432"
    rejected = next(m.entity_urn for m in DataHubTranslator().translate_aspects(parse_event(event))
                    if m.aspect_name == "dataJobInfo")
    _produce(bootstrap, topic, [json.dumps(event).encode(), json.dumps(_event("after")).encode()])
    with GmsServer(reject_urns=[rejected]) as gms:
        worker = Consume(tmp_path, bootstrap, topic, gms)
        try:
            wait_until(lambda: not worker.alive() or "after" in _jobs(gms), 90, "the event behind was not delivered")
            assert worker.alive(), worker.err.read_text()
            wait_until(lambda: "event dead-lettered" in worker.err.read_text(), 60, "the event was not dead-lettered")
        finally:
            log = worker.stop()
    assert secret not in log
    assert "key=job:postgres://db:5432/rejected " in log, log  # (an ordering key leaves the password out)
    assert "GMS rejected a proposal urn=urn:li:dataJob:(urn:li:dataFlow:(" in log


def test_dead_letters_are_counted_at_most_once_a_minute_while_nothing_changes(tmp_path, monkeypatch):
    """``tick`` runs on every loop iteration: once a minute had passed with the count unchanged, it asked
    the spool for its dead-letter count on every iteration after."""
    from bridge.consume._store import DeadLetters
    from bridge.spool import Spool

    with Spool(tmp_path) as spool:
        asked = []
        real = spool.dead_count
        monkeypatch.setattr(spool, "dead_count", lambda: asked.append(1) or real())
        letters = DeadLetters(spool, 1 << 20, forwarding=False, every=1.0)
        time.sleep(1.05)
        letters.tick()  # a minute (here: a second) passed, the count is new: trimmed, counted
        time.sleep(1.05)
        letters.tick()  # passed again, unchanged: counted once
        before = len(asked)
        for _ in range(100):
            letters.tick()  # within the next interval: not counted
        assert len(asked) == before, len(asked) - before
