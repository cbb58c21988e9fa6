"""The Dagster sensor against real runs in a real temporary Dagster instance.

Jobs (the examples' assets and ops jobs, a failing job, a cancelled run,
dynamic ops) are executed in ``dagster.instance_for_test()``; the sensor is
evaluated as the daemon evaluates it (``build_sensor_context`` with that
instance and the cursor the previous tick returned). Every MCP is validated
against DataHub's schema (tests/_datahub_reference.py, the core's check).
"""

import json

import dagster as dg
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError

from bridge.testing import RecordingEmitter, RecordingEmitterConfig
from dagster_plugin import DagsterPluginConfig, SensorCursor, make_datahub_sensor, step_run_id
from examples.dagster import assets_job, custom_lineage_extractor, ops_job
from tests.dagster_helpers import datajob, dataset, execute, flow, last, tick, validate_all

# -- definitions under test -------------------------------------------------------------


@dg.op
def first_step() -> int:
    return 1


@dg.op
def interrupted_step(context: dg.OpExecutionContext, value: int) -> int:
    # What Dagster's run launcher does when a user cancels: mark the run CANCELING, then
    # interrupt the run worker (SIGTERM becomes DagsterExecutionInterruptedError).
    context.instance.report_run_canceling(context.dagster_run)
    raise DagsterExecutionInterruptedError()


@dg.op
def never_runs(value: int) -> int:
    return value


@dg.job
def cancelled_job():
    never_runs(interrupted_step(first_step()))


@dg.op(
    config_schema={"fail": dg.Field(bool, default_value=False)},
    ins={"start": dg.In(dg.Nothing, metadata={"datahub.inputs": [dataset("postgres", "shop.public.src")]})},
)
def load_table(context: dg.OpExecutionContext) -> None:
    if context.op_config["fail"]:
        raise RuntimeError("warehouse unavailable")
    yield dg.AssetMaterialization(asset_key=["warehouse", "loaded"], metadata={"dagster/uri": "s3://lake/loaded/"})
    yield dg.Output(None)


@dg.job
def sometimes_failing():
    load_table()


def make_defs(sensor: dg.SensorDefinition) -> dg.Definitions:
    return dg.Definitions(
        assets=[assets_job.customers, assets_job.orders, assets_job.customer_revenue],
        jobs=[assets_job.raw_job, assets_job.revenue_job, ops_job.events_pipeline, ops_job.failing_job,
              cancelled_job, sometimes_failing],
        sensors=[sensor],
    )


CONFIG = DagsterPluginConfig(backfill=True, datahub_client_config={"kind": "console"}, dagster_url="http://dagster:3000")


@pytest.fixture()
def recorder() -> RecordingEmitter:
    return RecordingEmitter()


@pytest.fixture()
def sensor(recorder):
    return make_datahub_sensor(CONFIG, emitter=lambda: recorder)


@pytest.fixture()
def defs(sensor):
    return make_defs(sensor)


# -- assets ---------------------------------------------------------------------------------


