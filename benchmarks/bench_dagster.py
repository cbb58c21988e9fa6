"""Side by side: what DataHub's own Dagster plugin emits vs ours, on the same runs of the examples.

Runs the example jobs (assets with deps/schema/column lineage/owners/partitions,
an ops job with In/Out metadata and dynamic ops, a failing job) once in a
temporary Dagster instance, then reports every finished run with

* ``acryl-datahub-dagster-plugin``: its per-run handler (``DatahubSensors._emit_metadata``,
  what its run-status sensors call) after its asset sensor filled the group cache;
  its DataHub client is replaced by a recorder after its connection test against the
  GMS test server, so every MCP it emits is seen (patches included);
* ``dagster_plugin``: our sensor, ticked once, with a recording emitter.

Prints entity counts, aspects and the features each reports, and the time each took.

    python -m benchmarks.bench_dagster

``--backlog N`` measures a sensor catching up instead: N finished runs, each of a job of
``--steps`` assets (one step each, a chain, each asset with its table), are in the instance
before the sensor's first tick (``backfill=True``); the sensor then ticks as the daemon would,
delivering over REST to the GMS test server in its own process, until the backlog is reported.
It prints each tick's time and runs against ``tick_deadline_sec``, and the totals.

    python -m benchmarks.bench_dagster --backlog 500 --steps 20
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import dagster as dg

RUNS: list[tuple[str, str | None]] = [
    ("raw_assets", None),
    ("revenue_daily", "2024-01-02"),
    ("events_pipeline", None),
    ("failing_job", None),
    ("sales_assets", None),  # asset key in DataHub's [env, platform, *name] convention
]


class _RecordingGraph:
    """Stands in for DataHub's DataHubGraph after it connected: keeps every MCP emitted."""

    def __init__(self) -> None:
        self.mcps: list[Any] = []

    def emit(self, item: Any, callback: Any = None, **_: Any) -> None:
        self.mcps.append(item)
        if callback is not None:
            callback(None, "recorded")

    def emit_mcp(self, mcp: Any, **_: Any) -> None:
        self.mcps.append(mcp)

    def get_aspect(self, *_: Any, **__: Any) -> None:
        return None  # nothing stored yet: what a fresh DataHub answers

    def emit_mcps(self, mcps: Any, **_: Any) -> int:
        mcps = list(mcps)
        self.mcps.extend(mcps)
        return len(mcps)


def _defs(sensor: dg.SensorDefinition | None = None) -> dg.Definitions:
    from examples.dagster import assets_job, custom_lineage_extractor, ops_job

    sales = custom_lineage_extractor.daily_sales
    return dg.Definitions(
        assets=[assets_job.customers, assets_job.orders, assets_job.customer_revenue, sales],
        jobs=[assets_job.raw_job, assets_job.revenue_job, ops_job.events_pipeline, ops_job.failing_job,
              dg.define_asset_job("sales_assets", selection=[sales])],
        sensors=[sensor] if sensor is not None else [],
    )


def _theirs(instance: dg.DagsterInstance, gms_url: str) -> tuple[list[dict], float, list[str]]:
    from datahub.ingestion.graph.client import DatahubClientConfig
    from datahub_dagster_plugin.client.dagster_generator import DatahubDagsterSourceConfig
    from datahub_dagster_plugin.sensors.datahub_sensors import DatahubSensors

    config = DatahubDagsterSourceConfig(
        datahub_client_config=DatahubClientConfig(server=gms_url),
        dagster_url="http://localhost:3000",
        capture_input_output=True,
    )
    sensors = DatahubSensors(config)  # connects to GMS here (its test_connection)
    recorder = _RecordingGraph()
    sensors.graph = recorder
    defs = _defs()
    errors: list[str] = []
    start = time.perf_counter()
    asset_context = dg.build_multi_asset_sensor_context(
        monitored_assets=dg.AssetSelection.all(), instance=instance, definitions=defs
    )
    sensors._emit_asset_metadata(asset_context)
    statuses = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED)
    for status in statuses:
        for record in instance.fetch_run_status_changes(status, limit=100, ascending=True).records:
            run = instance.get_run_by_id(record.event_log_entry.run_id)
            context = dg.build_run_status_sensor_context(
                sensor_name="datahub_success_sensor", dagster_event=record.event_log_entry.dagster_event,
                dagster_instance=instance, dagster_run=run, resources={}, repository_def=defs.get_repository_def(),
            )
            result = sensors._emit_metadata(context)
            message = getattr(result, "skip_message", "") or ""
            if "Error" in message:  # it logs the traceback and skips the rest of the run
                errors.append(f"{run.job_name}: {message}")
    elapsed = time.perf_counter() - start
    return [_plain_theirs(m) for m in recorder.mcps], elapsed, errors


def _plain_theirs(mcp: Any) -> dict:
    aspect = getattr(mcp, "aspect", None)
    name = getattr(mcp, "aspectName", None) or (aspect.get_aspect_name() if aspect is not None else "?")
    value: Any = aspect.to_obj() if aspect is not None and hasattr(aspect, "to_obj") else None
    if value is None and getattr(mcp, "aspect", None) is not None:
        value = {"patch": str(mcp.aspect)}
    change = str(getattr(mcp, "changeType", "UPSERT")).rsplit(".", 1)[-1]
    return {"entityType": mcp.entityType, "entityUrn": mcp.entityUrn, "aspectName": name,
            "changeType": change, "aspect": value, "raw": mcp}


