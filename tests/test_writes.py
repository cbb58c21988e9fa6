"""The write policy: which aspects the translator PATCHes, CREATEs or UPSERTs, and what its patches hold.

Proves that every PATCH the translator emits (over the whole OpenLineage corpus, and for a
hand-built event with every patchable aspect) is, as parsed JSON and in the same order, the PATCH
acryl-datahub's builders make for the same whole value (same entity, aspect, change and content
type) in both ``patch_format`` s; that the default policy PATCHes the shared aspects, CREATEs
``schemaMetadata`` with ``If-None-Match: *``, UPSERTs the rest (run-scoped and timeseries
included) and sends no empty PATCH; that overrides change exactly what they name and a bad one
is a ``ConfigError`` naming the aspect; that ``expiring`` marks lineage edges only and
``merge_run_aspect`` accumulates a run; and that URNs with ``/`` and ``~`` are escaped as RFC 6901.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import pytest
from datahub.emitter.mcp_patch_builder import MetadataPatchProposal
from datahub.metadata import schema_classes as sc
from datahub.specific.aspect_helpers.custom_properties import HasCustomPropertiesPatch
from datahub.specific.aspect_helpers.ownership import HasOwnershipPatch
from datahub.specific.aspect_helpers.tags import HasTagsPatch
from datahub.specific.datajob import DataJobPatchBuilder
from datahub.specific.dataset import DatasetPatchBuilder

from bridge.errors import ConfigError
from bridge.mcp import MetadataChangeProposalWrapper as MCPW
from bridge.model import ColumnLineage as CL
from bridge.model import Dataset, InputField, Job, Owner, Run, RunEvent, SchemaField, Tag, Transformation
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.datahub.run_merge import merge_run_aspect
from translators.datahub.writes import PATCHABLE, expiring, to_patch
from translators.openlineage import parse_event

CORPUS = sorted(Path(__file__).parent.glob("corpus/openlineage/**/*.json"))
FORMATS = ("template", "generic")
S3_URN = "urn:li:dataset:(urn:li:dataPlatform:s3,bucket/raw/a~b/x~1y,PROD)"
S3_QUOTED = "urn:li:dataset:(urn:li:dataPlatform:s3,bucket~1raw~1a~0b~1x~01y,PROD)"


def corpus_event(path: Path):
    return parse_event(json.loads(path.read_text()))


def full_event() -> RunEvent:
    """A flow's own run with every patchable aspect (owners, tags, column lineage), an s3 path with / and ~."""
    fields = (SchemaField(name="id", type="int"),)
    src = Dataset(namespace="s3://bucket", name="raw/a~b/x~1y", fields=fields)
    identity = (Transformation(type="DIRECT", subtype="IDENTITY"),)
    lineage = CL(output_field="id", inputs=(InputField(
        namespace="s3://bucket", name="raw/a~b/x~1y", field="id", transformations=identity),))  # fmt: skip
    out = Dataset(namespace="postgres://db:5432", name="shop.public.orders", description="Orders",
                  storage_layer="delta", file_format="parquet", column_lineage=(lineage,), fields=fields,
                  owners=(Owner(name="team:data", type="DATA_STEWARD"),),
                  tags=(Tag(key="tier", value="gold"), Tag(key="pii")))  # fmt: skip
    job = Job(namespace="airflow", name="dag", description="Daily", url="https://af/dag", sql="SELECT 1",
              owners=(Owner(name="user:ann", type="BUSINESS_OWNER"), Owner(name="bob")),
              tags=(Tag(key="team", value="a/b~c"),))  # fmt: skip
    return RunEvent(event_type="COMPLETE", event_time=dt.datetime(2024, 11, 26, tzinfo=dt.UTC),
                    run=Run(run_id="r-1"), job=job, producer="https://github.com/apache/airflow/",
                    inputs=(src,), outputs=(out,))  # fmt: skip


