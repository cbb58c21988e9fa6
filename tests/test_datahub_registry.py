"""The shipped entity registry, aspects by name, typed aspects, and the reference checker itself."""

from __future__ import annotations

import copy

import pytest
from datahub.metadata import schema_classes as sc

from bridge.errors import InvalidEventError
from bridge.mcp import MetadataChangeProposalWrapper
from tests._datahub_reference import check_mcp
from tests.tools import gen_entity_registry
from translators.datahub import (
    DataPlatformInstance,
    DatasetProperties,
    GlobalTags,
    Owner,
    Ownership,
    RawAspect,
    Status,
    SubTypes,
    Upstream,
    UpstreamLineage,
    aspect_mcp,
    entity_registry,
)
from translators.datahub.aspects import fine_grained_lineage

DATASET = "urn:li:dataset:(urn:li:dataPlatform:hive,db.orders,PROD)"
UPSTREAM = "urn:li:dataset:(urn:li:dataPlatform:hive,db.raw_orders,PROD)"


def test_shipped_registry_is_in_sync_with_acryl_datahub():
    shipped = gen_entity_registry.TARGET.read_text(encoding="utf-8")
    assert shipped == gen_entity_registry.render(gen_entity_registry.build()), (
        "translators/datahub/entity_registry.json is stale: run python -m tests.tools.gen_entity_registry"
    )


def test_registry_matches_datahub_per_entity_type():
    registry = entity_registry()
    assert set(registry.entities) == set(sc.ENTITY_TYPE_TO_ASPECT_NAMES)
    for entity_type, names in sc.ENTITY_TYPE_TO_ASPECT_NAMES.items():
        key = sc.KEY_ASPECTS[entity_type].ASPECT_NAME
        assert registry.entities[entity_type] == frozenset(names) | {key}
        assert registry.key_aspects[entity_type] == key
    assert "dataProcessInstanceRunEvent" in registry.timeseries
    assert "status" not in registry.timeseries


@pytest.mark.parametrize(
    ("urn", "name", "value"),
    [
        (DATASET, "editableDatasetProperties", {"description": "Orders, one row each"}),
        (DATASET, "domains", {"domains": ["urn:li:domain:sales"]}),
        (DATASET, "glossaryTerms", {"terms": [{"urn": "urn:li:glossaryTerm:Order"}],
                                    "auditStamp": {"time": 1, "actor": "urn:li:corpuser:datahub"}}),
        ("urn:li:dataFlow:(airflow,dag,prod)", "institutionalMemory", {"elements": []}),
    ],
)  # fmt: skip
def test_any_known_aspect_can_be_sent_by_name(urn, name, value):
    mcp = aspect_mcp(urn, name, value)
    assert (mcp.aspect_name, mcp.aspect_value) == (name, value)
    check_mcp(mcp)


def test_unknown_aspect_name_is_a_clear_error():
    with pytest.raises(InvalidEventError) as info:
        aspect_mcp(DATASET, "datasetPropertys", {})
    assert info.value.field == "aspectName"
    assert "no aspect named 'datasetPropertys'" in str(info.value)
    assert "'datasetProperties'" in str(info.value)  # the suggestion


def test_aspect_of_another_entity_type_is_rejected():
    with pytest.raises(InvalidEventError, match="'dataset' does not accept aspect 'dataJobInfo'"):
        aspect_mcp(DATASET, "dataJobInfo", {"name": "x", "type": {"string": "x"}})


def test_unknown_entity_type_is_rejected():
    with pytest.raises(InvalidEventError, match="no entity type 'datasett'"):
        aspect_mcp("urn:li:datasett:x", "status", {"removed": False})


def test_raw_aspect_checks_its_name():
    assert RawAspect(name="status", value={"removed": True}).to_obj() == {"removed": True}
    with pytest.raises(InvalidEventError, match="no aspect named 'statuss'"):
        RawAspect(name="statuss", value={})


@pytest.mark.parametrize(
    "aspect",
    [
        Status(removed=True),
        SubTypes(type_names=["Table"]),
        DataPlatformInstance(platform="urn:li:dataPlatform:hive",
                             instance="urn:li:dataPlatformInstance:(urn:li:dataPlatform:hive,lake)"),
        DatasetProperties(description="Orders", custom_properties={"owner_team": "sales"}, name="orders"),
        GlobalTags(tags=["urn:li:tag:pii"]),
        Ownership(owners=[Owner(owner="urn:li:corpuser:jdoe"), Owner(owner="urn:li:corpGroup:bi", type="DATA_STEWARD")],
                  time_ms=5),
        UpstreamLineage(
            upstreams=[Upstream(dataset=UPSTREAM)],
            time_ms=7,
            fine_grained_lineages=[fine_grained_lineage([f"urn:li:schemaField:({UPSTREAM},id)"],
                                                        [f"urn:li:schemaField:({DATASET},id)"])],
        ),
    ],
    ids=lambda a: a.ASPECT_NAME,
)  # fmt: skip
def test_typed_aspects_are_valid_for_datahub(aspect):
    mcp = MetadataChangeProposalWrapper(entity_urn=DATASET, aspect=aspect, aspect_name=aspect.ASPECT_NAME)
    parsed = check_mcp(mcp)
    assert type(parsed.aspect).ASPECT_NAME == aspect.ASPECT_NAME


def test_aspect_name_is_derived_from_a_typed_aspect():
    assert MetadataChangeProposalWrapper(entity_urn=DATASET, aspect=Status()).aspect_name == "status"


# -- the reference checker must be able to fail -------------------------------------------


def _bad(mcp_obj: dict) -> MetadataChangeProposalWrapper:
    return MetadataChangeProposalWrapper.from_obj(mcp_obj)


GOOD = {
    "entityUrn": DATASET,
    "aspectName": "schemaMetadata",
    "aspect": {"json": {
        "schemaName": "db.orders", "platform": "urn:li:dataPlatform:hive", "version": 0, "hash": "",
        "platformSchema": {"com.linkedin.schema.OtherSchema": {"rawSchema": ""}},
        "fields": [{"fieldPath": "id", "type": {"type": {"com.linkedin.schema.NumberType": {}}},
                    "nativeDataType": "int"}],
    }},
}  # fmt: skip


def test_checker_accepts_a_good_mcp():
    check_mcp(_bad(copy.deepcopy(GOOD)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o["aspect"]["json"].update(colour="red"), "dropped by DataHub"),
        (lambda o: o["aspect"]["json"].update(schemaName=""), "strlen"),
        (
            lambda o: o["aspect"]["json"]["fields"][0].update(
                type={"type": {"com.linkedin.schema.Nope": {}}}
            ),
            None,
        ),
        (lambda o: o["aspect"]["json"].pop("platform"), None),
        (lambda o: o.update(aspectName="dataJobInfo"), "not an aspect of dataset"),
        (lambda o: o["aspect"]["json"].update(platform="urn:li:dataPlatform:(a,b"), None),
    ],
    ids=["unknown-field", "empty-schema-name", "unknown-type", "missing-required", "wrong-entity", "bad-urn"],
)
def test_checker_rejects_what_datahub_rejects(change, message):
    obj = copy.deepcopy(GOOD)
    change(obj)
    with pytest.raises(Exception, match=message):  # noqa: B017 - DataHub raises many kinds
        check_mcp(_bad(obj))
