"""Dagster plugin: a sensor reporting every finished run, its ops and assets (with lineage) to DataHub.

Install with ``pip install 'lineage-bridge[dagster]'``; see README.md ("Dagster").

DataHub's plugin's names are here too, so its guide's code runs with only the imports changed:
``DatahubDagsterSourceConfig``, ``make_datahub_sensor``, ``DatahubClientConfig``, ``DatasetUrn``,
``DagsterGenerator``, ``DatasetLineage``, ``DataHubGraph`` (none of them imports acryl-datahub).
"""

from __future__ import annotations

from dagster_plugin.client_config import DatahubClientConfig
from dagster_plugin.config import ENV_VARS, DagsterPluginConfig, DatahubDagsterSourceConfig
from dagster_plugin.cursor import DeadLetter, SensorCursor
from dagster_plugin.dead_letters import REQUEUE_TAG, dead_letters, requeue_dead_letters
from dagster_plugin.events import build_events, step_run_id
from dagster_plugin.extractors import DagsterGenerator, DataHubGraph, DatasetLineage
from dagster_plugin.reporter import ReportResult, RunReporter
from dagster_plugin.runs import (
    AssetEvent,
    AssetInfo,
    CheckEvaluation,
    IOEvent,
    OpInfo,
    OpLineage,
    RunInfo,
    StepInfo,
    read_run,
)
from dagster_plugin.sensor import DEFAULT_SENSOR_NAME, datahub_sensor, make_datahub_sensor
from dagster_plugin.urns import DatasetUrn

__all__ = [
    "DEFAULT_SENSOR_NAME",
    "REQUEUE_TAG",
    "ENV_VARS",
    "AssetEvent",
    "AssetInfo",
    "CheckEvaluation",
    "DagsterGenerator",
    "DagsterPluginConfig",
    "DataHubGraph",
    "DatahubClientConfig",
    "DatahubDagsterSourceConfig",
    "DatasetLineage",
    "DatasetUrn",
    "DeadLetter",
    "IOEvent",
    "OpInfo",
    "OpLineage",
    "ReportResult",
    "RunInfo",
    "RunReporter",
    "SensorCursor",
    "StepInfo",
    "build_events",
    "datahub_sensor",
    "dead_letters",
    "make_datahub_sensor",
    "read_run",
    "requeue_dead_letters",
    "step_run_id",
]
