"""A damaged spool: refused at open with what to do, checked and recovered by ``bridge spool``,
and, when the damage shows only while running, logged once with ``/readyz`` saying so.

The damage is real: pages of a real spool file are overwritten with random bytes.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bridge.spool import Settlement, Spool, SpoolCorruptError
from tests.servers.bridge_process import ROOT, BridgeProcess
from tests.waiting import wait_until

PAGE = 4096


def _bridge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from bridge.cli import main; main()", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=timeout,
    )


def _event(i: int) -> str:
    return json.dumps({"i": i, "job": {"namespace": "ns", "name": f"j{i % 10}"}, "pad": "x" * 300})


def _spool(state: Path, events: int = 3000, dead: int = 5) -> dict[int, str]:
    """A closed spool with ``events`` events, the first ``dead`` of them dead-lettered; returns id -> body."""
    with Spool(state) as spool:
        spool.append([(f"job:ns/j{i % 10}", _event(i)) for i in range(events)]).result(30)
        first = spool.pending(limit=dead)
        spool.settle(Settlement(dead=[(row, f"rejected {row.id}", None, None, 422) for row in first])).result(30)
        return {row.id: row.body for row in spool.pending(limit=events)}


def _leaf_pages(path: Path, table: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [p for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,))]
    finally:
        conn.close()


def _cells(path: Path, page: int) -> int:
    """Rows on a table leaf page (its header's cell count)."""
    with open(path, "rb") as f:
        f.seek((page - 1) * PAGE + (100 if page == 1 else 0))
        header = f.read(5)
    assert header[0] == 0x0D, f"page {page} is not a table leaf"
    return int.from_bytes(header[3:5], "big")


def _overwrite(path: Path, pages: list[int], seed: int = 7) -> None:
    rnd = random.Random(seed)
    with open(path, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * PAGE)
            f.write(rnd.randbytes(PAGE))


def _damage(state: Path, every: int = 15) -> int:
    """Overwrite every ``every``-th leaf page of the events table; returns how many rows those pages held."""
    path = state / "spool.sqlite3"
    pages = _leaf_pages(path, "events")[1:-1:every]
    lost = sum(_cells(path, page) for page in pages)
    _overwrite(path, pages)
    return lost


def test_opening_a_damaged_spool_is_refused_naming_the_file_and_what_to_do(tmp_path):
    state = tmp_path / "state"
    _spool(state)
    _damage(state)
    with pytest.raises(SpoolCorruptError) as caught:
        Spool(state, exclusive=False)
    message = str(caught.value)
    assert str(state / "spool.sqlite3") in message
    assert "malformed" in message or "btreeInitPage" in message
    assert "bridge spool check" in message and "bridge spool recover" in message
    # The refused open let go of the state directory's lock.
    Spool(state, verify=False).close()


def test_a_file_that_is_no_longer_a_database_is_refused_as_corrupt(tmp_path):
    state = tmp_path / "state"
    _spool(state, events=10, dead=0)
    with open(state / "spool.sqlite3", "r+b") as f:
        f.write(random.Random(1).randbytes(100))  # the header
    with pytest.raises(SpoolCorruptError, match="not a database"):
        Spool(state)


@pytest.mark.parametrize("command", [["spool", "status"], ["spool", "dead"], ["serve", "--port", "1"]])
def test_commands_on_a_damaged_spool_print_one_line_and_fail(tmp_path, command):
    state = tmp_path / "state"
    _spool(state)
    _damage(state)
    result = _bridge(*command, "--state-dir", str(state))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is corrupt" in lines[0] and str(state / "spool.sqlite3") in lines[0]
    assert "bridge spool recover" in lines[0]


def test_check_says_ok_or_what_is_wrong(tmp_path):
    state = tmp_path / "state"
    _spool(state)
    ok = _bridge("spool", "check", "--state-dir", str(state))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ") and "2995 pending, 5 dead letters" in ok.stdout
    _damage(state)
    bad = _bridge("spool", "check", "--state-dir", str(state))
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"corrupt: {state / 'spool.sqlite3'}")
    assert "bridge spool recover" in bad.stdout and "Traceback" not in bad.stderr


