"""The Python API: ``with bridge.run(...)`` sends START, then COMPLETE or FAIL with the stack."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bridge import Bridge, Dataset, MetadataChangeProposalWrapper
from bridge.errors import InvalidEventError, UndeliveredError
from bridge.model import EventType, Job, Run, RunEvent
from bridge.testing import RecordingEmitter
from tests.servers.gms_state import held, job_edges
from translators.openlineage import from_client_event

INPUT = Dataset(namespace="postgres://db:5432", name="shop.public.orders")
OUTPUT = Dataset(namespace="s3://lake", name="orders/daily")


def run_events(emitter: RecordingEmitter) -> list[dict]:
    return [m.aspect_value for m in emitter.aspects("dataProcessInstanceRunEvent")]


def job_io(emitter: RecordingEmitter) -> tuple[set[str], set[str]]:
    """The job's (inputs, outputs) as DataHub would hold them after what was sent."""
    (urn,) = emitter.urns("dataJob")
    io = held(emitter.mcps)[(urn, "dataJobInputOutput")]
    return job_edges(io, "inputDatasetEdges"), job_edges(io, "outputDatasetEdges")


def test_run_sends_start_then_complete_with_lineage():
    emitter = RecordingEmitter()
    lineage = Bridge(emitter=emitter, namespace="scheduler")
    with lineage.run("nightly_orders", inputs=[INPUT], outputs=[OUTPUT]) as run:
        assert [e["status"] for e in run_events(emitter)] == ["STARTED"]
    events = run_events(emitter)
    assert [e["status"] for e in events] == ["STARTED", "COMPLETE"]
    assert events[-1]["result"]["type"] == "SUCCESS"
    inputs, outputs = job_io(emitter)
    assert any("shop.public.orders" in urn for urn in inputs)
    assert any("orders/daily" in urn for urn in outputs)
    instances = emitter.urns("dataProcessInstance")
    assert len(instances) == 1
    assert emitter.flushes >= 1
    assert run.run_id


def test_run_sends_fail_with_message_and_stack_and_reraises():
    emitter = RecordingEmitter()
    lineage = Bridge(emitter=emitter)
    with pytest.raises(ZeroDivisionError), lineage.run("broken", inputs=[INPUT]):
        1 / 0  # noqa: B018
    events = run_events(emitter)
    assert [e["status"] for e in events] == ["STARTED", "COMPLETE"]
    assert events[-1]["result"]["type"] == "FAILURE"
    everything = json.dumps([m.aspect_value for m in emitter.mcps])
    assert "ZeroDivisionError: division by zero" in everything
    assert "Traceback" in everything  # the stack trace is kept


def test_outputs_added_during_the_run_are_reported():
    emitter = RecordingEmitter()
    lineage = Bridge(emitter=emitter)
    with lineage.run("job", inputs=[("hive", "db.src")]) as run:
        run.add_outputs(("hive", "db.dst"))
    inputs, outputs = job_io(emitter)
    assert any("db.dst" in urn for urn in outputs)
    assert any("db.src" in urn for urn in inputs)


def test_from_config_uses_the_configured_emitter(tmp_path):
    out = tmp_path / "mcps.json"
    with (
        Bridge.from_config(emitter="file", emitters={"file": {"filename": str(out)}}) as lineage,
        lineage.run("job", namespace="ns", outputs=[("hive", "db.t")]),
    ):
        pass
    objs = json.loads(out.read_text())
    assert {MetadataChangeProposalWrapper.from_obj(o).entity_type for o in objs} >= {"dataJob", "dataProcessInstance"}


def test_a_bad_dataset_is_a_clear_error():
    lineage = Bridge(emitter=RecordingEmitter())
    with pytest.raises(TypeError, match="namespace, name"), lineage.run("job", inputs=["just-a-name"]):
        pass


def test_running_reports_progress_without_erasing_inputs():
    emitter = RecordingEmitter()
    lineage = Bridge(emitter=emitter)
    with lineage.run("job", inputs=[("hive", "db.src")]) as run:
        run.running(outputs=[("hive", "db.partial")])
        assert any("db.partial" in urn for urn in job_io(emitter)[1])
        assert {e["status"] for e in run_events(emitter)} == {"STARTED"}
    inputs, outputs = job_io(emitter)
    assert any("db.partial" in urn for urn in outputs)
    assert any("db.src" in urn for urn in inputs)


# -- DataHub down: lineage never gets in the way of the work -----------------------------------


def _down() -> Bridge:
    """A bridge whose GMS does not answer (nothing listens on the port)."""
    import socket

    from emitters.rest import RestEmitter

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return Bridge(emitter=RestEmitter(gms_server=f"http://127.0.0.1:{port}", retry_max_times=0, timeout_sec=2))


def test_the_blocks_own_exception_comes_out_when_datahub_is_down(caplog):
    ran = []
    with pytest.raises(ValueError, match="bad input") as info, _down().run("job", inputs=[INPUT]):
        ran.append(True)  # a START that cannot be delivered does not stop the work
        raise ValueError("bad input")
    assert ran and type(info.value) is ValueError
    (record,) = [r for r in caplog.records if r.getMessage() == "lineage of the run was not delivered"]
    assert record.fields["undelivered"] > 0 and record.fields["block_failed"] is True