# -- acryl-datahub's side --
class DataFlowPatchBuilder(HasOwnershipPatch, HasTagsPatch, HasCustomPropertiesPatch, MetadataPatchProposal):
    """acryl 1.7 has no DataFlowPatchBuilder: the mixins DataJobPatchBuilder uses, on ``dataFlowInfo``."""

    @classmethod
    def _custom_properties_location(cls):
        return "dataFlowInfo", ("customProperties",)


BUILDERS = {"dataset": DatasetPatchBuilder, "dataJob": DataJobPatchBuilder, "dataFlow": DataFlowPatchBuilder}


def acryl_patch(whole: MCPW, patch_format: str) -> sc.MetadataChangeProposalClass:
    """The one MCP acryl-datahub's builders make to add what the whole value says.

    Builders keep their callers' order; called in the value's order (job I/O: inputs, outputs,
    upstream jobs, column lineage), their operations are compared with ours as ordered lists.
    """
    b = BUILDERS[whole.entity_type](whole.entity_urn)
    v, name, generic = whole.aspect_value, whole.aspect_name, patch_format == "generic"
    if name == "dataJobInputOutput":
        for field, add in (("inputDatasets", b.add_input_dataset), ("outputDatasets", b.add_output_dataset),
                           ("inputDatajobs", b.add_input_datajob)):  # fmt: skip
            for urn in v.get(field, ()):
                add(urn)
    elif name == "upstreamLineage":
        for upstream in v["upstreams"]:
            b.add_upstream_lineage(sc.UpstreamClass.from_obj(upstream))
    elif name == "globalTags":
        for tag in map(sc.TagAssociationClass.from_obj, v["tags"]):
            b.add_tag(tag) if generic else b._add_patch(name, "add", ("tags", tag.tag), tag)
    elif name == "ownership":
        for owner in map(sc.OwnerClass.from_obj, v["owners"]):
            path = ("owners", owner.owner, owner.type)
            b.add_owner(owner) if generic else b._add_patch(name, "add", path, owner)
    elif name == "datasetProperties":
        b.set_display_name(v.get("name")).set_qualified_name(v.get("qualifiedName"))
        b.set_description(v.get("description")).set_external_url(v.get("externalUrl"))
        b.add_custom_properties(v.get("customProperties"))
    else:  # dataJobInfo, dataFlowInfo: no setters in acryl 1.7
        for field in ("name", "type", "flowUrn", "description", "externalUrl"):
            if field in v:
                b._add_patch(name, "add", (field,), v[field])
        b.add_custom_properties(v.get("customProperties"))
    for fgl in v.get("fineGrainedLineages", ()):
        b.add_fine_grained_lineage(sc.FineGrainedLineageClass.from_obj(fgl))
    [mcp] = b.build()
    return mcp


def patch_pairs(tr: DataHubTranslator, event) -> list[tuple[MCPW, MCPW]]:
    """(PATCH from ``translate``, the whole value ``translate_aspects`` gave for it)."""
    wholes = {(m.entity_urn, m.aspect_name): m for m in tr.translate_aspects(event)}
    return [(p, wholes[p.entity_urn, p.aspect_name]) for p in tr.translate(event) if p.is_patch]


def assert_same_as_acryl(ours: MCPW, whole: MCPW, patch_format: str) -> None:
    theirs, gms = acryl_patch(whole, patch_format), ours.to_gms()
    assert [gms["entityUrn"], gms["entityType"], gms["aspectName"], gms["changeType"]] == [
        theirs.entityUrn, theirs.entityType, theirs.aspectName, theirs.changeType]  # fmt: skip
    assert gms["aspect"]["contentType"] == theirs.aspect.contentType == "application/json-patch+json"
    assert json.loads(gms["aspect"]["value"]) == json.loads(theirs.aspect.value), whole.aspect_name
    assert json.loads(ours.to_obj()["aspect"]["value"]) == json.loads(theirs.aspect.value)