def test_recover_saves_every_readable_row_and_keeps_the_damaged_file(tmp_path):
    state = tmp_path / "state"
    bodies = _spool(state)
    lost = _damage(state)
    assert lost > 0
    damaged_bytes = (state / "spool.sqlite3").read_bytes()

    result = _bridge("spool", "recover", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    saved = len(bodies) - lost
    assert f"saved {saved} pending event(s) and 5 dead letter(s)" in result.stdout
    reported = re.search(r"events: at most (\d+)", result.stdout)
    assert reported is not None and int(reported.group(1)) >= lost
    (kept,) = [k for k in state.glob("spool.sqlite3.corrupt-*") if not k.name.endswith(("-wal", "-shm"))]
    assert kept.read_bytes() == damaged_bytes and str(kept) in result.stdout

    with Spool(state) as spool:  # opens: the integrity check passes
        rows = spool.pending(limit=10_000)
        assert len(rows) == saved
        assert all(bodies[row.id] == row.body for row in rows)  # same ids, same events
        assert sorted(d.reason for d in spool.dead_letters()) == sorted(f"rejected {i}" for i in range(1, 6))
        spool.append([("job:ns/new", _event(-1))]).result(5)
        # Ids go on after the damaged spool's: none is handed out twice.
        assert spool.pending(limit=10_000)[-1].id > max(bodies)
    assert _bridge("spool", "check", "--state-dir", str(state)).returncode == 0


def test_recover_needs_the_server_stopped(tmp_path):
    state = tmp_path / "state"
    _spool(state)
    _damage(state)
    with Spool(state, verify=False):  # a server that started before the damage holds the lock
        result = _bridge("spool", "recover", "--state-dir", str(state))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "another bridge process is using the spool" in result.stderr
    assert not list(state.glob("*.corrupt-*"))


def test_recover_leaves_a_sound_spool_alone(tmp_path):
    state = tmp_path / "state"
    _spool(state, events=10, dead=0)
    result = _bridge("spool", "recover", "--state-dir", str(state))
    assert result.returncode == 0 and "nothing to recover" in result.stdout
    assert not list(state.glob("*.corrupt-*"))


def test_damage_found_while_serving_is_logged_once_and_makes_readyz_503(tmp_path):
    state = tmp_path / "state"
    # Every event waits for a retry far ahead, so each delivery round reads the whole queue.
    with Spool(state) as spool:
        spool.append([(f"job:ns/j{i % 10}", _event(i)) for i in range(3000)]).result(30)
        spool.settle(Settlement(retry=[(r.id, 1e12, "GMS down") for r in spool.pending(limit=5000)])).result(30)
    path = state / "spool.sqlite3"
    pages = _leaf_pages(path, "events")[5:-5:20]
    with BridgeProcess(state) as server:
        wait_until(lambda: requests.get(server.url + "/readyz", timeout=10).status_code == 200, 30,
                   "the server never became ready")
        _overwrite(path, pages)  # after the check at open: found by the delivery rounds
        event = json.loads(next((Path(__file__).parent / "corpus" / "openlineage" / "simple_run_event")
                                .glob("*.json")).read_text())
        # A commit makes the delivery side drop its cached pages and read the damaged ones.
        requests.post(server.url + "/api/v1/lineage", json=event, timeout=10)
        wait_until(lambda: server.metric("bridge_delivery_round_errors_total", 0.0) >= 3, 60,
                   "delivery rounds did not fail on the damaged spool")
        ready = requests.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert "is corrupt" in ready.json()["spool"] and "bridge spool recover" in ready.json()["spool"]
    log = server.log_tail(100_000)
    assert "Traceback" not in log
    failures = [line for line in log.splitlines() if "delivery round failed" in line]
    assert len(failures) == 1, failures  # three or more failed rounds, one line
    assert "is corrupt" in failures[0] and "retry_in_s=" in failures[0]
