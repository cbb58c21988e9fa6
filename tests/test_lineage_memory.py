"""The lineage memory: durable, one per destination, bounded, and upgraded from earlier versions' files."""

from __future__ import annotations

import contextlib
import sqlite3

from bridge.lineage import Entry, LineageMemory

JOB = "urn:li:dataJob:(urn:li:dataFlow:(airflow,dag,prod),dag.t)"
RUN = "urn:li:dataProcessInstance:4f1c0c55"
PATH = "/inputDatasetEdges/urn:li:dataset:(urn:li:dataPlatform:hive,a,PROD)"


def entry(digest: str, seen: float = 100.0, *, edge: bool = False) -> Entry:
    return Entry(digest, edge, seen, seen, None)


def test_survives_reopening_and_keeps_destinations_apart(tmp_path):
    memory = LineageMemory(tmp_path / "m.sqlite3")
    rest = memory.destination("rest:http://gms:8080")
    rest.put_many(JOB, "dataJobInputOutput", [(PATH, entry("d1", edge=True))])
    rest.commit()
    memory.close()

    memory = LineageMemory(tmp_path / "m.sqlite3")  # a restart
    assert memory.destination("rest:http://gms:8080").get(JOB, "dataJobInputOutput", PATH) == entry("d1", edge=True)
    assert memory.destination("kafka:broker:9092/MetadataChangeProposal_v1").get(
        JOB, "dataJobInputOutput", PATH) is None
    memory.close()


def test_a_fresh_destination_forgets_what_was_remembered_of_it(tmp_path):
    memory = LineageMemory(tmp_path / "m.sqlite3")
    memory.destination("file:/x.json").put_many(JOB, "status", [("", entry("d"))])
    memory.destination("file:/x.json").commit()
    memory.destination("rest:http://gms:8080").put_many(JOB, "status", [("", entry("d"))])
    memory.destination("rest:http://gms:8080").commit()
    assert memory.destination("file:/x.json", fresh=True).get(JOB, "status") is None
    assert memory.destination("rest:http://gms:8080").get(JOB, "status") == entry("d")
    memory.close()


def test_uncommitted_writes_win_over_the_file_even_after_the_cache_dropped_them(tmp_path):
    memory = LineageMemory(tmp_path / "m.sqlite3", cache_urns=1)
    view = memory.destination("rest:x")
    view.put_many(JOB, "status", [("", entry("old"))])
    view.commit()
    view.put_many(JOB, "status", [("", entry("new"))])
    view.put_many(JOB, "dataJobInfo", [("/name", entry("n"))])
    view.drop(JOB, "dataJobInfo", "/gone")
    view.load([RUN])  # evicts JOB from the one-entity cache
    assert view.get(JOB, "status") == entry("new")
    assert view.get(JOB, "dataJobInfo", "/name") == entry("n")
    view.put_many(JOB, "dataJobInfo", [("/gone", entry("g"))])
    view.commit()
    view.drop(JOB, "dataJobInfo", "/gone")
    view.load([RUN, "urn:li:x:other"])
    assert view.get(JOB, "dataJobInfo", "/gone") is None
    memory.close()
    memory = LineageMemory(tmp_path / "m.sqlite3")  # and all of it reached the file
    view = memory.destination("rest:x")
    assert (view.get(JOB, "status"), view.get(JOB, "dataJobInfo", "/gone")) == (entry("new"), None)
    memory.close()


def test_stale_edges_are_the_edges_not_seen_since(tmp_path):
    memory = LineageMemory(tmp_path / "m.sqlite3")
    view = memory.destination("rest:x")
    view.put_many(JOB, "dataJobInputOutput", [(PATH, entry("d", seen=10, edge=True))])
    view.put_many(JOB, "dataJobInputOutput", [(PATH + "2", entry("d", seen=50, edge=True))])
    view.put_many(JOB, "globalTags", [("/tags/urn:li:tag:x", entry("d", seen=10))])  # not an edge: never expires
    assert view.stale_edges(before=20) == [(JOB, "dataJobInputOutput", PATH)]
    memory.close()


def test_forget_old_drops_runs_and_timeseries_points_only(tmp_path):
    memory = LineageMemory(tmp_path / "m.sqlite3")
    view = memory.destination("rest:x")
    view.put_many(RUN, "dataProcessInstanceProperties", [("", entry("d", seen=10))])
    view.put_many(JOB, "dataJobInputOutput", [(PATH, entry("d", seen=10, edge=True))])
    view.put_many("urn:li:dataset:(urn:li:dataPlatform:hive,a,PROD)", "operation", [("#", entry("d", seen=10))])
    view.put_many(RUN, "dataProcessInstanceRunEvent", [("#", entry("d", seen=500))])
    assert memory.forget_old(before=100) == 2
    assert view.get(RUN, "dataProcessInstanceProperties") is None
    assert view.get(RUN, "dataProcessInstanceRunEvent", "#") is not None  # seen since: kept
    assert view.get(JOB, "dataJobInputOutput", PATH) is not None
    memory.close()


