"""``get_dataset_urn`` is the one hook of a dataset's URN: a subclass overriding it changes every dataset
URN the translator writes (entities, job and run inputs/outputs, upstreams, schemaField URNs of column
lineage, siblings) and what ``bridge explain`` and the status page show, alike."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import attrs
import pytest

from bridge.errors import InvalidEventError
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import ColumnLineage, Dataset, DatasetEvent, InputField, RunEvent, SchemaField
from bridge.ui import Journal, StateReader, Views
from dagster_plugin.translator import DagsterTranslator
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.datahub.column_lineage import column_inputs
from translators.datahub.explain import explain_event
from translators.datahub.platform_config import DatasetRef, dataset_urn
from translators.datahub.writes import LinkedAspect
from translators.openlineage import parse_event

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
# Every dataset URN in a JSON text (a name never holds a bare ',' '(' or ')': they are encoded).
DATASET_URN = re.compile(r"urn:li:dataset:\(urn:li:dataPlatform:[^,()]+,[^,()]+,[A-Z_]+\)")


class Catalogued:
    """Datasets named as a catalog names them: one platform, the original platform a lower-case prefix of the name."""

    def get_dataset_urn(self, dataset: Dataset) -> str:
        ref = self.get_dataset_ref(dataset)  # type: ignore[attr-defined]
        return dataset_urn(attrs.evolve(ref, platform="catalog", name=f"{ref.platform}.{ref.name}".lower()))


class CataloguedTranslator(Catalogued, DataHubTranslator):
    pass


class CataloguedDagster(Catalogued, DagsterTranslator):
    pass


class CataloguedRefs(DataHubTranslator):
    """The same names, made by the identity hook the default get_dataset_urn takes its URN from."""

    def get_dataset_ref(self, dataset: Dataset) -> DatasetRef:
        ref = super().get_dataset_ref(dataset)
        return attrs.evolve(ref, platform="catalog", name=f"{ref.platform}.{ref.name}".lower())


CUSTOMISED = pytest.mark.parametrize("customised", [CataloguedTranslator, CataloguedRefs])


def corpus_events() -> list[RunEvent]:
    return [parse_event(json.loads(p.read_text())) for p in sorted(CORPUS.rglob("*.json"))]


def named(event: RunEvent) -> list[Dataset]:
    """The datasets an event names: inputs, outputs, and those only its outputs' column lineage names."""
    known = {d.key for d in (*event.inputs, *event.outputs)}
    return [*event.inputs, *event.outputs,
            *(Dataset(namespace=ns, name=name) for ns, name in column_inputs(event.outputs) if (ns, name) not in known)]


def dataset_urns(mcps) -> list[str]:
    return DATASET_URN.findall(json.dumps([m.to_obj() for m in mcps]))


@CUSTOMISED
@pytest.mark.parametrize("inputs", [True, False], ids=["column-lineage-inputs", "column-lineage-only"])
def test_an_overridden_dataset_urn_is_the_only_one_written_on_the_corpus(customised, inputs):
    """With upstream lineage (every place a dataset is named); datasets only column lineage names made
    inputs of the job, or named only in column lineage."""
    config = TranslatorConfig(emit_upstream_lineage=True, column_lineage_inputs=inputs)
    custom, default = customised(config), DataHubTranslator(config)
    fields = 0
    for event in corpus_events():
        expected = {custom.get_dataset_urn(d) for d in named(event)}
        whole = custom.translate_aspects(event)
        got = dataset_urns(whole)
        # every dataset URN anywhere (entity URNs, inputs/outputs, upstreams, schemaField parents) is the
        # hook's, and there are as many as the default translator writes: none dropped, none left over
        assert set(got) <= expected, (event.job.name, set(got) - expected)
        assert len(got) == len(dataset_urns(default.translate_aspects(event)))
        # what is written too (patches name URNs in their paths)
        assert all("dataPlatform:catalog," in u for u in dataset_urns(custom.translate(event))), event.job.name
        fields += json.dumps([m.to_obj() for m in whole]).count("urn:li:schemaField:(urn:li:dataset:(urn:li:dataPlatform:catalog,")
        # bridge explain names the same URNs, as a customised translator's
        explained = [x for role, x in explain_event(custom, event) if role not in ("job", "run")]
        assert {x.urn for x in explained} == expected and all(x.custom for x in explained)
    assert fields > 100  # the corpus's column lineage was checked


