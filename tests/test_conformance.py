"""Conformance: every corpus event becomes MCPs that DataHub accepts.

All 74 real OpenLineage events (tests/corpus/openlineage) are parsed with
``translators.openlineage.parse_event``, translated with several
configurations, and every MCP is validated with acryl-datahub as the reference
(see ``tests/_datahub_reference.py``). The DataHub file format output is then
read back by DataHub's own file source.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections import Counter

import pytest

from bridge.model import EventType, RunEvent
from emitters.file import FileEmitter, FileEmitterConfig
from tests._datahub_reference import check_mcp
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.openlineage import parse_event

CORPUS = pathlib.Path(__file__).parent / "corpus" / "openlineage"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FILES = sorted(CORPUS.rglob("*.json"))

CONFIGS = {
    "default": {},
    "lineage": {"emit_column_lineage": True, "emit_upstream_lineage": True, "capture_raw_facets": True},
    "instance_lowercase": {
        "platform_instance": "eu-orchestrator",
        "dataset_platform_instance": "warehouse-1",
        "lowercase_urns": True,
        "env": "DEV",
        "flow_naming": "parent",
    },
    "minimal": {"materialize_datasets": False, "emit_column_lineage": False, "flow_naming": "namespace"},
}


@pytest.fixture(scope="module")
def events() -> dict[str, object]:
    return {str(p.relative_to(CORPUS)): parse_event(json.loads(p.read_text())) for p in FILES}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def translated(request, events):
    translator = DataHubTranslator(TranslatorConfig.from_dict(CONFIGS[request.param]))
    return request.param, {name: translator.translate(ev) for name, ev in events.items()}


def test_corpus_is_complete():
    assert len(FILES) == 74


def test_every_mcp_is_valid_for_datahub(translated):
    config_name, by_event = translated
    seen = Counter()
    for name, mcps in by_event.items():
        assert mcps, f"{name}: no MCPs"
        for mcp in mcps:
            check_mcp(mcp)
            seen[(mcp.entity_type, mcp.aspect_name)] += 1
    # The corpus exercises every kind of entity we emit (datasets only when materialised).
    expected = {"dataFlow", "dataJob", "dataProcessInstance"}
    if CONFIGS[config_name].get("materialize_datasets", True):
        expected.add("dataset")
    assert {t for t, _ in seen} == expected


def test_file_format_loads_with_datahubs_file_source(translated, tmp_path):
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as DataHubMCPW
    from datahub.ingestion.api.common import PipelineContext
    from datahub.ingestion.source.file import GenericFileSource
    from datahub.metadata import schema_classes as sc

    config_name, by_event = translated
    objs = [m.to_obj() for mcps in by_event.values() for m in mcps]
    path = tmp_path / f"{config_name}.json"
    emitter = FileEmitter(FileEmitterConfig(filename=str(path)))  # the file as the bridge writes it
    for mcps in by_event.values():
        for m in mcps:
            emitter.emit(m)
    emitter.close()
    assert json.loads(path.read_bytes()) == objs
    source = GenericFileSource.create({"path": str(path)}, PipelineContext(run_id="conformance"))
    units = list(source.get_workunits())
    report = source.get_report()
    assert not report.failures, report.failures
    assert not report.warnings, report.warnings
    mcps = [u.metadata for u in units]
    assert len(mcps) == len(objs)
    assert all(m.validate() for m in mcps)
    # Whole aspects come back typed; patches (and CREATEs) as DataHub's MCP class, unchanged.
    for m, o in zip(mcps, objs, strict=True):
        assert (m.entityUrn, m.aspectName, m.changeType) == (o["entityUrn"], o["aspectName"], o["changeType"])
        if o["changeType"] == "UPSERT":
            assert isinstance(m, DataHubMCPW)
        else:
            assert isinstance(m, sc.MetadataChangeProposalClass)
            value = json.loads(m.aspect.value)
            assert value == (json.loads(o["aspect"]["value"]) if "value" in o["aspect"] else o["aspect"]["json"])
    assert {o["changeType"] for o in objs} >= {"UPSERT", "PATCH"}


def test_output_is_deterministic(events):
    config = TranslatorConfig.from_dict(CONFIGS["lineage"])
    first = [[m.to_obj() for m in DataHubTranslator(config).translate(ev)] for ev in events.values()]
    # A fresh translator, and events in reverse order (caches must not leak state).
    translator = DataHubTranslator(config)
    again = [[m.to_obj() for m in translator.translate(ev)] for ev in reversed(list(events.values()))]
    assert first == list(reversed(again))


def test_events_without_datasets_never_erase_lineage(events):
    translator = DataHubTranslator()
    checked = 0
    upstream_only = 0
    for name, ev in events.items():
        mcps = translator.translate(ev)
        names = {m.aspect_name for m in mcps}
        if not ev.inputs and not ev.outputs:
            checked += 1
            # only an Airflow task's upstream tasks, as PATCH adds of job edges: no dataset touched
            for io in (m for m in mcps if m.aspect_name == "dataJobInputOutput"):
                upstream_only += 1
                assert io.change_type == "PATCH", name
                assert all(op["op"] == "add" and op["path"].startswith("/inputDatajobEdges/")
                           for op in io.patch_ops), name  # fmt: skip
            assert not names & {"dataProcessInstanceInput", "dataProcessInstanceOutput"}, name
        else:
            assert "dataJobInputOutput" in names, name
    assert checked > 10  # RUNNING/COMPLETE events without datasets are common in the corpus
    assert upstream_only  # Airflow tasks with upstream tasks and no datasets are in the corpus (BQ.copy)


def test_every_run_state_is_reported(events):
    translator = DataHubTranslator()
    for name, ev in events.items():
        assert isinstance(ev, RunEvent)
        run_events = [m for m in translator.translate(ev) if m.aspect_name == "dataProcessInstanceRunEvent"]
        assert len(run_events) == 1, name
        value = run_events[0].aspect_value
        expected = "STARTED" if ev.event_type in (EventType.START, EventType.RUNNING) else "COMPLETE"
        assert value["status"] == expected, name
        assert value["timestampMillis"] == (ev.event_time - EPOCH) // dt.timedelta(milliseconds=1), name


def test_child_runs_link_to_their_parent_run(events):
    translator = DataHubTranslator()
    linked = 0
    for name, ev in events.items():
        rel = next(m for m in translator.translate(ev) if m.aspect_name == "dataProcessInstanceRelationships")
        if ev.run.parent is None:
            assert "parentInstance" not in rel.aspect_value, name
        else:
            linked += 1
            assert rel.aspect_value["parentInstance"] == f"urn:li:dataProcessInstance:{ev.run.parent.run_id}"
    assert linked > 30


def test_the_validator_parses_urn_fields_and_leaves_free_text_alone():
    from datahub.utilities.urns.error import InvalidUrnError

    from bridge.mcp import MetadataChangeProposalWrapper

    job = "urn:li:dataJob:(urn:li:dataFlow:(spark,app,PROD),app.step)"
    edge = lambda urn: {"inputDatasetEdges": [{"destinationUrn": urn}], "inputDatasets": [],  # noqa: E731
                        "outputDatasets": []}
    with pytest.raises(InvalidUrnError):  # a URN field GMS parses
        check_mcp(MetadataChangeProposalWrapper(entity_urn=job, aspect_name="dataJobInputOutput",
                                                aspect=edge("urn:li:")))
    check_mcp(MetadataChangeProposalWrapper(entity_urn=job, aspect_name="dataJobInputOutput",
                                            aspect=edge("urn:li:dataset:(urn:li:dataPlatform:hive,db.t,PROD)")))
    # a run named "urn:li:" (a run id is free text): its name and properties are strings, not URNs
    check_mcp(MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataProcessInstance:urn:li:", aspect_name="dataProcessInstanceProperties",
        aspect={"name": "urn:li:", "customProperties": {"runId": "urn:li:"},
                "created": {"time": 0, "actor": "urn:li:corpuser:datahub"}}))
