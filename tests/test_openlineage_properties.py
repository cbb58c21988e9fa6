"""Property tests: whatever JSON arrives, the parser returns an Event or raises InvalidEventError.

And whatever it accepts, it can write back and read again to the same model.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.errors import InvalidEventError
from bridge.model import DatasetEvent, JobEvent, RunEvent
from translators.openlineage import parse_event, parse_events, to_openlineage

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
EVENTS = [json.loads(p.read_bytes()) for p in sorted(CORPUS.rglob("*.json"))]
MODEL_EVENTS = (RunEvent, JobEvent, DatasetEvent)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
# keys an OpenLineage event really uses, so random objects reach deep into the parser
OL_KEYS = st.sampled_from(
    [
        "run",
        "runId",
        "job",
        "namespace",
        "name",
        "facets",
        "inputs",
        "outputs",
        "eventType",
        "eventTime",
        "producer",
        "schemaURL",
        "dataset",
        "inputFacets",
        "outputFacets",
        "schema",
        "fields",
        "type",
        "symlinks",
        "identifiers",
        "columnLineage",
        "inputFields",
        "transformations",
        "parent",
        "root",
        "nominalTime",
        "nominalStartTime",
        "ownership",
        "owners",
        "tags",
        "key",
        "value",
        "sql",
        "query",
        "outputStatistics",
        "rowCount",
        "dataQualityMetrics",
        "lifecycleStateChange",
        "previousIdentifier",
        "errorMessage",
        "message",
        "processing_engine",
        "version",
        "_deleted",
    ]
)
ol_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(OL_KEYS | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=40,
)


def parse_or_error(obj: Any) -> Any:
    try:
        return parse_event(obj, location="prop")
    except InvalidEventError as exc:
        assert exc.location == "prop"
        assert exc.reason
        return exc


def assert_round_trip(event: Any) -> None:
    """What was accepted can be written as JSON and read back to the same model."""
    dumped = json.loads(json.dumps(to_openlineage(event)))
    again = parse_event(dumped)
    # schemaURL is filled in on the way out when the input had none (or not a string)
    assert attrs.evolve(again, schema_url=event.schema_url) == event


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    result = parse_or_error(value)
    assert isinstance(result, (InvalidEventError, *MODEL_EVENTS))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ol_like)
def test_arbitrary_event_like_objects(value: Any) -> None:
    result = parse_or_error(value)
    assert isinstance(result, (InvalidEventError, *MODEL_EVENTS))
    if not isinstance(result, InvalidEventError):
        assert_round_trip(result)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _retype(value: Any) -> Any:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return {}


def mutated_corpus_event(data: st.DataObject, prefer: Callable[[tuple], bool] | None = None) -> Any:
    """A corpus event with 1-3 random mutations (drop a key, replace a value, change its type).

    Args:
        prefer: if given, mutate only paths it accepts (when there are any).
    """
    event = copy.deepcopy(data.draw(st.sampled_from(EVENTS), label="event"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(event)
        if prefer is not None and isinstance(event, dict):
            paths = [p for p in paths if prefer(p)] or paths
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(st.sampled_from(["drop", "replace", "retype"]), label="op")
        if not path:
            event = data.draw(json_values) if op == "replace" else _retype(event)
            continue
        parent = event
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if op == "drop":
            del parent[last]
        elif op == "replace":
            parent[last] = data.draw(json_values, label="new value")
        else:
            parent[last] = _retype(parent[last])
    return event


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_corpus_events(data: st.DataObject) -> None:
    event = mutated_corpus_event(data)
    result = parse_or_error(event)
    assert isinstance(result, (InvalidEventError, *MODEL_EVENTS))
    if not isinstance(result, InvalidEventError):
        assert_round_trip(result)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(EVENTS).map(json.dumps) | st.text(max_size=30), max_size=6))
def test_json_lines_never_raise(lines: list[str]) -> None:
    text = "\n".join(lines)
    results = list(parse_events(text.encode(), source="p.jsonl"))
    for location, result in results:
        assert location.startswith("p.jsonl")
        assert isinstance(result, (InvalidEventError, *MODEL_EVENTS))
    good = sum(isinstance(r, MODEL_EVENTS) for _, r in results)
    # every intact corpus line on its own line is read, whatever surrounds it
    intact = sum(1 for line in text.split("\n") if line in {json.dumps(e) for e in EVENTS})
    assert good >= intact


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for location, result in parse_events(data, source="b"):
        assert location.startswith("b")
        assert isinstance(result, (InvalidEventError, *MODEL_EVENTS))
