"""Dagster plugin: a sensor reporting every finished run, its ops and assets (with lineage) to DataHub.

Install with ``pip install 'lineage-bridge[dagster]'``; see README.md ("Dagster").
"""

from __future__ import annotations

from dagster_plugin.config import ENV_VARS, DagsterPluginConfig, DatahubDagsterSourceConfig
from dagster_plugin.cursor import DeadLetter, SensorCursor
from dagster_plugin.dead_letters import REQUEUE_TAG, dead_letters, requeue_dead_letters
from dagster_plugin.events import build_events, step_run_id
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

__all__ = [
    "DEFAULT_SENSOR_NAME",
    "REQUEUE_TAG",
    "ENV_VARS",
    "AssetEvent",
    "AssetInfo",
    "CheckEvaluation",
    "DagsterPluginConfig",
    "DatahubDagsterSourceConfig",
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
