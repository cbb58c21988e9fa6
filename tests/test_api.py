"""The Python API: ``with bridge.run(...)`` sends START, then COMPLETE or FAIL with the stack."""

from __future__ import annotations

import json

import pytest

from bridge import Bridge, Dataset, MetadataChangeProposalWrapper
from bridge.errors import UndeliveredError
from bridge.testing import RecordingEmitter
from tests.servers.gms_state import held, job_edges

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