def test_assets_job_reports_flow_jobs_runs_and_assets_with_lineage(instance, defs, sensor, recorder):
    result = execute(defs, instance, "raw_assets")
    assert result.success
    revenue = execute(defs, instance, "revenue_daily", partition="2024-01-02")
    assert revenue.success

    out = tick(sensor, defs, instance, None)
    assert "reported 2 run(s)" in out.skip_message
    mcps = recorder.mcps
    assert validate_all(mcps) == len(mcps) > 50

    # flows and jobs
    info = last(mcps, flow("raw_assets"), "dataFlowInfo")
    assert info["name"] == "raw_assets" and info["externalUrl"] == "http://dagster:3000/jobs/raw_assets"
    job = datajob("raw_assets", "customers")
    assert last(mcps, job, "dataJobInfo")["flowUrn"] == flow("raw_assets")
    assert last(mcps, job, "subTypes") == {"typeNames": ["Op"]}
    owners = {o["owner"] for o in last(mcps, job, "ownership")["owners"]}
    assert owners == {"urn:li:corpGroup:data-eng", "urn:li:corpuser:alice@example.com"}

    # the asset is a dataset with schema, description, owners, tags, group browse path
    customers = dataset("dagster", "customers")
    fields = last(mcps, customers, "schemaMetadata")["fields"]
    assert [f["fieldPath"] for f in fields] == ["id", "name", "email"]
    assert fields[0]["description"] == "customer key"
    assert fields[2]["globalTags"] == {"tags": [{"tag": "urn:li:tag:pii"}]}
    props = last(mcps, customers, "datasetProperties")
    assert props["description"] == "Customers, one row per customer."
    assert props["externalUrl"] == "http://dagster:3000/assets/customers"
    assert props["customProperties"]["dagster.group"] == "raw"
    assert {t["tag"] for t in last(mcps, customers, "globalTags")["tags"]} == {
        "urn:li:tag:domain:sales", "urn:li:tag:asset_group:raw"}
    assert last(mcps, customers, "subTypes") == {"typeNames": ["Asset"]}
    assert last(mcps, customers, "browsePathsV2") == {"path": [{"id": "raw"}]}
    # the physical table named by dagster/table_name + kinds={"postgres"} is an output too
    io = last(mcps, job, "dataJobInputOutput")
    assert dataset("postgres", "shop.public.customers") in io["outputDatasets"]
    assert customers in io["outputDatasets"]
    siblings = last(mcps, customers, "siblings")
    assert dataset("postgres", "shop.public.customers") in siblings["siblings"] and siblings["primary"] is False

    # asset dependencies -> upstream lineage; column lineage -> fine-grained lineage
    revenue_urn = dataset("dagster", "customer_revenue")
    upstream = last(mcps, revenue_urn, "upstreamLineage")
    assert {u["dataset"] for u in upstream["upstreams"]} == {customers, dataset("dagster", "orders")}
    fine = {tuple(f["downstreams"]): f["upstreams"] for f in upstream["fineGrainedLineages"]}
    assert fine[(f"urn:li:schemaField:({revenue_urn},revenue)",)] == [
        f"urn:li:schemaField:({dataset('dagster', 'orders')},amount)"]
    revenue_io = last(mcps, datajob("revenue_daily", "customer_revenue"), "dataJobInputOutput")
    assert set(revenue_io["inputDatasets"]) >= {customers, dataset("dagster", "orders")}
    assert revenue_io["fineGrainedLineages"]

    # the partitioned run carries its partition; runs link to the UI; steps are children of the run
    run_id = revenue.run_id
    run_props = last(mcps, f"urn:li:dataProcessInstance:{run_id}", "dataProcessInstanceProperties")
    assert run_props["customProperties"]["dagster.partition"] == "2024-01-02"
    assert run_props["externalUrl"] == f"http://dagster:3000/runs/{run_id}"
    step_urn = f"urn:li:dataProcessInstance:{step_run_id(run_id, 'customer_revenue')}"
    rel = last(mcps, step_urn, "dataProcessInstanceRelationships")
    assert rel["parentInstance"] == f"urn:li:dataProcessInstance:{run_id}"
    assert rel["parentTemplate"] == datajob("revenue_daily", "customer_revenue")
    assert last(mcps, f"urn:li:dataProcessInstance:{run_id}", "dataProcessInstanceRelationships")[
        "parentTemplate"] == flow("revenue_daily")
    assert last(mcps, revenue_urn, "datasetProperties")["customProperties"]["dagster.partition"] == "2024-01-02"
    assert last(mcps, step_urn, "dataProcessInstanceOutput")["outputs"] == [revenue_urn]


