"""The status page's lineage graph, read from a real lineage memory file: every kind of edge either way,
only the rows the answer needs (through an index, whatever the memory holds), and cut at a limit,
nearest first, saying so."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

import pytest

from bridge.lineage import Entry, LineageMemory
from bridge.ui import StateReader, Views
from translators.datahub.writes import quote

RAW = "urn:li:dataset:(urn:li:dataPlatform:s3,raw/events/2024,PROD)"  # ('/' in a URN: quoted in paths)
STAGED = "urn:li:dataset:(urn:li:dataPlatform:hive,staging.events,PROD)"
MART = "urn:li:dataset:(urn:li:dataPlatform:hive,mart.events,PROD)"
EXTRACT = "urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,prod),extract)"
LOAD = "urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,prod),load)"
GRAPH = {(RAW, STAGED), (STAGED, LOAD), (EXTRACT, LOAD), (LOAD, MART)}


def _paths(field: str, *urns: str) -> list[str]:
    return [f"/{field}/{quote(urn)}" for urn in urns]


def _hold(memory: LineageMemory, destination: str, urn: str, aspect: str, paths: list[str], *, edge: bool = True) -> None:
    memory.destination(destination).put_many(urn, aspect, [(p, Entry("d", edge, 1.0, 1.0, None)) for p in paths])


def _remember_graph(memory: LineageMemory) -> None:
    """GRAPH as delivery remembers it: a job holds its inputs and outputs, a dataset its upstreams (a
    dataset and a job hold nothing of the other); twice (two destinations); with column-level rows."""
    field = "urn:li:schemaField:(" + STAGED + ",id)"
    for destination in ("rest:http://gms:8080", "kafka:broker:9092/MetadataChangeProposal_v1"):
        _hold(memory, destination, STAGED, "upstreamLineage",
              [*_paths("upstreams", RAW), f"/fineGrainedLineages/NONE/{quote(field)}/NONE/{quote(field)}"])
        _hold(memory, destination, LOAD, "dataJobInputOutput",
              [*_paths("inputDatasetEdges", STAGED), *_paths("inputDatajobEdges", EXTRACT),
               *_paths("outputDatasetEdges", MART), *_paths("inputDatasetFields", field)])
        _hold(memory, destination, LOAD, "dataJobInfo", ["/name"], edge=False)


def _edges(graph: dict) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in graph["edges"]}


@pytest.fixture
def state(tmp_path):
    memory = LineageMemory.in_state_dir(tmp_path)
    _remember_graph(memory)
    memory.close()
    return tmp_path


def test_every_kind_of_edge_either_way(state):
    views = Views(StateReader(state), translator=None)
    one_hop = views.lineage(LOAD, depth=1)
    assert _edges(one_hop) == {(STAGED, LOAD), (EXTRACT, LOAD), (LOAD, MART)}
    assert {n["id"] for n in one_hop["nodes"]} == {STAGED, EXTRACT, LOAD, MART}
    assert one_hop["truncated"] is False
    assert one_hop["edges"][0] == {"id": f"{EXTRACT} -> {LOAD}", "source": EXTRACT, "target": LOAD}
    assert _edges(views.lineage(LOAD, depth=2)) == GRAPH
    assert _edges(views.lineage(STAGED, depth=1)) == {(RAW, STAGED), (STAGED, LOAD)}  # held by its upstream, by the job
    assert _edges(views.lineage(RAW, depth=5)) == {(RAW, STAGED), (STAGED, LOAD), (LOAD, MART)}  # (not EXTRACT: upstream of LOAD)
    assert _edges(views.lineage(MART, depth=2)) == {(LOAD, MART), (STAGED, LOAD), (EXTRACT, LOAD)}
    assert views.lineage("urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,prod),nothing)") == {
        "focus": "urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,prod),nothing)", "truncated": False, "edges": [],
        "nodes": [{"id": "urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,prod),nothing)", "kind": "job",
                   "label": "etl.nothing"}]}


def test_reads_only_the_rows_it_needs_however_large_the_memory(state, monkeypatch):
    """20,000 more edges elsewhere: the graph reads none of them. Counted with SQLite's own hooks on
    every connection the reader opens: each statement's plan, and the virtual-machine steps run."""
    memory = LineageMemory.in_state_dir(state)
    for i in range(5000):
        job = f"urn:li:dataJob:(urn:li:dataFlow:(airflow,other,prod),task_{i})"
        tables = [f"urn:li:dataset:(urn:li:dataPlatform:hive,other.t{i}_{k},PROD)" for k in range(2)]
        _hold(memory, "rest:http://gms:8080", job, "dataJobInputOutput",
              [*_paths("inputDatasetEdges", *tables), *_paths("outputDatasetEdges", *tables)])
    memory.close()
    with closing(sqlite3.connect(state / "memory.sqlite3")) as db:
        (rows,) = db.execute("SELECT count(*) FROM written").fetchone()
    assert rows > 20_000

    statements: list[str] = []
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0  # (go on)

    def connect(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        db.set_progress_handler(step, 1)
        return db

    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", connect)
    graph = Views(StateReader(state), translator=None).lineage(LOAD, depth=2)
    monkeypatch.undo()

    assert _edges(graph) == GRAPH
    # (a scan runs several steps per row: a read of the whole memory, at least ten times this)
    assert 0 < steps[0] < rows // 4, f"{steps[0]} steps: the graph read about as much as the whole memory"
    with closing(sqlite3.connect(state / "memory.sqlite3")) as db:
        plans = [[row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)] for sql in statements
                 if re.match(r"\s*SELECT", sql, re.I)]
    assert plans and all(any(step.startswith("SEARCH written USING") for step in plan) for plan in plans)
    assert not [plan for plan in plans if any(step.startswith("SCAN written") for step in plan)]


