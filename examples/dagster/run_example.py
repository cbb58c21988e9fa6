"""Run an example's jobs in a temporary Dagster instance and evaluate its sensor once, as the daemon does."""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Sequence

import dagster as dg


def run_example(defs: dg.Definitions, jobs: Sequence[str | tuple[str, str]]) -> str | None:
    """Tick every sensor (it starts from now), execute ``jobs`` (name or ``(name, partition key)``), tick again; print a summary.

    Returns:
        The sensor's new cursor.
    """
    cursor = None
    path = "dagster-example-mcps.json"
    if os.path.exists(path):
        os.remove(path)
    with dg.instance_for_test() as instance:
        sensors = defs.get_repository_def().sensor_defs
        # The first tick has no cursor: the sensor starts from now (runs finished before it are not reported)
        cursors = {s.name: s.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs)).cursor
                   for s in sensors}
        for item in jobs:
            name, partition = (item, None) if isinstance(item, str) else item
            job = defs.resolve_job_def(name)
            result = job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False)
            print(f"ran {name}{f' [{partition}]' if partition else ''}: {'success' if result.success else 'failure'}")
        for sensor in sensors:
            context = dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursors[sensor.name])
            tick = sensor.evaluate_tick(context)
            cursor = tick.cursor
            print(f"{sensor.name}: {tick.skip_message}")
    if os.path.exists(path):
        with open(path) as handle:
            mcps = json.load(handle)
        counts = collections.Counter(m["entityType"] for m in mcps)
        print(f"{path}: {len(mcps)} MCPs " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return cursor
