"""validate_event (the intake's fast check) rejects exactly what parse_event rejects, with the same field.

``bridge serve`` answers 422 or 201 from :func:`validate_event` alone and leaves the full
parse to delivery; if the two disagreed, an event could be acknowledged and then
dead-lettered (or refused although usable). So they are compared on the inputs the
parser's own property tests use: arbitrary JSON, OpenLineage-shaped objects and mutated
corpus events.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.errors import InvalidEventError
from tests.test_openlineage_properties import EVENTS, json_values, mutated_corpus_event, ol_like
from translators.openlineage import event_json, parse_event, validate_event


def outcome(check: Any, obj: Any) -> tuple[str | None, str | None, str | None] | None:
    """``None`` when accepted, else what the rejection says (field, reason, location)."""
    try:
        check(obj, location="[7]")
    except InvalidEventError as exc:
        return (exc.field, exc.reason, exc.location)
    return None


def assert_agree(obj: Any) -> None:
    assert outcome(validate_event, obj) == outcome(parse_event, obj), obj


def test_every_corpus_event_is_accepted() -> None:
    for event in EVENTS:
        validate_event(event)


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ([], None),
        ({"producer": "x"}, None),
        ({"schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}, "run"),
        ({"eventType": "START", "job": {"namespace": "n", "name": "j"}}, "run"),
        ({"eventType": "START", "run": {"runId": "r"}, "job": {"namespace": "n", "name": " "}}, "job.name"),
        ({"job": {"namespace": "n", "name": "j"}, "inputs": [{"namespace": "n"}]}, "inputs[0].name"),
        ({"job": {"namespace": "n", "name": "j"}, "outputs": {"a": 1}}, "outputs"),
        ({"dataset": {"namespace": True, "name": "d"}}, "dataset.namespace"),
        ({"run": {"runId": None}, "job": {"namespace": "n", "name": "j"}}, "run.runId"),
    ],
)
def test_rejections_name_the_field(obj: Any, field: str | None) -> None:
    with pytest.raises(InvalidEventError) as caught:
        validate_event(obj, location="[7]")
    assert caught.value.field == field
    assert caught.value.location == "[7]"
    assert_agree(obj)


@pytest.mark.parametrize(
    "obj",
    [
        # oddities parse_event warns about and uses: never a rejection
        {"job": {"namespace": 1, "name": 2.5}, "run": {"runId": 3}, "eventTime": "yesterday", "eventType": 4},
        {"job": {"namespace": "n", "name": "j"}, "inputs": 0, "outputs": "", "producer": None, "schemaURL": 1},
        {"dataset": {"namespace": "n", "name": "d", "facets": "x"}, "eventTime": 10**20},
    ],
)
def test_oddities_are_accepted(obj: Any) -> None:
    validate_event(obj)
    assert_agree(obj)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_agrees_on_arbitrary_json(value: Any) -> None:
    assert_agree(value)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ol_like)
def test_agrees_on_event_like_objects(value: Any) -> None:
    assert_agree(value)


IDENTITY_KEYS = {"run", "runId", "job", "namespace", "name", "dataset", "inputs", "outputs", "schemaURL", "eventType"}


def _near_identity(path: tuple) -> bool:
    # the top of the event and the identity fields, where a mutation can make parse_event reject
    return len(path) <= 1 or (len(path) <= 3 and path[-1] in IDENTITY_KEYS) or (len(path) == 2 and path[0] in (
        "inputs", "outputs"))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_agrees_on_mutated_corpus_events(data: st.DataObject, near_identity: bool) -> None:
    assert_agree(mutated_corpus_event(data, _near_identity if near_identity else None))


def test_event_json_is_compact_storable_text_and_names_a_lone_surrogates_field():
    import copy
    import json

    event = copy.deepcopy(EVENTS[0])
    assert event_json(event) == json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    event["inputs"] = [{"namespace": "n", "name": "t", "facets": {"x": {"notes": ["ok", "bad \ud83d here"]}}}]
    with pytest.raises(InvalidEventError) as raised:
        event_json(event, location="topic[0]@4")
    assert raised.value.field == "inputs[0].facets.x.notes[1]"
    assert str(raised.value).startswith("topic[0]@4: inputs[0].facets.x.notes[1]: holds a lone surrogate \\ud83d")
    event["inputs"] = [{"namespace": "n", "name": "t", "facets": {"\udfff": {}}}]
    with pytest.raises(InvalidEventError) as raised:
        event_json(event)
    assert raised.value.field == "inputs[0].facets.\\udfff"  # escaped: the key itself is not valid text
