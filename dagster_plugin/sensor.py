"""The Dagster sensor: report every finished run (success, failure, cancellation) to DataHub.

Usage, as in DataHub's Dagster guide::

    from dagster import Definitions
    from dagster_plugin import DatahubDagsterSourceConfig, make_datahub_sensor

    config = DatahubDagsterSourceConfig(
        datahub_client_config={"server": "http://localhost:8080", "token": "..."},
        dagster_url="http://localhost:3000",
    )
    defs = Definitions(assets=[...], jobs=[...], sensors=[make_datahub_sensor(config)])

``DatahubDagsterSourceConfig`` (DataHub's name) defaults as DataHub's plugin does (its URNs, no
``status`` on the datasets named in lineage); ``DagsterPluginConfig`` (the bridge's) as the bridge.

The first tick (or the first after the cursor was reset) starts from now, unless the
config's ``backfill`` is set (see :mod:`dagster_plugin.tick`). Each tick reads the
instance's run-finished events after the cursor, reports
each run (read -> neutral events -> bridge pipeline -> emitter -> flush) and
moves the cursor (see :mod:`dagster_plugin.cursor`). A run whose delivery
fails is kept in the cursor and retried on a later tick, until it has failed
``max_tries`` times and is dead-lettered (:mod:`dagster_plugin.dead_letters`).
A tick ends by ``tick_deadline_sec`` and carries what is left to the next one
(:mod:`dagster_plugin.tick`). Nothing connects to DataHub until the sensor first runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from bridge.errors import ConfigError, MissingDependencyError
from dagster_plugin.config import DagsterPluginConfig, env_option
from dagster_plugin.cursor import SensorCursor
from dagster_plugin.reporter import RunReporter
from dagster_plugin.selection import RunSelection
from dagster_plugin.tick import Tick, start_from
from emitters.base import Emitter

__all__ = ["DEFAULT_SENSOR_NAME", "datahub_sensor", "make_datahub_sensor"]

DEFAULT_SENSOR_NAME = "datahub_sensor"
logger = logging.getLogger("dagster_plugin")


def make_datahub_sensor(
    config: DagsterPluginConfig | None = None,
    name: str | None = DEFAULT_SENSOR_NAME,
    minimum_interval_seconds: int | None = None,
    description: str | None = None,
    job: Any = None,
    jobs: Sequence[Any] | None = None,
    default_status: Any = None,
    asset_selection: Any = None,
    required_resource_keys: set[str] | None = None,
    monitored_jobs: Sequence[Any] | None = None,
    job_selection: Sequence[Any] | None = None,
    monitor_all_code_locations: bool | None = False,
    emitter: Emitter | Callable[[], Emitter] | None = None,
    **sensor_options: Any,
) -> Any:
    """Create the sensor that reports finished runs to DataHub.

    Takes the arguments of DataHub's ``make_datahub_sensor`` (in its order) and of Dagster's
    run-status sensors.

    Args:
        config: the plugin config; ``None`` resolves it from the environment when the sensor first runs
            (:meth:`DagsterPluginConfig.from_env`).
        name: the sensor's name (``datahub_sensor`` when None).
        minimum_interval_seconds: seconds between evaluations (Dagster's default when None).
        description: shown in the Dagster UI.
        job, jobs, asset_selection, required_resource_keys: passed to :func:`dagster.sensor` (the sensor
            requests no runs; DataHub's plugin takes them too).
        default_status: ``DefaultSensorStatus.RUNNING`` to start it without a click (STOPPED by default).
        monitored_jobs: only report runs of these jobs, as :func:`dagster.run_status_sensor` takes them
            (job definitions or names of this code location, ``JobSelector``, ``RepositorySelector``,
            ``CodeLocationSelector``); all jobs of this code location when None.
        job_selection: the older name of ``monitored_jobs``; both may be given (their union is reported).
        monitor_all_code_locations: also report runs of other code locations (off: each location's
            sensor reports its own runs, so two locations never report a run twice).
        emitter: an emitter (or a function returning one) to use instead of ``datahub_client_config``.
        sensor_options: other keyword arguments of :func:`dagster.sensor` (``tags``, ``metadata``, ...).

    Returns:
        A ``dagster.SensorDefinition`` for ``Definitions(sensors=[...])`` or a ``@repository`` list.

    Raises:
        TypeError: a ``monitored_jobs`` / ``job_selection`` item is not a job or a selector.
    """
    selection = RunSelection.of(monitored_jobs, job_selection)
    name = name or DEFAULT_SENSOR_NAME
    all_locations = bool(monitor_all_code_locations)
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
        job=job,
        jobs=jobs,
        default_status=default_status or dg.DefaultSensorStatus.STOPPED,
        asset_selection=asset_selection,
        required_resource_keys=required_resource_keys,
        **sensor_options,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        started = time.monotonic()
        try:
            cursor = SensorCursor.parse(context.cursor)
            tick = Tick(context, reporter(), name, selection, all_locations, started)
            tick.reporter.bridge(context.instance)  # builds the emitter (no network): config errors show here
        except (ConfigError, MissingDependencyError) as exc:
            message = f"{name} - not configured: {exc}"
            context.log.error(message)
            known = state["reporter"].config if "reporter" in state else config
            # with no cursor yet, where it started, so once fixed it reports the runs finished since then;
            # with backfill on, nothing to store (nor to say: nothing is reported while it cannot report)
            started = None if _backfill(known) else start_from(context, name, selection.job_names, backfill=False)
            return dg.SensorResult(skip_reason=message,
                                   cursor=None if started is None else SensorCursor().skipped(started).serialize())
        tick.log(logging.INFO, "Emitting metadata...")
        new_cursor = tick.run(cursor)
        return dg.SensorResult(skip_reason=tick.summary(new_cursor), cursor=new_cursor.serialize())

    return _sensor


def _backfill(config: DagsterPluginConfig | None) -> bool:
    """Whether a sensor that cannot report has ``backfill`` on, so stores no start (the fixed sensor then reports
    every run). With no config read (the environment's is wrong), ``$BRIDGE_DAGSTER_BACKFILL`` as the config reads
    it; a value that cannot be read counts as on, as it may mean it: runs are then reported, not skipped."""
    if config is not None:
        return config.backfill
    try:
        return bool(env_option("backfill"))
    except ConfigError:
        return True


#: A ready sensor configured from the environment when it first runs (see README "Dagster"):
#: ``Definitions(sensors=[datahub_sensor])``. Building it reads nothing and connects nowhere.
datahub_sensor = make_datahub_sensor()
