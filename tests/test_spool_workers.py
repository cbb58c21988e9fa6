"""Two delivery workers writing the same merged aspect: the second waits, and neither erases the other's lineage."""

from __future__ import annotations

import json
import threading
import time

from bridge.spool import Spool, SqliteLineageMemory
from bridge.spool._delivery import _timeseries_aspects, deliver_round
from bridge.spool._policy import AspectLocks
from bridge.testing import RecordingEmitter
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.openlineage import parse_event

SHARED = "s3://lake/orders"


def _event(job: str, source: str) -> str:
    return json.dumps({
        "eventType": "COMPLETE", "eventTime": "2024-10-16T17:00:00Z", "producer": "https://example.com/t",
        "run": {"runId": f"00000000-0000-4000-8000-00000000000{len(job)}"},
        "job": {"namespace": "etl", "name": job},
        "inputs": [{"namespace": "postgres://db:5432", "name": source}],
        "outputs": [{"namespace": "s3://lake", "name": "orders"}],
    })


class _GatedEmitter(RecordingEmitter):
    """Records like RecordingEmitter, but holds the first upstreamLineage until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.holding = threading.Event()

    def emit(self, item, callback=None):
        if item.aspect_name == "upstreamLineage" and not self.gate.is_set():
            self.holding.set()
            self.gate.wait(30)
        super().emit(item, callback)


def _upstreams(emitter: RecordingEmitter) -> list[set[str]]:
    return [{u["dataset"] for u in m.aspect_value["upstreams"]} for m in emitter.aspects("upstreamLineage")
            if "orders" in m.entity_urn]


def _deliver_in_two_workers(tmp_path, locks):
    with Spool(tmp_path) as spool:
        spool.append([("etl:load_a", _event("load_a", "shop.public.a")),
                      ("etl:load_bb", _event("load_bb", "shop.public.b"))]).result(5)
        row_a, row_b = spool.pending(limit=10)
        memory = SqliteLineageMemory(spool)
        # upstreamLineage on the output: one aspect that both jobs write (merged, as the design says).
        translator = DataHubTranslator(TranslatorConfig(emit_upstream_lineage=True))
        first, second = _GatedEmitter(), RecordingEmitter()
        common = {"parse": parse_event, "translator": translator, "memory": memory,
                  "timeseries": _timeseries_aspects(), "locks": locks}
        a = threading.Thread(target=deliver_round, args=([row_a],), kwargs={**common, "emitter": first})
        a.start()
        assert first.holding.wait(10)  # worker A has merged the shared aspect and is sending it
        b = threading.Thread(target=deliver_round, args=([row_b],), kwargs={**common, "emitter": second})
        b.start()
        time.sleep(0.3)
        sent_while_a_was_sending = _upstreams(second)
        first.gate.set()
        a.join(10)
        b.join(10)
        return _upstreams(first), sent_while_a_was_sending, _upstreams(second)


def test_second_worker_waits_and_sends_both_jobs_lineage(tmp_path):
    by_a, meanwhile, by_b = _deliver_in_two_workers(tmp_path, AspectLocks())
    assert meanwhile == []  # B did not merge the shared aspect while A's value was in flight
    assert len(by_a) == 1 and len(by_b) == 1
    assert by_b[0] > by_a[0]  # B's value is A's plus its own: the last one written keeps both jobs
    assert len(by_b[0]) == 2


def test_without_the_locks_the_last_writer_erases_the_other(tmp_path):
    # What AspectLocks prevents (this is why the workers share one).
    by_a, meanwhile, by_b = _deliver_in_two_workers(tmp_path, None)
    assert len(meanwhile) == 1 and len(meanwhile[0]) == 1
    assert by_a[0].isdisjoint(by_b[0])


def test_locks_let_rounds_with_nothing_in_common_run_side_by_side():
    locks = AspectLocks()
    entered = threading.Event()
    with locks.hold([("urn:a", "upstreamLineage")]):
        def other():
            with locks.hold([("urn:b", "upstreamLineage")]):
                entered.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(5)
        thread.join(5)
