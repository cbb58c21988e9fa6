"""A custom lineage extractor and asset-key naming, as in DataHub's Dagster guide.

``asset_lineage_extractor(run, context)`` returns, per op name (or step key),
the datasets it read and wrote (URN strings, ``bridge.Dataset`` or
``(namespace, name)``); ``asset_keys_to_dataset_urn_converter`` names the
dataset an asset really is. Run it: ``python -m examples.dagster.custom_lineage_extractor``.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from dagster_plugin import DagsterPluginConfig, OpLineage, RunInfo, make_datahub_sensor


@dg.asset(key_prefix=["prod", "snowflake", "analytics", "public"])
def daily_sales() -> int:
    return 42


@dg.op
def export_report() -> None:
    """Copies a warehouse table to a CSV on S3 (the op's code knows; Dagster does not)."""


@dg.job
def export_job():
    export_report()


def lineage_extractor(run: RunInfo, context: object) -> dict[str, OpLineage]:
    """Tell the plugin what ``export_report`` reads and writes."""
    if run.job_name != "export_job":
        return {}
    return {
        "export_report": OpLineage(
            inputs=["urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.public.daily_sales,PROD)"],
            outputs=[("s3://reports", "daily/sales.csv")],
        )
    }


def asset_key_to_urn(key: Sequence[str]) -> str | None:
    """``[env, platform, *name]`` keys are real tables; anything else stays a ``dagster`` asset."""
    if len(key) >= 3:
        return f"urn:li:dataset:(urn:li:dataPlatform:{key[1]},{'.'.join(key[2:])},{key[0].upper()})"
    return None


datahub_sensor = make_datahub_sensor(
    DagsterPluginConfig(
        datahub_client_config={"kind": "file", "filename": "dagster-example-mcps.json"},
        asset_lineage_extractor=lineage_extractor,
        asset_keys_to_dataset_urn_converter=asset_key_to_urn,
    )
)

defs = dg.Definitions(
    assets=[daily_sales],
    jobs=[export_job, dg.define_asset_job("sales_assets", selection=[daily_sales])],
    sensors=[datahub_sensor],
)

if __name__ == "__main__":
    from examples.dagster.run_example import run_example

    run_example(defs, ["sales_assets", "export_job"])
