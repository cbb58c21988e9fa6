"""Two delivery workers writing the same dataset's lineage at once: neither erases the other's.

Two jobs write the same output dataset, so both send its ``upstreamLineage``. Two workers
deliver them side by side to the GMS test server (which applies writes as DataHub does).
As patches, both jobs' upstreams end up in DataHub; as whole-aspect UPSERTs (the control),
the value that lands last erases the other job's lineage.
"""

from __future__ import annotations

import json
import threading

from bridge.delivery import DeliveryCore
from bridge.spool import Spool
from bridge.spool._delivery import deliver_round
from emitters.rest import RestEmitter
from tests.servers.gms import GmsServer
from translators.datahub import DataHubTranslator, TranslatorConfig, make_dataset_urn
from translators.openlineage import parse_event

ORDERS = make_dataset_urn("s3", "lake/orders")


def _event(job: str, source: str) -> str:
    return json.dumps({
        "eventType": "COMPLETE", "eventTime": "2024-10-16T17:00:00Z", "producer": "https://example.com/t",
        "run": {"runId": f"00000000-0000-4000-8000-00000000000{len(job)}"},
        "job": {"namespace": "etl", "name": job},
        "inputs": [{"namespace": "postgres://db:5432", "name": source}],
        "outputs": [{"namespace": "s3://lake", "name": "orders"}],
    })


class _Gated(RestEmitter):
    """Holds the first ``upstreamLineage`` until ``gate`` is set, so the other worker's lands in between."""

    def __init__(self, url: str) -> None:
        super().__init__(gms_server=url)
        self.gate = threading.Event()
        self.holding = threading.Event()

    def emit(self, item, callback=None):
        if item.aspect_name == "upstreamLineage" and not self.gate.is_set():
            self.holding.set()
            self.gate.wait(30)
        super().emit(item, callback)


def _two_workers_at_once(tmp_path, policy: dict[str, str]) -> set[str]:
    """Deliver the two jobs' events in two workers, the second landing while the first is held; return
    the upstreams GMS holds for the shared dataset."""
    translator = DataHubTranslator(TranslatorConfig(emit_upstream_lineage=True, write_policy=policy))
    with GmsServer(validate_aspects=True) as gms, Spool(tmp_path) as spool:
        spool.append([("etl:load_a", _event("load_a", "shop.public.a")),
                      ("etl:load_bb", _event("load_bb", "shop.public.b"))]).result(5)
        row_a, row_b = spool.pending(limit=10)
        first, second = _Gated(gms.url), RestEmitter(gms_server=gms.url)
        # separate cores, as two processes (or two machines) would have
        a = threading.Thread(target=deliver_round, args=([row_a],),
                             kwargs={"parse": parse_event, "core": DeliveryCore(first, translator)})
        a.start()
        assert first.holding.wait(10)  # worker A is sending the shared aspect
        outcome, invalid, *_ = deliver_round([row_b], parse=parse_event, core=DeliveryCore(second, translator))
        assert outcome == {row_b.id: None} and not invalid
        first.gate.set()
        a.join(10)
        first.close()
        second.close()
        return {u["dataset"] for u in gms.aspects[(ORDERS, "upstreamLineage")]["upstreams"]}


def test_two_workers_patching_one_dataset_keep_both_jobs_lineage(tmp_path):
    assert _two_workers_at_once(tmp_path, {}) == {
        make_dataset_urn("postgres", "shop.public.a"), make_dataset_urn("postgres", "shop.public.b")}


def test_control_as_upserts_the_last_writer_erases_the_other(tmp_path):
    # What the patch write policy prevents: the value held back and sent last wins alone.
    assert _two_workers_at_once(tmp_path, {"upstreamLineage": "upsert"}) == {
        make_dataset_urn("postgres", "shop.public.a")}


def test_metrics_render_while_gauges_are_registered():
    """``bridge consume`` registers its gauges once the loop starts, while /metrics may already be scraped."""
    import threading

    from bridge.spool import Metrics

    metrics = Metrics()
    stop = threading.Event()
    errors: list[BaseException] = []

    def scrape() -> None:
        while not stop.is_set():
            try:
                metrics.render()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)
                return

    scraper = threading.Thread(target=scrape)
    scraper.start()
    for i in range(20_000):
        metrics.gauge(f"g{i}", "a gauge", lambda: 1.0)
        if i % 100 == 0:
            metrics.gauge_family(f"f{i}", "a family", "partition", lambda: {"t[0]": 1.0})
    stop.set()
    scraper.join()
    assert errors == []
