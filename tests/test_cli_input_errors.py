"""Whole-document input (issue 11, item 12): a broken pretty-printed file is one error at its line and column.

JSON Lines keep their per-line reporting: a bad line is said alone and the good lines go through.
Each test runs the real ``bridge translate`` or ``bridge send`` (file emitter) on files written here.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
#: a real, pretty-printed event (151 lines) and two more from the same producer.
REAL = CORPUS / "airflow" / "line_10.json"
OTHERS = [CORPUS / "airflow" / "line_11.json", CORPUS / "airflow" / "line_20.json"]
#: the text broken below: a value without its quotes, found where the decoder stops.
GOOD, BROKEN = '"jobType": "TASK"', '"jobType": TASK'


def bridge(tmp_path: Path, command: str, *paths: Path):
    """Run ``bridge translate`` or ``bridge send`` (to a file); returns (result, MCPs written)."""
    out = tmp_path / f"{command}-out.json"
    out.unlink(missing_ok=True)
    args = [command, *map(str, paths), "-o", str(out)]
    if command == "send":
        args += ["--emitter", "file", "--state-dir", str(tmp_path / "state")]
        shutil.rmtree(tmp_path / "state", ignore_errors=True)
    workdir = tmp_path / "cwd"  # no ./bridge.toml is picked up
    workdir.mkdir(exist_ok=True)
    with contextlib.chdir(workdir):
        result = CliRunner().invoke(main, args, env={"BRIDGE_CONFIG": None, "BRIDGE_EMITTER": None})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    mcps = json.loads(out.read_text()) if out.exists() and out.read_text().strip() else []
    return result, mcps


def rejected(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("rejected:")]


def place_of(text: str, fragment: str, offset: int) -> tuple[int, int]:
    """Line and column (1-based) of ``fragment[offset]`` at its last occurrence in ``text``."""
    index = text.rindex(fragment) + offset
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


@pytest.mark.parametrize("command", ["translate", "send"])
def test_a_real_pretty_printed_event_with_one_broken_character_is_one_error_at_its_place(tmp_path, command):
    text = REAL.read_text()
    assert text.count("\n") > 100 and text.count(GOOD) == 1
    path = tmp_path / "line_10.json"
    path.write_text(text.replace(GOOD, BROKEN))
    line, column = place_of(path.read_text(), BROKEN, len('"jobType": '))
    result, mcps = bridge(tmp_path, command, path)
    assert result.exit_code == 1
    assert rejected(result) == [f"rejected: {path}: invalid JSON at line {line} column {column}: Expecting value"]
    assert "events read: 1, rejected: 1, MCPs: 0" in result.stderr
    assert mcps == []


@pytest.mark.parametrize("command", ["translate", "send"])
def test_a_broken_pretty_printed_array_is_one_error(tmp_path, command):
    events = [json.loads(p.read_text()) for p in [REAL, *OTHERS]]
    for layout in (json.dumps(events, indent=2), "[\n" + ",\n".join(json.dumps(e, indent=2) for e in events) + "\n]"):
        text = layout.replace(GOOD, BROKEN)
        path = tmp_path / "events.json"
        path.write_text(text)
        line, column = place_of(text[: text.index(BROKEN) + len(BROKEN)], BROKEN, len('"jobType": '))
        result, mcps = bridge(tmp_path, command, path)
        assert rejected(result) == [f"rejected: {path}: invalid JSON at line {line} column {column}: Expecting value"]
        assert "events read: 1, rejected: 1, MCPs: 0" in result.stderr and mcps == []


@pytest.mark.parametrize("command", ["translate", "send"])
def test_json_lines_with_one_bad_line_report_that_line_and_the_rest_go_through(tmp_path, command):
    events = [json.loads(p.read_text()) for p in [REAL, *OTHERS]]
    lines = [json.dumps(e) for e in events]
    good_path = tmp_path / "good.jsonl"
    good_path.write_text("\n".join(lines) + "\n")
    _, expected = bridge(tmp_path, command, good_path)
    assert expected

    broken = list(lines)
    broken[1] = broken[1].replace(GOOD, BROKEN)
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(broken) + "\n")
    column = broken[1].index(BROKEN) + len('"jobType": ') + 1
    result, mcps = bridge(tmp_path, command, path)
    assert result.exit_code == 1
    assert rejected(result) == [f"rejected: {path}:2: invalid JSON at column {column}: Expecting value"]
    assert "events read: 3, rejected: 1" in result.stderr
    _, alone = bridge(tmp_path, command, _write(tmp_path / "alone.jsonl", [lines[0], lines[2]]))
    assert mcps == alone and len(mcps) > 0


@pytest.mark.parametrize("command", ["translate", "send"])
def test_pretty_printed_events_one_after_another_are_read_up_to_a_break(tmp_path, command):
    """What ``jq . events.jsonl`` writes: values one after another, each over many lines."""
    events = [json.loads(p.read_text()) for p in [REAL, *OTHERS]]
    pretty = [json.dumps(e, indent=2) for e in events]
    whole = _write(tmp_path / "stream.json", pretty)
    result, all_mcps = bridge(tmp_path, command, whole)
    assert result.exit_code == 0 and rejected(result) == []
    assert "events read: 3, rejected: 0" in result.stderr

    # the third event broken: the first two are read, then one error at its place
    text = "\n".join([*pretty[:2], pretty[2].replace(GOOD, BROKEN)])
    path = tmp_path / "broken-stream.json"
    path.write_text(text)
    line, column = place_of(text, BROKEN, len('"jobType": '))
    result, mcps = bridge(tmp_path, command, path)
    assert rejected(result) == [
        f"rejected: {path}: invalid JSON at line {line} column {column}: Expecting value; "
        "the 2 JSON values before it were read, none after"
    ]
    assert "events read: 3, rejected: 1" in result.stderr
    _, first_two = bridge(tmp_path, command, _write(tmp_path / "two.json", pretty[:2]))
    assert mcps == first_two and 0 < len(mcps) < len(all_mcps)


def _write(path: Path, chunks: list[str]) -> Path:
    path.write_text("\n".join(chunks) + "\n")
    return path
