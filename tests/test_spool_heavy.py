"""Heavy events (inside the per-event limit) cost delivery memory: a round is bounded by the JSON it
takes (``batch_bytes``), and running out of memory costs only the event that cannot be translated alone."""

from __future__ import annotations

import json
import time
import weakref

import pytest

from bridge.mcp import MetadataChangeProposalWrapper
from bridge.spool import DeliveryConfig, Spool

FAST = {"backoff_initial": 0.05, "backoff_max": 0.4, "breaker_threshold": 2, "linger": 0}


def _event(job: str, *, lineage_fields: int = 0, pad: str = "") -> dict:
    event = {
        "eventType": "COMPLETE", "eventTime": "2024-10-16T17:00:00Z", "producer": "https://example.com/test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": f"0192a000-0000-7000-8000-{len(job):012d}"}, "job": {"namespace": "tests", "name": job},
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.orders"}],
        "outputs": [{"namespace": "s3://lake", "name": f"out_{job}"}],
    }
    if lineage_fields:  # what the audit's heavy event has: one output field fed by many input fields
        event["outputs"][0]["facets"] = {"columnLineage": {"_producer": "x", "_schemaURL": "y", "fields": {"a": {
            "inputFields": [{"namespace": "hdfs://h", "name": f"/t{i % 50}", "field": f"f{i}"}
                            for i in range(lineage_fields)]}}}}
    if pad:
        event["job"]["facets"] = {"documentation": {"_producer": "x", "_schemaURL": "y", "description": pad}}
    return event


def _service(tmp_path, translator=None, **delivery):
    from bridge.config import BridgeConfig
    from bridge.spool import SpoolService
    from emitters.file import FileEmitter

    return SpoolService(BridgeConfig(state_dir=str(tmp_path / "state")), translator=translator,
                        emitter=FileEmitter.from_config({"filename": str(tmp_path / "out.json")}),
                        delivery=DeliveryConfig.from_dict({**FAST, **delivery}))