def test_a_graph_opens_the_memory_once_however_many_hops_and_queries(state, monkeypatch):
    opened: list[sqlite3.Connection] = []
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *args, **kwargs: opened.append(real_connect(*args, **kwargs))
                        or opened[-1])  # fmt: skip
    graph = Views(StateReader(state), translator=None).lineage(RAW, depth=5)
    monkeypatch.undo()
    assert _edges(graph) == {(RAW, STAGED), (STAGED, LOAD), (LOAD, MART)}  # (each hop: several queries)
    assert len(opened) == 1
    with pytest.raises(sqlite3.ProgrammingError):  # and closed again
        opened[0].execute("SELECT 1")


def test_a_graph_larger_than_the_limit_is_cut_nearest_first_and_says_so(tmp_path):
    """A dataset read by 30 jobs, each writing a table of its own: 30 edges one hop away, 30 two."""
    memory = LineageMemory.in_state_dir(tmp_path)
    jobs = [f"urn:li:dataJob:(urn:li:dataFlow:(airflow,fan,prod),read_{i})" for i in range(30)]
    for i, job in enumerate(jobs):
        _hold(memory, "rest:http://gms:8080", job, "dataJobInputOutput",
              [*_paths("inputDatasetEdges", RAW),
               *_paths("outputDatasetEdges", f"urn:li:dataset:(urn:li:dataPlatform:hive,fan.t{i},PROD)")])
    memory.close()
    views = Views(StateReader(tmp_path), translator=None)
    first_hop = {(RAW, job) for job in jobs}

    cut = views.lineage(RAW, depth=2, limit=40)
    assert cut["truncated"] is True and len(cut["edges"]) == 40
    assert first_hop <= _edges(cut)
    assert {n["id"] for n in cut["nodes"]} == {u for edge in _edges(cut) for u in edge}
    one_hop = views.lineage(RAW, depth=2, limit=10)
    assert one_hop["truncated"] is True and len(_edges(one_hop)) == 10 and _edges(one_hop) <= first_hop
    exactly = views.lineage(RAW, depth=1, limit=30)
    assert exactly["truncated"] is False and _edges(exactly) == first_hop
    whole = views.lineage(RAW, depth=2, limit=60)
    assert whole["truncated"] is False and len(whole["edges"]) == 60
    assert views.lineage(RAW, depth=2, limit=59)["truncated"] is True