def test_a_successful_block_is_not_failed_by_delivery_unless_asked(caplog):
    with _down().run("job", inputs=[INPUT]):
        pass
    assert any(r.getMessage() == "lineage of the run was not delivered" for r in caplog.records)
    with pytest.raises(UndeliveredError) as info, _down().run("job", inputs=[INPUT], raise_on_undelivered=True):
        pass
    assert info.value.failed > 0 and info.value.retriable  # DataHub was down: trying later may work
    # raise_on_undelivered never replaces the block's own exception
    with pytest.raises(KeyError), _down().run("job", raise_on_undelivered=True):
        raise KeyError("k")


def test_progress_reports_never_raise_into_the_block(caplog):
    with _down().run("job", inputs=[INPUT]) as run:
        run.running(outputs=[OUTPUT])  # DataHub down: noted, not raised
        assert run.undelivered


# -- what the API is given: odd text, a broken translator, things that are not events, many events ----


def test_an_exception_naming_a_file_that_is_not_utf8_is_reported_and_comes_out_unchanged():
    """``os.fsdecode`` leaves bytes that are not UTF-8 as lone surrogates: sending the FAIL event raised
    UnicodeEncodeError in place of the block's own exception."""
    import os

    emitter = RecordingEmitter()
    missing = os.fsdecode(b"/data/caf\xe9.csv")  # a Latin-1 file name
    with pytest.raises(FileNotFoundError) as info, Bridge(emitter=emitter).run("job", inputs=[INPUT]):
        raise FileNotFoundError(missing)
    assert str(info.value) == missing
    [fail] = [e for e in run_events(emitter) if e["status"] == "COMPLETE"]
    assert fail["result"]["type"] == "FAILURE"
    everything = json.dumps([m.aspect_value for m in emitter.mcps])
    assert "FileNotFoundError: /data/caf\\\\udce9.csv" in everything  # the byte, written as its escape


def test_text_that_cannot_be_sent_never_replaces_the_blocks_exception_nor_fails_a_good_block(caplog):
    lineage = Bridge(emitter=RecordingEmitter())
    with pytest.raises(ValueError, match="the work failed"), lineage.run("job", inputs=[INPUT]) as run:
        run.add_outputs(("hive", "db.out\ud800"))  # a lone surrogate: no text sent can hold it
        raise ValueError("the work failed")
    with lineage.run("job", inputs=[INPUT]) as run:
        run.add_outputs(("hive", "db.out\ud800"))
    assert run.undelivered and "holds a lone surrogate \\ud800" in str(run.undelivered[0])
    assert "db.out\\ud800" in str(run.undelivered[0])  # the URN it is in
    assert [r.fields["block_failed"] for r in caplog.records
            if r.getMessage() == "lineage of the run was not delivered"] == [True, False]
    # known before the work starts: a START that cannot be described, said before the block runs
    ran = []
    with pytest.raises(InvalidEventError, match="holds a lone surrogate"), lineage.run("job", inputs=[("hive", "a\udcff")]):
        ran.append(True)
    assert not ran


def test_a_translator_that_breaks_never_replaces_the_blocks_exception_nor_fails_a_good_block(caplog):
    from translators.datahub import DataHubTranslator

    class Broken(DataHubTranslator):
        def get_flow_urn(self, event):
            if event.event_type.value != "START":
                raise KeyError("a bug in a hook")
            return super().get_flow_urn(event)

    emitter = RecordingEmitter()
    lineage = Bridge(emitter=emitter, translator=Broken())
    with pytest.raises(ZeroDivisionError), lineage.run("job", inputs=[INPUT]):
        1 / 0  # noqa: B018
    with lineage.run("job", inputs=[INPUT]) as run:
        pass
    assert isinstance(run.undelivered[0], KeyError)
    broke = [r for r in caplog.records if r.getMessage() == "reporting the run failed"]
    assert len(broke) == 2 and broke[0].fields["where"].endswith("in get_flow_urn")
    assert {e["status"] for e in run_events(emitter)} == {"STARTED"}


@pytest.mark.parametrize(("given", "said"), [
    ({"eventType": "START"}, "got dict; OpenLineage JSON becomes one with translators.openlineage.parse_event(obj)"),
    (b'{"eventType": "START"}', "got bytes; OpenLineage JSON text becomes one with"),
    (None, "got NoneType"),
    ([INPUT], "item 0 of the events is bridge.model.Dataset, not one of the bridge events"),
])
def test_what_is_not_an_event_is_a_type_error_saying_what_it_is_and_how_to_make_one(given, said):
    """A dict was iterated (``expected a RunEvent, JobEvent or DatasetEvent, got str``: its keys), bytes gave
    ``got int``, None ``'NoneType' object is not iterable``."""
    with pytest.raises(TypeError, match="^Bridge.emit") as info:
        Bridge(emitter=RecordingEmitter()).emit(given)
    assert said in str(info.value)


