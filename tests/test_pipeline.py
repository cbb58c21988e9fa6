"""The pipeline: lineage never goes backwards; unchanged aspects are not re-sent."""

from __future__ import annotations

import datetime as dt

from bridge.lineage import merge_aspect
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Dataset, Job, Run, RunEvent
from bridge.pipeline import Pipeline
from bridge.testing import RecordingEmitter, RecordingEmitterConfig

JOB_URN = "urn:li:dataJob:(urn:li:dataFlow:(test,flow,prod),job)"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def ds(name: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:hive,{name},PROD)"


class IoTranslator:
    """A user-style translator: one dataJobInputOutput per event, even an empty one."""

    def translate(self, event: RunEvent) -> list[MetadataChangeProposalWrapper]:
        aspect = {
            "inputDatasets": [ds(d.name) for d in event.inputs],
            "outputDatasets": [ds(d.name) for d in event.outputs],
        }
        return [MetadataChangeProposalWrapper(entity_urn=JOB_URN, aspect_name="dataJobInputOutput", aspect=aspect)]


def event(kind: str, inputs=(), outputs=()) -> RunEvent:
    return RunEvent(
        event_type=kind,
        event_time=T0,
        run=Run(run_id="r1"),
        job=Job(namespace="ns", name="job"),
        inputs=[Dataset(namespace="hive", name=n) for n in inputs],
        outputs=[Dataset(namespace="hive", name=n) for n in outputs],
    )


def test_later_events_never_erase_lineage():
    emitter = RecordingEmitter()
    pipeline = Pipeline(emitter, IoTranslator())
    pipeline.send([event("START", inputs=["a", "b"], outputs=["c"])])
    pipeline.send([event("RUNNING", inputs=["a"])])  # fewer datasets
    pipeline.send([event("COMPLETE")])  # none at all
    last = emitter.aspects("dataJobInputOutput")[-1].aspect_value
    assert last == {"inputDatasets": [ds("a"), ds("b")], "outputDatasets": [ds("c")]}


def test_new_datasets_are_added_after_the_known_ones():
    emitter = RecordingEmitter()
    pipeline = Pipeline(emitter, IoTranslator())
    pipeline.send([event("START", inputs=["a"])])
    pipeline.send([event("COMPLETE", inputs=["z", "a"], outputs=["o"])])
    last = emitter.aspects("dataJobInputOutput")[-1].aspect_value
    assert last["inputDatasets"] == [ds("a"), ds("z")]
    assert last["outputDatasets"] == [ds("o")]


def test_unchanged_aspects_are_sent_once():
    emitter = RecordingEmitter()
    pipeline = Pipeline(emitter, IoTranslator())
    results = [pipeline.send([event("RUNNING", inputs=["a"])]) for _ in range(5)]
    assert [r.mcps for r in results] == [1, 0, 0, 0, 0]
    assert [r.unchanged for r in results] == [0, 1, 1, 1, 1]
    assert len(emitter.mcps) == 1


def test_an_aspect_that_failed_to_deliver_is_sent_again():
    failing = {"on": True}
    emitter = RecordingEmitter(RecordingEmitterConfig(fail_when=lambda mcp: failing["on"]))
    pipeline = Pipeline(emitter, IoTranslator())
    errors = []
    pipeline.send([event("RUNNING", inputs=["a"])], callback=lambda err, msg: errors.append(err))
    assert len(emitter.failed) == 1 and errors[0] is not None
    failing["on"] = False
    assert pipeline.send([event("RUNNING", inputs=["a"])]).mcps == 1
    assert len(emitter.mcps) == 1


def test_merge_replaces_items_pointing_at_the_same_urn():
    old = {"upstreams": [{"dataset": ds("a"), "type": "TRANSFORMED"}, {"dataset": ds("b"), "type": "COPY"}]}
    new = {"upstreams": [{"dataset": ds("b"), "type": "TRANSFORMED"}]}
    merged = merge_aspect("upstreamLineage", old, new)
    assert merged["upstreams"] == [
        {"dataset": ds("a"), "type": "TRANSFORMED"},
        {"dataset": ds("b"), "type": "TRANSFORMED"},
    ]


def test_aspects_that_do_not_accumulate_are_replaced():
    assert merge_aspect("datasetProperties", {"description": "old"}, {"name": "x"}) == {"name": "x"}


def test_a_run_keeps_its_earliest_creation_time():
    old = {"name": "r", "created": {"time": 100, "actor": "urn:li:corpuser:datahub"}, "customProperties": {"a": "1"}}
    new = {"name": "r", "created": {"time": 900, "actor": "urn:li:corpuser:datahub"}, "customProperties": {"b": "2"}}
    merged = merge_aspect("dataProcessInstanceProperties", old, new)
    assert merged["created"]["time"] == 100
    assert merged["customProperties"] == {"a": "1", "b": "2"}


def test_job_description_and_properties_survive_a_later_bare_event():
    old = {"name": "job", "type": {"string": "COMMAND"}, "description": "loads orders", "customProperties": {"sql": "select 1"}}
    new = {"name": "job", "type": {"string": "COMMAND"}, "customProperties": {"state": "done"}}
    merged = merge_aspect("dataJobInfo", old, new)
    assert merged["description"] == "loads orders"
    assert merged["customProperties"] == {"sql": "select 1", "state": "done"}


def test_identical_aspects_are_not_queued_twice_before_a_flush(tmp_path):
    """An emitter that confirms on flush (the file emitter) still gets each unchanged aspect once."""
    import json

    from emitters.file import FileEmitter, FileEmitterConfig

    path = tmp_path / "mcps.json"
    emitter = FileEmitter(FileEmitterConfig(filename=str(path)))
    pipeline = Pipeline(emitter, IoTranslator())
    for _ in range(3):
        pipeline.send([event("RUNNING", inputs=["a"])])
    emitter.close()
    assert len(json.loads(path.read_text())) == 1


def test_a_failed_in_flight_aspect_is_sent_again(tmp_path):
    failing = {"on": True}
    emitter = RecordingEmitter(RecordingEmitterConfig(fail_when=lambda mcp: failing["on"]))
    pipeline = Pipeline(emitter, IoTranslator())
    pipeline.send([event("RUNNING", inputs=["a"])])
    failing["on"] = False
    pipeline.send([event("RUNNING", inputs=["a"])])
    pipeline.send([event("RUNNING", inputs=["a"])])
    assert len(emitter.failed) == 1 and len(emitter.mcps) == 1
