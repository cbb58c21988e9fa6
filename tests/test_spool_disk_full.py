"""A full disk and bounded disk use: ``/readyz`` says when the spool's disk is full, and the
write-ahead logs shrink back after a large write.

The full disk is real: ``bridge serve`` runs in a private mount namespace (``unshare``) with its
state directory on a small tmpfs; the test frees space by deleting a filler file through the
server's ``/proc/<pid>/root``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bridge.lineage import Entry, LineageMemory
from bridge.spool import Spool, SpoolFullError
from bridge.sqlite_files import WAL_SIZE_LIMIT
from tests.servers.bridge_process import ROOT
from tests.servers.kafka_broker import free_port
from tests.waiting import wait_until

CORPUS = Path(__file__).parent / "corpus" / "openlineage"


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /tmp"],
                           capture_output=True)
    return probe.returncode == 0


def _serve_on_small_disk(state: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``bridge serve`` with ``state`` on an 8 MB tmpfs, 4 MB of it taken by ``state/filler``."""
    state.mkdir(parents=True)
    port = free_port()
    mount = 'mount -t tmpfs -o size=8m tmpfs "$0" && head -c 4194304 /dev/zero > "$0/filler" && exec "$@"'
    # Delivery fails (nothing listens at the GMS address), so nothing but intake fills the disk.
    cmd = ["unshare", "-rm", "sh", "-c", mount, str(state),
           sys.executable, "-c", "from bridge.cli import main; main()", "serve", "--port", str(port),
           "--state-dir", str(state), "--emitter", "rest", "--gms-server", f"http://127.0.0.1:{free_port()}"]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return requests.get(url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, 30, "bridge serve did not come up")
    return process, url


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare and a tmpfs mount in a user namespace")
def test_readyz_says_the_spool_disk_is_full_until_space_is_freed(tmp_path):
    process, url = _serve_on_small_disk(tmp_path / "state", tmp_path / "serve.log")
    try:
        assert requests.get(url + "/readyz", timeout=30).json()["spool"] == "ok"
        event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
        answers = []
        for i in range(100):  # ~200 KB each: a 4 MB disk is full long before
            answer = requests.post(url + "/api/v1/lineage", json={**event, "producer": f"{i}" + "p" * 200_000},
                                   timeout=30)
            answers.append(answer.status_code)
            if answers[-1] != 201:
                break
        assert answers[-1] == 503 and 201 in answers  # intake: stored while there was room, then refused
        # answered like every refusal: JSON saying what and why
        assert (answer.headers["content-type"], answer.json()) == ("application/json", {
            "error": "spool_unavailable", "field": None,
            "reason": "could not store the events: database or disk is full"})
        spool = requests.get(url + "/readyz", timeout=30).json()["spool"]
        assert "disk full" in spool, spool

        os.remove(f"/proc/{process.pid}/root{tmp_path / 'state' / 'filler'}")
        wait_until(lambda: requests.get(url + "/readyz", timeout=30).json()["spool"] == "ok", 30,
                   "readyz kept saying the disk is full after space was freed")
        assert requests.post(url + "/api/v1/lineage", json=event, timeout=30).status_code == 201
    finally:
        process.kill()  # (its delivery child dies with it; a graceful stop waits out GMS retries)
        process.wait(30)


def test_a_write_that_failed_for_lack_of_space_keeps_the_spool_not_ready_until_writes_work(tmp_path):
    # SQLite's own size limit gives the same error as a full disk ("database or disk is full"),
    # while the disk itself (statvfs) has room: only the remembered failure can tell.
    with Spool(tmp_path) as spool:
        pages = spool.submit(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0]).result(5)
        spool.submit(lambda conn: conn.execute(f"PRAGMA max_page_count={pages}")).result(5)
        with pytest.raises(sqlite3.OperationalError, match="full"):
            spool.append([("job:a", "x" * 100_000)]).result(5)
        with pytest.raises(SpoolFullError, match="last write .* failed"):
            spool.check_writable()
        with pytest.raises(SpoolFullError):  # still: the probe's own write does not fit either
            spool.check_writable()
        spool.submit(lambda conn: conn.execute("PRAGMA max_page_count=1073741823")).result(5)
        spool.check_writable()  # the probe's write works: ready again
        assert spool.append([("job:a", "x" * 100_000)]).result(5) == 1


def _wal(path: Path) -> int:
    return os.path.getsize(f"{path}-wal")


def _checkpoint(path: Path) -> None:
    """What the delivery side's commits do now and then: copy the write-ahead log into the database."""
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0
    finally:
        conn.close()


def test_the_spool_write_ahead_log_shrinks_back_after_a_large_write(tmp_path):
    with Spool(tmp_path, synchronous="NORMAL") as spool:
        body = "x" * 4000
        count = WAL_SIZE_LIMIT // len(body) + 2000
        spool.append([(f"job:{i % 7}", body) for i in range(count)]).result(120)
        assert _wal(spool.path) > WAL_SIZE_LIMIT  # one transaction: the log grew past the limit
        _checkpoint(spool.path)
        spool.append([("job:a", "small")]).result(5)  # the next write starts the log over, cut back
        assert _wal(spool.path) <= WAL_SIZE_LIMIT
        # The intake's own connection sets the limit too.
        spool.append_now([(f"job:{i % 7}", body) for i in range(count)])
        assert _wal(spool.path) > WAL_SIZE_LIMIT
        _checkpoint(spool.path)
        spool.append_now([("job:a", "small")])
        assert _wal(spool.path) <= WAL_SIZE_LIMIT


def test_the_lineage_memory_write_ahead_log_shrinks_back_after_a_large_write(tmp_path):
    memory = LineageMemory(tmp_path / "memory.sqlite3")
    try:
        view = memory.destination("file:out.json")
        value = "v" * 4000
        for start in range(0, WAL_SIZE_LIMIT // len(value) + 2000, 1000):
            view.put_many(f"urn:li:dataset:{start}", "schemaMetadata",
                          [(f"p{i}", Entry(f"d{i}", False, 1.0, 1.0, value)) for i in range(1000)])
        memory.flush()  # one transaction
        assert _wal(memory.path) > WAL_SIZE_LIMIT
        _checkpoint(memory.path)
        view.put_many("urn:li:dataset:x", "schemaMetadata", [("", Entry("d", False, 1.0, 1.0, None))])
        memory.flush()
        assert _wal(memory.path) <= WAL_SIZE_LIMIT
    finally:
        memory.close()