def test_forgotten_runs_give_their_space_back(tmp_path):
    """A burst of runs fills the file; once they are forgotten the file shrinks (after a checkpoint)."""
    path = tmp_path / "m.sqlite3"
    memory = LineageMemory(path)
    view = memory.destination("rest:x")
    padding = "x" * 2000
    for i in range(15_000):  # about 70 MB of run rows (digest and keys)
        view.put_many(f"urn:li:dataProcessInstance:run-{i}", "dataProcessInstanceProperties",
                      [("", entry(padding, seen=10))])
    view.put_many(JOB, "dataJobInputOutput", [(PATH, entry("d", seen=10, edge=True))])
    memory.flush()
    memory._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = path.stat().st_size
    assert full > 40 << 20
    assert memory.forget_old(before=100) == 15_000
    memory._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size < full / 2
    assert view.get(JOB, "dataJobInputOutput", PATH) is not None
    memory.close()


def test_a_file_made_before_incremental_vacuuming_gives_space_back_from_its_next_open(tmp_path):
    """An earlier version's file (``auto_vacuum=NONE``) kept the pages of what it forgot for good; one
    that holds little is switched when it opens, and forget_old shrinks it from then on."""
    from bridge.lineage import _SCHEMA

    path = tmp_path / "memory.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO destinations (id, key) VALUES (1, 'rest:x')")
    conn.execute("INSERT INTO written VALUES (1, ?, 'status', '', 'd', 0, 10, 10, NULL)", (JOB,))
    padding = "x" * 3000
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO written VALUES (1, ?, 'dataProcessInstanceProperties', '', ?, 0, ?, ?, NULL)",
                     ((f"urn:li:dataProcessInstance:run-{i:05}", padding, 5 + 5 * (i % 3 > 0), 10)
                      for i in range(15_000)))  # about 66 MB of run rows  # fmt: skip
    conn.execute("COMMIT")
    conn.execute("DELETE FROM written WHERE seen < 6")  # forgotten then: a third of the file is free pages
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    conn.close()
    full = path.stat().st_size
    assert full > 60 << 20

    memory = LineageMemory(path)
    assert memory._query("PRAGMA auto_vacuum", ()) == [(2,)]
    assert memory.forget_old(before=100) == 10_000
    memory._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size < full / 2
    assert memory.destination("rest:x").get(JOB, "status") == Entry("d", False, 10, 10, None)
    memory.close()


def test_files_of_earlier_versions_are_upgraded(tmp_path):
    # The Dagster plugin's memory before it was keyed by destination: unusable, so it is dropped.
    path = tmp_path / "memory.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE aspects (urn TEXT NOT NULL, aspect TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (urn, aspect));"
        "CREATE TABLE delivered (urn TEXT NOT NULL, aspect TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (urn, aspect));"
        f"INSERT INTO delivered VALUES ('{JOB}', 'status', 'old');"
    )
    conn.close()
    memory = LineageMemory(path)
    tables = {r[0] for r in memory._query("SELECT name FROM sqlite_master WHERE type = 'table'", ())}
    assert tables == {"destinations", "written", "run_names"}
    assert memory.destination("rest:x").get(JOB, "status") is None
    memory.close()


def test_a_file_written_before_the_edge_path_index_gets_it_at_open(tmp_path):
    """The status page finds the edges that point at an entity through ``written_edge_paths``."""
    path = tmp_path / "memory.sqlite3"
    memory = LineageMemory(path)
    memory.destination("rest:x").put_many(JOB, "dataJobInputOutput", [(PATH, entry("d", edge=True))])
    memory.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP INDEX written_edge_paths")  # as earlier versions wrote the file
    memory = LineageMemory(path)
    indexes = {r[0] for r in memory._query("SELECT name FROM sqlite_master WHERE type = 'index'", ())}
    assert {"written_edges", "written_edge_paths"} <= indexes
    plan = memory._query("EXPLAIN QUERY PLAN SELECT urn FROM written WHERE edge = 1 AND path = ?", (PATH,))
    assert [row[3] for row in plan] == ["SEARCH written USING INDEX written_edge_paths (path=?)"]
    assert memory.destination("rest:x").get(JOB, "dataJobInputOutput", PATH) == entry("d", edge=True)
    memory.close()