def test_aspects_naming_the_platform_follow_the_overridden_urn():
    """schemaMetadata's platform and name, and dataPlatformInstance, describe the dataset the URN names."""
    event = next(e for e in corpus_events() if any(o.fields for o in e.outputs))
    config = TranslatorConfig.from_dict({"platforms": {"platform_instance": "eu"}})
    mcps = CataloguedTranslator(config).translate_aspects(event)
    schema = next(m for m in mcps if m.aspect_name == "schemaMetadata")
    platform = next(m.aspect_value for m in mcps if m.aspect_name == "dataPlatformInstance"
                    and m.entity_urn == schema.entity_urn)  # fmt: skip
    assert schema.aspect_value["platform"] == "urn:li:dataPlatform:catalog"
    name = schema.aspect_value["schemaName"]
    assert schema.entity_urn.startswith(f"urn:li:dataset:(urn:li:dataPlatform:catalog,eu.{name},") and "." in name
    assert platform == {"platform": "urn:li:dataPlatform:catalog",
                        "instance": "urn:li:dataPlatformInstance:(urn:li:dataPlatform:catalog,eu)"}


def test_the_status_page_shows_the_urns_written(tmp_path):
    event = next(p for p in sorted(CORPUS.rglob("*.json")) if "columnLineage" in p.read_text())
    body = event.read_text()
    journal = Journal.in_state_dir(tmp_path)
    journal.record([("job", body)])
    journal.flush()
    translator = CataloguedTranslator()
    (shown,) = Views(StateReader(tmp_path), translator).run(json.loads(body)["run"]["runId"])["events"]
    urns = {d["urn"] for d in shown["datasets"]}
    assert urns and all(u.startswith("urn:li:dataset:(urn:li:dataPlatform:catalog,") for u in urns)
    written = set(DATASET_URN.findall(json.dumps(shown["mcps"])))
    assert urns <= written and all("dataPlatform:catalog," in u for u in written)
    assert all("customised translator" in d["rule"] for d in shown["datasets"])


def test_dagster_asset_upstreams_twins_and_column_lineage_go_through_the_hook():
    asset = Dataset(namespace="dagster", name="shop/orders", fields=(SchemaField(name="id", type="int"),),
                    column_lineage=(ColumnLineage(output_field="id", inputs=(
                        InputField(namespace="postgres://db:5432", name="shop.public.raw", field="id"),)),),
                    facets={"dagsterAsset": {"assetKey": ["shop", "orders"],
                                             "upstreams": [["dagster", "shop/raw"]],
                                             "twins": [["postgres://db:5432", "shop.public.orders"]]}})  # fmt: skip
    event = DatasetEvent(event_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), producer="p", dataset=asset)
    translator = CataloguedDagster()
    mcps = translator.translate_aspects(event)
    urns = set(dataset_urns(mcps))
    assert urns == {"urn:li:dataset:(urn:li:dataPlatform:catalog,dagster.shop/orders,PROD)",
                    "urn:li:dataset:(urn:li:dataPlatform:catalog,dagster.shop/raw,PROD)",
                    "urn:li:dataset:(urn:li:dataPlatform:catalog,postgres.shop.public.orders,PROD)",
                    "urn:li:dataset:(urn:li:dataPlatform:catalog,postgres.shop.public.raw,PROD)"}
    lineage = next(m.aspect_value for m in mcps if m.aspect_name == "upstreamLineage")
    assert [u["dataset"] for u in lineage["upstreams"]] == [
        "urn:li:dataset:(urn:li:dataPlatform:catalog,dagster.shop/raw,PROD)",
        "urn:li:dataset:(urn:li:dataPlatform:catalog,postgres.shop.public.raw,PROD)"]
    siblings = {m.entity_urn: m.aspect_value["siblings"] for m in mcps if m.aspect_name == "siblings"}
    assert siblings == {translator.get_dataset_urn(asset): [
        "urn:li:dataset:(urn:li:dataPlatform:catalog,postgres.shop.public.orders,PROD)"],
        "urn:li:dataset:(urn:li:dataPlatform:catalog,postgres.shop.public.orders,PROD)": [
        translator.get_dataset_urn(asset)]}