# -- 1. our patches are acryl's --
@pytest.mark.parametrize("patch_format", FORMATS)
def test_corpus_patches_equal_acryls(patch_format):
    tr = DataHubTranslator(TranslatorConfig(patch_format=patch_format))
    covered = set()
    for path in CORPUS:
        for ours, whole in patch_pairs(tr, corpus_event(path)):
            assert_same_as_acryl(ours, whole, patch_format)
            covered.add(ours.aspect_name)
            extra = {"fineGrainedLineages", "inputDatajobs"} & set(whole.aspect_value)
            covered.update(f"{ours.aspect_name}.{k}" for k in extra)
    assert covered == {"dataFlowInfo", "dataJobInfo", "dataJobInputOutput", "ownership",
                       "dataJobInputOutput.fineGrainedLineages",
                       "dataJobInputOutput.inputDatajobs"}  # fmt: skip


@pytest.mark.parametrize("patch_format", FORMATS)
def test_every_patchable_aspect_equals_acryls(patch_format):
    tr = DataHubTranslator(TranslatorConfig(patch_format=patch_format, emit_upstream_lineage=True))
    pairs = patch_pairs(tr, full_event())
    for ours, whole in pairs:
        assert_same_as_acryl(ours, whole, patch_format)
    assert {p.aspect_name for p, _ in pairs} == PATCHABLE
    by_entity = {(p.entity_type, p.aspect_name): p for p, _ in pairs}
    assert by_entity["dataset", "datasetProperties"].patch_ops[1]["path"].startswith("/customProperties/")
    assert "fineGrainedLineages" in by_entity["dataset", "upstreamLineage"].aspect_json
    assert len(pairs) == 11  # flow: info, owners, tags; job: those + I/O; dataset: 4


@pytest.mark.parametrize(("patch_format", "tag_path", "owner_path"), [
    ("template", "/tags/urn:li:tag:pii", "/owners/urn:li:corpGroup:data/DATA_STEWARD"),
    ("generic", "/tags//urn:li:tag:pii", "/owners/urn:li:corpGroup:data/DATA_STEWARD//"),
])  # fmt: skip
def test_tags_and_owners_per_patch_format(patch_format, tag_path, owner_path):
    tr = DataHubTranslator(TranslatorConfig(patch_format=patch_format))
    patches = {p.aspect_name: p for p in tr.translate(full_event()) if p.entity_type == "dataset"}
    for name, path in (("globalTags", tag_path), ("ownership", owner_path)):
        assert path in [op["path"] for op in patches[name].patch_ops]
        assert isinstance(patches[name].aspect_value, dict) == (patch_format == "generic")
    assert isinstance(patches["datasetProperties"].aspect_value, list)  # the keyed form: tags and owners only


def test_dataset_field_edges_carry_the_field_urn():
    """acryl's path, but the value is the URN, not acryl's ``{}``: GMS's template rebuilds a string
    array from the values (``transformedMapToArray``). Not emitted by the translator today.
    """
    field = "urn:li:schemaField:(urn:li:dataset:(urn:li:dataPlatform:s3,b/k,PROD),id)"
    [op] = to_patch("dataJobInputOutput", {"inputDatasetFields": [field]})
    b = DataJobPatchBuilder("urn:li:dataJob:(urn:li:dataFlow:(spark,a,b),j)").add_input_dataset_field(field)
    [theirs] = json.loads(b.build()[0].aspect.value)
    assert (op["path"], op["value"], theirs["value"]) == (theirs["path"], field, {})


# -- 2. the default policy --
CORPUS_WRITES = {
    **dict.fromkeys(["dataFlowInfo", "dataJobInfo", "dataJobInputOutput", "ownership"], ("PATCH", "null")),
    **dict.fromkeys(["schemaMetadata", "dataset.status"], ("CREATE", '{"If-None-Match": "*"}')),
    **dict.fromkeys(["dataFlow.status", "dataJob.status", "browsePathsV2", "subTypes", "operation", "datasetProfile", "dataTransformLogic"] + [f"dataProcessInstance{a}" for a in (
        "Properties", "Relationships", "RunEvent", "Input", "Output")], ("UPSERT", "null")),
}  # fmt: skip


