"""``bridge send PATH --to URL`` against a real ``bridge serve`` that is down, busy, restarted or strict.

Every event either reaches the bridge or is reported with its file and line; an error that stops the
send says how many events were accepted and the first one that was not. The events are read as they
are posted (JSON Lines a line at a time).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.errors import ConnectionFailedError
from bridge.intake import send_files
from tests.servers.bridge_process import ROOT, BridgeProcess
from tests.servers.gms import GmsServer
from tests.servers.kafka_broker import free_port
from tests.waiting import wait_until

CLEAN_ENV = {"BRIDGE_CONFIG": None, "BRIDGE_EMITTER": None, "BRIDGE_MAX_INPUT_BYTES": None, "BRIDGE_TOKEN": None}


def event(i: int, **extra) -> dict:
    return {
        "eventType": "COMPLETE", "eventTime": "2024-10-16T17:00:00Z", "producer": "https://example.com/send-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": f"00000000-0000-4000-8000-{i:012d}"},
        "job": {"namespace": "send", "name": f"job_{i % 3}"},
        "inputs": [{"namespace": "postgres://db:5432", "name": f"shop.public.in_{i}"}], **extra,
    }


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def spooled_runs(server) -> set[str]:
    return {json.loads(e.body)["run"]["runId"] for e in server.service.spool.pending(limit=100_000)}


def run_ids(*numbers: int) -> set[str]:
    return {event(i)["run"]["runId"] for i in numbers}


def open_for_writing(fifo: Path, reader: subprocess.Popen):
    """The pipe's writing end, once ``reader`` opened it (an error if it ended first, not a wait forever)."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            assert reader.poll() is None, reader.communicate()[1]
            time.sleep(0.02)
        else:
            os.set_blocking(fd, True)
            return os.fdopen(fd, "w")


