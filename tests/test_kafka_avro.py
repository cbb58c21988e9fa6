"""The Avro form of an MCP: DataHub's schema, Confluent framing, fast writer == fastavro's writer."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastavro")

from bridge.errors import InvalidEventError  # noqa: E402
from bridge.mcp import CHANGE_TYPES, MetadataChangeProposalWrapper  # noqa: E402
from emitters.kafka.avro import MCPAvroEncoder, confluent_header, load_mcp_schema  # noqa: E402


def _datahub_decode(body: bytes):
    """Decode with DataHub's own schema and classes, using Apache Avro (not fastavro)."""
    import avro.io
    import avro.schema
    from datahub.metadata.schema_classes import MetadataChangeProposalClass
    from datahub.metadata.schemas import getMetadataChangeProposalSchema

    schema = avro.schema.parse(getMetadataChangeProposalSchema())
    record = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(body)))
    mcp = MetadataChangeProposalClass.from_obj(record)
    assert mcp.validate()
    return mcp


@pytest.fixture(scope="module")
def encoder() -> MCPAvroEncoder:
    return MCPAvroEncoder()


def test_packaged_schema_is_datahubs_published_schema():
    from datahub.metadata.schemas import getMetadataChangeProposalSchema

    assert json.loads(load_mcp_schema()) == json.loads(getMetadataChangeProposalSchema())


def test_confluent_header():
    assert confluent_header(1) == b"\x00\x00\x00\x00\x01"
    assert confluent_header(0x01020304) == b"\x00\x01\x02\x03\x04"


def test_precompiled_writer_is_used_for_datahubs_schema(encoder):
    assert encoder.fast


def test_fields_as_datahub_reads_them(encoder):
    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataJob:(urn:li:dataFlow:(airflow,dag_é,prod),task)",
        aspect_name="dataJobInfo",
        aspect={"name": "task ✓", "type": {"string": "COMMAND"}, "customProperties": {"k": "v"}},
        system_metadata={"runId": "run-1", "lastObserved": 1700000000000, "properties": {"a": "b"}},
    )
    theirs = _datahub_decode(encoder.encode(mcp))
    assert theirs.entityType == "dataJob"
    assert theirs.entityUrn == mcp.entity_urn
    assert theirs.changeType == "UPSERT"
    assert theirs.aspectName == "dataJobInfo"
    assert theirs.aspect.contentType == "application/json"
    assert json.loads(theirs.aspect.value) == mcp.aspect_value
    assert theirs.aspect.value == mcp.aspect_json.encode()
    assert theirs.systemMetadata.runId == "run-1"
    assert theirs.systemMetadata.lastObserved == 1700000000000
    assert theirs.systemMetadata.properties == {"a": "b"}
    assert theirs.entityKeyAspect is None and theirs.auditHeader is None and theirs.headers is None


def test_typed_aspect_uses_the_envelope_json(encoder):
    class Status:
        ASPECT_NAME = "status"

        def to_obj(self):
            return {"removed": True}

    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataset:(urn:li:dataPlatform:hive,t,PROD)", aspect=Status(), aspect_name="status"
    )
    theirs = _datahub_decode(encoder.encode(mcp))
    assert theirs.aspectName == "status"
    assert theirs.aspect.value == b'{"removed":true}'


def test_aspects_orjson_refuses_take_the_envelope_path(encoder):
    # Integer keys: json.dumps turns them into strings, orjson refuses them.
    mcp = MetadataChangeProposalWrapper(entity_urn="urn:li:dataset:x", aspect_name="status", aspect={1: "a"})
    assert encoder.aspect_bytes(mcp) == b'{"1":"a"}'


def test_bad_system_metadata_is_an_invalid_event(encoder):
    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataset:x",
        aspect_name="status",
        aspect={},
        system_metadata={"lastObserved": "yesterday"},
    )
    with pytest.raises(InvalidEventError) as info:
        encoder.encode(mcp)
    assert info.value.field == "systemMetadata"


def test_other_schema_layout_falls_back_to_fastavro():
    schema = json.loads(load_mcp_schema())
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "headers"]
    encoder = MCPAvroEncoder(json.dumps(schema))
    assert not encoder.fast
    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataset:x", aspect_name="status", aspect={"removed": False}
    )
    body = encoder.encode(mcp)
    assert encoder.decode(confluent_header(1) + body)["aspectName"] == "status"


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=15,
)
_system_metadata = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "runId": _text,
        "lastObserved": st.integers(0, 2**62),
        "pipelineName": _text,
        "properties": st.dictionaries(_text, _text, max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    entity_type=st.sampled_from(["dataset", "dataJob", "dataFlow", "dataProcessInstance"]),
    key=st.text(min_size=1, max_size=9000),  # crosses the 8 KiB length-prefix table
    aspect_name=st.text(min_size=1, max_size=30),
    aspect=st.dictionaries(_text, _json, max_size=6),
    change_type=st.sampled_from(sorted(CHANGE_TYPES)),
    system_metadata=_system_metadata,
)
def test_fast_writer_is_byte_identical_to_fastavro(
    entity_type, key, aspect_name, aspect, change_type, system_metadata
):
    encoder = _shared_encoder()
    if change_type == "PATCH":  # a patch carries JSON Patch operations
        aspect = [{"op": "add", "path": f"/{k}", "value": v} for k, v in aspect.items()]
    mcp = MetadataChangeProposalWrapper(
        entity_urn=f"urn:li:{entity_type}:{key}",
        aspect_name=aspect_name,
        aspect=aspect,
        change_type=change_type,
        system_metadata=system_metadata or None,
    )
    fast = encoder.encode(mcp)
    assert fast == encoder.encode_generic(mcp)
    decoded = encoder.decode(confluent_header(7) + fast)
    assert decoded["entityUrn"] == mcp.entity_urn
    assert json.loads(decoded["aspect"]["value"]) == json.loads(mcp.aspect_json)
    assert decoded["aspect"]["contentType"] == mcp.content_type
    assert decoded["changeType"] == change_type


_ENCODER: list[MCPAvroEncoder] = []


def _shared_encoder() -> MCPAvroEncoder:
    if not _ENCODER:
        _ENCODER.append(MCPAvroEncoder())
    return _ENCODER[0]


def test_what_json_refuses_is_an_invalid_event_on_both_paths(encoder):
    import datetime as dt

    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataset:x", aspect_name="status", aspect={"when": dt.datetime(2024, 1, 1)}
    )
    with pytest.raises(InvalidEventError) as info:
        encoder.encode(mcp)
    assert info.value.field == "aspect"
    with pytest.raises(InvalidEventError):
        encoder.encode_generic(mcp)


def test_changed_nested_record_falls_back_to_fastavro():
    # Same top-level layout, but GenericAspect's fields swapped: only the byte check can see it.
    schema = json.loads(load_mcp_schema())
    generic = next(f for f in schema["fields"] if f["name"] == "entityKeyAspect")["type"][1]
    generic["fields"].reverse()
    encoder = MCPAvroEncoder(json.dumps(schema))
    assert not encoder.fast
    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:dataset:x", aspect_name="status", aspect={"removed": False}
    )
    decoded = encoder.decode(confluent_header(1) + encoder.encode(mcp))
    assert decoded["aspect"] == {"contentType": "application/json", "value": b'{"removed":false}'}
