"""Crash: ``bridge serve`` killed with SIGKILL part-way, restarted on the same state directory ->
every event that got a 2xx reaches GMS, and DataHub shows nothing twice or backwards."""

from __future__ import annotations

import collections
import json
import threading
import time

import requests

from tests.servers.bridge_process import BridgeProcess
from tests.servers.gms import GmsServer
from tests.servers.gms_state import job_edges

N = 400
JOBS = 10


def _event(i: int) -> dict:
    return {
        "eventType": "START", "eventTime": f"2024-10-16T17:{i // 60:02d}:{i % 60:02d}Z",
        "producer": "https://example.com/crash-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": f"00000000-0000-4000-8000-{i:012d}"},
        "job": {"namespace": "crash", "name": f"job_{i % JOBS}"},
        "inputs": [{"namespace": "postgres://db:5432", "name": f"shop.public.in_{i}"}],
        "outputs": [{"namespace": "s3://lake", "name": f"out_{i % JOBS}"}],
    }


def test_kill_9_part_way_then_restart_delivers_every_acknowledged_event(tmp_path):
    acked: set[int] = set()
    lock = threading.Lock()
    with GmsServer() as gms:
        gms.slow_next(1000, seconds=0.2)  # delivery lags behind intake: the kill lands with a backlog
        args = ("--emitter", "rest", "--gms-server", gms.url)
        bridge = BridgeProcess(tmp_path / "state", *args).start()
        killed = threading.Event()

        def client(worker: int) -> None:
            session = requests.Session()
            for i in range(worker, N, 4):
                try:
                    response = session.post(bridge.url + "/api/v1/lineage", json=_event(i), timeout=10)
                except requests.RequestException:
                    continue  # the server is gone: not acknowledged, the producer would retry
                if response.status_code == 201:
                    with lock:
                        acked.add(i)
                        if len(acked) >= N // 3 and not killed.is_set():
                            killed.set()
                            bridge.kill()

        threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert killed.is_set() and bridge.process.returncode == -9
        assert N // 3 <= len(acked) < N

        gms.clear_faults()
        restarted = BridgeProcess(tmp_path / "state", *args, port=bridge.port).start()
        try:
            deadline = time.monotonic() + 60
            while restarted.metric("bridge_spool_depth"):
                assert time.monotonic() < deadline, restarted.log_tail()
                time.sleep(0.1)
            # The restarted process found a backlog the killed one had acknowledged but not delivered
            # (its delivery child reports counts a moment after the spool empties).
            while restarted.metric("bridge_events_delivered_total") == 0:
                assert time.monotonic() < deadline, "the restarted bridge delivered nothing"
                time.sleep(0.05)
        finally:
            assert restarted.stop() == 0, restarted.log_tail()

        # Every acknowledged event's run reached GMS ...
        run_events = collections.Counter()
        for proposal in gms.proposals:
            if proposal["aspectName"] == "dataProcessInstanceRunEvent":
                run_events[proposal["entityUrn"]] += 1
        inputs_by_job = collections.defaultdict(set)
        for (urn, aspect), value in gms.aspects.items():
            if aspect == "dataJobInputOutput":
                job = urn.rsplit(",", 1)[1].rstrip(")")
                inputs_by_job[job] |= {u.split(",")[1].rsplit(".", 1)[1]
                                       for u in job_edges(value, "inputDatasetEdges")}
        for i in acked:
            assert f"in_{i}" in inputs_by_job[f"job_{i % JOBS}"], f"acknowledged event {i} lost"
        # ... and lineage never went backwards: the final aspect of each job holds every input sent for it
        # that was acknowledged (at-least-once may add unacknowledged ones, never drop acknowledged ones).
        assert sum(len(v) for v in inputs_by_job.values()) >= len(acked)
        # Nothing shows twice: a run's STARTED event is one timeseries point per timestamp.
        for urn in run_events:
            points = {json.loads(p["aspect"]["value"])["timestampMillis"] for p in gms.proposals
                      if p["entityUrn"] == urn and p["aspectName"] == "dataProcessInstanceRunEvent"}
            assert len(points) == 1, f"{urn} shows {len(points)} different run events"


def test_delivery_child_killed_is_replaced_and_nothing_is_lost(tmp_path):
    import os
    import signal
    from pathlib import Path

    with GmsServer() as gms, BridgeProcess(tmp_path / "state", "--emitter", "rest", "--gms-server", gms.url) as bridge:
        children = Path(f"/proc/{bridge.process.pid}/task/{bridge.process.pid}/children").read_text().split()
        assert children, "bridge serve runs its delivery in a child process"
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        for i in range(20):
            assert requests.post(bridge.url + "/api/v1/lineage", json=_event(1000 + i), timeout=10).status_code == 201
        deadline = time.monotonic() + 60
        while bridge.metric("bridge_spool_depth") or bridge.metric("bridge_events_delivered_total") < 20:
            assert time.monotonic() < deadline, bridge.log_tail()
            time.sleep(0.05)
        assert "delivery process died" in bridge.log_tail(20_000)
        for i in range(20):
            assert any(f"in_{1000 + i}" in urn for (urn, _aspect) in gms.aspects if urn.startswith("urn:li:dataset"))


def test_readyz_reports_the_delivery_process_view_of_the_emitter(tmp_path):
    from tests.servers.kafka_broker import free_port

    def ready(url: str) -> tuple[int, dict]:
        deadline = time.monotonic() + 30
        while True:
            response = requests.get(url + "/readyz", timeout=10)
            body = response.json()
            waiting = any(word in body["emitter"] for word in ("starting", "unknown"))
            if not waiting or time.monotonic() > deadline:
                return response.status_code, body
            time.sleep(0.1)

    with BridgeProcess(tmp_path / "ok") as bridge:  # the embedded default: file emitter
        assert ready(bridge.url) == (200, {"ready": True, "spool": "ok", "emitter": "ok", "delivery": "running"})
    dead_gms = f"http://127.0.0.1:{free_port()}"
    with BridgeProcess(tmp_path / "down", "--emitter", "rest", "--gms-server", dead_gms) as bridge:
        status, body = ready(bridge.url)
        assert status == 503 and body["ready"] is False and body["spool"] == "ok"
        assert body["emitter"].startswith("unreachable: ") and dead_gms.removeprefix("http://") in body["emitter"]