def _drain(service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    metrics = service.metrics
    while service.spool.depth() or metrics.get("delivered") + metrics.get("dead_lettered") < 1:
        assert time.monotonic() < deadline, service.spool.status()
        time.sleep(0.02)


def test_pending_stops_at_the_byte_budget_and_always_takes_one(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append([("a", "x" * 600), ("b", "x" * 300), ("c", "x" * 300), ("d", "é" * 10)]).result(5)
        assert [r.key for r in spool.pending(limit=10, max_bytes=500)] == ["a"]  # over alone: still taken
        assert [r.key for r in spool.pending(limit=10, max_bytes=900)] == ["a", "b"]  # stops, skips nothing
        assert [r.key for r in spool.pending(limit=10, max_bytes=1219)] == ["a", "b", "c"]  # é is 2 bytes
        assert spool.pending(limit=10, max_bytes=1219).size == 1200  # what it summed to stop there
        assert [r.key for r in spool.pending(limit=10, max_bytes=1220)] == ["a", "b", "c", "d"]
        assert len(spool.pending(limit=10)) == 4


def test_a_rounds_bytes_are_those_its_budget_counted(tmp_path):
    """Whether a round came near ``batch_bytes`` (and so lingers or not) is judged by the bytes of
    JSON the spool summed while taking its events, the figure ``batch_bytes`` limits: not by a
    second count, in characters, that says less for non-ASCII events."""
    from bridge.delivery import DeliveryCore
    from bridge.spool import CircuitBreaker, DeliveryWorker, Metrics
    from emitters.file import FileEmitter
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    bodies = [json.dumps(_event(f"job{i}", pad="é" * 1000), ensure_ascii=False) for i in range(3)]
    with Spool(tmp_path) as spool:
        spool.append([(f"job{i}", body) for i, body in enumerate(bodies)]).result(5)
        core = DeliveryCore(FileEmitter.from_config({"filename": str(tmp_path / "out.json")}), DataHubTranslator())
        worker = DeliveryWorker(0, spool=spool, core=core, config=DeliveryConfig.from_dict(FAST), metrics=Metrics(),
                                breaker=CircuitBreaker(), parse=parse_event)
        try:
            assert worker.run_once()
        finally:
            core.emitter.close()
        assert (worker.last_round, spool.depth()) == (3, 0)
        assert worker.last_round_bytes == sum(len(body.encode()) for body in bodies)


def test_heavy_events_then_good_ones_rounds_stay_within_the_byte_budget(tmp_path, monkeypatch):
    from bridge.spool import _delivery

    budget = 400_000
    taken: list[tuple[int, int]] = []  # per round: events, bytes of JSON
    real = _delivery.deliver_round

    def spy(rows, **kwargs):
        taken.append((len(rows), sum(len(r.body.encode()) for r in rows)))
        return real(rows, **kwargs)

    monkeypatch.setattr(_delivery, "deliver_round", spy)
    heavy = [json.dumps(_event(f"heavy{i}", lineage_fields=3000)) for i in range(8)]
    assert 150_000 < len(heavy[0]) < budget  # two or so per round
    good = [json.dumps(_event(f"good{i}")) for i in range(40)]
    service = _service(tmp_path, batch_bytes=budget)
    with service:
        service.submit([(f"job:{i}", body) for i, body in enumerate(heavy + good)]).result(10)
        _drain(service)
        assert service.spool.dead_count() == 0, service.spool.dead_letters()
        assert service.metrics.get("delivered") == len(heavy) + len(good)
    assert sum(n for n, _ in taken) == len(heavy) + len(good)
    assert all(size <= budget for n, size in taken if n > 1), taken
    assert max(n for n, _ in taken) > 20, taken  # the good events still go many to a round
    delivered = json.loads((tmp_path / "out.json").read_text())
    assert {f"good{i}" for i in range(40)} <= {m["entityUrn"].rsplit(",", 1)[-1].rstrip(")") for m in delivered
                                                if m["entityUrn"].startswith("urn:li:dataJob:")}


class _Ballast:
    """Memory a translation holds until its round lets go of what it translated."""

    def __init__(self, units: int) -> None:
        self.units = units


class _Held(list):
    ballast: _Ballast


class _MemoryBound:
    """A translator in a process with room for ``limit`` units: translating an event needs its units on
    top of what the round still holds, else MemoryError (as a real allocation would raise it)."""

    def __init__(self, limit: int, units: dict[str, int]) -> None:
        self.limit = limit
        self.units = units
        self.live: weakref.WeakSet[_Ballast] = weakref.WeakSet()

    def translate(self, event):
        need = self.units.get(event.job.name, 0)
        if sum(b.units for b in self.live) + need > self.limit:
            raise MemoryError
        out = _Held([MetadataChangeProposalWrapper(entity_urn=f"urn:li:corpuser:{event.job.name}",
                                                   aspect_name="status", aspect={"removed": False})])
        out.ballast = _Ballast(need)
        self.live.add(out.ballast)
        return out


def _one_round_with_a_monster(tmp_path, translator, names: list[str]) -> tuple[str, list[str]]:
    """Submit ``names``' events as one round and deliver them all: only ``monster`` may be dead-lettered.
    Returns its dead letter's reason and the URNs delivered, in order."""
    service = _service(tmp_path, translator=translator)
    with service:
        service.submit([(f"job:{n}", json.dumps(_event(n))) for n in names]).result(10)  # one round
        _drain(service)
        letters = service.spool.dead_letters()
        assert [json.loads(d.body)["job"]["name"] for d in letters] == ["monster"], [d.reason for d in letters]
        assert service.metrics.get("delivered") == len(names) - 1
    return letters[0].reason, [m["entityUrn"] for m in json.loads((tmp_path / "out.json").read_text())]


def test_out_of_memory_costs_only_the_event_that_cannot_be_translated_alone(tmp_path):
    names = ["heavy_a", "heavy_b", "good_1", "monster", "good_2"]
    translator = _MemoryBound(3, {"heavy_a": 2, "heavy_b": 2, "good_1": 1, "monster": 10})
    reason, delivered = _one_round_with_a_monster(tmp_path, translator, names)
    size = len(json.dumps(_event("monster")).encode())
    assert "out of memory" in reason and f"{size} bytes" in reason
    assert delivered == [f"urn:li:corpuser:{n}" for n in names if n != "monster"]


@pytest.mark.parametrize("value", [0, -1])
def test_batch_bytes_must_be_positive(value):
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_bytes"):
        DeliveryConfig.from_dict({"batch_bytes": value})


class _PlanBound(_MemoryBound):
    """Planning a round needs room for what the round still holds: over ``plan_limit`` units, MemoryError
    (raised from a translator hook the delivery core calls while planning, as an allocation would)."""

    def __init__(self, limit: int, plan_limit: int, units: dict[str, int]) -> None:
        super().__init__(limit, units)
        self.plan_limit = plan_limit
        self.planned: list[int] = []  # units held at each successful planning look

    def is_timeseries(self, aspect_name: str) -> bool:
        held = sum(b.units for b in self.live)
        if held > self.plan_limit:
            raise MemoryError
        self.planned.append(held)
        return False


def test_out_of_memory_planning_a_round_delivers_what_fits_and_costs_only_an_event_too_big_alone(tmp_path):
    names = ["heavy_a", "heavy_b", "good_1", "good_2", "monster", "good_3"]
    translator = _PlanBound(100, 3, {"heavy_a": 2, "heavy_b": 2, "good_1": 1, "good_2": 1, "monster": 4})
    reason, delivered = _one_round_with_a_monster(tmp_path, translator, names)
    size = len(json.dumps(_event("monster")).encode())
    assert "out of memory" in reason and "planning this event's writes alone" in reason and f"{size} bytes" in reason
    # every event but the monster delivered, in order; the waiting events' MCPs were let go before each retry
    assert delivered == [f"urn:li:corpuser:{n}" for n in names if n != "monster"]
    assert max(translator.planned) <= 3
