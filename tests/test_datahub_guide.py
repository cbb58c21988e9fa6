"""DataHub's own emitter guide (``tests/reference/datahub-python-emitter.md``, a copy of
``../shared/reference/datahub-python-emitter.md``): each of its Python code blocks runs against the
bridge with only its import lines changed (and its server addresses pointed at the test servers),
against the GMS test server, the real broker and the Schema Registry test server.

Also the ``*Class`` aspects: what the bridge writes for DataHub's keyword arguments is what acryl-datahub's
own classes hold for them (acryl-datahub as the test-only reference).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bridge.mcp import MetadataChangeProposalWrapper
from tests._datahub_reference import check_mcp
from tests.servers.kafka_broker import read_topic

GUIDE = Path(__file__).parent / "reference" / "datahub-python-emitter.md"
#: acryl-datahub module -> the bridge's module with the same names.
MODULES = {
    "datahub.emitter.mce_builder": "translators.datahub",
    "datahub.emitter.mcp": "bridge.mcp",
    "datahub.metadata.schema_classes": "translators.datahub.schema_classes",
    "datahub.emitter.rest_emitter": "emitters.rest",
    "datahub.emitter.kafka_emitter": "emitters.kafka",
}
URN = "urn:li:dataset:(urn:li:dataPlatform:bigquery,my-project.my-dataset.user-table,PROD)"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def _ported(code: str) -> str:
    """The block with its imports pointed at the bridge; nothing else changes."""
    lines = []
    for line in code.splitlines():
        if line.startswith(("import datahub", "from datahub")):
            for theirs, ours in MODULES.items():
                line = re.sub(rf"\b{re.escape(theirs)}\b", ours, line)
            assert "datahub." not in line.replace("translators.datahub", ""), f"no bridge module for: {line}"
        lines.append(line)
    ported = "\n".join(lines)
    changed = [(a, b) for a, b in zip(code.splitlines(), lines, strict=True) if a != b]
    assert changed and all(a.startswith(("import ", "from ")) for a, _ in changed)
    return ported


def test_the_guide_has_a_rest_and_a_kafka_block():
    blocks = _blocks()
    assert any("DatahubRestEmitter" in b for b in blocks) and any("DatahubKafkaEmitter" in b for b in blocks)


def test_the_rest_block_runs_with_only_its_imports_changed(gms_server):
    [block] = [b for b in _blocks() if "DatahubRestEmitter" in b]
    exec(compile(_ported(block).replace("http://localhost:8080", gms_server.url), "guide-rest", "exec"), {})
    held = gms_server.aspects[(URN, "datasetProperties")]
    assert held == {"description": "This table stored the canonical User profile",
                    "customProperties": {"governance": "ENABLED"}}


@pytest.mark.slow
def test_the_kafka_block_runs_with_only_its_imports_changed(kafka_broker, schema_registry, capsys):
    from confluent_kafka import Consumer, TopicPartition

    [block] = [b for b in _blocks() if "DatahubKafkaEmitter" in b]
    consumer = Consumer({"bootstrap.servers": kafka_broker, "group.id": "guide"})
    _low, before = consumer.get_watermark_offsets(TopicPartition("MetadataChangeProposal_v1", 0), timeout=10)
    consumer.close()
    code = (_ported(block).replace('"localhost:9092"', json.dumps(kafka_broker))
            .replace("http://localhost:8081", schema_registry.url))
    exec(compile(code, "guide-kafka", "exec"), {})
    printed = capsys.readouterr().out
    # The guide's callback reads the delivered message's topic, partition and offset, as DataHub's emitter gives it.
    match = re.fullmatch(r"Message sent to topic:MetadataChangeProposal_v1, partition:(\d+), offset:(\d+)\n", printed)
    assert match, printed
    assert int(match[2]) >= max(before - 1, 0)
    records = read_topic(kafka_broker, "MetadataChangeProposal_v1", count=1, timeout=30)
    assert records, "nothing on the MCP topic"


def test_the_kafka_blocks_callback_is_told_of_a_failure_without_failing_itself(caplog, capsys):
    """The Schema Registry does not answer: emit raises, and the guide's callback (which reads
    ``message.topic()``) gets the error and a message answering as a failed Kafka message does."""
    from bridge.errors import ConnectionFailedError
    from tests.servers.kafka_broker import free_port

    [block] = [b for b in _blocks() if "DatahubKafkaEmitter" in b]
    code = (_ported(block).replace('"localhost:9092"', json.dumps(f"127.0.0.1:{free_port()}"))
            .replace("http://localhost:8081", f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ConnectionFailedError):
        exec(compile(code, "guide-kafka-down", "exec"), {})
    assert "callback raised" not in caplog.text
    assert capsys.readouterr().out == "Message sent to topic:MetadataChangeProposal_v1, partition:-1, offset:-1001\n"


# What DataHub users write for the aspects the bridge defines, and what acryl-datahub's classes make of it.
CASES = [
    ("DatasetPropertiesClass", dict(description="d", customProperties={"a": "1"}, name="n", qualifiedName="q",
                                    externalUrl="https://x")),
    ("StatusClass", dict(removed=True)),
    ("SubTypesClass", dict(typeNames=["Table", "View"])),
    ("DataPlatformInstanceClass", dict(platform="urn:li:dataPlatform:hive",
                                       instance="urn:li:dataPlatformInstance:(urn:li:dataPlatform:hive,prod)")),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_class_names_take_datahubs_keywords_and_write_what_datahub_would(name, kwargs):
    import datahub.metadata.schema_classes as reference

    from translators.datahub import schema_classes

    ours = getattr(schema_classes, name)(**kwargs)
    theirs = getattr(reference, name)(**kwargs)
    mcp = MetadataChangeProposalWrapper(entityUrn=URN, aspect=ours)
    check_mcp(mcp)
    written, expected = mcp.aspect_value, dict(theirs.to_obj())
    assert {k: written.get(k) for k in kwargs} == {k: expected.get(k) for k in kwargs}


def test_nested_classes_are_built_as_datahub_builds_them():
    import datahub.metadata.schema_classes as d

    from translators.datahub import schema_classes as s

    tags = s.GlobalTagsClass(tags=[s.TagAssociationClass(tag="urn:li:tag:pii")])
    assert tags.to_obj() == dict(d.GlobalTagsClass(tags=[d.TagAssociationClass(tag="urn:li:tag:pii")]).to_obj())
    owners = s.OwnershipClass(owners=[s.OwnerClass(owner="urn:li:corpuser:a", type=s.OwnershipTypeClass.DATAOWNER)],
                              lastModified=s.AuditStampClass(time=5))
    reference = d.OwnershipClass(owners=[d.OwnerClass(owner="urn:li:corpuser:a", type="DATAOWNER")],
                                 lastModified=d.AuditStampClass(time=5, actor="urn:li:corpuser:x"))
    assert [(o["owner"], o["type"]) for o in owners.to_obj()["owners"]] == [
        (o.owner, o.type) for o in reference.owners]
    assert owners.to_obj()["lastModified"]["time"] == 5
    upstream = "urn:li:dataset:(urn:li:dataPlatform:hive,a,PROD)"
    lineage = s.UpstreamLineageClass(upstreams=[s.UpstreamClass(dataset=upstream,
                                                                type=s.DatasetLineageTypeClass.TRANSFORMED)])
    assert [(u["dataset"], u["type"]) for u in lineage.to_obj()["upstreams"]] == [(upstream, "TRANSFORMED")]
    for aspect in (tags, owners, lineage):
        check_mcp(MetadataChangeProposalWrapper(entityUrn=URN, aspect=aspect))


def test_a_field_the_bridge_does_not_have_is_a_clear_type_error():
    from translators.datahub.schema_classes import DatasetPropertiesClass

    with pytest.raises(TypeError, match=r"DatasetPropertiesClass\(\) has no field 'uri'.*customProperties"):
        DatasetPropertiesClass(uri="s3://x")


def test_the_wrapper_takes_and_answers_to_datahubs_names():
    mcp = MetadataChangeProposalWrapper(entityUrn=URN, aspectName="status", aspect={"removed": False},
                                        changeType="UPSERT", systemMetadata={"runId": "r"})
    assert (mcp.entity_urn, mcp.entityUrn, mcp.aspectName, mcp.entityType, mcp.changeType) == (
        URN, URN, "status", "dataset", "UPSERT")
    assert mcp.to_obj()["systemMetadata"] == {"runId": "r"}
    assert mcp == MetadataChangeProposalWrapper(entity_urn=URN, aspect_name="status", aspect={"removed": False},
                                                system_metadata={"runId": "r"})
    with pytest.raises(TypeError, match="got both entity_urn= and entityUrn="):
        MetadataChangeProposalWrapper(entity_urn=URN, entityUrn=URN, aspect={"removed": False}, aspect_name="status")
    with pytest.raises(TypeError, match="unexpected keyword argument 'auditHeader'"):
        MetadataChangeProposalWrapper(entityUrn=URN, aspect={}, aspectName="status", auditHeader={})


@pytest.mark.slow
def test_acryl_datahubs_own_objects_go_through_every_emitter(tmp_path, gms_server, kafka_broker, schema_registry,
                                                             capsys):
    """Code that still builds acryl-datahub's wrapper and aspects (when it is installed) delivers unchanged."""
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as TheirWrapper
    from datahub.metadata.schema_classes import DatasetPropertiesClass as TheirProperties

    from emitters.console import ConsoleEmitter
    from emitters.file import FileEmitter, FileEmitterConfig
    from emitters.kafka import KafkaEmitter, KafkaEmitterConfig
    from emitters.rest import RestEmitter

    theirs = TheirWrapper(entityUrn=URN, aspect=TheirProperties(description="from acryl", customProperties={"k": "v"}))
    mixed = MetadataChangeProposalWrapper(entityUrn=URN, aspect=TheirProperties(description="mixed"))
    outcomes: list = []
    with RestEmitter(gms_server=gms_server.url) as rest:
        rest.emit(theirs, callback=lambda e, m: outcomes.append(e))
    assert gms_server.aspects[(URN, "datasetProperties")]["description"] == "from acryl"
    connection = {"connection": {"bootstrap": kafka_broker, "schema_registry_url": schema_registry.url}}
    with KafkaEmitter(KafkaEmitterConfig.parse_obj(connection)) as kafka:
        kafka.emit(theirs, callback=lambda e, m: outcomes.append(e))
        kafka.emit(mixed, callback=lambda e, m: outcomes.append(e))
        kafka.flush()
    with FileEmitter(FileEmitterConfig.from_dict({"filename": str(tmp_path / "out.json")})) as file:
        file.emit(theirs)
        file.emit(mixed)
    written = json.loads((tmp_path / "out.json").read_text())
    assert [m["aspect"]["json"]["description"] for m in written] == ["from acryl", "mixed"]
    with ConsoleEmitter() as console:
        console.emit(theirs)
    assert json.loads(capsys.readouterr().out)["aspect"]["json"]["description"] == "from acryl"
    assert outcomes == [None, None, None]
