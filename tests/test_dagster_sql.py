"""SQL in asset metadata -> table lineage (sqlglot), against real runs, as DataHub's
``enable_asset_query_metadata_parsing`` does: the tables the ``Query`` (or a configured key)
reads are the asset's upstreams and its op's inputs; the tables it writes are outputs."""

import dagster as dg
import pytest

from dagster_plugin.sql import parse_tables
from tests.dagster_helpers import datajob, dataset, last, report_job


@dg.asset(kinds={"snowflake"}, metadata={"dagster/table_name": "analytics.public.revenue"})
def revenue() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"Query": dg.MetadataValue.text(
        "INSERT INTO analytics.public.revenue SELECT o.day, SUM(o.amount) FROM RAW.SHOP.ORDERS o "
        "JOIN raw.shop.refunds r ON r.id = o.id GROUP BY 1")})


@dg.asset(kinds={"postgres"}, metadata={"transform_sql": "with recent as (select * from shop.public.visits) "
                                                        "select * from recent join shop.public.users using (id)"})
def visits_report() -> None:
    return None


@dg.asset(kinds={"duckdb"}, metadata={"Query": "this is not sql at all ((("})
def broken() -> None:
    return None


JOB = dg.define_asset_job("sql_job", selection=[revenue, visits_report, broken])
REVENUE = dataset("dagster", "revenue")


def _report(instance, **options) -> list:
    return report_job(instance, [revenue, visits_report, broken], JOB, **options)


def _upstreams(mcps: list, urn: str) -> set[str]:
    return {u["dataset"] for u in last(mcps, urn, "upstreamLineage")["upstreams"]}


def test_query_metadata_becomes_table_lineage(instance):
    mcps = _report(instance)
    orders, refunds = dataset("snowflake", "raw.shop.orders"), dataset("snowflake", "raw.shop.refunds")
    assert _upstreams(mcps, REVENUE) == {orders, refunds}
    io = last(mcps, datajob("sql_job", "revenue"), "dataJobInputOutput")
    assert set(io["inputDatasets"]) == {orders, refunds}
    assert dataset("snowflake", "analytics.public.revenue") in io["outputDatasets"]
    # the SQL that cannot be parsed adds nothing and fails nothing
    assert not [m for m in mcps if m.entity_urn == dataset("dagster", "broken") and m.aspect_name == "upstreamLineage"]
    # the other key is not read unless configured
    assert not [m for m in mcps if m.entity_urn == dataset("dagster", "visits_report")
                and m.aspect_name == "upstreamLineage"]


def test_a_configured_key_and_the_dialect_of_the_assets_kind(instance):
    mcps = _report(instance, asset_query_metadata_keys=["Query", "transform_sql"])
    assert _upstreams(mcps, dataset("dagster", "visits_report")) == {
        dataset("postgres", "shop.public.visits"), dataset("postgres", "shop.public.users")}


def test_parsing_off(instance):
    mcps = _report(instance, enable_asset_query_metadata_parsing=False)
    assert not [m for m in mcps if m.aspect_name == "upstreamLineage" and m.entity_urn == REVENUE]


@pytest.mark.parametrize(("sql", "platform", "inputs", "outputs"), [
    ("select * from db.s.a join b on a.id = b.id", "postgres", ("db.s.a", "b"), ()),
    ("create table t2 as select * from t1", None, ("t1",), ("t2",)),
    ("merge into tgt using src on tgt.id = src.id when matched then update set a = src.a", "snowflake",
     ("src",), ("tgt",)),
    ("select * from `Proj.DS.T`", "bigquery", ("Proj.DS.T",), ()),
    ("with x as (select * from s.a) select * from x", "mssql", ("s.a",), ()),
    ("selec from where (((", "duckdb", (), ()),
])
def test_parse_tables(sql, platform, inputs, outputs):
    tables = parse_tables(sql, platform)
    assert (set(tables.inputs), set(tables.outputs)) == (set(inputs), set(outputs))
