"""The delivery core: nothing erased, nothing sent twice to a destination that has it, and only what landed is remembered.

What DataHub ends up holding is computed with the GMS test server's model of DataHub's
writes (``tests/servers/gms_state.py``): UPSERTs replace, PATCHes go through the aspect's
template.
"""

from __future__ import annotations

import datetime as dt
import json

from bridge.delivery import DeliveryCore
from bridge.lineage import LineageMemory
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Dataset, Job, Run, RunEvent
from bridge.pipeline import Pipeline
from bridge.testing import RecordingEmitter, RecordingEmitterConfig
from emitters.file import FileEmitter, FileEmitterConfig
from tests.servers.gms_state import held, job_edges
from translators.datahub import DataHubTranslator, make_dataset_urn

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
JOB = "urn:li:dataJob:(urn:li:dataFlow:(airflow,dag,ns),dag.load)"
RUN = "urn:li:dataProcessInstance:r1"


def ds(name: str) -> str:
    return make_dataset_urn("hive", name)


def event(kind: str, inputs=(), outputs=(), *, run_id: str = "r1", minutes: int = 0) -> RunEvent:
    return RunEvent(
        event_type=kind,
        event_time=T0 + dt.timedelta(minutes=minutes),
        producer="https://github.com/apache/airflow/",
        run=Run(run_id=run_id),
        job=Job(namespace="ns", name="dag.load"),
        inputs=[Dataset(namespace="hive", name=n) for n in inputs],
        outputs=[Dataset(namespace="hive", name=n) for n in outputs],
    )


def io_of(mcps) -> tuple[set[str], set[str]]:
    value = held(mcps).get((JOB, "dataJobInputOutput"))
    return job_edges(value, "inputDatasetEdges"), job_edges(value, "outputDatasetEdges")


def test_later_events_and_other_processes_never_erase_lineage():
    first, second = RecordingEmitter(), RecordingEmitter()
    one = Pipeline(first)
    one.send([event("START", inputs=["a", "b"], outputs=["c"])])
    one.send([event("RUNNING", inputs=["a"])])  # fewer datasets
    one.send([event("COMPLETE")])  # none at all
    # another process (a second worker, a restart elsewhere): it remembers nothing
    Pipeline(second).send([event("START", inputs=["z"], run_id="r2")])
    assert io_of(first.mcps + second.mcps) == ({ds("a"), ds("b"), ds("z")}, {ds("c")})


def test_what_the_destination_holds_is_not_sent_again_and_a_new_edge_sends_the_patch():
    emitter = RecordingEmitter()
    pipeline = Pipeline(emitter)
    results = [pipeline.send([event("RUNNING", inputs=["a"], minutes=0)]) for _ in range(4)]
    io = lambda r: [m for m in r.sent if m.aspect_name == "dataJobInputOutput"]  # noqa: E731
    assert [len(io(r)) for r in results] == [1, 0, 0, 0]
    assert all(r.unchanged > 0 for r in results[1:])
    grown = pipeline.send([event("RUNNING", inputs=["a", "b"])])
    (patch,) = io(grown)
    assert {op["path"].rsplit("/", 1)[1] for op in patch.patch_ops} >= {ds("a"), ds("b")}
    assert io_of(emitter.mcps)[0] == {ds("a"), ds("b")}


def test_one_round_coalesces_a_jobs_events_into_one_patch_per_aspect():
    core = DeliveryCore(RecordingEmitter(), DataHubTranslator())
    tr = core.translator
    round_ = core.plan([(i, tr.translate(e)) for i, e in enumerate(
        [event("START", inputs=["a"]), event("RUNNING", inputs=["b"], minutes=1), event("COMPLETE", minutes=2)])])
    (io,) = [w for w in round_.writes if w.mcp.aspect_name == "dataJobInputOutput"]
    assert io.ids == [0, 1] and {op["path"].rsplit("/", 1)[1] for op in io.mcp.patch_ops} == {ds("a"), ds("b")}
    # every run state is a point of its own (timeseries): START, RUNNING and COMPLETE all go
    points = [w for w in round_.writes if w.mcp.aspect_name == "dataProcessInstanceRunEvent"]
    assert len(points) == 3


def test_a_failed_write_is_sent_again_and_only_confirmed_writes_are_remembered(tmp_path):
    failing = {"on": True}
    emitter = RecordingEmitter(RecordingEmitterConfig(fail_when=lambda mcp: failing["on"]))
    memory = LineageMemory(tmp_path / "memory.sqlite3")
    pipeline = Pipeline(emitter, memory=memory)
    errors: list = []
    pipeline.send([event("START", inputs=["a"])], callback=lambda err, msg: errors.append(err))
    pipeline.flush()
    assert errors and all(e is not None for e in errors)
    assert not memory._query("SELECT * FROM written", ())  # nothing landed, nothing remembered
    failing["on"] = False
    again = pipeline.send([event("START", inputs=["a"])])
    pipeline.flush()
    assert len(again.sent) == len(errors)
    assert memory._query("SELECT count(*) FROM written", ())[0][0] > 0


