"""How the bridge opens its SQLite files (each with the settings it always had, through one function),
how long it keeps them open, and giving their space back quietly."""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bridge import sqlite_files
from bridge.lineage import LineageMemory
from bridge.spool import Spool
from bridge.ui import Journal, StateReader
from bridge.ui import _journal as journal_module
from tests.waiting import wait_until

_connect = sqlite3.connect  # (the test's own reads: not counted where sqlite3.connect is replaced)
NORMAL, FULL = 1, 2  # PRAGMA synchronous


def _settings(db: sqlite3.Connection) -> tuple:
    return tuple(db.execute(f"PRAGMA {name}").fetchone()[0]
                 for name in ("journal_mode", "synchronous", "busy_timeout", "journal_size_limit", "auto_vacuum"))


def _opened(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """Every connection opened from now on."""
    opened: list[sqlite3.Connection] = []

    def connect(*args, **kwargs):
        opened.append(_connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(sqlite3, "connect", connect)
    return opened


def _closed(db: sqlite3.Connection) -> bool:
    try:
        db.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_each_file_is_opened_with_its_settings(tmp_path):
    limit = sqlite_files.WAL_SIZE_LIMIT
    for level, number in (("FULL", FULL), ("NORMAL", NORMAL)):
        with Spool(tmp_path / level, synchronous=level) as spool:
            spool.append_now([("k", "{}")])
            spool.append_now([("k", "{}")], wait=False)
            intake = spool._intake
            assert {_settings(db) for db in (spool._writer._conn, spool._reader, intake._wait)} == {
                ("wal", number, 30000, limit, 2)}
            assert _settings(intake._nowait) == ("wal", number, 0, limit, 2)  # (the event loop's: never waits)
    memory = LineageMemory.in_state_dir(tmp_path / "FULL")
    assert {_settings(db) for db in (memory._db, memory._writer_db)} == {("wal", NORMAL, 30000, limit, 2)}
    memory.close()
    journal = Journal.in_state_dir(tmp_path / "FULL", interval=3600)
    journal.record([("k", json.dumps({"eventType": "START"}))])
    journal.flush()
    assert _settings(journal._db) == ("wal", NORMAL, 10000, limit, 2)
    journal.close()
    reader = sqlite_files.connect_read_only(tmp_path / "FULL" / "spool.sqlite3")
    assert reader.execute("PRAGMA busy_timeout").fetchone()[0] == 10000
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM events")
    reader.close()


def test_the_journal_keeps_one_connection_while_its_thread_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "IDLE_STOP", 0.5)
    opened = _opened(monkeypatch)
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path, interval=0.05)

    def count() -> int:
        with closing(_connect(path)) as db:
            try:
                return db.execute("SELECT count(*) FROM events").fetchone()[0]
            except sqlite3.OperationalError:  # the file made, its table not yet: nothing written yet
                return -1

    for i in range(3):  # three writes by one thread
        journal.record([(f"k{i}", json.dumps({"eventType": "START", "i": i}))])
        wait_until(lambda i=i: path.exists() and count() == i + 1, timeout=5, what="the journal did not write")
    assert journal._thread is not None
    journal._thread.join(timeout=5)  # idle: the thread stops, and closes the file
    assert len(opened) == 1 and _closed(opened[0])
    journal.record([("again", json.dumps({"eventType": "START"}))])  # another thread, another connection
    wait_until(lambda: count() == 4, timeout=5, what="the journal did not write")
    journal.close()
    assert len(opened) == 2 and _closed(opened[1])


def test_a_status_page_answer_opens_each_file_it_reads_once(tmp_path, monkeypatch):
    with Spool(tmp_path) as spool:
        spool.append_now([(f"k{i}", "{}") for i in range(1200)])  # (the states are read 500 keys at a time)
    opened = _opened(monkeypatch)
    states = StateReader(tmp_path).spool_states([f"k{i}" for i in range(1200)])
    assert len(states) == 1200 and len(opened) == 1 and _closed(opened[0])


def _with_free_pages(path: Path, mib: int) -> None:
    """An incrementally vacuumed file holding ``mib`` MiB of free pages."""
    db = _connect(path, isolation_level=None)
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("CREATE TABLE t(b BLOB)")
    db.executemany("INSERT INTO t VALUES (zeroblob(?))", [(1 << 20,)] * mib)
    db.execute("DELETE FROM t")
    db.close()


class _Busy(sqlite3.Connection):
    def executescript(self, sql):
        if "incremental_vacuum" in sql:
            raise sqlite3.OperationalError("database is locked")
        return super().executescript(sql)


def test_reclaim_is_quiet_and_never_raises(tmp_path, caplog):
    path = tmp_path / "f.sqlite3"
    _with_free_pages(path, 4)
    busy = _connect(path, isolation_level=None, factory=_Busy)
    with caplog.at_level(logging.DEBUG, logger="bridge.sqlite_files"):
        assert sqlite_files.reclaim(busy, above=1 << 20) == 0  # (not raised: the pages stay free for reuse)
        assert sqlite_files.reclaim(busy, above=1 << 20) == 0
    busy.close()
    (record,) = caplog.records  # said once while it repeats
    assert record.levelname == "WARNING" and record.fields["error"] == "database is locked"
    assert Path(record.fields["path"]).resolve() == path.resolve()
    caplog.clear()
    db = _connect(path, isolation_level=None)
    with caplog.at_level(logging.INFO, logger="bridge.sqlite_files"):
        assert sqlite_files.reclaim(db, above=1 << 20) > 3 << 20
        assert sqlite_files.reclaim(db, above=1 << 20) == 0  # nothing left to give back
    db.close()
    assert not caplog.records


def test_reclaim_gives_back_down_to_a_quarter_a_chunk_at_a_time(tmp_path, monkeypatch):
    path = tmp_path / "f.sqlite3"
    _with_free_pages(path, 6)
    monkeypatch.setattr(sqlite_files, "_CHUNK", 1 << 20)
    db = _connect(path, isolation_level=None)
    vacuums: list[str] = []
    db.set_trace_callback(lambda sql: vacuums.append(sql) if "incremental_vacuum" in sql else None)
    sqlite_files.reclaim(db, above=4 << 20)
    free = db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    assert free <= 1 << 20 and len(vacuums) >= 5  # (not just under 4 MiB: it would grow back at once)
