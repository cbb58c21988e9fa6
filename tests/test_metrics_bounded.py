"""Producers' names never make ``/metrics`` grow without bound.

``bridge_facets_unmapped_total{facet}`` is labelled by facet names the producers chose: a producer
inventing a name per event (or a 1 MB one) must not make the scrape, the delivery child's reports
or the memory grow with history. Real events go through ``bridge serve``'s real metrics path.
"""

from __future__ import annotations

import pickle
import re
import uuid

import pytest
import requests

from bridge.spool._metrics import MAX_LABEL_LENGTH, MAX_LABELS, OTHER
from tests.waiting import wait_until

_UNMAPPED = re.compile(r'bridge_facets_unmapped_total\{facet="(.*)"\} (\d+)')


def _event(facets: list[str]) -> dict:
    return {"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z", "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4()), "facets": {name: {"_producer": "x", "_schemaURL": "y"}
                                                           for name in facets}},
            "job": {"namespace": "flood", "name": "job"}, "inputs": [], "outputs": []}


def _flood(server, events: int, per_event: int) -> int:
    """Post one event with a 1 MB facet name, then ``events`` events of ``per_event`` new names each."""
    sent = [_event(["x" * 1_000_000])]
    sent += [_event([f"f_{uuid.uuid4().hex}" for _ in range(per_event)]) for _ in range(events)]
    for start in range(0, len(sent), 100):
        response = requests.post(server.url + "/api/v1/lineage", json=sent[start:start + 100], timeout=30)
        assert response.status_code == 201, response.text
    server.service.spool.wake()
    wait_until(lambda: server.service.metrics.get("delivered") == len(sent), timeout=60)
    return 1 + events * per_event


def _scraped(server) -> dict[str, int]:
    text = requests.get(server.url + "/metrics", timeout=10).text
    assert max(len(line) for line in text.splitlines()) < 2 * MAX_LABEL_LENGTH
    return {m.group(1): int(m.group(2)) for m in map(_UNMAPPED.fullmatch, text.splitlines()) if m}


@pytest.mark.parametrize("deliver", ["thread", "process"])
def test_many_unique_facet_names_give_a_bounded_scrape_whose_totals_add_up(bridge_serve, deliver):
    server = bridge_serve(deliver=deliver)
    total = _flood(server, 150, 3)
    counted = _scraped(server)
    assert len(counted) == MAX_LABELS + 1  # the first names, then the rest under one label
    assert counted[OTHER] == total - MAX_LABELS
    assert sum(counted.values()) == total
    assert "x" * (MAX_LABEL_LENGTH - 3) + "..." in counted  # the 1 MB name, cut


def test_the_snapshot_a_delivery_child_reports_stays_small(bridge_serve):
    server = bridge_serve()  # delivery in this process: its registry is the one a child reports
    _flood(server, 150, 3)
    metrics = server.service.metrics
    first = pickle.dumps(metrics.snapshot())
    assert len(first) < 40_000  # a few hundred short labels, not the history
    idle = metrics.snapshot()  # nothing changed since: the labels are not sent again
    assert "unmapped" not in idle and len(pickle.dumps(idle)) < 2_000
