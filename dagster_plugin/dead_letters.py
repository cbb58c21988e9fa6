"""Dead letters: runs the sensor gave up on, how to list them and how to have them tried again.

A run that fails ``max_tries`` times leaves the retry list for the ``dead``
part of the sensor's cursor, so it no longer uses up the ticks of other runs.
The cursor lives in the Dagster instance, so the dead letters can be listed
from anywhere that reaches the instance (:func:`dead_letters`).

To try a run again (after fixing the extractor, the converter, or DataHub),
:func:`requeue_dead_letters` tags the run with :data:`REQUEUE_TAG`. The
sensor's next tick sees the new tag value and puts the run back on its retry
list. Tagging (rather than writing the cursor) is safe while the daemon runs:
the sensor is the only writer of its cursor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from dagster_plugin.cursor import DeadLetter, SensorCursor

__all__ = ["REQUEUE_TAG", "dead_letters", "requeue_dead_letters", "requeue_requests", "requeue_token"]

#: The run tag that asks the sensor to try a dead-lettered run again (its value: when it was asked).
REQUEUE_TAG = "lineage_bridge/requeue"


def _sensor_cursors(instance: Any, sensor_name: str) -> list[str]:
    """The stored cursors of every sensor named ``sensor_name`` in the instance (one per code location)."""
    from dagster._core.scheduler.instigation import InstigatorType

    cursors = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name != sensor_name:
            continue
        cursor = getattr(state.instigator_data, "cursor", None)
        if cursor:
            cursors.append(cursor)
    return cursors


def dead_letters(source: Any, sensor_name: str = "datahub_sensor") -> list[DeadLetter]:
    """The runs a sensor gave up on, oldest first.

    Args:
        source: a ``DagsterInstance`` (its stored sensor state is read), a cursor string, or a
            :class:`~dagster_plugin.SensorCursor`.
        sensor_name: the sensor's name when ``source`` is an instance.

    Returns:
        One :class:`~dagster_plugin.cursor.DeadLetter` per run: run id, storage id, tries, last error.
    """
    if isinstance(source, SensorCursor):
        cursors = [source]
    elif isinstance(source, str) or source is None:
        cursors = [SensorCursor.parse(source)]
    else:
        cursors = [SensorCursor.parse(raw) for raw in _sensor_cursors(source, sensor_name)]
    found = {run_id: entry for cursor in cursors for run_id, entry in cursor.dead.items()}
    return sorted(found.values(), key=lambda d: d.storage_id)


def requeue_dead_letters(instance: Any, run_ids: Iterable[str] | None = None, *,
                         sensor_name: str = "datahub_sensor") -> list[str]:
    """Ask the sensor to try dead-lettered runs again at its next tick.

    Args:
        instance: the ``DagsterInstance`` the sensor runs against.
        run_ids: the runs to requeue; every dead letter of ``sensor_name`` when None.
        sensor_name: the sensor whose dead letters ``run_ids=None`` means.

    Returns:
        The run ids that were tagged (unknown run ids are left out).
    """
    if run_ids is None:
        run_ids = [d.run_id for d in dead_letters(instance, sensor_name)]
    token = dt.datetime.now(dt.UTC).isoformat()
    tagged = []
    for run_id in run_ids:
        if instance.get_run_by_id(run_id) is None:
            continue
        instance.add_run_tags(run_id, {REQUEUE_TAG: token})
        tagged.append(run_id)
    return tagged


def requeue_token(instance: Any, run_id: str) -> str:
    """The run's current :data:`REQUEUE_TAG` value ("" when it has none)."""
    run = instance.get_run_by_id(run_id)
    return (run.tags.get(REQUEUE_TAG, "") if run is not None else "") or ""


def requeue_requests(instance: Any, dead: Mapping[str, DeadLetter]) -> list[str]:
    """The dead letters whose run carries a requeue tag newer than the one they were dead-lettered with."""
    if not dead:
        return []
    from dagster import RunsFilter

    runs = instance.get_runs(filters=RunsFilter(run_ids=list(dead)))
    return [run.run_id for run in runs
            if run.tags.get(REQUEUE_TAG, "") not in ("", dead[run.run_id].token)]
