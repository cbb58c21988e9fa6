"""The GMS test server applies writes the way DataHub GMS does: proven over real HTTP.

Every test posts Rest.li ``ingestProposal``/``ingestProposalBatch`` requests to a running
``tests.servers.gms.GmsServer``; the patches are built by acryl-datahub's own builders
(``DataJobPatchBuilder``, ``DatasetPatchBuilder``) where DataHub's SDK has one, so the server
is shown to take what DataHub's client sends. The expected behaviour comes from DataHub's
source, as summarised in the research notes (``/work/research/datahub_patch.md``):

* ``PatchItemImpl``: a PATCH starts from the stored aspect, else from the template's
  ``getDefault()`` (``DataJobInputOutputTemplate``, ``GlobalTagsTemplate``,
  ``OwnershipTemplate`` with ``lastModified`` by ``__datahub_system``,
  ``DatasetPropertiesTemplate``, ``DataJobInfoTemplate`` = ``{customProperties: {}}``);
  the result is validated (``RecordTemplateValidator``) -> Rest.li 422.
* ``ArrayMergingTemplate``: keyed arrays become maps, so ``add`` of a present key replaces
  (no duplicate) and ``remove`` of a missing key is a no-op (``TemplateUtil.populateTopLevelKeys``).
* ``FineGrainedLineageTemplateHelper``: ``/fineGrainedLineages/<op>/<downstream>/<query|NONE>/<upstream>``,
  one FGL per (op, downstream, query), confidence = minimum of the leaves; a stored FGL
  without exactly one downstream makes every patch fail (``UnsupportedOperationException``, 500).
* ``AspectTemplateEngine``: no template and no stored value -> 500 "Patch not supported for
  aspect with name ...". ``GenericPatchTemplate``: ``{"arrayPrimaryKeys", "patch"}`` (acryl 1.7's
  ``add_tag``/``add_owner``) or ``forceGenericPatch`` patches with the keys it is given.
* ``CreateIfNotExistsValidator`` + ``EntityServiceImpl``: CREATE of a present aspect is dropped
  silently with ``If-None-Match: *`` (a filter), else 422 "Cannot perform CREATE since the
  aspect already exists." and nothing of the request is written.
* Rest.li ``GET /aspects/<urn>?aspect=&version=0`` answers a ``VersionedAspect``.

The tests at the end pin details where the server first differed from GMS: the union key of
a ``VersionedAspect``, unknown fields at any depth, ``move``/``copy``, and RFC 6902 indexes
into the plain (unkeyed) arrays.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
import requests
from datahub.metadata.schema_classes import (
    DataJobInputOutputClass,
    EdgeClass,
    FineGrainedLineageClass,
    GlobalTagsClass,
    OwnerClass,
    OwnershipTypeClass,
    TagAssociationClass,
)
from datahub.specific.datajob import DataJobPatchBuilder
from datahub.specific.dataset import DatasetPatchBuilder

from bridge.mcp import MetadataChangeProposalWrapper
from tests.servers.gms import GmsProcess, GmsServer

RESTLI = {"X-RestLi-Protocol-Version": "2.0.0"}
JOB = "urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,PROD),load)"
SYSTEM = "urn:li:corpuser:__datahub_system"
UI_TAG, NEW_TAG = "urn:li:tag:PII", "urn:li:tag:Lineage"
STEWARD, ENGINEER = "urn:li:corpuser:steward", "urn:li:corpuser:engineer"
STAMP = {"time": 1_700_000_000_000, "actor": "urn:li:corpuser:ui"}
IO_ARRAYS = ("inputDatajobEdges", "inputDatasetEdges", "outputDatasetEdges", "fineGrainedLineages",
             "inputDatasetFields", "outputDatasetFields", "inputDatajobs", "inputDatasets", "outputDatasets")


def ds(name: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:hive,db.{name},PROD)"


def col(table: str, column: str) -> str:
    return f"urn:li:schemaField:({ds(table)},{column})"


A, B, OLD = ds("a"), ds("b"), ds("old")


@pytest.fixture()
def gms():
    with GmsServer(validate_aspects=True) as server:
        yield server


def patch(urn: str, aspect: str, value: list | dict) -> dict:
    """A raw PATCH proposal, as on the wire (aspect.value is a JSON string)."""
    entity = urn.split(":")[2]
    return {"entityType": entity, "entityUrn": urn, "changeType": "PATCH", "aspectName": aspect,
            "aspect": {"value": json.dumps(value), "contentType": "application/json-patch+json"}}


def write(urn: str, aspect, change: str = "UPSERT", **kw) -> MetadataChangeProposalWrapper:
    return MetadataChangeProposalWrapper(entity_urn=urn, aspect=aspect, change_type=change, **kw)


def send(gms: GmsServer | GmsProcess, *proposals, batch: bool = False) -> requests.Response:
    """POST proposals (raw dicts, acryl MCPs or bridge wrappers) as a Rest.li client does."""
    wire = [p if isinstance(p, dict) else p.to_gms() if hasattr(p, "to_gms") else p.to_obj() for p in proposals]
    action, body = ("ingestProposalBatch", {"proposals": wire}) if batch else ("ingestProposal", {"proposal": wire[0]})
    assert batch or len(wire) == 1
    return requests.post(f"{gms.url}/aspects?action={action}", json=body, headers=RESTLI, timeout=10)


def send_all(gms: GmsServer, proposals) -> None:
    for p in proposals:
        answer = send(gms, p)
        assert answer.status_code == 200, answer.text


def tag_op(tag: str) -> dict:
    return {"op": "add", "path": f"/tags/{tag}", "value": {"tag": tag}}


def edges(value: dict, field: str = "inputDatasetEdges") -> list[str]:
    return [e["destinationUrn"] for e in value[field]]


def test_patch_on_absent_aspect_starts_from_the_template_default(gms):
    before = int(time.time() * 1000)
    send_all(gms, DataJobPatchBuilder(JOB).add_input_dataset(A).add_output_dataset(B)
             .add_owner(OwnerClass(ENGINEER, OwnershipTypeClass.TECHNICAL_OWNER)).build())
    send_all(gms, DatasetPatchBuilder(B).add_custom_property("rows", "42").build())
    send_all(gms, [patch(B, "globalTags", [tag_op(NEW_TAG)])])

    assert gms.aspects[(JOB, "dataJobInputOutput")] == {
        **{name: [] for name in IO_ARRAYS},  # the deprecated (required) URN arrays included
        "inputDatasetEdges": [{"destinationUrn": A}], "outputDatasetEdges": [{"destinationUrn": B}],
    }
    ownership = gms.aspects[(JOB, "ownership")]
    assert ownership["owners"] == [{"owner": ENGINEER, "type": "TECHNICAL_OWNER"}]
    assert ownership["lastModified"]["actor"] == SYSTEM
    assert before <= ownership["lastModified"]["time"] <= int(time.time() * 1000)
    assert gms.aspects[(B, "datasetProperties")] == {"tags": [], "customProperties": {"rows": "42"}}
    assert gms.aspects[(B, "globalTags")] == {"tags": [{"tag": NEW_TAG}]}


def test_patch_keeps_what_other_sources_wrote_and_never_duplicates(gms):
    seeded_props = {"name": "b", "description": "From the warehouse", "customProperties": {"team": "finance"}}
    gms.seed(JOB, "dataJobInputOutput", {"inputDatasets": [OLD], "outputDatasets": [],
                                         "inputDatasetEdges": [{"destinationUrn": A, "created": STAMP}]})
    gms.seed(JOB, "globalTags", {"tags": [{"tag": UI_TAG}]})
    gms.seed(JOB, "ownership", {"owners": [{"owner": STEWARD, "type": "DATA_STEWARD"}], "lastModified": STAMP})
    gms.seed(B, "datasetProperties", seeded_props)

    job = DataJobPatchBuilder(JOB).add_input_dataset(A).add_input_dataset(B)
    job.add_owner(OwnerClass(ENGINEER, OwnershipTypeClass.TECHNICAL_OWNER))
    job.add_owner(OwnerClass(STEWARD, OwnershipTypeClass.DATA_STEWARD))
    for _ in range(2):  # a re-delivery changes nothing
        send_all(gms, job.build())
        send_all(gms, [patch(JOB, "globalTags", [tag_op(UI_TAG), tag_op(NEW_TAG)])])
        send_all(gms, DatasetPatchBuilder(B).add_custom_property("rows", "42").build())

    io = gms.aspects[(JOB, "dataJobInputOutput")]
    assert io["inputDatasets"] == [OLD] and io["outputDatasets"] == []
    # `add` of a present key replaces that element (RFC 6902 add = upsert); it is not listed twice.
    assert io["inputDatasetEdges"] == [{"destinationUrn": A}, {"destinationUrn": B}]
    assert gms.aspects[(JOB, "globalTags")] == {"tags": [{"tag": UI_TAG}, {"tag": NEW_TAG}]}
    ownership = gms.aspects[(JOB, "ownership")]
    assert ownership["owners"] == [{"owner": STEWARD, "type": "DATA_STEWARD"},
                                   {"owner": ENGINEER, "type": "TECHNICAL_OWNER"}]
    assert ownership["lastModified"] == STAMP  # only the default sets it
    assert gms.aspects[(B, "datasetProperties")] == {
        **seeded_props, "tags": [], "customProperties": {"team": "finance", "rows": "42"}}


def test_remove_of_a_missing_key_is_a_no_op_and_of_a_present_one_removes_just_it(gms):
    gms.seed(JOB, "dataJobInputOutput", {"inputDatasets": [OLD], "outputDatasets": [],
                                         "inputDatasetEdges": [{"destinationUrn": A}, {"destinationUrn": B}]})
    gms.seed(B, "datasetProperties", {"description": "d", "customProperties": {"team": "finance"}})

    send_all(gms, DataJobPatchBuilder(JOB).remove_input_dataset(ds("never")).build())
    send_all(gms, DatasetPatchBuilder(B).remove_custom_property("missing").build())
    assert edges(gms.aspects[(JOB, "dataJobInputOutput")]) == [A, B]
    assert gms.aspects[(B, "datasetProperties")]["customProperties"] == {"team": "finance"}

    send_all(gms, DataJobPatchBuilder(JOB).remove_input_dataset(A).build())
    io = gms.aspects[(JOB, "dataJobInputOutput")]
    assert edges(io) == [B] and io["inputDatasets"] == [OLD]


def test_fine_grained_lineage_paths_rebuild_into_records(gms):
    total, count = col("b", "total"), col("b", "count")
    price, qty, old_price = col("a", "price"), col("a", "qty"), col("old", "price")

    def fgl(ups, down, op, **kw):
        return FineGrainedLineageClass("FIELD_SET", "FIELD", upstreams=ups, downstreams=[down],
                                       transformOperation=op, **kw)

    job = DataJobPatchBuilder(JOB).add_fine_grained_lineage(fgl([price, qty], total, "TRANSFORM"))
    job.add_fine_grained_lineage(fgl([old_price], total, "TRANSFORM", confidenceScore=0.4))
    job.add_fine_grained_lineage(fgl([price], count, "IDENTITY", query="urn:li:query:q1"))
    assert "/fineGrainedLineages/TRANSFORM/" + total + "/NONE/" + price in job.build()[0].aspect.value.decode()
    send_all(gms, job.build())
    send_all(gms, job.build())  # again: same keys, same records

    assert gms.aspects[(JOB, "dataJobInputOutput")]["fineGrainedLineages"] == [
        {"upstreamType": "FIELD_SET", "upstreams": [price, qty, old_price], "downstreamType": "FIELD",
         "downstreams": [total], "confidenceScore": 0.4, "transformOperation": "TRANSFORM"},
        {"upstreamType": "FIELD_SET", "upstreams": [price], "downstreamType": "FIELD", "downstreams": [count],
         "confidenceScore": 1.0, "transformOperation": "IDENTITY", "query": "urn:li:query:q1"},
    ]

    two_downstreams = {"inputDatasets": [], "outputDatasets": [], "fineGrainedLineages": [
        {"upstreamType": "FIELD_SET", "upstreams": [price], "downstreamType": "FIELD_SET", "downstreams": [total, count]}]}
    other = "urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,PROD),other)"
    gms.seed(other, "dataJobInputOutput", two_downstreams)
    answer = send(gms, DataJobPatchBuilder(other).add_input_dataset(A).build()[0])  # touches edges only
    assert answer.status_code == 500
    assert "Patching not supported on fine grained lineages with not exactly one downstream" in answer.json()["message"]
    assert gms.aspects[(other, "dataJobInputOutput")] == two_downstreams


@pytest.mark.parametrize(("aspect", "op"), [
    ("subTypes", {"op": "add", "path": "/typeNames", "value": ["Task"]}),
    ("browsePathsV2", {"op": "add", "path": "/path", "value": [{"id": "etl"}]}),
])
def test_aspect_without_template_cannot_be_patched(gms, aspect, op):
    answer = send(gms, patch(JOB, aspect, [op]))
    assert answer.status_code == 500
    assert (f"Patch not supported for aspect with name {aspect}. Default aspect is required because no aspect "
            f"currently exists for urn {JOB}.") in answer.json()["message"]
    assert (JOB, aspect) not in gms.aspects and gms.proposals == []

    gms.seed(JOB, aspect, {op["path"][1:]: []})  # present: still no template (GMS: NPE, 500)
    assert send(gms, patch(JOB, aspect, [op])).status_code == 500
    assert gms.aspects[(JOB, aspect)] == {op["path"][1:]: []}
    # DataHub's generic patch needs no template.
    send_all(gms, [patch(JOB, aspect, {"arrayPrimaryKeys": {}, "forceGenericPatch": True, "patch": [op]})])
    assert gms.aspects[(JOB, aspect)] == {op["path"][1:]: op["value"]}


def test_datajobinfo_patch_on_absent_aspect_needs_name_and_type(gms):
    props = {"op": "add", "path": "/customProperties/run", "value": "1"}
    name = {"op": "add", "path": "/name", "value": "load"}
    for ops, missing in (([props], "name"), ([props, name], "type")):
        answer = send(gms, patch(JOB, "dataJobInfo", ops))
        assert answer.status_code == 422 and missing in answer.json()["message"], answer.text
        assert "Invalid format for aspect" in answer.json()["message"]
        assert (JOB, "dataJobInfo") not in gms.aspects
    send_all(gms, [patch(JOB, "dataJobInfo", [props, name, {"op": "add", "path": "/type", "value": {"string": "SPARK"}}])])
    assert gms.aspects[(JOB, "dataJobInfo")] == {"customProperties": {"run": "1"}, "name": "load",
                                                 "type": {"string": "SPARK"}}


def test_create_writes_only_what_is_absent(gms):
    def tags(*urns):
        return GlobalTagsClass(tags=[TagAssociationClass(u) for u in urns])

    if_none_match = {"headers": {"If-None-Match": "*"}}
    send_all(gms, [write(A, tags(UI_TAG), "CREATE")])
    held = {"tags": [{"tag": UI_TAG}]}
    assert gms.aspects[(A, "globalTags")] == held

    send_all(gms, [write(A, tags(NEW_TAG), "CREATE", **if_none_match)])  # dropped silently
    assert gms.aspects[(A, "globalTags")] == held and gms.store_state.filtered == 1
    answer = send(gms, write(A, tags(NEW_TAG), "CREATE", **if_none_match), write(B, tags(NEW_TAG)), batch=True)
    assert answer.status_code == 200  # only the filtered item is dropped; the rest of the batch is written
    assert gms.aspects[(A, "globalTags")] == held and gms.aspects[(B, "globalTags")] == {"tags": [{"tag": NEW_TAG}]}
    assert gms.store_state.filtered == 2

    for proposals in ([write(A, tags(NEW_TAG), "CREATE")], [write(OLD, tags(NEW_TAG)), write(A, tags(NEW_TAG), "CREATE")]):
        answer = send(gms, *proposals, batch=len(proposals) > 1)
        assert answer.status_code == 422
        assert "Cannot perform CREATE since the aspect already exists." in answer.json()["message"]
    assert gms.aspects[(A, "globalTags")] == held
    assert (OLD, "globalTags") not in gms.aspects  # all or nothing
    assert gms.store_state.filtered == 2


def test_generic_patch_from_acryl_add_tag_keeps_other_tags(gms):
    gold = {"tag": "urn:li:tag:Gold", "attribution": {"time": 1, "actor": SYSTEM, "source": "urn:li:dataHubAction:x"}}
    gms.seed(JOB, "globalTags", {"tags": [{"tag": UI_TAG}, gold]})
    mcps = DataJobPatchBuilder(JOB).add_tag(TagAssociationClass(NEW_TAG)).add_tag(TagAssociationClass(UI_TAG)).build()
    value = json.loads(mcps[0].aspect.value)
    assert value["arrayPrimaryKeys"] == {"tags": ["attribution\u241fsource", "tag"]}  # the generic form
    send_all(gms, mcps)
    send_all(gms, mcps)
    assert sorted(gms.aspects[(JOB, "globalTags")]["tags"], key=lambda t: t["tag"]) == sorted(
        [{"tag": UI_TAG}, {"tag": NEW_TAG}, gold], key=lambda t: t["tag"])


def test_upsert_replaces_the_whole_aspect(gms):
    other = "urn:li:dataJob:(urn:li:dataFlow:(airflow,etl,PROD),other)"
    for urn in (JOB, other):
        gms.seed(urn, "globalTags", {"tags": [{"tag": UI_TAG}]})
        gms.seed(urn, "dataJobInputOutput", {"inputDatasets": [OLD], "outputDatasets": []})
    upsert_io = DataJobInputOutputClass(inputDatasets=[], outputDatasets=[], inputDatasetEdges=[EdgeClass(A)])
    send_all(gms, [write(JOB, GlobalTagsClass([TagAssociationClass(NEW_TAG)])), write(JOB, upsert_io)])
    send_all(gms, [patch(other, "globalTags", [tag_op(NEW_TAG)]), *DataJobPatchBuilder(other).add_input_dataset(A).build()])

    assert gms.aspects[(JOB, "globalTags")] == {"tags": [{"tag": NEW_TAG}]}  # the UI tag is gone
    assert gms.aspects[(JOB, "dataJobInputOutput")]["inputDatasets"] == []  # so is the other source's lineage
    assert gms.aspects[(other, "globalTags")] == {"tags": [{"tag": UI_TAG}, {"tag": NEW_TAG}]}
    assert gms.aspects[(other, "dataJobInputOutput")]["inputDatasets"] == [OLD]


def get(gms: GmsServer | GmsProcess, urn: str, aspect: str) -> requests.Response:
    quoted = urllib.parse.quote(urn, safe="")
    return requests.get(f"{gms.url}/aspects/{quoted}?aspect={aspect}&version=0", headers=RESTLI, timeout=10)


def test_get_returns_what_is_held(gms):
    gms.seed(JOB, "globalTags", {"tags": [{"tag": UI_TAG}]})
    send_all(gms, [patch(JOB, "globalTags", [tag_op(NEW_TAG)])])
    answer = get(gms, JOB, "globalTags")
    assert answer.status_code == 200 and answer.json()["version"] == 0
    assert list(answer.json()["aspect"].values()) == [{"tags": [{"tag": UI_TAG}, {"tag": NEW_TAG}]}]
    assert get(gms, JOB, "ownership").status_code == 404


def test_get_answers_a_versioned_aspect_keyed_by_the_union_member(gms):
    gms.seed(JOB, "globalTags", {"tags": [{"tag": UI_TAG}]})
    assert get(gms, JOB, "globalTags").json()["aspect"] == {"com.linkedin.common.GlobalTags": {"tags": [{"tag": UI_TAG}]}}


def test_patch_leaving_an_unknown_nested_field_is_refused(gms):
    answer = send(gms, patch(JOB, "dataJobInputOutput", [
        {"op": "add", "path": f"/inputDatasetEdges/{A}", "value": {"destinationUrn": A, "createdAt": 1}}]))
    assert answer.status_code == 422 and "createdAt" in answer.json()["message"]
    assert (JOB, "dataJobInputOutput") not in gms.aspects


def test_copy_and_move_operations_are_applied(gms):
    gms.seed(B, "datasetProperties", {"name": "b", "customProperties": {"team": "finance"}})
    send_all(gms, [patch(B, "datasetProperties", [
        {"op": "copy", "from": "/name", "path": "/description"},
        {"op": "move", "from": "/customProperties/team", "path": "/customProperties/owner_team"}])])
    assert gms.aspects[(B, "datasetProperties")] == {
        "name": "b", "description": "b", "tags": [], "customProperties": {"owner_team": "finance"}}


PLAIN_ARRAY_CASES = {  # the deprecated URN arrays are not keyed: JSON Patch array semantics apply (RFC 6902)
    "non-numeric index": ([{"op": "add", "path": f"/inputDatasets/{A}", "value": A}], 500, None),
    "index past the end": ([{"op": "add", "path": "/inputDatasets/7", "value": A}], 500, None),
    "replace by index": ([{"op": "replace", "path": "/inputDatasets/0", "value": A}], 200, [A]),
}


@pytest.mark.parametrize("case", PLAIN_ARRAY_CASES)
def test_plain_arrays_follow_json_patch_index_rules(case):
    ops, status, after = PLAIN_ARRAY_CASES[case]
    # In a child process: the unhandled error kills the in-process server's connection task, and the
    # resulting warning can crash pytest (CPython gh-106905, see tests/conftest.py).
    with GmsProcess(store=True) as gms:
        seeded = DataJobInputOutputClass(inputDatasets=[OLD], outputDatasets=[])
        assert send(gms, write(JOB, seeded)).status_code == 200
        assert send(gms, patch(JOB, "dataJobInputOutput", ops)).status_code == status
        [held] = get(gms, JOB, "dataJobInputOutput").json()["aspect"].values()
    assert held["inputDatasets"] == (after or [OLD])

