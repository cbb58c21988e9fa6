"""``bridge consume``: openlineage-python's KafkaTransport writes to a real broker (tansu); the
consumer group spools, commits offsets only once events are durable, and delivers."""

from __future__ import annotations

import json
import threading
import time
import uuid

import attrs
import pytest

from bridge.config import BridgeConfig
from bridge.consume import ConsumeSettings, consume
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.spool import SpoolService
from tests.servers.gms_state import held, job_edges
from tests.servers.kafka_broker import committed_offsets

GROUP_TIMING = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


def _ol_events(n: int):
    from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState

    for i in range(n):
        yield RunEvent(
            eventType=RunState.START if i % 2 == 0 else RunState.COMPLETE,
            eventTime=f"2024-10-16T17:00:{i % 60:02d}Z",
            run=Run(runId=f"00000000-0000-4000-8000-{i // 2:012d}"),
            job=Job(namespace="kafka-test", name=f"job_{i // 2}"),
            producer="https://example.com/kafka-test",
            inputs=[InputDataset(namespace="postgres://db:5432", name=f"shop.public.t{i // 2}")] if i % 2 == 0 else [],
        )



@pytest.mark.slow
def test_kafka_transport_to_bridge_consume(kafka_broker_server, tmp_path):
    from confluent_kafka import Producer
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    bootstrap = kafka_broker_server.bootstrap
    topic = f"openlineage-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    transport = KafkaTransport(KafkaConfig.from_dict(
        {"config": {"bootstrap.servers": bootstrap}, "topic": topic, "flush": True}
    ))
    client = OpenLineageClient(transport=transport)
    n = 40
    for event in _ol_events(n):
        client.emit(event)
    garbage = Producer({"bootstrap.servers": bootstrap})
    garbage.produce(topic, value=b"{not json")
    garbage.produce(topic, value=json.dumps({"eventType": "START", "run": {"runId": "x"}}).encode())
    assert garbage.flush(10) == 0

    group = f"bridge-{uuid.uuid4().hex[:6]}"
    service = SpoolService(BridgeConfig(state_dir=str(tmp_path / "state"))).start()
    stop = threading.Event()
    commits = []

    def on_commit(stats):
        commits.append((stats.spooled, stats.dead_lettered, service.spool.depth() + service.metrics.get("delivered")))
        if stats.spooled + stats.dead_lettered >= n + 2:
            stop.set()

    settings = ConsumeSettings(topic=topic, bootstrap=bootstrap, group_id=group, consumer_config=GROUP_TIMING)
    worker = threading.Thread(target=lambda: commits.append(consume(service, settings, stop=stop, on_commit=on_commit)))
    worker.start()
    worker.join(90)
    assert not worker.is_alive(), "consumer did not read the topic in time"
    try:
        stats = commits[-1]
        assert (stats.messages, stats.spooled, stats.dead_lettered) == (n + 2, n, 2)
        # At every commit, everything read so far was already in the spool (or delivered from it).
        for spooled, _dead, durable in commits[:-1]:
            assert durable >= spooled
        assert committed_offsets(bootstrap, group, topic, 1) == n + 2
        deadline = time.monotonic() + 30
        while service.spool.depth():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert service.metrics.get("delivered") == n
        reasons = sorted(d.reason for d in service.spool.dead_letters())
        assert len(reasons) == 2 and any("not valid JSON" in r for r in reasons) and any("job" in r for r in reasons)
        service.emitter.flush()
        output = json.loads((tmp_path / "state" / "mcps.json").read_text())
        state = held(MetadataChangeProposalWrapper.from_obj(m) for m in output)
        io = {urn: v for (urn, aspect), v in state.items() if aspect == "dataJobInputOutput"}
        assert len(io) == n // 2
        # COMPLETE events carried no datasets; the delivered lineage still lists the START's input.
        assert all(len(job_edges(v, "inputDatasetEdges")) == 1 for v in io.values())
    finally:
        service.stop()

    # A restarted worker of the same group starts after the committed offsets: it reads only what is new.
    # This one never delivers: its offset is not committed, and on stop its spool lets the event go
    # (the partition's next reader reads it again from Kafka).
    client.emit(next(_ol_events(1)))
    again = SpoolService(BridgeConfig(state_dir=str(tmp_path / "state2")), deliver=False).start()
    try:
        stop2 = threading.Event()
        timer = threading.Timer(60, stop2.set)
        timer.start()
        stats2 = consume(again, attrs.evolve(settings, drain_timeout=0.5), stop=stop2,
                         on_commit=lambda stats: stop2.set() if stats.spooled else None)
        timer.cancel()
        assert (stats2.messages, stats2.spooled) == (1, 1)
        assert committed_offsets(bootstrap, group, topic, 1) == n + 2
        assert again.spool.depth() == 0
    finally:
        again.stop()


def test_the_lag_gauge_asks_the_broker_in_turns_within_its_budget(kafka_broker_server):
    """Each partition's end is a request to the broker that the reading loop waits for: one refresh asks
    only as many partitions as its budget allows, and the next goes on where it stopped, so every
    partition's lag is known after a round of refreshes (real tansu broker, real consumer)."""
    import confluent_kafka as ck

    from bridge.consume._partitions import Partitions, source_of

    topic, count = f"lag-{uuid.uuid4().hex[:8]}", 5
    kafka_broker_server.create_topics([topic], partitions=count)
    producer = ck.Producer({"bootstrap.servers": kafka_broker_server.bootstrap})
    for partition in range(count):
        for _ in range(partition + 2):  # one batch per message: tansu's offsets count batches
            producer.produce(topic, value=b"x", partition=partition)
            assert producer.flush(30) == 0
    consumer = ck.Consumer({"bootstrap.servers": kafka_broker_server.bootstrap, "group.id": topic})
    try:
        partitions = Partitions(consumer, ck, None, forwarding=False, metrics=None)  # type: ignore[arg-type]
        keys = [(topic, p) for p in range(count)]
        partitions.owned = set(keys)
        partitions.committed = {key: 1 for key in keys}  # one message of each delivered
        for asked in range(1, count + 1):
            partitions.refresh_lag(budget=0)  # no time to spare: one partition per refresh
            assert len(partitions.lag) == asked
        assert partitions.lag == {source_of(topic, p): p + 1 for p in range(count)}
        partitions.committed = {key: 0 for key in keys}
        partitions.refresh_lag(budget=30)  # time enough: every partition in one refresh
        assert partitions.lag == {source_of(topic, p): p + 2 for p in range(count)}
    finally:
        consumer.close()
