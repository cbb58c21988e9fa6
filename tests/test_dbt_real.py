"""Real ``dbt-ol`` through a real ``bridge serve`` into the GMS test server, compared with DataHub's
own dbt source run on the same ``manifest.json``, ``catalog.json`` and ``run_results.json``.

The project (tests/dbt_project: two seeds, two staging views, a join with aggregates, nine data
tests of which one fails with ``severity: warn``) is seeded, run and tested once per module with
dbt-duckdb, each command through ``dbt-ol`` with ``OPENLINEAGE_URL`` at the bridge. Then
``dbt docs generate`` writes the catalog, and ``DBTCoreSource`` (acryl-datahub[dbt]) runs in a
Pipeline with a file sink on the artifacts: that is what a DataHub user of the dbt source sees.

Where the two legitimately differ, the difference itself is asserted, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openlineage.dbt", reason="needs the dbt test extra: pip install -e '.[test]'")
pytest.importorskip("dbt.adapters.duckdb", reason="needs the dbt test extra: pip install -e '.[test]'")
pytest.importorskip("datahub.ingestion.source.dbt.dbt_core", reason="needs acryl-datahub[dbt]")

from tests.servers.bridge_process import BridgeProcess  # noqa: E402
from tests.servers.gms import GmsServer  # noqa: E402
from tests.servers.gms_state import job_edges  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

# acryl-datahub's dbt source calls its own deprecated patch builder method; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:add_fine_grained_upstream_lineage:DeprecationWarning")

PROJECT = Path(__file__).parent / "dbt_project"
NAMESPACE = "jaffle-dev"
FLOW = f"urn:li:dataFlow:(dbt,dbt-run-jaffle,{NAMESPACE})"


def duckdb(table: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:duckdb,warehouse.main.{table},PROD)"


def field(dataset_urn: str, column: str) -> str:
    return f"urn:li:schemaField:({dataset_urn},{column})"


# A typed schema, as the warehouse's own ingestion would have written it before dbt-ol ran.
WAREHOUSE_SCHEMA = {
    "schemaName": "warehouse.main.stg_orders",
    "platform": "urn:li:dataPlatform:duckdb",
    "version": 0,
    "hash": "",
    "platformSchema": {"com.linkedin.schema.OtherSchema": {"rawSchema": ""}},
    "fields": [
        {"fieldPath": "order_id", "nativeDataType": "INTEGER", "type": {"type": {"com.linkedin.schema.NumberType": {}}}},
        {"fieldPath": "status", "nativeDataType": "VARCHAR", "type": {"type": {"com.linkedin.schema.StringType": {}}}},
    ],
}


def _dbt_env(tmp: Path, bridge_url: str) -> dict[str, str]:
    """The environment of the dbt commands: this interpreter's dbt and dbt-ol, the test's own
    duckdb file and target/log folders (nothing is written under tests/), events to the bridge."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "DBT_"))}
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        DBT_DUCKDB_PATH=str(tmp / "warehouse.duckdb"),
        DBT_TARGET_PATH=str(tmp / "target"),
        DBT_LOG_PATH=str(tmp / "logs"),
        DBT_PROFILES_DIR=str(PROJECT),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        OPENLINEAGE_URL=bridge_url,
        OPENLINEAGE_NAMESPACE=NAMESPACE,
    )
    return env


def _run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    result = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{(result.stdout + result.stderr)[-4000:]}"