def test_a_cycle_leads_back_to_edges_already_counted_which_count_once(tmp_path):
    """A job that reads and writes the same table, and the table's upstream: 3 edges, each found twice."""
    memory = LineageMemory.in_state_dir(tmp_path)
    _hold(memory, "rest:http://gms:8080", LOAD, "dataJobInputOutput",
          [*_paths("inputDatasetEdges", MART), *_paths("outputDatasetEdges", MART)])
    _hold(memory, "rest:http://gms:8080", MART, "upstreamLineage", _paths("upstreams", STAGED))
    memory.close()
    views = Views(StateReader(tmp_path), translator=None)
    graph = {(MART, LOAD), (LOAD, MART), (STAGED, MART)}
    for limit in (3, 4, 50):
        answer = views.lineage(LOAD, depth=3, limit=limit)
        assert answer["truncated"] is False and _edges(answer) == graph, limit
    cut = views.lineage(LOAD, depth=3, limit=2)
    assert cut["truncated"] is True and len(_edges(cut)) == 2 and _edges(cut) <= graph


def test_a_memory_file_without_the_edge_index_is_read_whole_and_said_so_once(state, caplog):
    with closing(sqlite3.connect(state / "memory.sqlite3")) as conn:
        conn.execute("DROP INDEX written_edge_paths")  # as an earlier version left the file
    views = Views(StateReader(state), translator=None)
    with caplog.at_level("WARNING", logger="bridge.ui._reader"):
        assert _edges(views.lineage(LOAD, depth=2)) == GRAPH  # the same answer, the slow way
        views.lineage(MART, depth=2)
    assert [r.getMessage() for r in caplog.records].count(
        "the lineage memory has no edge index yet: the status page's lineage reads the whole memory until a "
        "bridge command opens it to write (bridge memory show, serve, consume, send)") == 1
    LineageMemory.in_state_dir(state).close()  # bridge memory show, say
    caplog.clear()
    fresh = Views(StateReader(state), translator=None)
    assert _edges(fresh.lineage(LOAD, depth=2)) == GRAPH
    assert not caplog.records


def test_an_edge_found_downstream_first_still_leads_upstream_beyond_it(tmp_path):
    """F -> u -> v -> a -> F, and W -> u: walking downstream finds u -> v first; walking upstream, F's
    upstream a, v, then u reach it again, and u's other upstream W must still be found."""
    memory = LineageMemory.in_state_dir(tmp_path)
    f, u, v, a, w = (f"urn:li:dataset:(urn:li:dataPlatform:hive,{n},PROD)" for n in "fuvaw")
    for downstream, upstreams in ((u, (f, w)), (v, (u,)), (a, (v,)), (f, (a,))):
        _hold(memory, "rest:http://gms:8080", downstream, "upstreamLineage", _paths("upstreams", *upstreams))
    memory.close()
    views = Views(StateReader(tmp_path), translator=None)
    cycle = {(f, u), (u, v), (v, a), (a, f)}
    for depth in (4, 5):
        answer = views.lineage(f, depth=depth)
        assert _edges(answer) == cycle | {(w, u)} and answer["truncated"] is False, depth
    assert _edges(views.lineage(f, depth=2)) == {(f, u), (u, v), (v, a), (a, f)}


def test_depth_is_one_to_five_hops(state):
    views = Views(StateReader(state), translator=None)
    assert views.lineage(LOAD, depth=99) == views.lineage(LOAD, depth=5)
    assert views.lineage(LOAD, depth=0) == views.lineage(LOAD, depth=1) != views.lineage(LOAD, depth=2)
