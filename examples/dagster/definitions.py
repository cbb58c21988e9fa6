"""All the examples as one code location (``dagster dev -f examples/dagster/definitions.py``).

The sensor is configured from the environment (see README "Dagster"), e.g.
``DATAHUB_GMS_URL=http://localhost:8080``.
"""

from __future__ import annotations

import dagster as dg

from dagster_plugin import make_datahub_sensor
from examples.dagster import assets_job, ops_job

# Configured from the environment on its first tick; evaluated every 5 seconds once turned on.
datahub_sensor = make_datahub_sensor(minimum_interval_seconds=5)

defs = dg.Definitions(
    assets=[assets_job.customers, assets_job.orders, assets_job.customer_revenue],
    jobs=[assets_job.raw_job, assets_job.revenue_job, ops_job.events_pipeline, ops_job.failing_job],
    sensors=[datahub_sensor],
)
