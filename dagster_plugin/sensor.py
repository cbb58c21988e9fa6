"""The Dagster sensor: report every finished run (success, failure, cancellation) to DataHub.

Usage, as in DataHub's Dagster guide::

    from dagster import Definitions
    from dagster_plugin import DatahubDagsterSourceConfig, make_datahub_sensor

    config = DatahubDagsterSourceConfig(
        datahub_client_config={"server": "http://localhost:8080", "token": "..."},
        dagster_url="http://localhost:3000",
    )
    defs = Definitions(assets=[...], jobs=[...], sensors=[make_datahub_sensor(config)])

Each tick reads the instance's run-finished events after the cursor, reports
each run (read -> neutral events -> bridge pipeline -> emitter -> flush) and
moves the cursor (see :mod:`dagster_plugin.cursor`). A run whose delivery
fails is kept in the cursor and retried on a later tick. Nothing connects to
DataHub until the sensor first runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from bridge.errors import BridgeError, ConfigError, MissingDependencyError, is_retriable
from dagster_plugin.config import DagsterPluginConfig
from dagster_plugin.cursor import SensorCursor
from dagster_plugin.reporter import RunReporter
from emitters.base import Emitter

__all__ = ["DEFAULT_SENSOR_NAME", "datahub_sensor", "make_datahub_sensor"]

DEFAULT_SENSOR_NAME = "datahub_sensor"
logger = logging.getLogger("dagster_plugin")


def _finished_events(instance: Any, after: int, limit: int, job_names: Sequence[str] | None) -> list[Any]:
    """Run success/failure/cancel events after storage id ``after``, oldest first, at most ``limit``."""
    from dagster import DagsterEventType
    from dagster._core.event_api import RunStatusChangeRecordsFilter

    records = []
    for event_type in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED):
        result = instance.fetch_run_status_changes(
            RunStatusChangeRecordsFilter(
                event_type=event_type, after_storage_id=after or None, job_names=list(job_names) if job_names else None
            ),
            limit=limit,
            ascending=True,
        )
        records += result.records
    records.sort(key=lambda r: r.storage_id)
    return records[:limit]


def _job_names(monitored_jobs: Sequence[Any] | None) -> list[str] | None:
    if not monitored_jobs:
        return None
    return [job if isinstance(job, str) else job.name for job in monitored_jobs]


class _Tick:
    """One sensor evaluation: pending retries first, then new finished runs, within the per-tick budget."""

    def __init__(self, context: Any, reporter: RunReporter, name: str, job_names: list[str] | None,
                 all_locations: bool) -> None:
        self.context = context
        self.reporter = reporter
        self.name = name
        self.job_names = job_names
        self.all_locations = all_locations
        self.reported = 0
        self.failed = 0

    def log(self, level: int, message: str, *args: Any) -> None:
        text = f"{self.name} - {message % args if args else message}"
        self.context.log.log(level, text)
        logger.log(level, text)

    def _ours(self, run_id: str) -> bool:
        """False for runs of another code location (each location's sensor reports its own runs)."""
        if self.all_locations:
            return True
        mine = getattr(self.context.code_location_origin, "location_name", None)
        if mine is None:
            return True
        run = self.context.instance.get_run_by_id(run_id)
        theirs = run.remote_job_origin.location_name if run is not None and run.remote_job_origin else None
        return theirs is None or theirs == mine

    def report(self, cursor: SensorCursor, run_id: str, storage_id: int) -> tuple[SensorCursor, bool]:
        """Report one run; returns the new cursor and whether to go on with this tick."""
        try:
            result = self.reporter.report(
                self.context.instance, run_id, repository_def=self.context.repository_def, context=self.context
            )
        except BridgeError as exc:
            cursor = cursor.failed(run_id, storage_id, str(exc))
            tries = cursor.retry[run_id].tries
            self.failed += 1
            self.log(
                logging.WARNING,
                "could not deliver the metadata of run %s (try %d): %s; it will be retried on a later tick",
                run_id, tries, exc,
            )
            # Nothing answers: the next runs would fail the same way; stop and keep them for next tick.
            return cursor, not is_retriable(exc)
        self.reported += 1
        self.log(logging.INFO, "reported run %s (%d events, %d MCPs)", run_id, result.events, result.mcps)
        return cursor.reported(run_id, storage_id), True

    def run(self, cursor: SensorCursor) -> SensorCursor:
        budget = self.reporter.config.max_runs_per_tick
        for run_id, retry in sorted(cursor.retry.items(), key=lambda item: item[1].storage_id):
            if budget <= 0:
                return cursor
            budget -= 1
            self.log(logging.INFO, "retrying run %s (failed %d time(s) before: %s)", run_id, retry.tries, retry.error)
            cursor, go_on = self.report(cursor, run_id, retry.storage_id)
            if not go_on:
                return cursor
        # Runs of other jobs or code locations are passed over without using the budget.
        while budget > 0:
            records = _finished_events(self.context.instance, cursor.after, max(budget, 100), self.job_names)
            if not records:
                break
            for record in records:
                if budget <= 0:
                    break
                run_id = record.event_log_entry.run_id
                # Some storages ignore the job-name filter: check again.
                monitored = self.job_names is None or record.event_log_entry.job_name in self.job_names
                if not monitored or not self._ours(run_id):
                    cursor = cursor.skipped(record.storage_id)
                    continue
                budget -= 1
                cursor, go_on = self.report(cursor, run_id, record.storage_id)
                if not go_on:
                    return cursor
        return cursor


def make_datahub_sensor(
    config: DagsterPluginConfig | None = None,
    name: str = DEFAULT_SENSOR_NAME,
    minimum_interval_seconds: int | None = None,
    description: str | None = None,
    default_status: Any = None,
    monitored_jobs: Sequence[Any] | None = None,
    monitor_all_code_locations: bool = False,
    emitter: Emitter | Callable[[], Emitter] | None = None,
) -> Any:
    """Create the sensor that reports finished runs to DataHub.

    Args:
        config: the plugin config; ``None`` resolves it from the environment when the sensor first runs
            (:meth:`DagsterPluginConfig.from_env`).
        name: the sensor's name (``datahub_sensor``).
        minimum_interval_seconds: seconds between evaluations (Dagster's default when None).
        description: shown in the Dagster UI.
        default_status: ``DefaultSensorStatus.RUNNING`` to start it without a click (STOPPED by default).
        monitored_jobs: only report runs of these jobs (names or job definitions); all jobs when None.
        monitor_all_code_locations: also report runs of other code locations (off: each location's
            sensor reports its own runs, so two locations never report a run twice).
        emitter: an emitter (or a function returning one) to use instead of ``datahub_client_config``.

    Returns:
        A ``dagster.SensorDefinition`` for ``Definitions(sensors=[...])`` or a ``@repository`` list.
    """
    job_names = _job_names(monitored_jobs)
    state: dict[str, RunReporter] = {}

    def reporter() -> RunReporter:
        # Built on the first tick, not at code-load time: no environment read, no connection before.
        if "reporter" not in state:
            state["reporter"] = RunReporter(config or DagsterPluginConfig.from_env(), emitter=emitter)
        return state["reporter"]

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        description=description or "Reports every finished run, its ops and assets (with lineage) to DataHub.",
        default_status=default_status or dg.DefaultSensorStatus.STOPPED,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            cursor = SensorCursor.parse(context.cursor)
            tick = _Tick(context, reporter(), name, job_names, monitor_all_code_locations)
            tick.reporter.bridge(context.instance)  # builds the emitter (no network): config errors show here
        except (ConfigError, MissingDependencyError) as exc:
            message = f"{name} - not configured: {exc}"
            context.log.error(message)
            return dg.SensorResult(skip_reason=message)
        tick.log(logging.INFO, "Emitting metadata...")
        new_cursor = tick.run(cursor)
        summary = f"reported {tick.reported} run(s)"
        if tick.failed:
            summary += f", {tick.failed} failed (retried on a later tick)"
        if new_cursor.retry:
            summary += f", {len(new_cursor.retry)} waiting for retry"
        return dg.SensorResult(skip_reason=summary, cursor=new_cursor.serialize())

    return _sensor


#: A ready sensor configured from the environment when it first runs (see README "Dagster"):
#: ``Definitions(sensors=[datahub_sensor])``. Building it reads nothing and connects nowhere.
datahub_sensor = make_datahub_sensor()
