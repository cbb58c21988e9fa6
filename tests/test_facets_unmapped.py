"""Nothing is dropped silently: the facets no DataHub aspect holds are counted, in the summary of
``bridge translate`` / ``bridge send`` and in ``bridge serve``'s ``/metrics``.

On the 74 events of the shared corpus the unmapped facets are named and counted, and the count is
checked against a walk of the raw JSON that does not go through the model.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import requests
from click.testing import CliRunner

from bridge.cli import main
from bridge.spool import Metrics
from tests.waiting import wait_until
from translators.datahub.facets import READ_FACETS, mapped_facets, unmapped_facets
from translators.openlineage import parse_events

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
ROOT = Path(__file__).resolve().parent.parent

#: The corpus's facets that nothing maps (the job-level ``airflow`` facet: the DAG's task tree;
#: the run-level one is read). Each is a producer facet, kept only as JSON with capture_raw_facets.
CORPUS_UNMAPPED = Counter({"gcp_lineage": 32, "unknownSourceAttribute": 20, "environment-properties": 9,
                           "spark.logicalPlan": 7, "airflow": 3, "spark_unknown": 1})


def _raw_walk(event: dict) -> Counter:
    """Unmapped facet names straight from the OpenLineage JSON, without the neutral model."""
    out: Counter = Counter()

    def count(facets, place):
        out.update(name for name in facets or {} if name not in mapped_facets(place))

    count((event.get("run") or {}).get("facets"), "run")
    count((event.get("job") or {}).get("facets"), "job")
    for side, place in (("inputs", "input"), ("outputs", "output")):
        for dataset in event.get(side) or ():
            count(dataset.get("facets"), "dataset")
            count(dataset.get(f"{place}Facets"), place)
    return out


def test_the_corpus_unmapped_facets_are_named_and_counted():
    from_model, from_json, events = Counter(), Counter(), 0
    for path in sorted(CORPUS.rglob("*.json")):
        raw = json.loads(path.read_text())
        for _, event in parse_events(path.read_bytes(), source=str(path)):
            events += 1
            from_model += unmapped_facets(event)
        for one in raw if isinstance(raw, list) else [raw]:
            from_json += _raw_walk(one)
    assert events == 74
    assert from_model == from_json == CORPUS_UNMAPPED


def test_a_mapped_facet_is_not_counted_and_an_unknown_one_is():
    from translators.openlineage import parse_event

    event = parse_event({
        "eventType": "FAIL", "eventTime": "2026-01-01T00:00:00Z", "producer": "p",
        "run": {"runId": "01900000-0000-7000-8000-000000000001",
                "facets": {"spark.exception": {"message": "Job aborted"}, "mine": {"x": 1}}},
        "job": {"namespace": "n", "name": "j", "facets": {"sql": {"query": "select 1", "extra": 1}}},
        "inputs": [{"namespace": "n", "name": "a", "inputFacets": {"dataQualityMetrics": {"rowCount": 1},
                                                                   "mine": {}}}],
    })
    # sql is mapped though its "extra" key is kept as residue; mine occurs twice
    assert unmapped_facets(event) == Counter({"mine": 2})


def test_every_facet_said_to_be_read_is_read_by_the_translator():
    """READ_FACETS names only facets some module of translators/datahub looks up by name."""
    sources = "\n".join(p.read_text() for p in (ROOT / "translators" / "datahub").glob("*.py")
                        if p.name != "facets.py")
    for names in READ_FACETS.values():
        for name in names:
            assert f'"{name}"' in sources, name


def test_translate_says_the_unmapped_facets(tmp_path):
    result = CliRunner().invoke(main, ["translate", str(CORPUS), "-o", str(tmp_path / "m.json")],
                                catch_exceptions=False)
    assert result.exit_code == 0
    said = re.search(r"facets not mapped: (.*)$", result.stderr.strip().splitlines()[-1]).group(1)
    assert said == ", ".join(f"{name}\u00d7{count}" for name, count in CORPUS_UNMAPPED.most_common())


def test_send_says_them_too(tmp_path):
    result = CliRunner().invoke(main, ["send", str(CORPUS / "airflow"), "--emitter", "file", "-o",
                                       str(tmp_path / "m.json"), "--state-dir", str(tmp_path / "state")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stderr.rstrip().endswith("; facets not mapped: unknownSourceAttribute\u00d720, airflow\u00d73")


def test_metrics_keep_a_delivery_childs_counts():
    metrics, child = Metrics(), Metrics()
    metrics.count_unmapped_facets({"a": 1})
    child.count_unmapped_facets({"a": 2, "b": 1})
    metrics.absorb(child.snapshot())
    assert metrics.unmapped_facets() == {"a": 3, "b": 1}
    metrics.absorb(None, keep=True)  # the child died: what it counted stays
    assert metrics.unmapped_facets() == {"a": 3, "b": 1}
    assert 'bridge_facets_unmapped_total{facet="b"} 1' in metrics.render()


def test_serve_counts_them_in_metrics(bridge_serve):
    server = bridge_serve()
    events = [json.loads(p.read_text()) for p in sorted((CORPUS / "spark_dataproc_simple_producer_test").glob("*"))]
    expected = sum((_raw_walk(e) for e in events), Counter())
    assert expected  # the folder has some
    assert requests.post(server.url + "/api/v1/lineage", json=events, timeout=10).status_code == 201
    server.service.spool.wake()
    wait_until(lambda: server.service.metrics.get("delivered") == len(events))
    text = requests.get(server.url + "/metrics", timeout=10).text
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    counted = {m.group(1): int(v) for k, v in samples.items()
               if (m := re.fullmatch(r'bridge_facets_unmapped_total\{facet="(.*)"\}', k))}
    assert counted == dict(expected)
