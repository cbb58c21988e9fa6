"""Delivery from the spool to a real GMS test server: outage, poison, lineage that never goes
backwards, unchanged aspects not re-sent."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import requests

from bridge.mcp import MetadataChangeProposalWrapper
from tests.servers.gms import GmsServer
from tests.servers.gms_state import job_edges
from tests.waiting import wait_until
from translators.datahub import DataHubTranslator, make_dataset_urn

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
FAST = {"backoff_initial": 0.05, "backoff_max": 0.4, "breaker_threshold": 2}


def _corpus(folder: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((CORPUS / folder).glob("*.json"))]


def _rest(gms: GmsServer, **extra) -> dict:
    return {"rest": {"gms_server": gms.url, "retry_max_times": 0, "timeout_sec": 5, **extra}}


def _post(server, events) -> None:
    response = requests.post(server.url + "/api/v1/lineage", json=events, timeout=30)
    assert response.status_code == 201, response.text


def _settled(server, timeout: float = 30.0) -> None:
    """Wait until the spool is empty (everything delivered or dead-lettered) and the counters say so.

    A delivery round removes its events from the spool, then counts them: wait for both, or a
    test could read the counters in between.
    """
    deadline = time.monotonic() + timeout
    metrics = server.service.metrics
    while server.service.spool.depth() or (
        metrics.get("delivered") + metrics.get("dead_lettered") < metrics.get("spooled")
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"spool still holds {server.service.spool.depth()} event(s): "
                                 f"{server.service.spool.status()}; counters: delivered="
                                 f"{metrics.get('delivered')} dead_lettered={metrics.get('dead_lettered')} "
                                 f"spooled={metrics.get('spooled')}")
        time.sleep(0.02)


def _urns(event: dict, aspect: str) -> list[str]:
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    return [m.entity_urn for m in DataHubTranslator().translate(parse_event(event)) if m.aspect_name == aspect]


def _run_event(kind: str, run_id: str, job: str, inputs=(), outputs=(), time_: str = "2024-10-16T17:00:00Z") -> dict:
    return {
        "eventType": kind, "eventTime": time_, "producer": "https://example.com/test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id}, "job": {"namespace": "tests", "name": job},
        "inputs": [{"namespace": "postgres://db:5432", "name": n} for n in inputs],
        "outputs": [{"namespace": "s3://lake", "name": n} for n in outputs],
    }


def test_spark_corpus_is_delivered_to_gms(bridge_serve):
    with GmsServer(validate_aspects=True) as gms:
        server = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST)
        events = _corpus("spark_dataproc_simple_producer_test_complete")
        _post(server, events)
        _settled(server)
        assert server.service.spool.dead_count() == 0, server.service.spool.dead_letters()
        assert server.service.metrics.get("delivered") == len(events)
        (job_urn,) = set(_urns(events[-1], "dataJobInfo"))
        assert (job_urn, "dataJobInfo") in gms.aspects


def test_lineage_never_goes_backwards_even_across_restarts(bridge_serve, tmp_path):
    with GmsServer() as gms:
        state = tmp_path / "state"
        start = _run_event("START", "r-1", "load_orders", inputs=["shop.orders", "shop.items"], outputs=["orders"])
        complete = _run_event("COMPLETE", "r-1", "load_orders", time_="2024-10-16T17:05:00Z")
        (job_urn,) = _urns(start, "dataJobInputOutput")
        server = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST, state_dir=state)
        _post(server, start)
        _settled(server)
        learned = gms.aspects[(job_urn, "dataJobInputOutput")]
        inputs, outputs = job_edges(learned, "inputDatasetEdges"), job_edges(learned, "outputDatasetEdges")
        assert len(inputs) == 2 and len(outputs) == 1
        _post(server, complete)
        _settled(server)
        assert job_edges(gms.aspects[(job_urn, "dataJobInputOutput")], "inputDatasetEdges") == inputs
        server.stop()

        # A new process -- on the same state directory, and on an empty one (a restart on another machine):
        # a later run with fewer datasets adds, never erases.
        for where in (state, tmp_path / "elsewhere"):
            restarted = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST, state_dir=where)
            _post(restarted, [_run_event("START", f"r-{where.name}", "load_orders", inputs=[f"shop.{where.name}"]),
                              _run_event("COMPLETE", f"r-{where.name}", "load_orders", time_="2024-10-17T17:05:00Z")])
            _settled(restarted)
            restarted.stop()
        final = gms.aspects[(job_urn, "dataJobInputOutput")]
        assert job_edges(final, "inputDatasetEdges") == inputs | {
            make_dataset_urn("postgres", "shop.state"), make_dataset_urn("postgres", "shop.elsewhere")}
        assert job_edges(final, "outputDatasetEdges") == outputs


def test_identical_running_events_are_not_sent_again(bridge_serve):
    with GmsServer() as gms:
        server = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST)
        running = next(e for e in _corpus("spark_dataproc_bigquery_shakespare") if e["eventType"] == "RUNNING")
        _post(server, running)
        _settled(server)
        first = len(gms.proposals)
        assert first > 0
        for _ in range(3):
            _post(server, running)  # one request each: separate delivery rounds
            _settled(server)
        _post(server, [running] * 5)  # and several in one round
        _settled(server)
        assert len(gms.proposals) == first
        assert server.service.metrics.get("delivered") == 9
        assert server.service.metrics.get("mcps_unchanged") > 0


def test_gms_outage_503_then_recovery_delivers_everything_dead_letters_nothing(bridge_serve):
    with GmsServer() as gms:
        server = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST)
        events = _corpus("airflow")
        gms.fail_next(12, status=503, retry_after=0)
        _post(server, events[:16])
        _post(server, events[16:])
        _settled(server)
        assert server.service.spool.dead_count() == 0
        assert server.service.metrics.get("delivered") == len(events)
        assert server.service.metrics.get("retried") > 0
        for event in events:
            for urn in _urns(event, "dataJobInfo"):
                assert (urn, "dataJobInfo") in gms.aspects


def test_gms_refusing_connections_for_a_while_then_back(bridge_serve):
    gms = GmsServer().start()
    port = gms.port if gms.port else int(gms.url.rsplit(":", 1)[1])
    url = gms.url
    gms.stop()  # nothing listens now: connection refused
    server = bridge_serve(emitter="rest", emitters={"rest": {"gms_server": url, "retry_max_times": 0, "timeout_sec": 2}},
                          delivery=FAST)
    events = _corpus("CLL")
    _post(server, events)
    deadline = time.monotonic() + 20
    while server.service.breaker.opened == 0:
        assert time.monotonic() < deadline, "the breaker never opened while GMS was down"
        time.sleep(0.02)
    assert server.service.spool.depth() == len(events)
    assert requests.get(server.url + "/readyz", timeout=10).status_code == 503
    with GmsServer(port=port) as back:
        _settled(server)
        assert server.service.spool.dead_count() == 0
        assert server.service.metrics.get("delivered") == len(events)
        assert back.proposals


def test_poison_event_alone_is_dead_lettered_with_gms_message(bridge_serve):
    with GmsServer() as gms:
        server = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST)
        events = _corpus("airflow")[:10]
        poison = copy.deepcopy(events[4])
        poison["job"]["name"] = "poison_task"
        (poison_urn,) = set(_urns(poison, "dataJobInfo"))
        gms.reject_urns.add(poison_urn)
        _post(server, events[:4] + [poison] + events[4:])
        _settled(server)
        letters = server.service.spool.dead_letters()
        assert len(letters) == 1
        (letter,) = letters
        assert json.loads(letter.body) == poison
        assert letter.status == 422
        assert "rejected by validator" in letter.reason and poison_urn in letter.reason
        assert server.service.metrics.get("delivered") == len(events)
        assert server.service.metrics.get("dead_lettered") == 1
        for event in events:
            for urn in _urns(event, "dataJobInfo"):
                assert (urn, "dataJobInfo") in gms.aspects
        assert (poison_urn, "dataJobInfo") not in gms.aspects


def test_translator_failure_is_dead_lettered_not_blocking(tmp_path):
    """A translator that raises on one event (a bug, not bad input) costs that event only."""
    from bridge.config import BridgeConfig
    from bridge.spool import SpoolService
    from emitters.file import FileEmitter

    class Exploding:
        def translate(self, event):
            if event.job.name == "explode":
                raise RuntimeError("translator bug")
            return [MetadataChangeProposalWrapper(entity_urn=f"urn:li:corpuser:{event.job.name}", aspect_name="status",
                                                  aspect={"removed": False})]

    out = tmp_path / "out.json"
    service = SpoolService(BridgeConfig(state_dir=str(tmp_path / "state")), translator=Exploding(),
                           emitter=FileEmitter.from_config({"filename": str(out)}), delivery=_fast())
    with service:
        service.submit([("job:tests/explode", json.dumps(_run_event("START", "r", "explode"))),
                        ("job:tests/fine", json.dumps(_run_event("START", "r", "fine")))]).result(5)
        deadline = time.monotonic() + 10
        while service.spool.depth():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        (letter,) = service.spool.dead_letters()
        assert "translator bug" in letter.reason and json.loads(letter.body)["job"]["name"] == "explode"
        assert service.metrics.get("delivered") == 1
    assert [m["entityUrn"] for m in json.loads(out.read_text())] == ["urn:li:corpuser:fine"]


def _fast():
    from bridge.spool import DeliveryConfig

    return DeliveryConfig.from_dict(FAST)


def test_identical_running_events_in_one_round_are_sent_once(bridge_serve):
    with GmsServer() as gms:
        server = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST, deliver=False)
        running = next(e for e in _corpus("spark_dataproc_bigquery_shakespare") if e["eventType"] == "RUNNING")
        _post(server, [running] * 6)
        assert server.service.spool.depth() == 6
        from bridge.delivery import DeliveryCore
        from bridge.spool import DeliveryWorker
        from translators.openlineage import parse_event

        core = DeliveryCore(_emitter(gms), DataHubTranslator())
        worker = DeliveryWorker(0, spool=server.service.spool, core=core, config=_fast(),
                                metrics=server.service.metrics, breaker=server.service.breaker, parse=parse_event)
        assert worker.run_once()
        assert server.service.spool.depth() == 0
        assert server.service.metrics.get("delivered") == 6
        sent = [(p["entityUrn"], p["aspectName"]) for p in gms.proposals]
        assert len(sent) == len(set(sent)), "an identical aspect value was sent twice"
        core.emitter.close()


def _emitter(gms):
    from emitters.base import create_emitter

    return create_emitter("rest", {"gms_server": gms.url, "delivery": "background", "retry_max_times": 0})


def test_memory_of_old_runs_is_dropped_and_the_rest_kept(bridge_serve, tmp_path):
    import sqlite3

    # run_memory_days small enough that the run's rows are old within a second.
    server = bridge_serve(delivery={"run_memory_days": 1e-5})
    event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
    assert requests.post(server.url + "/api/v1/lineage", json=event, timeout=10).status_code == 201

    def remembered() -> set[str]:
        conn = sqlite3.connect(tmp_path / "state" / "memory.sqlite3")
        try:
            return {urn.split(":")[2] for (urn,) in conn.execute("SELECT urn FROM written")}
        except sqlite3.OperationalError:  # not created yet
            return set()
        finally:
            conn.close()

    wait_until(lambda: "dataProcessInstance" in remembered(), 20, "the run was never remembered")
    wait_until(lambda: "dataProcessInstance" not in remembered(), 20, "the run's memory was not dropped")
    assert {"dataJob", "dataFlow"} <= remembered()  # jobs and flows stay


def test_switching_emitters_on_one_state_dir_delivers_everything_to_the_new_one(bridge_serve, tmp_path):
    # What the file already holds says nothing about GMS: the memory is kept per destination.
    events = _corpus("spark_dataproc_simple_producer_test_complete")
    server = bridge_serve()  # the default: a DataHub file in the state directory
    _post(server, events)
    _settled(server)
    server.service.emitter.flush()
    in_file = {(m["entityUrn"], m["aspectName"])
               for m in json.loads((tmp_path / "state" / "mcps.json").read_text())}  # fmt: skip
    server.stop()
    with GmsServer(validate_aspects=True) as gms:
        rest = bridge_serve(emitter="rest", emitters=_rest(gms), delivery=FAST)
        _post(rest, events)
        _settled(rest)
        assert rest.service.metrics.get("mcps_unchanged") == 0
        assert {(p["entityUrn"], p["aspectName"]) for p in gms.proposals} == in_file
        assert server.service.metrics.get("mcps_emitted") == rest.service.metrics.get("mcps_emitted")