def test_run_and_step_times_status_and_attempts(instance, defs, sensor, recorder):
    result = execute(defs, instance, "raw_assets")
    tick(sensor, defs, instance, None)
    stats = instance.get_run_stats(result.run_id)
    events = [m.aspect_value for m in recorder.mcps
              if m.entity_urn == f"urn:li:dataProcessInstance:{result.run_id}"
              and m.aspect_name == "dataProcessInstanceRunEvent"]
    assert [e["status"] for e in events] == ["STARTED", "COMPLETE"]
    assert events[0]["timestampMillis"] == int(stats.start_time * 1000)
    assert events[1]["timestampMillis"] == int(stats.end_time * 1000)
    assert events[1]["result"]["type"] == "SUCCESS"
    step = instance.get_run_step_stats(result.run_id, step_keys=["orders"])[0]
    step_events = [m.aspect_value for m in recorder.mcps
                   if m.entity_urn == f"urn:li:dataProcessInstance:{step_run_id(result.run_id, 'orders')}"
                   and m.aspect_name == "dataProcessInstanceRunEvent"]
    assert [(e["status"], e["attempt"]) for e in step_events] == [("STARTED", 1), ("COMPLETE", 1)]
    assert step_events[0]["timestampMillis"] == int(step.start_time * 1000)


# -- ops, dynamic ops, failures, cancellation ---------------------------------------------


def test_ops_job_in_out_metadata_and_dynamic_ops(instance, defs, sensor, recorder):
    result = execute(defs, instance, "events_pipeline")
    assert result.success
    tick(sensor, defs, instance, None)
    mcps = recorder.mcps
    validate_all(mcps)
    clean = datajob("events_pipeline", "clean_events")
    io = last(mcps, clean, "dataJobInputOutput")
    assert io["inputDatasets"] == [ops_job.SOURCE]
    assert io["outputDatasets"] == [dataset("s3", "lake/events/clean")]
    assert last(mcps, clean, "dataJobInfo")["description"] == "Reads raw events, writes cleaned ones to the lake."
    counts = last(mcps, datajob("events_pipeline", "count_events"), "dataJobInputOutput")
    assert counts["outputDatasets"] == [dataset("snowflake", "analytics.public.event_counts")]
    # step-level lineage: count_events reads what clean_events wrote
    assert counts["inputDatasets"] == [dataset("s3", "lake/events/clean")]
    # one data job for the mapped op, one process instance per mapping key, each a child of the run
    keys = sorted(s.step_key for s in instance.get_run_step_stats(result.run_id) if s.step_key.startswith("score"))
    assert keys == ["score_batch[batch_1]", "score_batch[batch_2]", "score_batch[batch_3]"]
    for key in keys:
        urn = f"urn:li:dataProcessInstance:{step_run_id(result.run_id, key)}"
        assert last(mcps, urn, "dataProcessInstanceRelationships")["parentTemplate"] == datajob(
            "events_pipeline", "score_batch")
        assert last(mcps, urn, "dataProcessInstanceProperties")["customProperties"]["dagster.mappingKey"] == key[12:-1]
    assert {m.entity_urn for m in mcps if m.entity_type == "dataJob"} == {
        datajob("events_pipeline", op) for op in ("clean_events", "count_events", "split_batches", "score_batch", "total")}


def test_failing_job_is_reported_as_failure_with_its_error(instance, defs, sensor, recorder):
    result = execute(defs, instance, "failing_job")
    assert not result.success
    tick(sensor, defs, instance, None)
    validate_all(recorder.mcps)
    run_urn = f"urn:li:dataProcessInstance:{result.run_id}"
    assert last(recorder.mcps, run_urn, "dataProcessInstanceRunEvent")["result"]["type"] == "FAILURE"
    step_urn = f"urn:li:dataProcessInstance:{step_run_id(result.run_id, 'will_fail')}"
    assert last(recorder.mcps, step_urn, "dataProcessInstanceRunEvent")["result"]["type"] == "FAILURE"
    props = last(recorder.mcps, step_urn, "dataProcessInstanceProperties")["customProperties"]
    assert "the source database is down" in json.dumps(props)


