"""``MetadataChangeProposalWrapper.aspect_json`` is byte for byte the json module's text.

The fast path (orjson, when installed) must never change what GMS, Kafka or the
lineage digests see, so every kind of value is compared with
``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import pathlib

import pytest

from bridge._json import FLOAT_FREE_ASPECTS
from bridge.mcp import MetadataChangeProposalWrapper
from translators.datahub import DataHubTranslator
from translators.openlineage import parse_event

CORPUS = pathlib.Path(__file__).parent / "corpus" / "openlineage"
URN = "urn:li:dataset:(urn:li:dataPlatform:hive,db.t,PROD)"


def _reference(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ours(value: dict) -> str:
    return MetadataChangeProposalWrapper(entity_urn=URN, aspect_name="x", aspect=value).aspect_json


class _Colour(enum.StrEnum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


def test_every_code_point_is_written_as_the_json_module_writes_it():
    # All code points except lone surrogates, in chunks (also as keys).
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 4096):
        text = "".join(points[start : start + 4096])
        value = {"s": text, text[:64]: [text[::-1]]}
        assert _ours(value) == _reference(value)


@pytest.mark.parametrize(
    "scalar",
    [
        0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**40,
        True, False, None, "", "null", "3.5.0", "1e5",
        0.0, -0.0, 1.0, -3.0, 0.1, 0.5, 1e-5, 1e-4, 5e-324, 1e15, 1e16, 1.5e300, 123456789012345.6,
        9999999999999998.0, 2.0**53, 2.0**53 + 2, 12345678901234567.0, 1e22, -1e16, 10.0, 100.0, 1e-7,
        float("nan"), float("inf"), float("-inf"),
        _Colour.RED, _Level.HIGH,
        "\ud800",  # lone surrogate: the json module writes it, orjson refuses
    ],
)
def test_scalars_are_written_as_the_json_module_writes_them(scalar):
    value = {"v": scalar, "l": [scalar, (scalar, {"n": scalar})]}
    assert _ours(value) == _reference(value)


def test_keys_the_json_module_converts_are_converted_the_same_way():
    value = {1: "a", False: "b", None: "c", 2.5: "d", "e": {3: [1, 2]}}
    assert _ours(value) == _reference(value)


def test_values_the_json_module_refuses_are_still_refused():
    with pytest.raises(TypeError):
        _ours({"t": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)})
    with pytest.raises(TypeError):
        _ours({"t": {1, 2}})
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular"):
        _ours({"loop": loop})


def test_every_corpus_aspect_is_written_as_the_json_module_writes_it():
    translator = DataHubTranslator()
    count = 0
    for path in sorted(CORPUS.rglob("*.json")):
        for mcp in translator.translate(parse_event(json.loads(path.read_bytes()))):
            assert mcp.aspect_json == _reference(mcp.aspect_value), (path.name, mcp.aspect_name)
            count += 1
    assert count > 500


def _gms_reference(mcp: MetadataChangeProposalWrapper) -> str:
    return json.dumps(mcp.to_gms(), separators=(",", ":"))


def test_gms_json_is_the_json_modules_ascii_text_for_every_ascii_character():
    ascii_text = "".join(chr(c) for c in range(128))
    for urn in (URN, URN + ascii_text):
        mcp = MetadataChangeProposalWrapper(entity_urn=urn, aspect_name="x", aspect={"s": ascii_text, "n": 1})
        assert mcp.to_gms_json() == _gms_reference(mcp)


def test_gms_json_escapes_every_code_point_as_the_json_modules_ascii_text():
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 8192):
        text = "".join(points[start : start + 8192])
        mcp = MetadataChangeProposalWrapper(entity_urn=URN + text[:16], aspect_name="x", aspect={"s": text})
        assert mcp.to_gms_json() == _gms_reference(mcp)


@pytest.mark.parametrize(
    "aspect",
    [{"s": "café ✓ 𝄞"}, {"s": "\u2028\x7f"}, {"f": 1e-5}, {"f": float("nan")}, {"s": "\ud800"}, {1: 2}],
)
def test_gms_json_is_the_json_modules_ascii_text_for_any_aspect(aspect):
    mcp = MetadataChangeProposalWrapper(entity_urn=URN, aspect_name="x", aspect=aspect)
    assert mcp.to_gms_json() == _gms_reference(mcp)


def test_gms_json_carries_system_metadata_as_the_json_module_writes_it():
    mcp = MetadataChangeProposalWrapper(
        entity_urn="urn:li:corpuser:jos\u00e9", aspect_name="x", aspect={"a": [1.5, None]},
        system_metadata={"runId": "r\u00e9", "lastObserved": 1700000000000, "score": 1e-7},
    )
    assert mcp.to_gms_json() == _gms_reference(mcp)


def test_gms_json_of_every_corpus_proposal_is_the_json_modules_text():
    translator = DataHubTranslator()
    for path in sorted(CORPUS.rglob("*.json")):
        for mcp in translator.translate(parse_event(json.loads(path.read_bytes()))):
            assert mcp.to_gms_json() == _gms_reference(mcp), (path.name, mcp.aspect_name)


def _holds_a_float(schema: object, seen: set[str]) -> bool:
    kind = schema.type  # type: ignore[attr-defined]
    if kind in ("float", "double"):
        return True
    if kind in ("record", "error"):
        if schema.fullname in seen:  # type: ignore[attr-defined]
            return False
        seen.add(schema.fullname)  # type: ignore[attr-defined]
        return any(_holds_a_float(field.type, seen) for field in schema.fields)  # type: ignore[attr-defined]
    if kind == "union":
        return any(_holds_a_float(s, seen) for s in schema.schemas)  # type: ignore[attr-defined]
    if kind == "array":
        return _holds_a_float(schema.items, seen)  # type: ignore[attr-defined]
    if kind == "map":
        return _holds_a_float(schema.values, seen)  # type: ignore[attr-defined]
    return False


def test_float_free_aspects_hold_no_float_in_datahubs_own_schema():
    from datahub.metadata.schema_classes import ASPECT_CLASSES

    schemas = {cls.ASPECT_NAME: cls.RECORD_SCHEMA for cls in ASPECT_CLASSES}
    with_floats = {name for name, schema in schemas.items() if _holds_a_float(schema, set())}
    assert {"upstreamLineage", "dataJobInputOutput", "datasetProfile", "assertionRunEvent"} <= with_floats
    assert not FLOAT_FREE_ASPECTS - schemas.keys(), FLOAT_FREE_ASPECTS - schemas.keys()
    assert not FLOAT_FREE_ASPECTS & with_floats


def _file_reference(mcp: MetadataChangeProposalWrapper) -> bytes:
    return json.dumps(mcp.to_obj(), separators=(",", ":"), ensure_ascii=False).encode()


def test_file_form_of_every_corpus_proposal_is_the_json_modules_text():
    translator = DataHubTranslator()
    for path in sorted(CORPUS.rglob("*.json")):
        for mcp in translator.translate(parse_event(json.loads(path.read_bytes()))):
            assert mcp.to_obj_json() == _file_reference(mcp), (path.name, mcp.aspect_name)
            assert mcp.aspect_json  # worked out now (as delivery does): the file form splices it in
            assert mcp.to_obj_json() == _file_reference(mcp), (path.name, mcp.aspect_name)


@pytest.mark.parametrize(
    ("name", "aspect", "system_metadata"),
    [
        ("upstreamLineage", {"fineGrainedLineages": [{"confidenceScore": 1e-5}]}, None),
        ("x", {"f": 1e16, "n": float("nan")}, None),
        ("status", {"removed": False}, {"runId": "r", "score": 1e-7}),
        # a float-free aspect as someone else built it (user code, an MCP file): searched like any other
        ("operation", {"numAffectedRows": float("nan"), "lastUpdatedTimestamp": 1e-5}, None),
        ("status", {"removed": False, "f": 1e16, "g": float("-inf")}, None),
        ("status", {"removed": False, "s": "café ✓ 𝄞"}, None),
    ],
)
def test_file_form_is_the_json_modules_text_wherever_a_float_may_be(name, aspect, system_metadata):
    mcp = MetadataChangeProposalWrapper(entity_urn=URN, aspect_name=name, aspect=aspect,
                                        system_metadata=system_metadata)
    assert mcp.to_obj_json() == _file_reference(mcp)
    assert mcp.aspect_json == _reference(aspect)
    assert mcp.to_obj_json() == _file_reference(mcp)  # with the aspect's JSON known


def test_a_float_free_aspect_with_headers_from_user_code_is_searched_for_floats():
    mcp = MetadataChangeProposalWrapper(entity_urn=URN, aspect_name="status", aspect={"removed": False},
                                        change_type="CREATE", headers={"If-None-Match": "*", "x": 1e-5})  # type: ignore[dict-item]
    assert mcp.to_obj_json() == _file_reference(mcp)


def test_statistics_of_the_model_are_whole_numbers():
    from bridge.errors import InvalidEventError
    from bridge.model import DatasetStatistics

    assert DatasetStatistics(row_count=3, size_bytes=0, file_count=None).row_count == 3
    for bad in (float("nan"), 1.5, True, "3"):
        with pytest.raises(InvalidEventError, match="DatasetStatistics.row_count"):
            DatasetStatistics(row_count=bad)


@pytest.mark.parametrize("headers", [{"If-None-Match": "*"}, {"If-None-Match": "*", "x-é": "✓ 𝄞\x7f"}, {"n": 1e-5}])
def test_gms_json_carries_headers_as_the_json_module_writes_them(headers):
    mcp = MetadataChangeProposalWrapper(entity_urn=URN, aspect_name="schemaMetadata", aspect={"s": "café"},
                                        change_type="CREATE", headers=headers)
    assert mcp.to_gms_json() == _gms_reference(mcp)