def test_a_renamed_asset_keeps_its_own_siblings_and_writes_its_tables_only_if_absent():
    """The asset's side is the bridge's own and written as configured; the table's only while it has none,
    whatever URN the hook gives either of them."""
    asset = Dataset(namespace="dagster", name="shop/orders",
                    facets={"dagsterAsset": {"assetKey": ["shop", "orders"],
                                             "twins": [["postgres://db:5432", "shop.public.orders"]]}})  # fmt: skip
    event = DatasetEvent(event_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), producer="p", dataset=asset)
    modes = {m.entity_urn: (m.change_type, m.headers) for m in CataloguedDagster().translate(event)
             if m.aspect_name == "siblings"}  # fmt: skip
    assert modes == {"urn:li:dataset:(urn:li:dataPlatform:catalog,dagster.shop/orders,PROD)": ("UPSERT", None),
                     "urn:li:dataset:(urn:li:dataPlatform:catalog,postgres.shop.public.orders,PROD)": (
                         "CREATE", {"If-None-Match": "*"})}  # fmt: skip


def test_the_other_side_of_any_translators_siblings_is_written_only_if_absent_unless_the_policy_names_them():
    TWIN = "urn:li:dataset:(urn:li:dataPlatform:hive,warehouse.twin,PROD)"

    class Twinned(DataHubTranslator):
        def get_siblings(self, event, datasets):
            return [TWIN], True

    event = next(e for e in corpus_events() if isinstance(e, RunEvent) and e.outputs)
    own = Twinned().get_dataset_urn(event.outputs[0])
    other = TWIN

    def modes(translator):
        return {m.entity_urn: m.change_type for m in translator.translate(event)
                if m.aspect_name == "siblings" and m.entity_urn in (own, other)}  # fmt: skip

    assert modes(Twinned()) == {own: "UPSERT", other: "CREATE"}
    assert modes(Twinned(TranslatorConfig(write_policy={"siblings": "upsert"}))) == {own: "UPSERT", other: "UPSERT"}
    assert modes(Twinned(TranslatorConfig(write_policy={"siblings": "skip"}))) == {}
    assert modes(Twinned(TranslatorConfig(write_policy={"dataset.siblings": "upsert"}))) == {own: "UPSERT",
                                                                                           other: "UPSERT"}

    class Asked(Twinned):  # get_write_mode decides both sides, and can tell them apart
        def get_write_mode(self, mcp):
            if mcp.aspect_name == "siblings":
                return "skip" if isinstance(mcp, LinkedAspect) else "if_absent"
            return super().get_write_mode(mcp)

    assert modes(Asked()) == {own: "CREATE"}

    class Default(Twinned):  # an override that defers to the default keeps the default's sides
        def get_write_mode(self, mcp):
            return super().get_write_mode(mcp)

    assert modes(Default()) == modes(Twinned())
    assert all(type(m) is MetadataChangeProposalWrapper for m in Twinned(TranslatorConfig(
        write_policy={"siblings": "upsert"})).translate(event))  # none leaves the translator as a LinkedAspect


def test_an_override_that_gives_no_dataset_urn_is_named_in_the_error():
    class Broken(DataHubTranslator):
        def get_dataset_urn(self, dataset):
            return f"urn:li:corpuser:{dataset.name}"

    event = next(e for e in corpus_events() if e.outputs)
    with pytest.raises(InvalidEventError, match="is not a dataset URN") as caught:
        Broken().translate(event)
    assert caught.value.field == "get_dataset_urn"


@pytest.mark.parametrize("gone", ["get_dataset_ref_for", "get_ref_urn"])
def test_overriding_a_hook_that_is_gone_says_what_to_override_instead(gone):
    with pytest.raises(TypeError, match=f"Old.{gone}: the translator no longer calls {gone}; override .*get_dataset_"):
        type("Old", (DataHubTranslator,), {gone: lambda self, *args: None})
    mixin = type("OldMixin", (), {gone: lambda self, *args: None})
    with pytest.raises(TypeError, match=f"OldMixin.{gone}: the translator no longer calls {gone}"):
        type("Mixed", (mixin, DataHubTranslator), {})