def _reference(tmp: Path, run_results: list[Path]) -> list[dict[str, Any]]:
    """DataHub's dbt source on the same artifacts, as the MCPs (and MCEs) its file sink writes.

    acryl-datahub sets other libraries' log levels (urllib3's to WARNING) for the whole process: they are
    put back after, so the tests that run later in this process log as a bridge process does."""
    import logging

    loggers = [logging.getLogger(), *(lg for lg in logging.root.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    saved = [(lg, lg.level, list(lg.handlers)) for lg in loggers]
    try:
        return _run_reference(tmp, run_results)
    finally:
        for lg, level, handlers in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers


def _run_reference(tmp: Path, run_results: list[Path]) -> list[dict[str, Any]]:
    from datahub.ingestion.run.pipeline import Pipeline

    out = tmp / "reference.json"
    pipeline = Pipeline.create({
        "pipeline_name": "dbt-reference",
        "source": {"type": "dbt", "config": {
            "manifest_path": str(tmp / "target" / "manifest.json"),
            "catalog_path": str(tmp / "target" / "catalog.json"),
            "run_results_paths": [str(p) for p in run_results],
            "target_platform": "duckdb",
            # PATCH writes need a DataHub graph to read from; a file sink has none.
            "write_semantics": "OVERRIDE",
            "convert_urns_to_lowercase": False,
        }},
        "sink": {"type": "file", "config": {"filename": str(out)}},
    })  # fmt: skip
    pipeline.run()
    pipeline.raise_from_status()
    return json.loads(out.read_text())


class World:
    """What one dbt seed/run/test through the bridge left in GMS, and DataHub's dbt source's view."""

    def __init__(self, gms: GmsServer, reference: list[dict[str, Any]], manifest: dict[str, Any],
                 events: int, dead: int, typed_schema: dict[str, Any]) -> None:
        self.gms = gms
        self.aspects = dict(gms.aspects)
        self.reference = reference
        self.manifest = manifest
        self.events = events
        self.dead = dead
        self.typed_schema = typed_schema

    def ours(self, entity_type: str) -> set[str]:
        return {urn for urn, _ in self.aspects if urn.startswith(f"urn:li:{entity_type}:")}

    def theirs(self) -> dict[tuple[str, str], dict[str, Any]]:
        """``(urn, aspect) -> value`` of the reference (MCEs' snapshot aspects too)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for item in self.reference:
            if "proposedSnapshot" in item:
                snapshot = next(iter(item["proposedSnapshot"].values()))
                for aspect in snapshot["aspects"]:
                    (cls, value), = aspect.items()
                    name = cls.rsplit(".", 1)[1]
                    out[(snapshot["urn"], name[0].lower() + name[1:])] = value
            elif "json" in item.get("aspect", {}):
                out[(item["entityUrn"], item["aspectName"])] = item["aspect"]["json"]
            else:  # a PATCH: the dbt source's sibling-to-warehouse lineage
                value = json.loads(item["aspect"]["value"]) if isinstance(item["aspect"].get("value"), str) else item["aspect"]
                out[(item["entityUrn"], item["aspectName"] + "#patch")] = {"ops": value}
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("dbt")
    with GmsServer(validate_aspects=True) as gms:
        # A warehouse ingestion wrote stg_orders' schema, with types, before dbt-ol ran.
        from datahub.emitter.mcp import MetadataChangeProposalWrapper as DataHubMCPW
        from datahub.emitter.rest_emitter import DatahubRestEmitter
        from datahub.metadata.schema_classes import SchemaMetadataClass

        with DatahubRestEmitter(gms.url) as emitter:
            emitter.emit_mcp(DataHubMCPW(entityUrn=duckdb("stg_orders"),
                                         aspect=SchemaMetadataClass.from_obj(WAREHOUSE_SCHEMA)))  # fmt: skip
        typed = json.loads(json.dumps(gms.aspects[(duckdb("stg_orders"), "schemaMetadata")]))
        assert typed["fields"][0]["nativeDataType"] == "INTEGER"

        with BridgeProcess(tmp / "state", "--emitter", "rest", "--gms-server", gms.url) as bridge:
            env = _dbt_env(tmp, bridge.url)
            run_results = []
            for command in ("seed", "run", "test"):
                _run(["dbt-ol", command], env, tmp / f"dbt-ol-{command}.log")
                run_results.append(shutil.copy(tmp / "target" / "run_results.json", tmp / f"run_results_{command}.json"))
            wait_until(
                lambda: bridge.metric("bridge_events_received_total")
                == bridge.metric("bridge_events_delivered_total") + bridge.metric("bridge_events_dead_lettered_total"),
                timeout=60, what=f"bridge serve did not deliver every event: {bridge.log_tail()}",
            )  # fmt: skip
            events = int(bridge.metric("bridge_events_received_total"))
            dead = int(bridge.metric("bridge_events_dead_lettered_total"))
        # The catalog (column types) for DataHub's dbt source; dbt-ol sends none of it.
        env.pop("OPENLINEAGE_URL")
        _run(["dbt", "docs", "generate"], env, tmp / "dbt-docs.log")
        manifest = json.loads((tmp / "target" / "manifest.json").read_text())
        reference = _reference(tmp, [Path(p) for p in run_results[1:]])
        yield World(gms, reference, manifest, events, dead, typed)


MODELS = {"stg_customers", "stg_orders", "customer_orders"}
TABLES = MODELS | {"raw_customers", "raw_orders"}


def test_every_event_is_delivered_and_none_dead_lettered(world):
    # seed: the invocation's START and COMPLETE (seeds are not jobs of dbt-ol); run: the invocation's
    # two and two per model; test: the invocation's two and two per tested model and singular test.
    assert (world.events, world.dead) == (2 + 8 + 10, 0)


def test_dataset_urns_are_the_warehouse_tables_datahubs_dbt_source_names(world):
    theirs = {urn for urn, _ in world.theirs() if urn.startswith("urn:li:dataset:")}
    assert world.ours("dataset") == {duckdb(t) for t in TABLES}
    assert {u for u in theirs if ":duckdb," in u} == {duckdb(t) for t in TABLES}
    # The dbt source also writes a dbt-platform node beside each warehouse table (its "sibling");
    # the bridge carries what ran, on the warehouse's tables, and writes no dbt-platform dataset.
    assert {u for u in theirs if ":duckdb," not in u} == {
        f"urn:li:dataset:(urn:li:dataPlatform:dbt,warehouse.main.{t},PROD)" for t in TABLES
    }


def _warehouse(urn: str) -> str:
    return urn.replace("urn:li:dataPlatform:dbt,", "urn:li:dataPlatform:duckdb,")


def _their_lineage(world: World) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The dbt source's table and column lineage between warehouse tables.

    It links warehouse table -> dbt node (COPY, same columns) -> the warehouse tables the node
    reads; the dbt node in the middle is folded away, so both sides speak of warehouse tables.
    """
    tables: dict[str, set[str]] = {}
    columns: dict[str, set[str]] = {}
    for (urn, aspect), value in world.theirs().items():
        if aspect != "upstreamLineage" or ":dbt," not in urn:
            continue
        tables[_warehouse(urn)] = {u["dataset"] for u in value["upstreams"]}
        for fine in value.get("fineGrainedLineages") or ():
            for down in fine["downstreams"]:
                columns.setdefault(_warehouse(down), set()).update(fine["upstreams"])
    return tables, columns


def _model_jobs(world: World) -> dict[str, dict[str, Any]]:
    return {
        urn: value for (urn, aspect), value in world.aspects.items()
        if aspect == "dataJobInputOutput" and job_edges(value, "outputDatasetEdges")
    }  # fmt: skip


def test_table_lineage_matches_datahubs_dbt_source_seeds_included(world):
    ours: dict[str, set[str]] = {}
    for value in _model_jobs(world).values():
        for out in job_edges(value, "outputDatasetEdges"):
            ours.setdefault(out, set()).update(job_edges(value, "inputDatasetEdges"))
    tables, _ = _their_lineage(world)
    assert ours == tables == {
        duckdb("stg_customers"): {duckdb("raw_customers")},  # seeds: named only in column lineage by dbt-ol
        duckdb("stg_orders"): {duckdb("raw_orders")},
        duckdb("customer_orders"): {duckdb("stg_customers"), duckdb("stg_orders")},
    }


def test_the_seed_is_an_input_of_the_run_too(world):
    job = f"urn:li:dataJob:({FLOW},warehouse.main.jaffle.stg_customers)"
    runs = [urn for (urn, aspect), value in world.aspects.items()
            if aspect == "dataProcessInstanceRelationships" and value.get("parentTemplate") == job]  # fmt: skip
    assert len(runs) == 1
    assert world.aspects[(runs[0], "dataProcessInstanceInput")]["inputs"] == [duckdb("raw_customers")]


def test_column_lineage_matches_datahubs_dbt_source(world):
    ours: dict[str, set[str]] = {}
    for value in _model_jobs(world).values():
        for fine in value.get("fineGrainedLineages") or ():
            for down in fine["downstreams"]:
                ours.setdefault(down, set()).update(fine["upstreams"])
    _, columns = _their_lineage(world)
    assert ours == columns
    assert ours[field(duckdb("customer_orders"), "total_amount")] == {field(duckdb("stg_orders"), "amount")}
    assert ours[field(duckdb("stg_customers"), "customer_id")] == {field(duckdb("raw_customers"), "id")}


def test_one_flow_for_the_dbt_project_holding_models_tests_and_the_invocation(world):
    # DataHub's dbt source writes no flows or jobs (models are datasets, tests assertions): the
    # flows are the bridge's choice, one per dbt project, named after dbt-ol's invocation job.
    assert not {urn for urn, _ in world.theirs() if urn.startswith(("urn:li:dataFlow:", "urn:li:dataJob:"))}
    assert world.ours("dataFlow") == {FLOW}
    assert world.ours("dataJob") == {
        f"urn:li:dataJob:({FLOW},{name})"
        for name in (
            "dbt-run-jaffle",
            "warehouse.main.jaffle.stg_customers", "warehouse.main.jaffle.stg_orders",
            "warehouse.main.jaffle.customer_orders", "warehouse.main.jaffle.stg_customers.test",
            "warehouse.main.jaffle.stg_orders.test", "warehouse.main.jaffle.customer_orders.test",
            "test.jaffle.assert_totals_not_negative",
        )
    }  # fmt: skip
    assert world.aspects[(FLOW, "dataFlowInfo")]["name"] == "dbt-run-jaffle"


def test_an_untyped_dbt_ol_schema_does_not_replace_the_warehouses_typed_one(world):
    # Without catalog.json, dbt-ol's schema facet has column names and no types.
    # The bridge writes schemaMetadata only if absent (translators/datahub/writes.py).
    assert world.aspects[(duckdb("stg_orders"), "schemaMetadata")] == world.typed_schema
    # Where no source wrote a schema, dbt-ol's is better than none: it is written.
    ours = world.aspects[(duckdb("customer_orders"), "schemaMetadata")]
    assert [(f["fieldPath"], f["nativeDataType"]) for f in ours["fields"]] == [("customer_id", "")]


def _test_kind(node: dict[str, Any]) -> str:
    """``not_null``, ``accepted_values``..., or the singular test's name."""
    return (node.get("test_metadata") or {}).get("name") or node["name"]


def test_assertions_and_results_match_datahubs_dbt_source(world):
    ours = {}
    for (urn, aspect), info in world.aspects.items():
        if aspect != "assertionInfo":
            continue
        custom = info["customAssertion"]
        column = custom["field"].rsplit(",", 1)[1][:-1] if custom.get("field") else None
        result = world.aspects[(urn, "assertionRunEvent")]
        assert result["asserteeUrn"] == custom["entity"]
        ours[(custom["entity"], column, custom["nativeType"])] = result["result"]["type"]

    nodes = world.manifest["nodes"]
    theirs = {}
    reference = world.theirs()
    for (urn, aspect), info in reference.items():
        if aspect != "assertionInfo":
            continue
        custom = info["customAssertion"]
        column = custom["field"].rsplit(",", 1)[1][:-1] if custom.get("field") else None
        kind = _test_kind(nodes[info["customProperties"]["dbt_unique_id"]])
        theirs[(_warehouse(custom["entity"]), column, kind)] = reference[(urn, "assertionRunEvent")]["result"]["type"]

    assert len(ours) == 9 and list(ours.values()).count("FAILURE") == 1
    # dbt's relationships test reads two models; DataHub's dbt source makes one assertion on each,
    # dbt-ol reports it on the model it is declared on only.
    only_theirs = {k: v for k, v in theirs.items() if k not in ours}
    assert only_theirs == {(duckdb("stg_customers"), "customer_id", "relationships"): "SUCCESS"}
    # A test that fails with severity warn: dbt-ol says success false, and the bridge keeps that;
    # DataHub's dbt source counts a warning as a success unless test_warnings_are_errors is set.
    warned = (duckdb("stg_orders"), "status", "accepted_values")
    assert (ours[warned], theirs[warned]) == ("FAILURE", "SUCCESS")
    assert {k: v for k, v in ours.items() if k != warned} == {
        k: v for k, v in theirs.items() if k != warned and k not in only_theirs
    }
