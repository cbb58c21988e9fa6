"""The status page's JSON endpoints, against a real ``bridge serve`` delivering to the GMS test server,
and ``bridge ui --state-dir`` over the same directory once the server stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from bridge.ui import JOURNAL_FILE
from tests.servers.bridge_process import BridgeProcess
from tests.ui_scenario import AUTH, SECRET, TOKEN, Scenario, dataset_urns, job_urn, translated
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    scenario = Scenario(tmp_path_factory.mktemp("ui") / "state")
    try:
        scenario.post_all()
        yield scenario
    finally:
        scenario.stop()


@pytest.mark.parametrize("path", ["/ui/api/now", "/ui/api/runs", "/ui/api/dead", "/ui/api/search?q=BQ",
                                  "/ui/api/lineage?urn=urn:li:dataJob:x"])
def test_json_needs_the_token(scenario, path):
    missing = requests.get(scenario.url + path, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.get(scenario.url + path, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 403
    assert requests.get(scenario.url + path, headers=AUTH, timeout=10).status_code == 200


def test_retry_needs_the_token(scenario):
    (letter,) = scenario.get("/ui/api/dead")["dead_letters"]
    assert requests.post(f"{scenario.url}/ui/api/dead/{letter['id']}/retry", timeout=10).status_code == 401
    assert scenario.get("/ui/api/dead")["count"] == 1


def test_the_page_shell_holds_no_data(scenario):
    page = requests.get(scenario.url + "/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "cytoscape.min.js" in page.text and "BQ" not in page.text
    assert requests.get(scenario.url + "/ui/static/cytoscape.min.js", timeout=10).status_code == 200


def test_now_counts_what_serve_did(scenario):
    now = scenario.get("/ui/api/now")
    total = len(scenario.events) + 1
    assert now["mode"] == "serve"
    assert now["counters"]["received"] == total
    assert now["counters"]["delivered"] == total - 1
    assert now["counters"]["dead_lettered"] == 1
    assert now["spool"]["pending"] == 0 and now["spool"]["dead"] == 1
    # (the delivery child says "starting" until it has connected; the page shows it as it is)
    wait_until(lambda: scenario.get("/ui/api/now")["emitter"] == {"kind": "rest", "health": "ok"},
               what="the emitter never became healthy")
    assert now["can_retry"] is True


def test_runs_list_every_run_with_its_state(scenario):
    runs = {r["run_id"]: r for r in scenario.get("/ui/api/runs")["runs"]}
    sent = scenario.events + [scenario.poison]
    assert set(runs) == {e["run"]["runId"] for e in sent}
    poison = runs[scenario.poison["run"]["runId"]]
    assert poison["job"] == "airflow/poison_task"
    assert poison["state"] == "COMPLETE" and poison["delivery"] == {"dead": 1}
    copy_run = runs[scenario.events[4]["run"]["runId"]]
    assert copy_run["delivery"] == {"delivered": sum(e["run"]["runId"] == copy_run["run_id"] for e in sent)}


def test_run_shows_event_mcps_status_and_dataset_rules(scenario):
    event = scenario.events[4]  # BQ.copy COMPLETE
    run = scenario.get("/ui/api/runs/" + event["run"]["runId"])
    assert run["job_urn"] == job_urn(event)
    (shown,) = [e for e in run["events"] if e["event_type"] == "COMPLETE"]
    assert shown["event"] == event  # as received (nothing secret in it)
    assert shown["status"] == {"state": "delivered"}
    expected = [(m.entity_urn, m.aspect_name, m.change_type) for m in translated(event)]
    assert [(m["entityUrn"], m["aspectName"], m["changeType"]) for m in shown["mcps"]] == expected
    assert {m["status"] for m in shown["mcps"]} == {"delivered"}
    urns = {(d["role"], d["urn"]) for d in shown["datasets"]}
    assert urns == {("input", u) for u in dataset_urns(event, "inputs")} | {
        ("output", u) for u in dataset_urns(event, "outputs")}
    assert all(d["rule"].startswith("the namespace bigquery is the platform") for d in shown["datasets"])


def test_dead_letter_shows_reason_and_rejected_mcp_without_secrets(scenario):
    dead = scenario.get("/ui/api/dead")
    (letter,) = dead["dead_letters"]
    assert letter["status"] == 422 and "rejected by validator" in letter["reason"]
    assert letter["urn"] == scenario.poison_job
    assert SECRET not in json.dumps(dead)
    assert letter["event"]["run"]["facets"]["environment-properties"]["environment-properties"] == {
        "DB_PASSWORD": "***", "HOME": "/home/airflow"}
    run = scenario.get("/ui/api/runs/" + scenario.poison["run"]["runId"])
    assert SECRET not in json.dumps(run)
    (event,) = run["events"]
    assert event["status"]["state"] == "dead" and event["status"]["dead_letter"] == letter["id"]
    rejected = [(m["entityUrn"], m["aspectName"]) for m in event["mcps"] if m["status"] == "rejected"]
    assert rejected == [(letter["urn"], letter["aspect"])]
    assert SECRET.encode() not in (Path(scenario.serve.state_dir) / JOURNAL_FILE).read_bytes()


def _delivered_edges(events) -> set[tuple[str, str]]:
    """The lineage edges the events' ``dataJobInputOutput`` aspects carry (whole values, before patching)."""
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    edges = set()
    for event in events:
        for mcp in DataHubTranslator().translate_aspects(parse_event(event)):
            if mcp.aspect_name != "dataJobInputOutput":
                continue
            value = mcp.aspect_value
            for field, into in (("inputDatasets", True), ("inputDatajobs", True), ("outputDatasets", False)):
                for other in value.get(field) or ():
                    edges.add((other, mcp.entity_urn) if into else (mcp.entity_urn, other))
    return edges