def test_cancelled_run_is_reported_as_skipped(instance, defs, sensor, recorder):
    result = execute(defs, instance, "cancelled_job")
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED
    out = tick(sensor, defs, instance, None)
    assert "reported 1 run(s)" in out.skip_message
    validate_all(recorder.mcps)
    run_urn = f"urn:li:dataProcessInstance:{result.run_id}"
    assert last(recorder.mcps, run_urn, "dataProcessInstanceRunEvent")["result"] == {
        "type": "SKIPPED", "nativeResultType": "ABORT"}
    first = f"urn:li:dataProcessInstance:{step_run_id(result.run_id, 'first_step')}"
    assert last(recorder.mcps, first, "dataProcessInstanceRunEvent")["result"]["type"] == "SUCCESS"
    cut = f"urn:li:dataProcessInstance:{step_run_id(result.run_id, 'interrupted_step')}"
    assert last(recorder.mcps, cut, "dataProcessInstanceRunEvent")["result"]["type"] == "SKIPPED"


def test_failed_run_never_erases_lineage_learned_before(instance, defs, sensor, recorder):
    execute(defs, instance, "sometimes_failing")
    cursor = tick(sensor, defs, instance, None).cursor
    job = datajob("sometimes_failing", "load_table")
    learned = last(recorder.mcps, job, "dataJobInputOutput")
    assert set(learned["outputDatasets"]) == {dataset("dagster", "warehouse.loaded"), dataset("s3", "lake/loaded")}

    failed = execute(defs, instance, "sometimes_failing", run_config={"ops": {"load_table": {"config": {"fail": True}}}})
    assert not failed.success
    before = len(recorder.mcps)
    tick(sensor, defs, instance, cursor)
    new = recorder.mcps[before:]
    assert any(m.entity_urn == f"urn:li:dataProcessInstance:{failed.run_id}" for m in new)
    # whatever the failed run sent, DataHub still holds the outputs learned from the good run
    assert set(last(recorder.mcps, job, "dataJobInputOutput")["outputDatasets"]) >= set(learned["outputDatasets"])
    validate_all(new)


def test_failed_run_after_a_daemon_restart_still_keeps_the_lineage(instance):
    first = RecordingEmitter()
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: first)
    defs = make_defs(sensor)
    execute(defs, instance, "sometimes_failing")
    cursor = tick(sensor, defs, instance, None).cursor
    job = datajob("sometimes_failing", "load_table")
    learned = set(last(first.mcps, job, "dataJobInputOutput")["outputDatasets"])
    assert learned

    # a new code server process: new sensor, new emitter; only Dagster's storage (and the cursor) remain
    second = RecordingEmitter()
    restarted = make_datahub_sensor(CONFIG, emitter=lambda: second)
    defs2 = make_defs(restarted)
    failed = execute(defs2, instance, "sometimes_failing",
                     run_config={"ops": {"load_table": {"config": {"fail": True}}}})
    tick(restarted, defs2, instance, cursor)
    # What DataHub holds after both processes' MCPs, in order
    final = last(first.mcps + second.mcps, job, "dataJobInputOutput")
    assert set(final["outputDatasets"]) >= learned
    assert set(final["inputDatasets"]) == {dataset("postgres", "shop.public.src")}
    assert any(m.entity_urn == f"urn:li:dataProcessInstance:{failed.run_id}" for m in second.mcps)


# -- the cursor, over several ticks and a restart -------------------------------------------


