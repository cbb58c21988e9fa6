"""Reading many events: a single object, a JSON array, JSON Lines; bad events never stop good ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.errors import InvalidEventError
from bridge.model import RunEvent
from translators.openlineage import parse_events, read_events

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
AIRFLOW = sorted((CORPUS / "airflow").glob("*.json"))


def airflow_events() -> list[dict]:
    return [json.loads(p.read_bytes()) for p in AIRFLOW]


def test_single_object() -> None:
    data = (CORPUS / "CLL" / "1.json").read_bytes()
    results = list(parse_events(data, source="one.json"))
    assert [loc for loc, _ in results] == ["one.json"]
    assert isinstance(results[0][1], RunEvent)
    assert results[0][1].job.name == "open_lineage_integration_create_table"


def test_json_array() -> None:
    events = airflow_events()
    results = list(parse_events(json.dumps(events, indent=2), source="all.json"))
    assert [loc for loc, _ in results] == [f"all.json[{i}]" for i in range(len(events))]
    assert [r.run.run_id for _, r in results] == [e["run"]["runId"] for e in events]


def test_json_array_with_a_bad_element() -> None:
    events = airflow_events()[:3]
    events.insert(1, {"eventType": "START", "job": {"namespace": "n", "name": "j"}, "run": {}})
    results = list(parse_events(json.dumps(events), source="a.json"))
    assert [loc for loc, _ in results] == ["a.json[0]", "a.json[1]", "a.json[2]", "a.json[3]"]
    bad = results[1][1]
    assert isinstance(bad, InvalidEventError)
    assert (bad.field, bad.location) == ("run.runId", "a.json[1]")
    assert all(isinstance(r, RunEvent) for i, (_, r) in enumerate(results) if i != 1)


def test_json_lines_with_bad_lines_in_the_middle() -> None:
    events = airflow_events()
    lines = [json.dumps(e) for e in events[:5]]
    lines.insert(2, '{"eventType": "START", "run": {"runId": "x"}, "job": {"namespace": "n"')  # truncated
    lines.insert(4, "")  # blank lines are skipped, but still counted
    lines.insert(5, json.dumps({"eventType": "START", "run": {"runId": "r"}, "job": {"name": "j"}}))
    text = "\n".join(lines) + "\n"
    results = list(parse_events(text.encode(), source="events.jsonl"))
    locations = [loc for loc, _ in results]
    assert locations == [f"events.jsonl:{n}" for n in (1, 2, 3, 4, 6, 7, 8)]
    by_loc = dict(results)
    truncated = by_loc["events.jsonl:3"]
    assert isinstance(truncated, InvalidEventError)
    assert truncated.location == "events.jsonl:3"
    assert "invalid JSON" in truncated.reason
    no_namespace = by_loc["events.jsonl:6"]
    assert isinstance(no_namespace, InvalidEventError)
    assert no_namespace.field == "job.namespace"
    assert str(no_namespace).startswith("events.jsonl:6: job.namespace:")
    good = [r for _, r in results if isinstance(r, RunEvent)]
    assert [r.run.run_id for r in good] == [e["run"]["runId"] for e in events[:5]]


def test_json_lines_whose_first_line_is_broken() -> None:
    events = airflow_events()[:3]
    text = "{not json\n" + "\n".join(json.dumps(e) for e in events)
    results = list(parse_events(text, source="f.jsonl"))
    assert isinstance(results[0][1], InvalidEventError) and results[0][0] == "f.jsonl:1"
    assert [type(r) for _, r in results[1:]] == [RunEvent] * 3
    assert [loc for loc, _ in results[1:]] == ["f.jsonl:2", "f.jsonl:3", "f.jsonl:4"]


def test_json_lines_with_crlf_and_bom() -> None:
    events = airflow_events()[:2]
    data = "\ufeff".encode() + "\r\n".join(json.dumps(e) for e in events).encode()
    results = list(parse_events(data, source="win.jsonl"))
    assert [type(r) for _, r in results] == [RunEvent, RunEvent]


def test_json_lines_keep_line_separators_inside_strings() -> None:
    event = airflow_events()[0]
    event["job"]["name"] = "a\u2028b"
    text = json.dumps(event, ensure_ascii=False) + "\n" + json.dumps(airflow_events()[1])
    results = list(parse_events(text, source="u.jsonl"))
    assert [loc for loc, _ in results] == ["u.jsonl:1", "u.jsonl:2"]
    assert results[0][1].job.name == "a\u2028b"


def test_broken_pretty_printed_object_is_one_error() -> None:
    text = json.dumps(airflow_events()[0], indent=2)
    broken = text[: len(text) // 2]
    results = list(parse_events(broken, source="x.json"))
    assert len(results) == 1
    loc, err = results[0]
    assert loc == "x.json" and isinstance(err, InvalidEventError)
    assert err.reason.startswith("invalid JSON") and " line " in err.reason and not err.reason.endswith(" at")


def test_not_utf8() -> None:
    ((loc, err),) = list(parse_events(b'{"a": "\xff"}', source="b.json"))
    assert isinstance(err, InvalidEventError) and "UTF-8" in err.reason


def test_empty_input_yields_nothing() -> None:
    assert list(parse_events(b"  \n ")) == []


def test_non_object_values() -> None:
    results = list(parse_events('[1, null, "x"]', source="s"))
    assert all(isinstance(r, InvalidEventError) and "JSON object" in r.reason for _, r in results)
    assert [loc for loc, _ in results] == ["s[0]", "s[1]", "s[2]"]


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    results = list(parse_events(deep, source="deep.json"))
    assert len(results) == 1 and isinstance(results[0][1], InvalidEventError)


def test_read_events_from_a_file(tmp_path: Path) -> None:
    events = airflow_events()
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    results = list(read_events(path))
    assert len(results) == len(events) + 1
    assert results[0][0] == f"{path}:1"
    loc, err = results[-1]
    assert loc == f"{path}:{len(events) + 1}" and isinstance(err, InvalidEventError)


def test_read_events_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidEventError) as info:
        list(read_events(tmp_path / "absent.jsonl"))
    assert info.value.location == str(tmp_path / "absent.jsonl")
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_broken_compact_array_falls_back_to_lines() -> None:
    """A JSON array cut short still yields the complete events written one per line."""
    events = airflow_events()[:3]
    text = "[\n" + ",\n".join(json.dumps(e) for e in events)  # no closing bracket
    results = list(parse_events(text, source="cut.json"))
    assert isinstance(results[0][1], InvalidEventError) and results[0][0] == "cut.json:1"
    # lines 2 and 3 end with the array's comma: read without it
    assert [r.run.run_id for _, r in results[1:]] == [e["run"]["runId"] for e in events]
    assert [loc for loc, _ in results[1:]] == ["cut.json:2", "cut.json:3", "cut.json:4"]


def test_a_json_syntax_error_is_one_whole_sentence_with_its_place(tmp_path):
    from translators.openlineage import read_events

    path = tmp_path / "cut.json"
    path.write_text('{"eventType": "START",\n "job": {"name": "unfinished')
    [(location, error)] = list(read_events(path))
    assert str(error) == f"{path}: invalid JSON: Unterminated string starting at line 2 column 18"


def test_pretty_printed_events_one_after_another_are_located_by_their_first_line() -> None:
    events = airflow_events()[:3]
    chunks = [json.dumps(e, indent=2) for e in events]
    results = list(parse_events("\n".join(chunks) + "\n", source="s.json"))
    starts = [1 + sum(c.count("\n") + 1 for c in chunks[:i]) for i in range(3)]
    assert [loc for loc, _ in results] == [f"s.json:{n}" for n in starts]
    assert [r.run.run_id for _, r in results] == [e["run"]["runId"] for e in events]


@pytest.mark.parametrize("indent", [0, 2, 4, "\t"])
def test_a_broken_pretty_printed_document_is_one_error_whatever_its_indent(indent) -> None:
    for doc in (airflow_events()[0], airflow_events()[:3]):
        text = json.dumps(doc, indent=indent)
        broken = text.replace('"eventType":', '"eventType"', 1)  # a missing colon
        [(location, error)] = list(parse_events(broken, source="p.json"))
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(broken)
        assert location == "p.json" and isinstance(error, InvalidEventError)
        assert error.reason == (
            f"invalid JSON at line {expected.value.lineno} column {expected.value.colno}: Expecting ':' delimiter"
        )


def test_a_broken_first_pretty_printed_event_of_several_is_one_error() -> None:
    chunks = [json.dumps(e, indent=2) for e in airflow_events()[:3]]
    chunks[0] = chunks[0].replace('"eventType":', '"eventType"', 1)
    [(location, error)] = list(parse_events("\n".join(chunks), source="s.json"))
    assert location == "s.json" and "Expecting ':' delimiter" in error.reason and "read" not in error.reason


def test_only_the_lines_read_without_their_comma_say_so(caplog) -> None:
    """Elements of a cut-short array are read and said to be; a line that is no event (``null,``) is
    an error, not also said to be read."""
    events = airflow_events()[:2]
    text = "".join(json.dumps(e) + ",\n" for e in events) + "null,\n"
    with caplog.at_level("WARNING"):
        results = list(parse_events(text, source="cut.json"))
    assert [loc for loc, _ in results] == ["cut.json:1", "cut.json:2", "cut.json:3"]
    assert isinstance(results[2][1], InvalidEventError)
    assert [r.ol_location for r in caplog.records if "read without it" in r.ol_reason] == ["cut.json:1", "cut.json:2"]
