"""Assets and their physical tables, against real runs and the GMS test server's store.

* ``dagster/table_name`` names the asset's table when the asset has no kind: the platform comes
  from ``table_platform`` (or a table ``dagster/uri``);
* the asset and its table are siblings on both sides, as DataHub's own siblings are; a table that
  already has siblings (a dbt model, say) keeps them;
* the default IO manager's pickle files are not datasets unless ``capture_input_output=True``.
"""

import dagster as dg

from dagster_plugin import DagsterPluginConfig, make_datahub_sensor
from tests.dagster_helpers import datajob, dataset, execute, last, report_job, shown, tick
from tests.servers.gms import GmsServer


@dg.asset(metadata={"dagster/table_name": "analytics.public.orders"})
def orders() -> int:
    return 1


@dg.asset(deps=[orders], metadata={"dagster/uri": "snowflake://acct/analytics/public/daily",
                                   "dagster/table_name": "analytics.public.daily"})
def daily() -> None:
    return None


JOB = dg.define_asset_job("tables_job", selection=[orders, daily])
ORDERS = dataset("dagster", "orders")
TABLE = dataset("snowflake", "analytics.public.orders")


def _report(instance, **options) -> list:
    return report_job(instance, [orders, daily], JOB, **options)


def test_table_name_without_a_kind_uses_table_platform(instance):
    mcps = _report(instance, table_platform="snowflake")
    outputs = last(mcps, datajob("tables_job", "orders"), "dataJobInputOutput")["outputDatasets"]
    assert set(outputs) == {ORDERS, TABLE}
    assert last(mcps, ORDERS, "siblings")["siblings"] == [TABLE]
    # a table dagster/uri names the platform of the other asset's table without any setting
    daily_out = last(mcps, datajob("tables_job", "daily"), "dataJobInputOutput")["outputDatasets"]
    assert dataset("snowflake", "analytics.public.daily") in daily_out


def test_table_name_with_no_platform_anywhere_is_a_property_only(instance):
    mcps = _report(instance)
    outputs = last(mcps, datajob("tables_job", "orders"), "dataJobInputOutput")["outputDatasets"]
    assert outputs == [ORDERS]  # no guessed platform, and no IO-manager pickle file
    assert last(mcps, ORDERS, "datasetProperties")["customProperties"]["dagster/table_name"] == (
        "analytics.public.orders")


def test_io_manager_files_only_with_capture_input_output(instance):
    quiet = _report(instance)
    assert not [m for m in quiet if "dataPlatform:file," in m.entity_urn]
    with dg.instance_for_test() as other:
        loud = _report(other, capture_input_output=True)
    files = {m.entity_urn for m in loud if "dataPlatform:file," in m.entity_urn}
    assert files and all("/storage/orders" in u or "/storage/daily" in u for u in files)


def test_asset_and_table_are_siblings_on_both_sides_and_other_siblings_stay(instance):
    dbt_model = dataset("dbt", "analytics.public.daily")
    with GmsServer(validate_aspects=True) as gms:
        # the daily table already is a dbt model's sibling: that link stays
        gms.seed(dataset("snowflake", "analytics.public.daily"), "siblings", {"siblings": [dbt_model],
                                                                              "primary": True})
        config = DagsterPluginConfig(datahub_client_config={"server": gms.url}, backfill=True,
                                            table_platform="snowflake")
        sensor = make_datahub_sensor(config)
        defs = dg.Definitions(assets=[orders, daily], jobs=[JOB], sensors=[sensor])
        assert execute(defs, instance, "tables_job").success
        assert tick(sensor, defs, instance, None).skip_message.startswith("reported 1 run(s)")
        stored = gms.aspects
    assert shown(stored, ORDERS, "siblings") == {"siblings": [TABLE], "primary": False}
    assert shown(stored, TABLE, "siblings") == {"siblings": [ORDERS], "primary": True}
    assert shown(stored, dataset("snowflake", "analytics.public.daily"), "siblings") == {
        "siblings": [dbt_model], "primary": True}
    assert shown(stored, dataset("dagster", "daily"), "siblings")["siblings"] == [
        dataset("snowflake", "analytics.public.daily")]


def test_dagster_is_primary_sibling_flips_both_sides(instance):
    mcps = _report(instance, table_platform="snowflake", dagster_is_primary_sibling=True)
    assert last(mcps, ORDERS, "siblings") == {"siblings": [TABLE], "primary": True}
    assert last(mcps, TABLE, "siblings") == {"siblings": [ORDERS], "primary": False}