def test_default_policy_over_the_corpus():
    tr, seen = DataHubTranslator(), defaultdict(set)
    for path in CORPUS:
        event = corpus_event(path)
        wholes, writes = tr.translate_aspects(event), tr.translate(event)
        # the same MCPs in the same order: no empty PATCH dropped, nothing skipped
        assert [(m.entity_urn, m.aspect_name) for m in writes] == [(w.entity_urn, w.aspect_name) for w in wholes]
        for write, whole in zip(writes, wholes, strict=True):
            name = f"{write.entity_type}.status" if write.aspect_name == "status" else write.aspect_name
            seen[name].add((write.change_type, json.dumps(write.headers)))
            if write.is_patch:
                assert write.patch_ops and {op["op"] for op in write.patch_ops} == {"add"}, path
            else:
                assert write.aspect_value == whole.aspect_value, path
    assert seen == {name: {mode} for name, mode in CORPUS_WRITES.items()}


@pytest.mark.parametrize(("aspect", "empty", "full"), [
    ("globalTags", {"tags": []}, {"tags": [{"tag": "urn:li:tag:x"}]}),
    ("ownership", {"owners": []}, {"owners": [{"owner": "urn:li:corpuser:a", "type": "NONE"}]}),
    ("datasetProperties", {"customProperties": {}}, {"customProperties": {"k": "v"}}),
    ("upstreamLineage", {"upstreams": []}, {"upstreams": [{"dataset": S3_URN, "type": "COPY"}]}),
])  # fmt: skip
def test_an_empty_patch_is_not_sent(aspect, empty, full):
    urn = "urn:li:dataset:(urn:li:dataPlatform:postgres,db.t,PROD)"
    wholes = [MCPW(entity_urn=urn, aspect_name=aspect, aspect=value) for value in (empty, full)]
    writes = DataHubTranslator().to_writes(wholes)
    assert [(m.aspect_name, m.change_type, len(m.patch_ops)) for m in writes] == [(aspect, "PATCH", 1)]


# -- 3. overrides --
def test_a_policy_key_can_name_an_entity_type_which_wins_for_it():
    event = corpus_event(Path(__file__).parent / "corpus/openlineage/airflow/line_05.json")

    def status_modes(policy):
        tr = DataHubTranslator(TranslatorConfig.from_dict({"write_policy": policy}))
        return {(m.entity_type, m.change_type) for m in tr.translate(event) if m.aspect_name == "status"}

    assert status_modes({}) == {("dataset", "CREATE"), ("dataJob", "UPSERT"), ("dataFlow", "UPSERT")}
    assert status_modes({"dataset.status": "upsert"}) == {("dataset", "UPSERT"), ("dataJob", "UPSERT"),
                                                          ("dataFlow", "UPSERT")}  # fmt: skip
    assert status_modes({"dataJob.status": "skip"}) == {("dataset", "CREATE"), ("dataFlow", "UPSERT")}
    # the aspect alone means every entity type's, the default's dataset.status included
    assert status_modes({"status": "upsert"}) == {("dataset", "UPSERT"), ("dataJob", "UPSERT"), ("dataFlow", "UPSERT")}
    assert status_modes({"status": "upsert", "dataset.status": "skip"}) == {("dataJob", "UPSERT"),
                                                                            ("dataFlow", "UPSERT")}  # fmt: skip


class StatusAsConfigured(DataHubTranslator):
    def get_write_mode(self, mcp):  # an override that defers to the policy: the same rule as the table
        return super().get_write_mode(mcp)


def test_get_write_mode_reads_entity_scoped_keys_as_the_table_does():
    event = corpus_event(Path(__file__).parent / "corpus/openlineage/airflow/line_05.json")
    for policy in ({}, {"dataJob.status": "if_absent"}, {"status": "skip", "dataFlow.status": "upsert"}):
        config = TranslatorConfig.from_dict({"write_policy": policy})
        table, hook = DataHubTranslator(config).translate(event), StatusAsConfigured(config).translate(event)
        assert [(m.entity_urn, m.aspect_name, m.change_type) for m in hook] == [
            (m.entity_urn, m.aspect_name, m.change_type) for m in table]


