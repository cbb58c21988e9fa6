"""Definitions the Dagster sensor daemon loads in tests/test_dagster_stalls_daemon.py (in a code server).

The test sets ``STALL_TEST_GMS`` (where DataHub is) and ``STALL_TEST_BROKEN`` (a file: while it exists,
the lineage extractor fails for runs of ``failing_job``, as a user's buggy extractor would).
"""

import os
from pathlib import Path

import dagster as dg

from dagster_plugin import DagsterPluginConfig, make_datahub_sensor
from examples.dagster import assets_job, ops_job


def extractor(run):
    if run.job_name == "failing_job" and Path(os.environ["STALL_TEST_BROKEN"]).exists():
        raise KeyError("warehouse_table")
    return {}


config = DagsterPluginConfig(backfill=True,
    datahub_client_config={"server": os.environ.get("STALL_TEST_GMS", "http://127.0.0.1:1")},
    asset_lineage_extractor=extractor,
    max_tries=2,
    max_runs_per_tick=2,
    tick_deadline_sec=float(os.environ.get("STALL_TEST_DEADLINE", "3")),
)

defs = dg.Definitions(
    assets=[assets_job.customers, assets_job.orders, assets_job.customer_revenue],
    jobs=[assets_job.raw_job, ops_job.failing_job],
    sensors=[make_datahub_sensor(config, minimum_interval_seconds=1,
                                 default_status=dg.DefaultSensorStatus.RUNNING)],
)
