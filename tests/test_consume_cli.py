"""``bridge consume`` as a real process: reads the topic, delivers, stops cleanly on SIGTERM."""

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
import requests

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bridge_consume_cli_reads_delivers_and_stops_cleanly(kafka_broker_server, tmp_path):
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    topic = f"ol-cli-{uuid.uuid4().hex[:8]}"
    kafka_broker_server.create_topics([topic])
    client = OpenLineageClient(transport=KafkaTransport(KafkaConfig.from_dict(
        {"config": {"bootstrap.servers": kafka_broker_server.bootstrap}, "topic": topic, "flush": True})))
    for i in range(5):
        client.emit(RunEvent(eventType=RunState.COMPLETE, eventTime="2024-10-16T17:00:00Z",
                             run=Run(runId=f"00000000-0000-4000-8000-{i:012d}"),
                             job=Job(namespace="cli", name=f"consumed_{i}"), producer="https://example.com/t"))
    from tests.servers.kafka_broker import free_port

    state = tmp_path / "state"
    metrics_url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-c", "from bridge.cli import main; main()", "consume", "--topic", topic,
         "--kafka-bootstrap", kafka_broker_server.bootstrap, "--group", f"g-{topic}", "--state-dir", str(state),
         "--consumer-config", "session.timeout.ms=6000", "--consumer-config", "heartbeat.interval.ms=500",
         "--metrics-port", metrics_url.rsplit(":", 1)[1]],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True,
    )
    try:
        output = state / "mcps.json"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read()
            if output.exists():
                try:
                    jobs = {m["entityUrn"] for m in json.loads(output.read_text()) if m["entityType"] == "dataJob"}
                except ValueError:
                    jobs = set()
                if len(jobs) == 5:
                    break
            assert time.monotonic() < deadline, "events were not delivered"
            time.sleep(0.2)
        assert requests.get(metrics_url + "/healthz", timeout=5).status_code == 200
        metrics = wait_until(lambda: (m := _metrics(metrics_url)).get("bridge_events_delivered_total", 0) >= 5 and m,
                             30, "the worker's /metrics never showed 5 delivered events", interval=0.2)
        assert metrics["bridge_events_spooled_total"] == 5
        assert metrics["bridge_events_received_total"] == 5
        assert metrics["bridge_spool_depth"] == 0
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "read 5 message(s): 5 event(s) spooled, 0 dead-lettered" in err


def _metrics(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", timeout=5).text
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line}
