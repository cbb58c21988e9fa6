"""Assets with dependencies, column schema, column lineage, owners, groups and partitions.

Run it: ``python -m examples.dagster.assets_job`` (materializes the assets in a
temporary Dagster instance, runs the sensor once and prints what it reported
to ``./dagster-example-mcps.json``). In a deployment, add ``datahub_sensor`` to
your own ``Definitions`` and start the sensor in the Dagster UI.
"""

import dagster as dg

from dagster_plugin import DagsterPluginConfig, make_datahub_sensor

daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")


@dg.asset(
    group_name="raw",
    owners=["team:data-eng", "alice@example.com"],
    tags={"domain": "sales"},
    kinds={"postgres"},
    description="Customers, one row per customer.",
    metadata={
        "dagster/table_name": "shop.public.customers",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("id", "int", description="customer key"),
                dg.TableColumn("name", "string"),
                dg.TableColumn("email", "string", tags={"pii": ""}),
            ]
        ),
    },
)
def customers() -> list[dict]:
    return [{"id": 1, "name": "Ada", "email": "ada@example.com"}]


@dg.asset(group_name="raw", owners=["team:data-eng"], description="Orders as they arrive.")
def orders() -> list[dict]:
    return [{"order_id": 10, "customer_id": 1, "amount": 12.5}]


@dg.asset(
    group_name="marts",
    deps=[customers, orders],
    owners=["bob@example.com"],
    partitions_def=daily,
    description="Revenue per customer and day.",
)
def customer_revenue(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": 1,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn("customer_id", "int"), dg.TableColumn("customer_name", "string"),
                         dg.TableColumn("revenue", "double")]
            ),
            "dagster/column_lineage": dg.TableColumnLineage(
                deps_by_column={
                    "customer_id": [dg.TableColumnDep(asset_key=dg.AssetKey("customers"), column_name="id")],
                    "customer_name": [dg.TableColumnDep(asset_key=dg.AssetKey("customers"), column_name="name")],
                    "revenue": [dg.TableColumnDep(asset_key=dg.AssetKey("orders"), column_name="amount")],
                }
            ),
            "partition": context.partition_key,
        }
    )


raw_job = dg.define_asset_job("raw_assets", selection=dg.AssetSelection.groups("raw"))
revenue_job = dg.define_asset_job("revenue_daily", selection=[customer_revenue])

datahub_sensor = make_datahub_sensor(
    DagsterPluginConfig(
        datahub_client_config={"kind": "file", "filename": "dagster-example-mcps.json"},
        dagster_url="http://localhost:3000",
    )
)

defs = dg.Definitions(
    assets=[customers, orders, customer_revenue], jobs=[raw_job, revenue_job], sensors=[datahub_sensor]
)

if __name__ == "__main__":
    from examples.dagster.run_example import run_example

    run_example(defs, ["raw_assets", ("revenue_daily", "2024-01-02")])