def test_each_run_is_reported_once_over_ticks_and_restarts(instance, recorder):
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs = make_defs(sensor)
    first = execute(defs, instance, "raw_assets")
    out1 = tick(sensor, defs, instance, None)
    assert "reported 1 run(s)" in out1.skip_message
    out2 = tick(sensor, defs, instance, out1.cursor)
    assert "reported 0 run(s)" in out2.skip_message
    second = execute(defs, instance, "failing_job")
    # the daemon restarts: a new code server, a new sensor object; only the stored cursor survives
    restarted = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs2 = make_defs(restarted)
    out3 = tick(restarted, defs2, instance, out2.cursor)
    assert "reported 1 run(s)" in out3.skip_message
    out4 = tick(restarted, defs2, instance, out3.cursor)
    assert "reported 0 run(s)" in out4.skip_message
    finished = [m.entity_urn for m in recorder.mcps if m.aspect_name == "dataProcessInstanceRunEvent"
                and m.aspect_value["status"] == "COMPLETE" and m.entity_urn.endswith((first.run_id, second.run_id))]
    assert sorted(finished) == sorted(f"urn:li:dataProcessInstance:{r}" for r in (first.run_id, second.run_id))
    assert SensorCursor.parse(out4.cursor).retry == {}


def test_delivery_failure_is_retried_on_a_later_tick_never_dropped(instance, caplog):
    broken = {"on": True}
    recorder = RecordingEmitter(RecordingEmitterConfig(fail_when=lambda mcp: broken["on"]))
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs = make_defs(sensor)
    run = execute(defs, instance, "raw_assets")
    out1 = tick(sensor, defs, instance, None)
    assert "1 failed (retried on a later tick)" in out1.skip_message
    assert run.run_id in SensorCursor.parse(out1.cursor).retry
    assert f"could not deliver the metadata of run {run.run_id} (try 1)" in caplog.text
    assert "it will be retried on a later tick" in caplog.text
    assert recorder.mcps == []

    out2 = tick(sensor, defs, instance, out1.cursor)  # still broken: tried again, kept again
    assert SensorCursor.parse(out2.cursor).retry[run.run_id].tries == 2

    broken["on"] = False
    later = execute(defs, instance, "failing_job")
    out3 = tick(sensor, defs, instance, out2.cursor)
    assert "reported 2 run(s)" in out3.skip_message
    assert SensorCursor.parse(out3.cursor).retry == {}
    completes = [m.entity_urn for m in recorder.mcps if m.aspect_name == "dataProcessInstanceRunEvent"
                 and m.aspect_value["status"] == "COMPLETE" and m.entity_urn.endswith((run.run_id, later.run_id))]
    assert sorted(completes) == sorted(f"urn:li:dataProcessInstance:{r}" for r in (run.run_id, later.run_id))
    out4 = tick(sensor, defs, instance, out3.cursor)
    assert "reported 0 run(s)" in out4.skip_message


# -- the custom extractor and asset naming example -----------------------------------------


def test_custom_lineage_extractor_and_asset_key_converter(instance):
    recorder = RecordingEmitter()
    config = DagsterPluginConfig(backfill=True,
        datahub_client_config={"kind": "console"},
        asset_lineage_extractor=custom_lineage_extractor.lineage_extractor,
        asset_keys_to_dataset_urn_converter=custom_lineage_extractor.asset_key_to_urn,
    )
    sensor = make_datahub_sensor(config, emitter=lambda: recorder)
    defs = dg.Definitions(assets=[custom_lineage_extractor.daily_sales],
                          jobs=[custom_lineage_extractor.export_job,
                                dg.define_asset_job("sales_assets", selection=[custom_lineage_extractor.daily_sales])],
                          sensors=[sensor])
    execute(defs, instance, "sales_assets")
    execute(defs, instance, "export_job")
    tick(sensor, defs, instance, None)
    validate_all(recorder.mcps)
    table = dataset("snowflake", "analytics.public.daily_sales")
    outputs = last(recorder.mcps, datajob("sales_assets", "prod__snowflake__analytics__public__daily_sales"),
                   "dataJobInputOutput")["outputDatasets"]
    # the asset is the snowflake table the converter named; the IO manager's pickle file is left out
    # (capture_input_output=False, DataHub's default)
    assert outputs == [table]
    io = last(recorder.mcps, datajob("export_job", "export_report"), "dataJobInputOutput")
    assert (io["inputDatasets"], io["outputDatasets"]) == ([table], [dataset("s3", "reports/daily/sales.csv")])