def send(tmp_path: Path, *args: str, env: dict | None = None):
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    with contextlib.chdir(workdir):
        result = CliRunner().invoke(main, ["send", *args], env={**CLEAN_ENV, **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def test_a_batch_over_the_bridges_body_limit_is_split_and_an_event_alone_over_it_is_reported(bridge_serve, tmp_path):
    """A 413 stopped the whole send: nothing after it was posted (events of a few hundred KB, as Spark's
    logical plans are, fill a batch of 100 past the bridge's 16 MiB)."""
    server = bridge_serve(deliver=False, max_body_bytes=64 * 1024)
    events = [event(i, pad="x" * 2000) for i in range(60)]  # ~150 KB a batch of 60: over 64 KiB
    events[41] = event(41, pad="y" * 100_000)  # over the limit alone
    path = write_jsonl(tmp_path / "events.jsonl", events)
    result = send(tmp_path, str(path), "--to", server.url)
    assert result.exit_code == 1
    assert "59 of 60 event(s) from 1 file(s) accepted" in result.stderr
    assert f"rejected {path}:42: too large for the bridge: " in result.stderr
    assert spooled_runs(server) == run_ids(*(i for i in range(60) if i != 41))


def test_a_busy_bridge_is_tried_again_until_it_takes_the_events(bridge_serve, tmp_path):
    """A 503 (here: the client's share of connections is taken) stopped the send at once."""
    server = bridge_serve(deliver=False, max_connections_per_client=1)
    path = write_jsonl(tmp_path / "events.jsonl", [event(i) for i in range(5)])
    host, port = server.url.removeprefix("http://").split(":")
    holder = socket.create_connection((host, int(port)))  # the one connection 127.0.0.1 may have open
    outcome: list = []
    sender = threading.Thread(target=lambda: outcome.append(send_files([str(path)], server.url, progress=False)))
    sender.start()
    try:
        wait_until(lambda: server.service.metrics.rejected("too_many_client_connections"), what="the bridge never said busy")
    finally:
        holder.close()
        sender.join()
    [summary] = outcome
    assert summary.ok and summary.accepted == 5
    assert spooled_runs(server) == run_ids(*range(5))


def test_a_bridge_killed_and_restarted_mid_send_gets_every_event_to_gms(tmp_path):
    """The send reads a pipe, so the kill lands between batches; it tries again until the bridge is back.
    It stopped at the first refused connection, with urllib3's wording of it."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    with GmsServer() as gms:
        args = ("--emitter", "rest", "--gms-server", gms.url)
        bridge = BridgeProcess(tmp_path / "state", *args).start()
        command = [sys.executable, "-c", "from bridge.cli import main; main()", "send", str(fifo), "--to", bridge.url]
        env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV} | {"PYTHONPATH": str(ROOT)}
        sender = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        restarted = None
        try:
            with open_for_writing(fifo, sender) as pipe:
                pipe.write("".join(json.dumps(event(i)) + "\n" for i in range(150)))
                pipe.flush()
                wait_until(lambda: bridge.metric("bridge_events_spooled_total", 0) >= 100, what="first batch")
                bridge.kill()
                pipe.write("".join(json.dumps(event(i)) + "\n" for i in range(150, 250)))
                pipe.flush()
                # the send is now trying a bridge that is gone: said on stderr, then tried again
                first = sender.stderr.readline()
                assert "the bridge did not take the events; trying again" in first, first
                assert "nothing is listening at" in first or "the connection to" in first, first
                restarted = BridgeProcess(tmp_path / "state", *args, port=bridge.port).start()
            _, rest = sender.communicate(timeout=120)
            assert sender.returncode == 0, rest
            assert "250 of 250 event(s) from 1 file(s) accepted" in rest
            wanted = {f"urn:li:dataProcessInstance:{event(i)['run']['runId']}" for i in range(250)}
            wait_until(lambda: wanted <= {u for u, a in gms.aspects if a == "dataProcessInstanceRunEvent"},
                       timeout=60, what="not every run reached GMS")
        finally:
            if sender.poll() is None:
                sender.kill()
            for process in (bridge, restarted):
                if process is not None:
                    process.stop()


def test_a_send_that_stops_says_what_was_accepted_and_where_it_stopped(bridge_serve, tmp_path):
    server = bridge_serve(deliver=False, token="right")
    path = write_jsonl(tmp_path / "events.jsonl", [event(i) for i in range(3)])
    result = send(tmp_path, str(path), "--to", server.url, "--bridge-token", "wrong")
    assert result.exit_code == 1
    assert f"0 event(s) accepted by {server.url} before it stopped at {path}:1: that event and those after it " \
           "were not sent" in result.stderr
    assert "Error: the bridge refused the token; status=403" in result.stderr

    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailedError) as info:
        send_files([str(path)], down, progress=False, retries=0)
    assert str(info.value) == f"nothing is listening at {down}/api/v1/lineage (connection refused)"
    assert info.value.summary.stopped_at == f"{path}:1" and info.value.summary.accepted == 0


def test_json_lines_are_posted_as_they_are_read_and_a_lone_surrogate_is_that_events_error(bridge_serve, tmp_path):
    """A file was read whole (1 GiB at most; ~4 bytes of memory per byte of file), and an event with
    ``"\\ud800"`` crashed the send with a traceback before anything was posted."""
    server = bridge_serve(deliver=False)
    lines = [json.dumps(event(i)) for i in range(40)]
    lines[7] = json.dumps(event(7, producer="a \ud800 b"))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    limit = max(map(len, lines)) + 1  # each line fits; the file is 40 times over
    result = send(tmp_path, str(path), "--to", server.url, env={"BRIDGE_MAX_INPUT_BYTES": str(limit)})
    assert result.exit_code == 1
    assert "39 of 40 event(s) from 1 file(s) accepted" in result.stderr
    assert f"rejected {path}:8: producer: holds a lone surrogate \\ud800" in result.stderr
    assert spooled_runs(server) == run_ids(*(i for i in range(40) if i != 7))


def test_a_password_in_the_bridges_url_is_never_shown(tmp_path, caplog):
    """``--to https://user:password@proxy/`` (basic auth of a proxy in front of the bridge): the password
    was in every error, log line and summary."""
    path = write_jsonl(tmp_path / "events.jsonl", [event(0)])
    url = f"http://etl:pw-s3cret@127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailedError) as info:
        send_files([str(path)], url, progress=False, retries=1)
    said = [str(info.value), str(info.value.summary), *(r.getMessage() + str(getattr(r, "fields", ""))
                                                         for r in caplog.records)]
    assert len(said) >= 3 and "etl:***@127.0.0.1" in said[0]
    assert not [text for text in said if "pw-s3cret" in text]


def test_giving_up_keeps_the_status_and_what_the_server_said(tmp_path):
    """A bridge busy every time: the error after the retries still carries the answer's status and reason
    (they were only in its text), and the last answer's error is its cause."""
    import http.server

    from bridge.errors import RetriableError
    from bridge.intake import post_events

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server name
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"error": "spool_full", "reason": "the spool is full"}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RetriableError) as info:
            post_events(f"http://127.0.0.1:{server.server_port}", [event(1)], retries=2)
    finally:
        server.shutdown()
        server.server_close()
    error = info.value
    assert "gave up after 3 attempts" in str(error), error
    assert (error.status, error.server_message) == (503, "the spool is full")
    assert isinstance(error.__cause__, RetriableError) and error.__cause__.status == 503
