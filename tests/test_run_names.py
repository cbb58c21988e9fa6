"""Runs known by two names: a child names its parent by the parent's own URN, across processes, until the
pair is as old as the runs the memory forgets."""

from __future__ import annotations

import datetime as dt
import sqlite3

from bridge.delivery import DeliveryCore
from bridge.lineage import LineageMemory
from bridge.model import Job, ParentRun, Run, RunEvent
from bridge.testing import RecordingEmitter
from translators.datahub import DataHubTranslator

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY = 86_400.0


class Renaming(DataHubTranslator):
    """Names every run otherwise than its OpenLineage run id does (as compat names Airflow's task runs)."""

    def get_run_urn(self, event: RunEvent) -> str:
        return f"urn:li:dataProcessInstance:named-{event.run.run_id}"


def event(run_id: str, parent: str | None = None) -> RunEvent:
    return RunEvent(
        event_type="START", event_time=T0, producer="https://github.com/apache/airflow/",
        run=Run(run_id=run_id, parent=ParentRun(run_id=parent, job_namespace="ns", job_name="dag.task")
                if parent else None),
        job=Job(namespace="ns", name="dag.task.query" if parent else "dag.task"))  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def deliver(core: DeliveryCore, *events: RunEvent) -> None:
    core.send(core.plan([(i, core.translator.translate(e)) for i, e in enumerate(events)]))
    core.commit()


def parent_of(emitter: RecordingEmitter, run_id: str) -> str:
    (value,) = [m.aspect_value["parentInstance"] for m in emitter.mcps
                if m.entity_urn == f"urn:li:dataProcessInstance:named-{run_id}"
                and m.aspect_name == "dataProcessInstanceRelationships"]  # fmt: skip
    return value


def test_a_child_delivered_by_another_process_names_its_parent_by_the_parents_own_urn(tmp_path):
    path = tmp_path / "memory.sqlite3"
    with_parent, with_child = RecordingEmitter(), RecordingEmitter()
    one = LineageMemory(path)
    deliver(DeliveryCore(with_parent, Renaming(), one), event("task"))
    one.close()
    two = LineageMemory(path)  # a restart, another worker sharing the state, another destination
    deliver(DeliveryCore(with_child, Renaming(), two), event("query", parent="task"))
    assert parent_of(with_child, "query") == "urn:li:dataProcessInstance:named-task"
    # the pair is no destination's: the memory knows only the emitter's
    assert [row["destination"] for row in two.summary()] == [with_child.destination().key]
    two.close()


def test_a_pair_is_forgotten_run_memory_days_after_an_event_last_carried_it(tmp_path):
    clock, emitter = Clock(), RecordingEmitter()
    memory = LineageMemory(tmp_path / "memory.sqlite3")
    core = DeliveryCore(emitter, Renaming(), memory, run_memory_days=7, clock=clock)
    plain, own = "urn:li:dataProcessInstance:task", "urn:li:dataProcessInstance:named-task"
    deliver(core, event("task"))
    assert memory.run_names.get([plain]) == {plain: (own, clock.now)}
    clock.now += 5 * DAY
    deliver(core, event("task"))  # a long run's later event: the pair's time is written again
    assert memory.run_names.get([plain]) == {plain: (own, clock.now)}
    clock.now += 5 * DAY  # 10 days after the first event, 5 after the last
    assert core.housekeeping()[0] > 0  # (it ran: rows of the first day are forgotten)
    deliver(core, event("q1", parent="task"))
    assert parent_of(emitter, "q1") == own
    clock.now += 3 * DAY  # 8 days after the last
    core.housekeeping()
    deliver(core, event("q2", parent="task"))
    assert parent_of(emitter, "q2") == plain
    assert memory.run_names.get([plain]) == {}
    memory.close()


def test_a_memory_file_locked_by_another_process_costs_a_name_never_an_event(tmp_path):
    """Another process holds the file's write lock beyond the busy timeout (a peer's long forget_old, say):
    the round is delivered, its child keeps the plain URN, and the pair is written by a later event."""
    path = tmp_path / "memory.sqlite3"
    emitter = RecordingEmitter()
    memory = LineageMemory(path)
    memory._db.execute("PRAGMA busy_timeout = 50")  # the wait, shortened; the lock below is real
    clock = Clock()
    core = DeliveryCore(emitter, Renaming(), memory, clock=clock)
    peer = sqlite3.connect(path, isolation_level=None)
    peer.execute("BEGIN IMMEDIATE")  # the other process's write lock
    deliver(core, event("task"))
    assert {m.entity_urn for m in emitter.mcps} >= {"urn:li:dataProcessInstance:named-task"}  # delivered
    peer.execute("ROLLBACK")
    peer.close()
    plain, own = "urn:li:dataProcessInstance:task", "urn:li:dataProcessInstance:named-task"
    assert memory.run_names.get([plain]) == {}  # the pair could not be written
    deliver(core, event("q1", parent="task"))
    assert parent_of(emitter, "q1") == plain  # what that cost: a name
    deliver(core, event("task"))  # a later event of the run writes it
    assert memory.run_names.get([plain]) == {plain: (own, clock.now)}
    deliver(core, event("q2", parent="task"))
    assert parent_of(emitter, "q2") == own
    memory.close()
