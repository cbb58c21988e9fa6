"""The Dagster plugin's lineage memory: survives reopening, and drops old runs without growing for good."""

from __future__ import annotations

import sqlite3
import time

from dagster_plugin.memory import SqliteMemory

RUN = "urn:li:dataProcessInstance:4f1c0c55f2e24d2b9e0b5d3c2a1f0e9d"
ASSET = "urn:li:dataset:(urn:li:dataPlatform:dagster,prod/orders,PROD)"


def test_memory_survives_reopening_and_forgets_only_old_runs(tmp_path):
    path = tmp_path / "memory.sqlite"
    memory = SqliteMemory(path)
    memory.put_aspect(RUN, "dataProcessInstanceOutput", {"outputs": [ASSET]})
    memory.mark_delivered(RUN, "dataProcessInstanceProperties", "d-run")
    memory.put_aspect(ASSET, "upstreamLineage", {"upstreams": []})
    memory.mark_delivered(ASSET, "status", "d-asset")
    memory.close()

    memory = SqliteMemory(path)  # a daemon restart: everything is still there (all of it is recent)
    assert memory.get_aspect(RUN, "dataProcessInstanceOutput") == {"outputs": [ASSET]}
    assert memory.forget_old_runs(now=time.time() + 6 * 86_400) == 0  # six days on: kept
    assert memory.forget_old_runs(now=time.time() + 8 * 86_400) == 2  # eight: the run's two rows go
    assert memory.get_aspect(RUN, "dataProcessInstanceOutput") is None
    assert memory.delivered_digest(RUN, "dataProcessInstanceProperties") is None
    assert memory.get_aspect(ASSET, "upstreamLineage") == {"upstreams": []}
    assert memory.delivered_digest(ASSET, "status") == "d-asset"
    memory.close()


def test_memory_written_by_an_earlier_version_is_migrated_keeping_its_runs_for_the_full_period(tmp_path):
    path = tmp_path / "memory.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE aspects (urn TEXT NOT NULL, aspect TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (urn, aspect));"
        "CREATE TABLE delivered (urn TEXT NOT NULL, aspect TEXT NOT NULL, digest TEXT NOT NULL,"
        " PRIMARY KEY (urn, aspect));"
        f"INSERT INTO delivered VALUES ('{RUN}', 'status', 'old');"
        f"INSERT INTO delivered VALUES ('{ASSET}', 'status', 'kept');"
    )
    conn.close()
    memory = SqliteMemory(path)  # rows from before the column count as written now: nothing drops at once
    assert memory.delivered_digest(RUN, "status") == "old"
    assert memory.forget_old_runs(now=time.time() + 8 * 86_400) == 1
    assert memory.delivered_digest(RUN, "status") is None
    assert memory.delivered_digest(ASSET, "status") == "kept"
    memory.mark_delivered(RUN, "status", "new")
    assert memory.delivered_digest(RUN, "status") == "new"
    memory.close()


def test_run_memory_days_zero_keeps_everything(tmp_path):
    memory = SqliteMemory(tmp_path / "memory.sqlite", run_memory_days=0)
    memory.mark_delivered(RUN, "status", "d")
    assert memory.forget_old_runs(now=time.time() + 365 * 86_400) == 0
    assert memory.delivered_digest(RUN, "status") == "d"
    memory.close()
