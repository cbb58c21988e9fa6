"""One bad event never costs the status page the good ones around it.

An event nested hundreds of levels deep is accepted (JSON allows it); redacting it for the journal
must not recurse without bound, and whatever fails for one event must leave the journal's thread
running and the other events on the page, with a structured log line and no raw traceback.
"""

from __future__ import annotations

import copy
import json
import logging
import sqlite3
import time
import uuid

import requests

from bridge.secrets import MAX_DEPTH, TOO_DEEP, Secrets
from bridge.ui import Journal
from tests.waiting import wait_until

GOOD = {"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z", "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "", "facets": {"custom": {"_producer": "x", "_schemaURL": "y", "password": "hunter2"}}},
        "job": {"namespace": "journal", "name": "job"}, "inputs": [], "outputs": []}


def _event(deep: int = 0) -> dict:
    event = copy.deepcopy(GOOD)
    event["run"]["runId"] = str(uuid.uuid4())
    if deep:
        event["run"]["facets"]["deep"] = json.loads("[" * deep + "]" * deep)
    return event


def test_a_deeply_nested_event_among_good_ones_leaves_them_all_on_the_status_page(bridge_serve, capfd):
    server = bridge_serve()
    sent = [_event() for _ in range(5)] + [_event(deep=900)] + [_event() for _ in range(5)]
    for event in sent:  # one request each, as producers send them
        assert requests.post(server.url + "/api/v1/lineage", json=event, timeout=10).status_code == 201
    server.service.spool.wake()
    wait_until(lambda: server.service.metrics.get("delivered") == len(sent), timeout=30)

    def shown(event):
        return requests.get(f"{server.url}/ui/api/runs/{event['run']['runId']}", timeout=10)

    wait_until(lambda: all(shown(e).status_code == 200 for e in sent), timeout=10,
               what="not every run is on the status page")
    (kept,) = shown(sent[5]).json()["events"]
    deep = kept["event"]["run"]["facets"]["deep"]
    for _ in range(MAX_DEPTH - 3):  # (the event, its run and the run's facets are the first levels)
        (deep,) = deep
    assert deep == TOO_DEEP
    assert kept["event"]["run"]["facets"]["custom"]["password"] == "***"
    assert "Traceback" not in capfd.readouterr().err


class _Broken(Secrets):
    def redact(self, value, _depth=0):
        if _depth == 0 and value["job"]["name"] == "broken":
            raise RuntimeError("a bug")
        return super().redact(value, _depth)


def test_the_journal_thread_survives_an_event_that_fails_and_keeps_the_others(tmp_path, caplog, capfd):
    journal = Journal(tmp_path / "journal.sqlite3", interval=0.05, secrets=_Broken())
    broken = _event()
    broken["job"]["name"] = "broken"
    good = [_event(), _event()]
    with caplog.at_level(logging.WARNING, logger="bridge.ui._journal"):
        journal.record([("k1", json.dumps(good[0])), ("bad", json.dumps(broken)), ("k2", json.dumps(good[1]))])
        time.sleep(0.3)
        journal.record([("k3", json.dumps(_event()))])  # the same thread writes it
        wait_until(lambda: _count(tmp_path) == 4, timeout=5, what="the journal stopped writing")
    assert journal._thread is not None and journal._thread.is_alive()
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    rows = dict(db.execute("SELECT key, body FROM events").fetchall())
    assert json.loads(rows["bad"]) == {"_bridge": "this event could not be redacted for the status page; "
                                                  "it is not shown"}
    assert json.loads(rows["k1"])["run"]["facets"]["custom"]["password"] == "***"
    (record,) = [r for r in caplog.records if r.getMessage().startswith("status page journal")]
    assert record.fields["key"] == "bad" and "RuntimeError: a bug" in record.fields["error"]
    assert record.exc_info is None
    assert "Traceback" not in capfd.readouterr().err


def _count(path) -> int:
    try:
        return sqlite3.connect(path / "journal.sqlite3").execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_the_intake_check_for_lone_surrogates_walks_any_depth_without_recursion():
    """The other walk over a whole event on the serve path (where a lone surrogate is, to say so)."""
    from translators.openlineage._validate import _surrogate_path

    deep: object = "\ud800"
    for _ in range(5000):
        deep = [deep]
    assert _surrogate_path({"run": {"ok": "é", "deep": deep}}) == "run.deep" + "[0]" * 5000
    assert _surrogate_path({"a": 1, "b": ["x", {"c": "\ud800"}], "d": "\ud800"}) == "b[1].c"  # the first
    assert _surrogate_path({"q": {"a": "x", "\ud800": "y"}}) == "q.\ud800"