def test_identical_writes_are_not_queued_twice_before_the_emitter_confirms(tmp_path):
    path = tmp_path / "mcps.json"
    emitter = FileEmitter(FileEmitterConfig(filename=str(path)))  # confirms only when it flushes
    pipeline = Pipeline(emitter)
    for _ in range(3):
        pipeline.send([event("RUNNING", inputs=["a"])])
    emitter.close()
    written = json.loads(path.read_text())
    assert len(written) == len({(m["entityUrn"], m["aspectName"]) for m in written})


def test_the_memory_is_per_destination_and_a_new_file_is_written_whole(tmp_path):
    memory_path = tmp_path / "memory.sqlite3"

    def deliver(filename: str) -> list[str]:
        """One process: a pipeline on the shared memory file, sending the same events to ``filename``."""
        memory = LineageMemory(memory_path)
        emitter = FileEmitter(FileEmitterConfig(filename=str(tmp_path / filename)))
        pipeline = Pipeline(emitter, memory=memory)
        sent = [m.aspect_name for e in (event("START", inputs=["a"]), event("COMPLETE", minutes=5))
                for m in pipeline.send([e]).sent]  # fmt: skip
        pipeline.close()
        memory.close()
        return sent

    everything = deliver("one.json")
    assert len(everything) > 5
    # The same file already holds it all. Only the run's own aspects go again: its properties are merged
    # over its events in the order they arrive, and of its state only the last point is remembered, so
    # replaying START after COMPLETE sends those two again. Nothing shared (lineage, the job) is re-sent.
    assert set(deliver("one.json")) <= {"dataProcessInstanceProperties", "dataProcessInstanceRunEvent"}
    assert deliver("two.json") == everything  # another destination gets everything
    (tmp_path / "one.json").unlink()
    assert deliver("one.json") == everything  # the file was deleted: a new file is written whole
    assert len(json.loads((tmp_path / "one.json").read_text())) == len(everything)


def test_a_runs_own_aspects_accumulate_over_its_events():
    emitter = RecordingEmitter()
    pipeline = Pipeline(emitter)
    pipeline.send([event("START", inputs=["a", "b"], outputs=["c"])])
    pipeline.send([event("RUNNING", inputs=["a"], minutes=3)])
    state = held(emitter.mcps)
    assert set(state[(RUN, "dataProcessInstanceInput")]["inputs"]) == {ds("a"), ds("b")}
    props = state[(RUN, "dataProcessInstanceProperties")]
    assert props["created"]["time"] == int(T0.timestamp() * 1000)  # the START's time, not the RUNNING's
    assert props["customProperties"]["eventType"] == "RUNNING"


def test_a_translator_without_the_datahub_hooks_still_delivers():
    class Plain:
        def translate(self, ev):
            return [MetadataChangeProposalWrapper(entity_urn=JOB, aspect_name="status", aspect={"removed": False})]

    emitter = RecordingEmitter()
    pipeline = Pipeline(emitter, Plain())
    assert [pipeline.send([event("START")]).mcps for _ in range(2)] == [1, 0]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def days(self, n: float) -> None:
        self.now += n * 86_400


def test_stale_edge_expiry_removes_only_edges_not_seen_for_ttl_days():
    clock, emitter = Clock(), RecordingEmitter()
    core = DeliveryCore(emitter, DataHubTranslator(), lineage_ttl_days=10, clock=clock)
    tr = core.translator

    def deliver(ev):
        round_ = core.plan([(0, tr.translate(ev))])
        core.send(round_)
        return round_

    deliver(event("START", inputs=["a", "b"], outputs=["c"]))
    clock.days(6)  # a and c are still seen; past ttl/2 they are sent again (another process may have expired them)
    again = deliver(event("COMPLETE", inputs=["a"], outputs=["c"], run_id="r2"))
    assert any(w.mcp.aspect_name == "dataJobInputOutput" for w in again.writes if not w.skipped)
    assert core.expire(force=True) == 0  # nothing is 10 days old yet
    clock.days(5)  # b was last seen 11 days ago
    assert core.expire(force=True) == 1
    (removal,) = [m for m in emitter.mcps if m.is_patch and m.patch_ops[0]["op"] == "remove"]
    assert removal.entity_urn == JOB and removal.patch_ops[0]["path"].endswith(ds("b"))
    assert io_of(emitter.mcps) == ({ds("a")}, {ds("c")})
    assert core.expire(force=True) == 0  # removed and forgotten
    deliver(event("START", inputs=["b"], run_id="r3"))  # seen again: added again
    assert io_of(emitter.mcps)[0] == {ds("a"), ds("b")}


def test_expiry_is_off_by_default():
    clock, emitter = Clock(), RecordingEmitter()
    core = DeliveryCore(emitter, DataHubTranslator(), clock=clock)
    core.send(core.plan([(0, core.translator.translate(event("START", inputs=["a"])))]))
    clock.days(3650)
    assert core.expire(force=True) == 0
    assert io_of(emitter.mcps)[0] == {ds("a")}