@pytest.mark.parametrize(("key", "message"), [
    ("datset.status", "DataHub has no entity type 'datset'"),
    ("dataJob.schemaMetadata", "a dataJob has no aspect 'schemaMetadata'"),
])  # fmt: skip
def test_an_entity_scoped_key_is_checked(key, message):
    with pytest.raises(ConfigError, match=message) as caught:
        TranslatorConfig.from_dict({"write_policy": {key: "upsert"}})
    assert caught.value.key.endswith(f"write_policy.{key}")


def test_config_overrides():
    overrides = {"dataJobInputOutput": "upsert", "schemaMetadata": "skip", "status": "if_absent", "ownership": "patch"}
    tr = DataHubTranslator(TranslatorConfig.from_dict({"write_policy": overrides}))
    event = corpus_event(Path(__file__).parent / "corpus/openlineage/airflow/line_05.json")
    wholes = {(m.entity_urn, m.aspect_name): m.aspect_value for m in tr.translate_aspects(event)}
    modes = {(m.aspect_name, m.change_type, json.dumps(m.headers)) for m in tr.translate(event)}
    assert ("dataJobInputOutput", "UPSERT", "null") in modes and ("dataJobInfo", "PATCH", "null") in modes
    assert ("status", "CREATE", '{"If-None-Match": "*"}') in modes
    assert "schemaMetadata" not in {name for name, _, _ in modes}
    assert any(name == "schemaMetadata" for _, name in wholes)
    [io] = [m for m in tr.translate(event) if m.aspect_name == "dataJobInputOutput"]
    assert io.aspect_value == wholes[io.entity_urn, "dataJobInputOutput"]


@pytest.mark.parametrize(("aspect", "mode", "says"), [
    ("ownership", "merge", "got 'merge'"), ("status", "patch", "no patch form for 'status'"),
    ("schemaMetadata", "patch", "no patch form for 'schemaMetadata'"),
])  # fmt: skip
def test_bad_override_is_a_config_error_naming_the_aspect(aspect, mode, says):
    with pytest.raises(ConfigError) as err:
        TranslatorConfig.from_dict({"write_policy": {"globalTags": "upsert", aspect: mode}})
    assert err.value.key == f"write_policy.{aspect}"
    assert str(err.value).startswith(f"write_policy.{aspect}: ") and says in str(err.value)


def test_subclass_changes_one_aspect():
    class UpsertJobInfo(DataHubTranslator):
        def get_write_mode(self, mcp):
            return "upsert" if mcp.aspect_name == "dataJobInfo" else super().get_write_mode(mcp)

    event = full_event()
    base = [(m.aspect_name, m.change_type) for m in DataHubTranslator().translate(event)]
    sub = [(m.aspect_name, m.change_type) for m in UpsertJobInfo().translate(event)]
    assert [b for b, s in zip(base, sub, strict=True) if b != s] == [("dataJobInfo", "PATCH")]
    assert ("dataJobInfo", "UPSERT") in sub


# -- 4. stale-edge expiry --
EDGE_ASPECTS = {"dataJobInputOutput", "upstreamLineage"}


JOB_EDGES = "inputDatasetEdges outputDatasetEdges inputDatajobEdges inputDatasetFields outputDatasetFields"


@pytest.mark.parametrize(("aspect", "path", "edge"), [
    *[("dataJobInputOutput", f"/{field}/{S3_QUOTED}", True) for field in JOB_EDGES.split()],
    ("dataJobInputOutput", "/fineGrainedLineages/NONE/a/NONE/b", True), ("upstreamLineage", "/upstreams/x", True),
    ("upstreamLineage", "/fineGrainedLineages/NONE/a/NONE/b", True),
    ("upstreamLineage", "/inputDatasetEdges/x", False), ("dataJobInputOutput", "/upstreams/x", False),
    ("globalTags", "/tags/urn:li:tag:pii", False), ("globalTags", "/tags//urn:li:tag:pii", False),
    ("ownership", "/owners/urn:li:corpuser:ann/BUSINESS_OWNER", False), ("dataFlowInfo", "/name", False),
    ("datasetProperties", "/customProperties/k", False), ("dataJobInfo", "/customProperties/k", False),
])  # fmt: skip
def test_expiring_paths(aspect, path, edge):
    assert expiring(aspect, path) is edge
    assert DataHubTranslator().is_edge(aspect, path) is edge