def test_lineage_graph_comes_from_the_memory(scenario):
    delivered = _delivered_edges(scenario.events)  # (the poison job's edges may or may not have landed)
    copy_job = job_urn(scenario.events[4])
    one_hop = scenario.get("/ui/api/lineage", urn=copy_job, depth=1)
    expected = {edge for edge in delivered if copy_job in edge}
    assert len(expected) >= 4  # its dataset in and out, the tasks before and after it
    assert {(e["source"], e["target"]) for e in one_hop["edges"]} == expected
    assert {n["id"] for n in one_hop["nodes"]} == {u for edge in expected for u in edge}
    assert one_hop["truncated"] is False
    cut = scenario.get("/ui/api/lineage", urn=copy_job, depth=1, limit=2)
    assert cut["truncated"] is True and len(cut["edges"]) == 2
    assert {(e["source"], e["target"]) for e in cut["edges"]} < expected
    # Two hops: also what the upstream task read (BQ.upload's files) and what the downstream one wrote.
    two_hops = scenario.get("/ui/api/lineage", urn=copy_job, depth=2)
    nodes = {n["id"] for n in two_hops["nodes"]}
    assert set(dataset_urns(scenario.events[2], "inputs")) <= nodes
    assert set(dataset_urns(scenario.events[6], "outputs")) <= nodes
    assert {(e["source"], e["target"]) for e in two_hops["edges"]} <= delivered | _delivered_edges([scenario.poison])


def test_search_finds_jobs_datasets_and_runs(scenario):
    found = scenario.get("/ui/api/search", q="upload_cp")
    (target,) = dataset_urns(scenario.events[4], "outputs")
    assert target in {e["urn"] for e in found["entities"]}
    assert scenario.events[4]["run"]["runId"] in {r["run_id"] for r in found["runs"]}
    assert scenario.get("/ui/api/search", q="no-such-thing-anywhere") == {
        "query": "no-such-thing-anywhere", "entities": [], "runs": []}


def test_bridge_ui_reads_the_state_dir_without_a_server(scenario):
    """Last in this module: it stops the server."""
    scenario.serve.stop()
    ui = BridgeProcess(scenario.serve.state_dir, "--bridge-token", TOKEN, command="ui").start()
    try:
        assert requests.get(ui.url + "/ui/api/runs", timeout=10).status_code == 401
        now = requests.get(ui.url + "/ui/api/now", headers=AUTH, timeout=10).json()
        assert now["mode"] == "offline" and now["counters"] is None and now["spool"]["dead"] == 1
        runs = requests.get(ui.url + "/ui/api/runs", headers=AUTH, timeout=10).json()["runs"]
        assert len({r["run_id"] for r in runs}) == len({e["run"]["runId"] for e in scenario.events}) + 1
        graph = requests.get(ui.url + "/ui/api/lineage", params={"urn": job_urn(scenario.events[4]), "depth": 1},
                             headers=AUTH, timeout=10).json()
        assert len(graph["edges"]) == len([e for e in _delivered_edges(scenario.events) if job_urn(scenario.events[4]) in e])
        (letter,) = requests.get(ui.url + "/ui/api/dead", headers=AUTH, timeout=10).json()["dead_letters"]
        moved = requests.post(f"{ui.url}/ui/api/dead/{letter['id']}/retry", headers=AUTH, timeout=10)
        assert moved.status_code == 200 and moved.json() == {"requeued": 1}
        now = requests.get(ui.url + "/ui/api/now", headers=AUTH, timeout=10).json()
        assert now["spool"]["dead"] == 0
        assert now["spool"]["pending"] == 1  # delivered by the next bridge serve
    finally:
        ui.stop()