def test_an_openlineage_python_event_is_said_to_need_from_client_event():
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    event = RunEvent(eventType=RunState.START, eventTime="2024-10-16T17:00:00Z", producer="https://example.com/t",
                     run=Run(runId="0192963f-c099-7dff-8d04-a90a16c16859"), job=Job(namespace="n", name="j"))
    lineage = Bridge(emitter=RecordingEmitter())
    with pytest.raises(TypeError, match=r"translators\.openlineage\.from_client_event\(event\)"):
        lineage.emit(event)
    with pytest.raises(TypeError, match=r"item 1 of the events is openlineage\.client\..*from_client_event"):
        lineage.emit([from_client_event(event), event])
    assert lineage.emit(from_client_event(event)).mcps > 0


def _runs(count: int, produced: list[int], bad: int | None = None):
    """A generator of ``count`` START events of distinct runs of one job; ``produced`` counts what it gave."""
    for i in range(count):
        produced[0] += 1
        name = "db.out\ud800" if i == bad else f"db.out_{i % 7}"
        yield RunEvent(event_type=EventType.START, event_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                       producer="https://example.com/t", run=Run(run_id=f"00000000-0000-4000-8000-{i:012d}"),
                       job=Job(namespace="ns", name="job"), inputs=(INPUT,), outputs=(Dataset(namespace="hive", name=name),))


def test_many_events_go_in_rounds_as_they_are_read_with_progress():
    """A generator of events was made a list and planned as one round: a million events held whole in
    memory (50,000 took 800 MB and 114 s, the planning quadratic in the events of a round)."""
    from bridge.api import ROUND_EVENTS

    emitter = RecordingEmitter()
    produced, handled, seen = [0], [], []

    def progress(count: int) -> None:
        handled.append(count)
        seen.append((produced[0], len(emitter.mcps)))

    total = 2 * ROUND_EVENTS + 17
    result = Bridge(emitter=emitter).emit(_runs(total, produced), progress=progress)
    assert handled == [ROUND_EVENTS, ROUND_EVENTS, 17]
    # after each round, the generator had given no more than that round (and the emitter had its MCPs)
    assert [p for p, _ in seen] == [ROUND_EVENTS, 2 * ROUND_EVENTS, total]
    assert 0 < seen[0][1] < seen[1][1] < seen[2][1] == len(emitter.mcps)
    assert (result.events, result.mcps) == (total, len(emitter.mcps))
    assert len(emitter.urns("dataProcessInstance")) == total


def test_an_event_that_cannot_be_sent_among_many_is_named_by_its_place():
    from bridge.api import ROUND_EVENTS

    emitter = RecordingEmitter()
    bad = ROUND_EVENTS + 112
    with pytest.raises(InvalidEventError) as info:
        Bridge(emitter=emitter).emit(_runs(2 * ROUND_EVENTS, [0], bad=bad))
    assert info.value.location == f"event {bad}"
    assert "holds a lone surrogate \\ud800" in str(info.value) and "db.out\\ud800" in str(info.value)
    assert len(emitter.urns("dataProcessInstance")) == ROUND_EVENTS  # the round before it went; its own did not


def test_a_password_in_a_job_namespace_reaches_no_urn_property_or_browse_path():
    """Dataset namespaces lost their ``user:password@``; a job's went into its flow's URN (the cluster),
    the job's ``namespace`` property and the browse path, and the parent run's into ``parentJob``."""
    from bridge.model import ParentRun

    emitter = RecordingEmitter()
    parent = ParentRun(run_id="0192963f-929e-731b-a075-9bb14bf41d38", job_namespace="airflow://admin:hunter2@af:8080",
                       job_name="dag")
    with Bridge(emitter=emitter).run("load", namespace="spark://etl:s3cret@master:7077", parent=parent,
                                     inputs=[INPUT]):
        pass
    everything = json.dumps([m.to_obj() for m in emitter.mcps])
    assert "s3cret" not in everything and "hunter2" not in everything
    assert emitter.urns("dataFlow") == ["urn:li:dataFlow:(python,load,spark://master:7077)"]
    assert "airflow://af:8080/dag" in everything  # the parent job, named without it


def test_a_proposal_refused_in_one_round_stops_no_other_round():
    """A synchronous emitter refusing a proposal of the first round: every round is still sent, then the
    first error is raised with what the whole call did (it stopped the rounds after it)."""
    from bridge.api import ROUND_EVENTS
    from bridge.errors import RejectedError
    from bridge.testing import RecordingEmitterConfig

    total = 2 * ROUND_EVENTS + 17
    refused = "urn:li:dataProcessInstance:"  # one run of the first round
    emitter = RecordingEmitter(RecordingEmitterConfig(
        fail_when=lambda m: m.entity_type == "dataProcessInstance" and not emitter.failed, raise_errors=True))
    with pytest.raises(RejectedError) as info:
        Bridge(emitter=emitter).emit(_runs(total, [0]))
    assert len(emitter.failed) == 1 and emitter.failed[0][0].entity_urn.startswith(refused)
    assert len(emitter.urns("dataProcessInstance")) == total  # the refused proposal's run has its others
    assert info.value.result.events == total and info.value.result.mcps == len(emitter.mcps) + 1