def _ours(instance: dg.DagsterInstance) -> tuple[list[dict], float]:
    import dagster_plugin.translator  # noqa: F401  (imported before timing, as theirs is)
    from bridge.testing import RecordingEmitter
    from dagster_plugin import DatahubDagsterSourceConfig, make_datahub_sensor

    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(
        DatahubDagsterSourceConfig(datahub_client_config={"kind": "console"}, dagster_url="http://localhost:3000"),
        emitter=lambda: recorder,
    )
    defs = _defs(sensor)
    start = time.perf_counter()
    sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    elapsed = time.perf_counter() - start
    return [
        {"entityType": m.entity_type, "entityUrn": m.entity_urn, "aspectName": m.aspect_name,
         "changeType": "UPSERT", "aspect": dict(m.aspect_value)}
        for m in recorder.mcps
    ], elapsed


def _value(m: dict) -> dict:
    value = m["aspect"]
    return value if isinstance(value, dict) else {}


def _nonempty(m: dict, *fields: str) -> bool:
    return any(_value(m).get(f) for f in fields)


def _features(mcps: list[dict]) -> dict[str, str]:
    """What a set of MCPs tells DataHub, one line per capability (counted by entity)."""
    def urns(test: Any) -> set[str]:
        return {m["entityUrn"] for m in mcps if test(m)}

    flows = urns(lambda m: m["entityType"] == "dataFlow")
    jobs = urns(lambda m: m["entityType"] == "dataJob")
    dpis = urns(lambda m: m["entityType"] == "dataProcessInstance")
    step_dpis = urns(lambda m: m["aspectName"] == "dataProcessInstanceRelationships"
                     and str(_value(m).get("parentTemplate", "")).startswith("urn:li:dataJob"))
    finished = urns(lambda m: m["aspectName"] == "dataProcessInstanceRunEvent" and _value(m).get("result"))
    assets = urns(lambda m: m["entityType"] == "dataset" and "dataPlatform:dagster," in m["entityUrn"])
    datasets = urns(lambda m: m["entityType"] == "dataset")
    # theirs writes asset lineage as upstreamLineage PATCHes, ours as upstreamLineage (+ siblings)
    upstream = urns(lambda m: m["aspectName"] == "upstreamLineage" and (m["changeType"] == "PATCH"
                                                                         or _nonempty(m, "upstreams")))
    asset_links = {(m["entityUrn"], s) for m in mcps if m["aspectName"] == "siblings"
                   for s in _value(m).get("siblings", ())}
    schema = urns(lambda m: m["aspectName"] == "schemaMetadata" and _nonempty(m, "fields"))
    fine = urns(lambda m: _nonempty(m, "fineGrainedLineages"))
    job_io = urns(lambda m: m["aspectName"] == "dataJobInputOutput" and _nonempty(
        m, "inputDatasets", "outputDatasets", "inputDatasetEdges", "outputDatasetEdges"))
    partition = urns(lambda m: m["entityType"] == "dataProcessInstance" and "2024-01-02" in str(_value(m)))
    step_io = urns(lambda m: m["entityUrn"] in step_dpis and m["aspectName"] in (
        "dataProcessInstanceInput", "dataProcessInstanceOutput") and _nonempty(m, "inputs", "outputs"))
    owned = urns(lambda m: m["aspectName"] == "ownership" and _nonempty(m, "owners"))
    return {
        "data flows (jobs)": str(len(flows)),
        "data jobs (ops)": str(len(jobs)),
        "process instances: runs + steps": f"{len(dpis - step_dpis)} + {len(step_dpis)}",
        "process instances with a final result": str(len(finished)),
        "asset datasets (dagster platform)": str(len(assets)),
        "datasets, all platforms": str(len(datasets)),
        "dataset lineage (datasets with upstreams)": str(len(upstream)),
        "asset <-> table links (siblings)": str(len(asset_links)),
        "column schema (datasets with fields)": str(len(schema)),
        "column lineage (entities with fine-grained)": str(len(fine)),
        "jobs with input/output datasets": str(len(job_io)),
        "runs/steps carrying the partition": str(len(partition)),
        "step runs with inputs/outputs": str(len(step_io)),
        "entities with owners": str(len(owned)),
        "MCPs": str(len(mcps)),
    }


def _backlog_defs(steps: int, sensor: dg.SensorDefinition | None = None) -> dg.Definitions:
    def asset(i: int) -> dg.AssetsDefinition:
        @dg.asset(name=f"step_{i:02d}", deps=[f"step_{i - 1:02d}"] if i else [], kinds={"snowflake"},
                  owners=["team:data-eng"], metadata={"dagster/table_name": f"analytics.backlog.table_{i:02d}"})
        def _asset() -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"dagster/row_count": i * 10})

        return _asset

    assets = [asset(i) for i in range(steps)]
    job = dg.define_asset_job("backlog_job", selection=assets, executor_def=dg.in_process_executor)
    return dg.Definitions(assets=assets, jobs=[job], sensors=[sensor] if sensor is not None else [])


