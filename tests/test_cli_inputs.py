"""Input files of `bridge translate` / `bridge send` / `bridge emit` that are odd, broken or huge.

A bad line of JSON Lines is that line's error, with its file, line and column, never the whole
file's; JSON Lines are read a line at a time (memory holds a line, the progress bar moves while the
file is read); anything that can be read as a stream (a named pipe, ``<(zcat x.gz)``) is an input.
Each test runs the real command (click's runner) on files written here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main

CORPUS = Path(__file__).parent / "corpus" / "openlineage" / "airflow"
#: three real events, one compact JSON text each
LINES = [json.dumps(json.loads((CORPUS / name).read_text())).encode() for name in
         ("line_10.json", "line_11.json", "line_20.json")]
CLEAN_ENV = {"BRIDGE_CONFIG": None, "BRIDGE_EMITTER": None, "BRIDGE_MAX_INPUT_BYTES": None, "BRIDGE_STATE_DIR": None}


def bridge(tmp_path: Path, command: str, *paths: str, env: dict[str, str] | None = None):
    """Run ``bridge translate`` or ``bridge send`` (to a file); returns (result, MCPs written)."""
    out = tmp_path / f"{command}-out.json"
    out.unlink(missing_ok=True)
    args = [command, *paths, "-o", str(out)]
    if command == "send":
        args += ["--emitter", "file", "--state-dir", str(tmp_path / f"state-{len(list(tmp_path.iterdir()))}")]
    workdir = tmp_path / "cwd"  # no ./bridge.toml is picked up
    workdir.mkdir(exist_ok=True)
    with contextlib.chdir(workdir):
        result = CliRunner().invoke(main, args, env={**CLEAN_ENV, **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    mcps = json.loads(out.read_text()) if out.exists() and out.read_text().strip() else []
    return result, mcps


def rejected(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("rejected:")]


def run_ids(mcps: list[dict]) -> set[str]:
    return {m["entityUrn"].rsplit(":", 1)[1] for m in mcps if m["entityType"] == "dataProcessInstance"}


def expected_runs(*lines: bytes) -> set[str]:
    return {json.loads(line)["run"]["runId"] for line in lines}


@pytest.mark.parametrize("command", ["translate", "send"])
def test_a_line_that_is_not_utf8_is_that_lines_error_and_the_others_go_through(tmp_path, command):
    broken = LINES[1][:60] + b"\xff\xfe" + LINES[1][60:]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([LINES[0], broken, LINES[2]]) + b"\n")
    result, mcps = bridge(tmp_path, command, str(path))
    assert result.exit_code == 1
    assert rejected(result) == [f"rejected: {path}:2: not UTF-8 text at column 61 (byte 0xff)"]
    assert run_ids(mcps) == expected_runs(LINES[0], LINES[2])


def test_a_utf16_file_is_said_to_be_utf16(tmp_path):
    path = tmp_path / "events.json"
    path.write_bytes(LINES[0].decode().encode("utf-16"))
    result, _ = bridge(tmp_path, "translate", str(path))
    [line] = rejected(result)
    assert "not UTF-8 text at line 1 column 1" in line and "UTF-16" in line and "save it as UTF-8" in line


@pytest.mark.parametrize("command", ["translate", "send"])
def test_a_lone_surrogate_is_that_lines_error_naming_its_field(tmp_path, command):
    """``"\\ud800"`` is valid JSON but no text can hold it: it crashed the command, losing every other event."""
    event = json.loads(LINES[1])
    event["job"]["facets"]["documentation"] = {"_producer": "p", "_schemaURL": "s", "description": "x \ud800 y"}
    lone = json.dumps(event).encode()  # ensure_ascii: the surrogate is written as its escape
    assert b"\\ud800" in lone
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([LINES[0], lone, LINES[2]]) + b"\n")
    result, mcps = bridge(tmp_path, command, str(path))
    assert result.exit_code == 1
    [line] = rejected(result)
    assert line.startswith(f"rejected: {path}:2: job.facets.documentation.description: holds a lone surrogate \\ud800")
    assert run_ids(mcps) == expected_runs(LINES[0], LINES[2])
    # the same in a JSON array, and a pair of escapes that is one character (an emoji) is fine
    pair = json.dumps({**json.loads(LINES[2]), "producer": "\U0001f600"}).encode()
    assert b"\\ud83d\\ude00" in pair
    array = tmp_path / "events.json"
    array.write_bytes(b"[" + b",".join([LINES[0], lone, pair]) + b"]")
    result, mcps = bridge(tmp_path, command, str(array))
    assert [line.split(": job.")[0] for line in rejected(result)] == [f"rejected: {array}[1]"]
    assert run_ids(mcps) == expected_runs(LINES[0], LINES[2])


def test_files_with_a_byte_order_mark_concatenated_are_read(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + LINES[0] + b"\r\n\xef\xbb\xbf" + LINES[1] + b"\r\n")
    result, mcps = bridge(tmp_path, "translate", str(path))
    assert result.exit_code == 0, result.output
    assert run_ids(mcps) == expected_runs(LINES[0], LINES[1])


def test_a_last_line_cut_short_says_so(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(LINES[0] + b"\n" + LINES[1][:100])
    result, mcps = bridge(tmp_path, "translate", str(path))
    [line] = rejected(result)
    assert line.startswith(f"rejected: {path}:2: invalid JSON") and line.endswith("the input ends inside this line (cut short?)")
    assert run_ids(mcps) == expected_runs(LINES[0])


@pytest.mark.parametrize("command", ["translate", "send"])
def test_json_lines_are_read_a_line_at_a_time_so_a_file_over_the_input_limit_is_read(tmp_path, command):
    """The input limit is what one input may hold when it is read whole; JSON Lines are not read whole, so
    each line may hold that much and the file any size. A line over it is its error; the lines before are read."""
    lines = LINES * 20  # ~250 KiB
    limit = max(map(len, LINES)) + 1
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert path.stat().st_size > 20 * limit
    result, mcps = bridge(tmp_path, command, str(path), env={"BRIDGE_MAX_INPUT_BYTES": str(limit)})
    assert result.exit_code == 0, result.output
    assert f"events read: {len(lines)}, rejected: 0" in result.stderr
    assert run_ids(mcps) == expected_runs(*LINES)

    long = json.dumps({**json.loads(LINES[2]), "pad": "x" * limit}).encode()
    path.write_bytes(b"\n".join([LINES[0], LINES[1], long, LINES[2]]) + b"\n")
    result, mcps = bridge(tmp_path, command, str(path), env={"BRIDGE_MAX_INPUT_BYTES": str(limit)})
    assert result.exit_code == 1
    assert rejected(result) == [f"rejected: {path}:3: the line holds over the {limit}-byte input limit (split it, "
                                "or raise $BRIDGE_MAX_INPUT_BYTES); the lines after it were not read"]
    assert run_ids(mcps) == expected_runs(LINES[0], LINES[1])


def test_the_progress_bar_moves_while_a_file_is_read(tmp_path, monkeypatch):
    """It stood at 0 until a file was done: a 1 GiB file showed 0% for minutes."""
    import tqdm

    from bridge.cli.inputs import read_inputs

    bars: list[tqdm.tqdm] = []

    class Bar(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "file": io.StringIO()})
            bars.append(self)

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(LINES * 400) + b"\n")  # ~5 MiB: more than one read
    seen = []
    for _name, records in read_inputs([str(path)], progress=True):
        for count, _record in enumerate(records):
            if count % 200 == 0:
                seen.append(bars[0].n)
    assert bars[0].total == path.stat().st_size
    assert 0 < seen[0] < seen[3] < path.stat().st_size, seen  # mid-file, the bar is mid-way


def test_a_named_pipe_and_process_substitution_are_inputs(tmp_path):
    """``bridge translate <(zcat events.jsonl.gz)`` said ``/dev/fd/63: no such file or folder``."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(b"\n".join(LINES) + b"\n")

    writer = threading.Thread(target=write)
    writer.start()
    result, mcps = bridge(tmp_path, "translate", str(fifo))
    unblock = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # for a command that never opened it: the writer waits
    writer.join()
    os.close(unblock)
    assert result.exit_code == 0, result.output
    assert run_ids(mcps) == expected_runs(*LINES)

    import gzip

    read_end, write_end = os.pipe()
    feeder = threading.Thread(target=lambda: (os.write(write_end, gzip.compress(LINES[0])), os.close(write_end)))
    feeder.start()
    try:
        result, mcps = bridge(tmp_path, "translate", f"/dev/fd/{read_end}")
    finally:
        feeder.join()
        os.close(read_end)
    assert result.exit_code == 0, result.output
    assert run_ids(mcps) == expected_runs(LINES[0])


