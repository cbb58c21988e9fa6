"""``get_platform_urn`` is the one hook of a platform's URN: a subclass overriding it renames a platform
everywhere it is named -- dataset URNs (entities, job and run inputs/outputs, upstreams, schemaField
parents), ``schemaMetadata.platform``, ``dataPlatformInstance``, and flow and job URNs for an
orchestrator -- and ``bridge explain`` and the status page say the same."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from bridge.errors import InvalidEventError
from bridge.model import Dataset, DatasetEvent, RunEvent
from bridge.ui import Journal, StateReader, Views
from dagster_plugin.translator import DagsterTranslator
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.datahub.explain import DatasetExplanation, JobExplanation, explain_event
from translators.openlineage import parse_event

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
RENAMED = {"hive": "glue", "spark": "databricks"}  # a dataset platform and an orchestrator
DATASET_URN = re.compile(r"urn:li:dataset:\(urn:li:dataPlatform:[^,()]+,[^,()]+,[A-Z_]+\)")
# a platform instance for datasets and orchestrators, so that dataPlatformInstance is written for both
CONFIG = {"emit_upstream_lineage": True, "platform_instance": "eu", "platforms": {"platform_instance": "lake"}}


#: The override renames a renamed platform again: a platform renamed twice anywhere reads "twice".
AGAIN = dict.fromkeys(RENAMED.values(), "twice")


class Renamed(DataHubTranslator):
    def get_platform_urn(self, platform: str) -> str:
        return super().get_platform_urn(RENAMED.get(platform) or AGAIN.get(platform, platform))


class Unchanged(DataHubTranslator):
    """Overrides the hook with what it does already: the override is seen, and nothing changes."""

    def get_platform_urn(self, platform: str) -> str:
        return super().get_platform_urn(platform)


def corpus_events() -> list[RunEvent]:
    return [parse_event(json.loads(p.read_text())) for p in sorted(CORPUS.rglob("*.json"))]


def renamed(text: str) -> str:
    """``text`` with every URN naming a renamed platform naming the new one instead."""
    for old, new in RENAMED.items():
        text = text.replace(f"urn:li:dataPlatform:{old}", f"urn:li:dataPlatform:{new}")
        text = text.replace(f"urn:li:dataFlow:({old},", f"urn:li:dataFlow:({new},")
    return text


def as_json(mcps) -> str:
    return json.dumps([m.to_obj() for m in mcps], sort_keys=True)


@pytest.mark.parametrize("inputs", [True, False], ids=["column-lineage-inputs", "column-lineage-only"])
def test_an_overridden_platform_urn_renames_the_platform_everywhere_on_the_corpus(inputs):
    """What is written is the default translator's output with the platforms renamed in every URN and
    aspect that names them, and nothing else changed."""
    config = TranslatorConfig.from_dict({**CONFIG, "column_lineage_inputs": inputs})
    custom, default = Renamed(config), DataHubTranslator(config)
    seen = {"dataset": 0, "schemaMetadata": 0, "dataPlatformInstance": 0, "schemaField": 0, "dataFlow": 0}
    for event in corpus_events():
        mcps = custom.translate_aspects(event)
        got = as_json(mcps)
        assert got == renamed(as_json(default.translate_aspects(event))), event.job.name
        assert as_json(custom.translate(event)) == renamed(as_json(default.translate(event))), event.job.name
        for mcp in mcps:
            if mcp.entity_urn.startswith("urn:li:dataset:(urn:li:dataPlatform:glue,"):
                seen["dataset"] += 1
                if mcp.aspect_name in ("schemaMetadata", "dataPlatformInstance"):
                    assert mcp.aspect_value["platform"] == "urn:li:dataPlatform:glue"
                    seen[mcp.aspect_name] += 1
            elif mcp.entity_urn.startswith("urn:li:dataFlow:(databricks,") and mcp.aspect_name == "dataPlatformInstance":
                assert mcp.aspect_value == {"platform": "urn:li:dataPlatform:databricks",
                                            "instance": "urn:li:dataPlatformInstance:(urn:li:dataPlatform:databricks,eu)"}
                seen["dataFlow"] += 1
        seen["schemaField"] += got.count("urn:li:schemaField:(urn:li:dataset:(urn:li:dataPlatform:glue,")
        assert "dataPlatform:hive" not in got and "dataFlow:(spark," not in got and "twice" not in got
    assert all(n > 10 for n in seen.values()), seen  # every kind of place was checked


def test_an_override_that_changes_nothing_changes_nothing():
    config = TranslatorConfig.from_dict(CONFIG)
    same, default = Unchanged(config), DataHubTranslator(config)
    for event in corpus_events():
        assert as_json(same.translate(event)) == as_json(default.translate(event)), event.job.name


def test_bridge_explain_names_the_renamed_platforms():
    custom = Renamed(TranslatorConfig.from_dict(CONFIG))
    datasets = jobs = 0
    for event in corpus_events():
        written = as_json(custom.translate_aspects(event))
        for _, x in explain_event(custom, event):
            if isinstance(x, JobExplanation):
                assert x.flow_urn == custom.get_flow_urn(event) and x.flow_urn in written
                if x.orchestrator == "spark":
                    assert x.flow_urn.startswith("urn:li:dataFlow:(databricks,")
                    assert "platform spark named databricks" in x.orchestrator_rule
                    jobs += 1
            elif isinstance(x, DatasetExplanation):
                assert x.urn in DATASET_URN.findall(written) and not x.custom
                assert x.urn.startswith(f"urn:li:dataset:(urn:li:dataPlatform:{x.platform},")
                assert x.platform != "hive"
                if x.platform == "glue":
                    assert "platform hive named glue by a customised translator (get_platform_urn)" in x.rule
                    datasets += 1
    assert datasets > 10 and jobs > 10


def test_the_status_page_names_the_renamed_platform(tmp_path):
    body = next(p.read_text() for p in sorted(CORPUS.rglob("*.json"))
                if "columnLineage" in p.read_text() and "hive" in p.read_text())  # fmt: skip
    journal = Journal.in_state_dir(tmp_path)
    journal.record([("job", body)])
    journal.flush()
    (shown,) = Views(StateReader(tmp_path), Renamed()).run(json.loads(body)["run"]["runId"])["events"]
    glue = [d for d in shown["datasets"] if d["urn"].startswith("urn:li:dataset:(urn:li:dataPlatform:glue,")]
    assert glue and all("platform hive named glue" in d["rule"] for d in glue)
    assert {d["urn"] for d in shown["datasets"]} <= set(DATASET_URN.findall(json.dumps(shown["mcps"])))


def test_an_override_that_gives_no_platform_urn_is_named_in_the_error():
    class Broken(DataHubTranslator):
        def get_platform_urn(self, platform):
            return platform

    event = next(e for e in corpus_events() if e.outputs)
    with pytest.raises(InvalidEventError, match="is not a URN") as caught:
        Broken().translate(event)
    assert caught.value.field == "get_platform_urn"


def test_a_renamed_dagster_asset_platform_keeps_the_asset_side_of_its_siblings():
    """The asset's side of its siblings is its own, whatever its platform is named."""

    class RenamedAssets(DagsterTranslator):
        def get_platform_urn(self, platform: str) -> str:
            return "urn:li:dataPlatform:assets" if platform == "dagster" else super().get_platform_urn(platform)

    asset = Dataset(namespace="dagster", name="shop/orders",
                    facets={"dagsterAsset": {"assetKey": ["shop", "orders"],
                                             "twins": [["postgres://db:5432", "shop.public.orders"]]}})  # fmt: skip
    event = DatasetEvent(event_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), producer="p", dataset=asset)
    modes = {m.entity_urn: m.change_type for m in RenamedAssets().translate(event) if m.aspect_name == "siblings"}
    assert modes == {"urn:li:dataset:(urn:li:dataPlatform:assets,shop/orders,PROD)": "UPSERT",  # the asset's: as configured
                     "urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.orders,PROD)": "CREATE"}  # the table's: if absent