def backlog(runs: int, steps: int, *, deadline: float = 40.0, per_tick: int = 25) -> None:
    """Make ``runs`` finished runs of ``steps`` steps and assets, then tick the sensor until all are reported."""
    from dagster_plugin import DatahubDagsterSourceConfig, SensorCursor, make_datahub_sensor
    from tests.servers.gms_process import GmsProcess

    logging.disable(logging.WARNING)  # Dagster's and the sensor's per-run lines would drown the table
    with dg.instance_for_test() as instance, GmsProcess() as gms:
        job = _backlog_defs(steps).resolve_job_def("backlog_job")
        start = time.perf_counter()
        for _ in range(runs):
            job.execute_in_process(instance=instance)
        print(f"backlog: {runs} runs x {steps} steps/assets made in {time.perf_counter() - start:.0f} s")
        config = DatahubDagsterSourceConfig(datahub_client_config={"server": gms.url}, backfill=True,
                                            tick_deadline_sec=deadline, max_runs_per_tick=per_tick)
        sensor = make_datahub_sensor(config)
        defs = _backlog_defs(steps, sensor)
        cursor, reported, ticks, times = None, 0, 0, []
        print(f"tick_deadline_sec={deadline}, max_runs_per_tick={per_tick} (Dagster's sensor timeout: 60 s)")
        while reported < runs:
            began = time.perf_counter()
            out = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))
            times.append(time.perf_counter() - began)
            cursor, ticks = out.cursor, ticks + 1
            done = int(out.skip_message.split()[1])
            reported += done
            print(f"  tick {ticks:3d}: {times[-1]:6.2f} s  {done:3d} runs  ({reported}/{runs})  {out.skip_message}")
            if ticks > 4 * runs:
                raise RuntimeError("the backlog is not going down")
        assert not SensorCursor.parse(cursor).retry, "runs left for retry"
        stats = gms.stats()
    print(f"reported {reported} runs in {ticks} ticks: {sum(times):.1f} s in all, longest tick {max(times):.2f} s "
          f"(deadline {deadline} s), mean {sum(times) / len(times):.2f} s, {sum(times) / reported * 1000:.0f} ms/run; "
          f"GMS: {stats}")


def main(argv: list[str] | None = None) -> None:
    """Run the example jobs once, report them with both plugins, print the comparison (or ``--backlog``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_dagster")
    parser.add_argument("--backlog", type=int, default=0, help="runs in the backlog (0: the side-by-side comparison)")
    parser.add_argument("--steps", type=int, default=20, help="steps (and assets) per backlog run")
    parser.add_argument("--deadline", type=float, default=40.0, help="tick_deadline_sec")
    parser.add_argument("--per-tick", type=int, default=25, help="max_runs_per_tick")
    args = parser.parse_args(argv)
    if args.backlog:
        backlog(args.backlog, args.steps, deadline=args.deadline, per_tick=args.per_tick)
        return
    from tests.servers.gms import GmsServer

    # Dagster's run logs and the other plugin's tracebacks would drown the table; errors are summarised below.
    for name in ("dagster", "dagster_plugin", "datahub"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with dg.instance_for_test() as instance, GmsServer() as gms:
        defs = _defs()
        for job, partition in RUNS:
            defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=partition, raise_on_error=False)
        theirs, their_time, their_errors = _theirs(instance, gms.url)
        ours, our_time = _ours(instance)
    f_theirs, f_ours = _features(theirs), _features(ours)
    print(f"runs: {', '.join(j + (f'[{p}]' if p else '') for j, p in RUNS)}")
    print(f"{'':45s} {'acryl-datahub-dagster-plugin':>30s} {'lineage-bridge dagster_plugin':>30s}")
    for key in f_ours:
        print(f"{key:45s} {f_theirs[key]:>30s} {f_ours[key]:>30s}")
    print(f"{'delivery':45s} {'REST (DataHubGraph)':>30s} {'REST, Kafka, file, console':>30s}")
    ratio = their_time / our_time if our_time else float("nan")
    print(f"{'time to report the runs (s)':45s} {their_time:>30.3f} {our_time:>30.3f}   (theirs/ours = {ratio:.2f})")
    print("\naspects per entity type (theirs | ours):")
    for kind in ("dataFlow", "dataJob", "dataProcessInstance", "dataset"):
        a = sorted({m["aspectName"] for m in theirs if m["entityType"] == kind})
        b = sorted({m["aspectName"] for m in ours if m["entityType"] == kind})
        print(f"  {kind}: {', '.join(a) or '-'}\n  {' ' * len(kind)}| {', '.join(b) or '-'}")
        missing = sorted(set(a) - set(b))
        if missing:
            print(f"  {' ' * len(kind)}  only theirs: {', '.join(missing)}")
    if their_errors:
        print("\nacryl-datahub-dagster-plugin errors:")
        for line in dict.fromkeys(their_errors):
            print(f"  {line[:200]}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