def test_old_runs_and_points_are_forgotten_jobs_and_datasets_are_kept(tmp_path):
    clock = Clock()
    memory = LineageMemory(tmp_path / "memory.sqlite3")
    core = DeliveryCore(RecordingEmitter(), DataHubTranslator(), memory, run_memory_days=7, clock=clock)
    core.send(core.plan([(0, core.translator.translate(event("COMPLETE", inputs=["a"], outputs=["c"])))]))
    core.commit()
    kinds = lambda: {(u.split(":")[2], p[:1]) for u, p in memory._query("SELECT urn, path FROM written", ())}  # noqa: E731
    assert ("dataProcessInstance", "") in kinds() and ("dataset", "#") in kinds()  # a run, a point (operation)
    clock.days(8)
    forgotten, expired = core.housekeeping()
    assert forgotten > 0 and expired == 0
    assert {k for k, _ in kinds()} == {"dataFlow", "dataJob", "dataset"}
    assert ("dataset", "#") not in kinds()


class Held(RecordingEmitter):
    """Keeps every callback until the test says how the writes went (an emitter delivering in the background)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list = []

    def emit(self, item, callback=None):
        self.mcps.append(item)
        self.waiting.append(callback)

    def settle(self, error=None) -> None:
        waiting, self.waiting = self.waiting, []
        for callback in waiting:
            callback(error, "settled by the test")


def test_an_event_relying_on_another_rounds_write_is_delivered_only_if_that_write_lands():
    from bridge.errors import ConnectionFailedError, RetriableError

    for outcome_of_first, expected in ((None, type(None)), (ConnectionFailedError("GMS down"), RetriableError)):
        emitter = Held()
        core = DeliveryCore(emitter, DataHubTranslator())
        first = core.plan([("a", core.translator.translate(event("START", inputs=["a"])))])
        core.send(first)  # on its way, not confirmed
        second = core.plan([("b", core.translator.translate(event("START", inputs=["a"], run_id="r2")))])
        core.send(second)
        assert any(w.skipped and w.depends for w in second.writes)  # the job's writes ride on the first round's
        emitter.settle(outcome_of_first)
        assert isinstance(second.outcome()["b"], expected)


def test_a_value_planned_while_another_is_on_its_way_is_sent_after_it():
    # status false (confirmed), then true (on its way), then false again: the memory still says false,
    # but the true will land first, so the second false must follow it or DataHub keeps the table removed
    table = ds("t")
    status = lambda removed: [MetadataChangeProposalWrapper(entity_urn=table, aspect={"removed": removed},  # noqa: E731
                                                            aspect_name="status")]
    emitter = Held()
    core = DeliveryCore(emitter, DataHubTranslator())
    core.send(core.plan([("created", status(False))]))
    emitter.settle()
    core.send(core.plan([("dropped", status(True))]))  # not confirmed yet
    again = core.plan([("created again", status(False))])
    assert [w.skipped for w in again.writes] == [False]
    core.send(again)
    emitter.settle()
    assert held(emitter.mcps)[(table, "status")] == {"removed": False}
    assert [w.skipped for w in core.plan([("created again", status(False))]).writes] == [True]


def test_writes_the_emitter_never_confirms_are_sent_again_after_a_flush():
    emitter = Held()
    pipeline = Pipeline(emitter)
    first = pipeline.send([event("START", inputs=["a"])]).mcps
    assert pipeline.send([event("START", inputs=["a"])]).mcps == 0  # on its way: not sent twice
    pipeline.flush()  # and never confirmed
    assert pipeline.send([event("START", inputs=["a"])]).mcps == first


def test_a_failed_removal_is_remembered_again_and_retried():
    clock, emitter = Clock(), RecordingEmitter(RecordingEmitterConfig(
        fail_when=lambda m: m.is_patch and m.patch_ops[0]["op"] == "remove"))
    core = DeliveryCore(emitter, DataHubTranslator(), lineage_ttl_days=10, clock=clock)
    core.send(core.plan([(0, core.translator.translate(event("START", inputs=["a"])))]))
    clock.days(11)
    assert core.expire(force=True) == 1 and len(emitter.failed) == 1
    assert core.expire(force=True) == 1  # still stale, still remembered: tried again


def test_an_event_that_cannot_be_planned_is_dead_lettered_alone(tmp_path):
    from bridge.spool import Spool
    from bridge.spool._delivery import deliver_round
    from translators.openlineage import parse_event, to_openlineage

    class Buggy(DataHubTranslator):
        def merge(self, mcp, before):
            if "bad" in mcp.entity_urn:
                raise RuntimeError("merge bug")
            return super().merge(mcp, before)

    core = DeliveryCore(RecordingEmitter(), Buggy())
    with Spool(tmp_path) as spool:
        spool.append([("j", json.dumps(to_openlineage(event("START", inputs=["a"], run_id="bad")))),
                      ("j", json.dumps(to_openlineage(event("START", inputs=["b"], run_id="good"))))]).result(5)
        bad, good = spool.pending(limit=5)
        outcome, invalid, sent, *_ = deliver_round([bad, good], parse=parse_event, core=core)
    assert "merge bug" in invalid[bad.id] and outcome == {good.id: None} and sent > 0
