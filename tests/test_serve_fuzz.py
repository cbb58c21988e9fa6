"""Fuzzed request bodies (hypothesis): always a 4xx with a reason or a 201, never a 5xx; the server
stays up and the good events sent around the bad ones are delivered."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mutations import CORPUS_EVENTS, mutated_event

EVENTS = CORPUS_EVENTS

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_event_bytes = mutated_event(EVENTS, _json).map(lambda e: json.dumps(e).encode())

_bodies = st.one_of(
    st.binary(max_size=512),
    _json.map(lambda v: json.dumps(v).encode()),
    _event_bytes,
    st.lists(_event_bytes, min_size=1, max_size=3).map(lambda parts: b"[" + b",".join(parts) + b"]"),
    st.text(max_size=200).map(str.encode),
)


def _good(i: int) -> dict:
    return {
        "eventType": "COMPLETE", "eventTime": "2024-10-16T17:00:00Z", "producer": "https://example.com/fuzz",
        "run": {"runId": f"00000000-0000-4000-8000-{i:012d}"}, "job": {"namespace": "fuzz", "name": f"good_{i}"},
        "inputs": [{"namespace": "postgres://db:5432", "name": f"shop.public.t{i}"}],
    }


def test_fuzzed_bodies_never_5xx_and_good_events_still_delivered(bridge_serve):
    server = bridge_serve(max_body_bytes=64 * 1024)
    url = server.url + "/api/v1/lineage"
    session = requests.Session()
    sent_good = []

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=_bodies, gzipped=st.booleans(), good_after=st.booleans())
    def check(body, gzipped, good_after):
        headers = {"Content-Type": "application/json"}
        if gzipped:
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        response = session.post(url, data=body, headers=headers, timeout=30)
        assert response.status_code < 500, response.text
        assert response.status_code in (201, 400, 413, 415, 422), response.text
        if response.status_code != 201:
            answer = response.json()
            assert answer["reason"] and "field" in answer
        if good_after:
            event = _good(len(sent_good))
            assert session.post(url, json=event, timeout=30).status_code == 201
            sent_good.append(event["job"]["name"])

    check()
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    deadline = time.monotonic() + 60
    while server.service.spool.depth():
        assert time.monotonic() < deadline, server.service.spool.status()
        time.sleep(0.05)
    server.service.emitter.flush()
    output = json.loads(Path(server.service.config.emitter_config["filename"]).read_text())
    delivered_jobs = {m["entityUrn"].rsplit(",", 1)[1].rstrip(")") for m in output if m["entityType"] == "dataJob"}
    assert sent_good and set(sent_good) <= delivered_jobs
    dead_jobs = {json.loads(d.body).get("job", {}).get("name") for d in server.service.spool.dead_letters(limit=10_000)}
    assert not dead_jobs & set(sent_good)