def test_a_symbolic_link_loop_and_a_socket_are_said_to_be_what_they_are(tmp_path):
    import socket

    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    result, _ = bridge(tmp_path, "translate", str(tmp_path / "a.jsonl"))
    assert result.exit_code == 2
    assert "a.jsonl: a symbolic link that leads back to itself (a loop)" in result.output
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.sock"))
        result, _ = bridge(tmp_path, "translate", str(tmp_path / "s.sock"))
    assert result.exit_code == 2 and "s.sock: a socket, not a file" in result.output


def test_a_password_in_a_job_namespace_of_a_file_reaches_no_mcp(tmp_path):
    event = json.loads(LINES[0])
    event["job"]["namespace"] = "spark://etl:s3cret@master:7077"
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n")
    result, mcps = bridge(tmp_path, "translate", str(path))
    assert result.exit_code == 0, result.output
    assert "s3cret" not in json.dumps(mcps)
    assert any(m["entityUrn"].endswith(",spark://master:7077)") for m in mcps if m["entityType"] == "dataFlow")


@pytest.mark.parametrize("command", ["translate", "send"])
def test_json_lines_whose_first_line_is_broken_are_still_read_a_line_at_a_time(tmp_path, command):
    """JSON Lines are told by their shape: a first line that does not parse is that line's error, and a file
    over the input limit is still read (it was read whole, and refused whole: every good line lost)."""
    limit = max(map(len, LINES)) + 1
    broken = b'{"eventType": "START",}'  # an object's line with a trailing comma
    lines = [broken, *(LINES * 10)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert path.stat().st_size > 2 * limit
    result, mcps = bridge(tmp_path, command, str(path), env={"BRIDGE_MAX_INPUT_BYTES": str(limit)})
    assert result.exit_code == 1, result.output
    assert [line.split(": ", 2)[1] for line in rejected(result)] == [f"{path}:1"], result.stderr
    assert run_ids(mcps) == expected_runs(*LINES)
