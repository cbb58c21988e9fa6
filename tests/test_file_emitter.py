"""The file emitter writes DataHub's file format, valid after every flush, appending on reopen."""

from __future__ import annotations

import json

import pytest

from bridge.errors import ConfigError, DeliveryError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters import create_emitter
from emitters.file import FileEmitter, FileEmitterConfig


def mcp(i: int) -> MetadataChangeProposalWrapper:
    return MetadataChangeProposalWrapper(
        entity_urn=f"urn:li:dataset:(urn:li:dataPlatform:hive,db.t{i},PROD)",
        aspect_name="status",
        aspect={"removed": False},
    )


def test_valid_array_after_each_flush_and_append_on_reopen(tmp_path):
    path = tmp_path / "out" / "mcps.json"
    emitter = FileEmitter(FileEmitterConfig(filename=str(path)))
    delivered = []
    for i in range(3):
        emitter.emit(mcp(i), callback=lambda err, msg: delivered.append(err))
    assert delivered == []  # written on flush, not before
    emitter.flush()
    assert delivered == [None, None, None]
    assert [o["entityUrn"] for o in json.loads(path.read_text())] == [mcp(i).entity_urn for i in range(3)]
    emitter.emit(mcp(3))
    emitter.close()
    with FileEmitter(FileEmitterConfig(filename=str(path))) as again:
        again.emit(mcp(4))
    objs = json.loads(path.read_text())
    assert [MetadataChangeProposalWrapper.from_obj(o) for o in objs] == [mcp(i) for i in range(5)]


def test_overwrite_starts_afresh(tmp_path):
    path = tmp_path / "mcps.json"
    with FileEmitter(FileEmitterConfig(filename=str(path))) as emitter:
        emitter.emit(mcp(1))
    with FileEmitter(FileEmitterConfig(filename=str(path), overwrite=True)) as emitter:
        emitter.emit(mcp(2))
    assert [o["entityUrn"] for o in json.loads(path.read_text())] == [mcp(2).entity_urn]


def test_flush_every_writes_without_an_explicit_flush(tmp_path):
    path = tmp_path / "mcps.json"
    emitter = FileEmitter(FileEmitterConfig(filename=str(path), flush_every=2))
    emitter.emit(mcp(1))
    emitter.emit(mcp(2))
    assert len(json.loads(path.read_text())) == 2
    emitter.close()


def test_refuses_to_append_to_something_that_is_not_an_array(tmp_path):
    path = tmp_path / "mcps.json"
    path.write_text('{"not": "an array"}')
    emitter = FileEmitter(FileEmitterConfig(filename=str(path)))
    emitter.emit(mcp(1))
    with pytest.raises(DeliveryError, match="not a JSON array"):
        emitter.flush()


def test_created_by_kind_and_config_errors_are_clear(tmp_path):
    emitter = create_emitter("file", {"filename": str(tmp_path / "x.json")})
    assert isinstance(emitter, FileEmitter)
    with pytest.raises(ConfigError, match="filename"):
        create_emitter("file", {})
    with pytest.raises(ConfigError, match="unknown emitter 'carrier-pigeon'"):
        create_emitter("carrier-pigeon", {})


def test_datahub_file_source_reads_the_output(tmp_path):
    """DataHub's own file source (reference implementation) loads what we wrote."""
    from datahub.ingestion.api.common import PipelineContext
    from datahub.ingestion.source.file import FileSourceConfig, GenericFileSource

    path = tmp_path / "mcps.json"
    with FileEmitter(FileEmitterConfig(filename=str(path))) as emitter:
        for i in range(3):
            emitter.emit(mcp(i))
    source = GenericFileSource(PipelineContext(run_id="test"), FileSourceConfig(path=str(path)))
    units = list(source.get_workunits())
    assert not source.get_report().failures
    urns = [wu.metadata.entityUrn for wu in units]
    assert urns == [mcp(i).entity_urn for i in range(3)]