def test_expiring_on_real_patches():
    tr = DataHubTranslator(TranslatorConfig(emit_upstream_lineage=True, patch_format="generic"))
    ops = [(m.aspect_name, op["path"]) for m in tr.translate(full_event()) for op in m.patch_ops]
    assert {a for a, _ in ops} == PATCHABLE
    assert [(a, p) for a, p in ops if expiring(a, p) != (a in EDGE_ASPECTS)] == []


# -- 5. run-scoped aspects --
def test_run_inputs_accumulate():
    a, b, c = (f"urn:li:dataset:(urn:li:dataPlatform:s3,b/{x},PROD)" for x in "abc")
    before, new = {"inputs": [a, b], "inputEdges": [{"destinationUrn": a}]}, {"inputs": [b, c], "inputEdges": []}
    merged = merge_run_aspect("dataProcessInstanceInput", before, new)
    assert merged == {"inputs": [a, b, c], "inputEdges": [{"destinationUrn": a}]}
    assert merge_run_aspect("dataProcessInstanceOutput", {"outputs": [a]}, {"outputs": [b]})["outputs"] == [a, b]
    assert merge_run_aspect("dataProcessInstanceInput", None, {"inputs": [c]}) == {"inputs": [c]}


@pytest.mark.parametrize(("before_ms", "new_ms", "kept_ms"), [(100, 200, 100), (300, 200, 200)])
def test_run_properties_merge_key_by_key_keeping_the_earliest_created(before_ms, new_ms, kept_ms):
    before = {"name": "r", "customProperties": {"a": "1", "b": "2"}, "created": {"time": before_ms}}
    new = {"name": "r", "customProperties": {"b": "3", "c": "4"}, "created": {"time": new_ms}}
    merged = merge_run_aspect("dataProcessInstanceProperties", before, new)
    assert merged["customProperties"] == {"a": "1", "b": "3", "c": "4"}
    assert merged["created"]["time"] == kept_ms
    assert new["customProperties"] == {"b": "3", "c": "4"}  # the new value is not mutated


@pytest.mark.parametrize("aspect", ["dataProcessInstanceRunEvent", "dataJobInputOutput", "status"])
def test_other_aspects_are_not_merged(aspect):
    new = {"inputs": ["urn:li:dataset:(urn:li:dataPlatform:s3,b/n,PROD)"], "status": "COMPLETE"}
    before = {"inputs": ["urn:li:dataset:(urn:li:dataPlatform:s3,b/o,PROD)"], "status": "STARTED", "x": 1}
    assert merge_run_aspect(aspect, before, new) == new


# -- 6. escaping --
def test_urns_with_slash_and_tilde_are_escaped_as_rfc_6901():
    tr = DataHubTranslator(TranslatorConfig(emit_upstream_lineage=True))
    paths = {op["path"]: op["value"] for m in tr.translate(full_event()) for op in m.patch_ops}
    assert paths[f"/inputDatasetEdges/{S3_QUOTED}"] == {"destinationUrn": S3_URN}
    assert paths[f"/upstreams/{S3_QUOTED}"]["dataset"] == S3_URN
    assert paths["/tags/urn:li:tag:team:a~1b~0c"] == {"tag": "urn:li:tag:team:a/b~c"}
    fgl = [p for p in paths if p.startswith("/fineGrainedLineages/")]
    assert fgl and all(p.endswith(f"/urn:li:schemaField:({S3_QUOTED},id)") for p in fgl)
    assert MetadataPatchProposal.quote(S3_URN) == S3_QUOTED  # acryl's own quoting
    assert not [p for p in paths if "a/b" in p or "~1y" in p]  # every "/" and "~" of a URN is escaped