# -- observations, legacy repositories, configuration at the first tick ---------------------


@dg.op
def check_inventory(context: dg.OpExecutionContext) -> None:
    context.log_event(dg.AssetObservation(
        asset_key=["inventory"],
        description="Stock levels, observed nightly.",
        metadata={"dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn("sku", "string")]),
                  "dagster/row_count": 12},
    ))


@dg.job
def observe_job():
    check_inventory()


def test_asset_observations_update_datasets(instance, recorder):
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs = dg.Definitions(jobs=[observe_job], sensors=[sensor])
    execute(defs, instance, "observe_job")
    tick(sensor, defs, instance, None)
    validate_all(recorder.mcps)
    inventory = dataset("dagster", "inventory")
    assert last(recorder.mcps, inventory, "datasetProperties")["description"] == "Stock levels, observed nightly."
    assert [f["fieldPath"] for f in last(recorder.mcps, inventory, "schemaMetadata")["fields"]] == ["sku"]
    # the op that observed it read it
    assert last(recorder.mcps, datajob("observe_job", "check_inventory"), "dataJobInputOutput")[
        "inputDatasets"] == [inventory]


def test_legacy_repository(instance, recorder):
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)

    @dg.repository
    def legacy():
        return [ops_job.failing_job, sensor]

    result = legacy.get_job("failing_job").execute_in_process(instance=instance, raise_on_error=False)
    out = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, repository_def=legacy))
    assert "reported 1 run(s)" in out.skip_message
    assert last(recorder.mcps, f"urn:li:dataProcessInstance:{result.run_id}", "dataProcessInstanceRunEvent")[
        "result"]["type"] == "FAILURE"


def test_unconfigured_sensor_says_what_is_missing_and_keeps_the_cursor(instance, monkeypatch):
    for name in ("DATAHUB_GMS_URL", "DATAHUB_GMS_TOKEN", "BRIDGE_DAGSTER_CLIENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    sensor = make_datahub_sensor()  # configured from the environment at its first tick
    defs = dg.Definitions(jobs=[ops_job.failing_job], sensors=[sensor])
    execute(defs, instance, "failing_job")
    out = tick(sensor, defs, instance, None)
    assert "not configured" in out.skip_message and "DATAHUB_GMS_URL" in out.skip_message
    # where the sensor started (after the run that finished before it, as a configured sensor starts from
    # now), so once configured it reports the runs finished since (tests/test_dagster_client_config.py)
    started = SensorCursor.parse(out.cursor)
    assert started.after > 0 and not started.retry and not started.dead
    execute(defs, instance, "failing_job")
    again = tick(sensor, defs, instance, out.cursor)
    assert "not configured" in again.skip_message and again.cursor == out.cursor  # kept: nothing consumed


def test_per_tick_budget_and_monitored_jobs(instance):
    recorder = RecordingEmitter()
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"kind": "console"}, max_runs_per_tick=1)
    sensor = make_datahub_sensor(config, emitter=lambda: recorder, monitored_jobs=["raw_assets", ops_job.failing_job])
    defs = make_defs(sensor)
    runs = [execute(defs, instance, job).run_id for job in ("raw_assets", "events_pipeline", "failing_job")]
    out1 = tick(sensor, defs, instance, None)
    out2 = tick(sensor, defs, instance, out1.cursor)
    out3 = tick(sensor, defs, instance, out2.cursor)
    assert [o.skip_message.split(",")[0] for o in (out1, out2, out3)] == [
        "reported 1 run(s)", "reported 1 run(s)", "reported 0 run(s)"]
    reported = {m.entity_urn.rsplit(":", 1)[1] for m in recorder.mcps
                if m.aspect_name == "dataProcessInstanceRunEvent" and m.entity_urn.rsplit(":", 1)[1] in runs}
    assert reported == {runs[0], runs[2]}  # events_pipeline is not monitored