# A file of the versions that kept runs' other names as a pseudo-destination: the tables as they were
# (those are unchanged), a destination of this key, a row per pair at the run's other URN.
OLD_LAYOUT = """
CREATE TABLE destinations (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE written (
    dest INTEGER NOT NULL, urn TEXT NOT NULL, aspect TEXT NOT NULL, path TEXT NOT NULL,
    digest TEXT NOT NULL, edge INTEGER NOT NULL, seen REAL NOT NULL, sent REAL NOT NULL, value TEXT,
    PRIMARY KEY (dest, urn, aspect, path)
) WITHOUT ROWID;
INSERT INTO destinations VALUES (1, 'rest:http://gms:8080'), (2, '(other names of runs)');
"""


def old_pair(alias: str, urn: str, seen: float) -> str:
    return f"INSERT INTO written VALUES (2, '{alias}', '@runAlias', '', 'x', 0, {seen}, {seen}, '{urn}');"


def test_run_names_kept_as_a_pseudo_destination_move_to_their_table(tmp_path):
    path = tmp_path / "memory.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_LAYOUT + old_pair(RUN, RUN + "-own", 100) + old_pair(RUN + "2", RUN + "2-own", 500)
                       + f"INSERT INTO written VALUES (1, '{JOB}', 'status', '', 'd', 0, 100, 100, NULL);")  # fmt: skip
    conn.close()
    memory = LineageMemory(path)
    assert memory.run_names.get([RUN, RUN + "2"]) == {RUN: (RUN + "-own", 100.0), RUN + "2": (RUN + "2-own", 500.0)}
    assert memory.summary() == [{"destination": "rest:http://gms:8080", "entities": 1, "slots": 1, "edges": 0}]
    assert memory._query("SELECT count(*) FROM written", ()) == [(1,)]
    assert memory.destination("rest:http://gms:8080").get(JOB, "status") == Entry("d", False, 100, 100, None)
    # and they expire as they did, with the runs
    assert memory.forget_old(before=200) == 1
    assert memory.run_names.get([RUN, RUN + "2"]) == {RUN + "2": (RUN + "2-own", 500.0)}
    memory.close()
    memory = LineageMemory(path)  # opened again: nothing left to move
    assert memory.run_names.get([RUN + "2"]) == {RUN + "2": (RUN + "2-own", 500.0)}
    memory.close()


def test_of_a_pair_both_layouts_hold_the_newer_is_kept(tmp_path):
    """An earlier version's process still writing the shared file after a newer one moved the pairs."""
    path = tmp_path / "memory.sqlite3"
    memory = LineageMemory(path)
    memory.run_names.put({RUN: "new-in-table"}, 300)
    memory.run_names.put({RUN + "2": "old-in-table"}, 100)
    memory.close()
    conn = sqlite3.connect(path)
    conn.executescript("INSERT INTO destinations VALUES (2, '(other names of runs)');"
                       + old_pair(RUN, "old-in-destination", 200) + old_pair(RUN + "2", "new-in-destination", 400))  # fmt: skip
    conn.close()
    memory = LineageMemory(path)
    assert memory.run_names.get([RUN, RUN + "2"]) == {RUN: ("new-in-table", 300.0),
                                                      RUN + "2": ("new-in-destination", 400.0)}  # fmt: skip
    assert memory.summary() == []
    memory.close()


def test_in_process_memory_needs_no_file(tmp_path):
    memory = LineageMemory()
    view = memory.destination("console")
    view.put_many(JOB, "status", [("", entry("d"))])
    view.commit()
    assert view.get(JOB, "status") == entry("d")
    memory.close()
    assert list(tmp_path.iterdir()) == []


def test_a_round_larger_than_the_cache_reads_the_file_once_per_chunk_not_once_per_entity(tmp_path):
    """One event with more datasets than the cache holds must not turn each lookup into a query (issue 12)."""
    memory = LineageMemory(tmp_path / "m.sqlite3", cache_urns=10)
    view = memory.destination("rest:x")
    urns = [f"urn:li:dataset:(urn:li:dataPlatform:hive,t{i},PROD)" for i in range(1200)]
    view.put_many(urns[0], "status", [("", entry("kept"))])
    view.commit()
    memory.flush()
    selects: list[str] = []
    memory._db.set_trace_callback(lambda sql: selects.append(sql) if sql.lstrip().startswith("SELECT") else None)
    view.load(urns)
    assert [view.get(u, "status") for u in urns[:2]] == [entry("kept"), None]
    for urn in urns:
        view.put_many(urn, "status", [("", entry("new"))])
    assert all(view.get(u, "status") == entry("new") for u in urns)
    assert len(selects) == 3  # 1,200 entities in chunks of 500
    memory.close()
