"""Golden files: representative events and the exact MCPs they become.

Each case translates one OpenLineage event and compares the DataHub file-format
output (``[mcp.to_obj(), ...]``) with ``tests/golden/<case>.json``. After an
intended change, regenerate with::

    BRIDGE_UPDATE_GOLDEN=1 /work/venv/bin/pytest -q tests/test_datahub_golden.py

and review the diff. A patch's aspect (a JSON string on the wire) is shown parsed,
under ``"patch"``, so the diff is readable. Every golden MCP is also validated with
acryl-datahub (a patch: applied to its template, as GMS does), so a golden file can
never bless something DataHub would reject.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from tests._datahub_reference import check_mcp
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.openlineage import parse_event

HERE = pathlib.Path(__file__).parent
GOLDEN = HERE / "golden"
CORPUS = HERE / "corpus" / "openlineage"

CASES = {
    # Airflow DAG start: job ownership facet, Airflow run facets, the flow's own event.
    "airflow_dag_start": (CORPUS / "airflow" / "line_01.json", {}),
    # Airflow task completion: GCS/BigQuery datasets with schemas, parent run link.
    "airflow_task_complete": (CORPUS / "airflow" / "line_03.json", {}),
    # Spark on Dataproc: HDFS paths with Hive TABLE symlinks, SQL facet.
    "spark_symlinks": (CORPUS / "spark_dataproc_simple_producer_test" / "4.json", {}),
    # Column-level lineage with symlinked inputs; dataset upstreamLineage on.
    "column_lineage": (CORPUS / "CLL" / "8.json", {"emit_upstream_lineage": True}),
    # A failed run: error message, owners, tags (job, dataset, column), nested schema, parent and root.
    "failed_run": (GOLDEN / "inputs" / "failed_run.json", {"emit_upstream_lineage": True}),
    # The same Spark event with a platform instance, lower-cased URNs and a non-default env.
    "spark_instance_lowercase": (
        CORPUS / "spark_dataproc_simple_producer_test" / "4.json",
        {
            "platform_instance": "eu-spark",
            "dataset_platform_instance": "lake",
            "lowercase_urns": True,
            "env": "DEV",
        },
    ),
}


def _readable(obj: dict) -> dict:
    if obj["changeType"] == "PATCH":
        obj = {**obj, "aspect": {"patch": json.loads(obj["aspect"]["value"]),
                                 "contentType": obj["aspect"]["contentType"]}}
    return obj


def _render(objs: list[dict]) -> str:
    return json.dumps([_readable(o) for o in objs], indent=2, sort_keys=False, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    source, config = CASES[case]
    event = parse_event(json.loads(source.read_text()))
    mcps = DataHubTranslator(TranslatorConfig.from_dict(config)).translate(event)
    for mcp in mcps:
        check_mcp(mcp)
    text = _render([m.to_obj() for m in mcps])
    path = GOLDEN / f"{case}.json"
    if os.environ.get("BRIDGE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing; run with BRIDGE_UPDATE_GOLDEN=1 to create it"
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8")), (
        f"{case}: output differs from {path.name}; if intended, regenerate with BRIDGE_UPDATE_GOLDEN=1"
    )


def test_same_entities_as_datahubs_own_converter() -> None:
    """Lineage sent through the bridge lands on the entities DataHub's own converter would create."""
    expected = json.loads((GOLDEN / "datahub_converter_urns.json").read_text(encoding="utf-8"))
    expected.pop("_source")
    translator = DataHubTranslator()
    for name, urns in expected.items():
        event = parse_event(json.loads((CORPUS / name).read_text()))
        ours = {m.entity_urn for m in translator.translate(event)}
        assert set(urns) <= ours, f"{name}: DataHub's converter emits {sorted(set(urns) - ours)}, we do not"
