"""What a run's events say beyond lineage, against real runs: partitions and failure messages.

* the partition key of a partitioned run is the ``partitionSpec`` of its run events (the run's
  and each step's) and of the ``operation`` of each dataset it wrote, not only a property;
* a failed step's message is the user's error (``RuntimeError: warehouse unreachable``), not
  Dagster's ``DagsterExecutionStepExecutionError`` wrapper; the run's message is its first failed
  step's; the stack trace keeps the whole chain.
"""

import dagster as dg

from bridge.testing import RecordingEmitter
from dagster_plugin import DagsterPluginConfig, make_datahub_sensor, step_run_id
from tests.dagster_helpers import dataset, example_defs, execute, last, tick, validate_all, values

CONFIG = DagsterPluginConfig(datahub_client_config={"kind": "console"}, backfill=True)


def test_partition_key_is_the_partition_spec_of_run_events_and_operations(instance):
    from examples.dagster import assets_job

    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs = dg.Definitions(assets=[assets_job.customers, assets_job.orders, assets_job.customer_revenue],
                          jobs=[assets_job.raw_job, assets_job.revenue_job], sensors=[sensor])
    run = execute(defs, instance, "revenue_daily", partition="2024-01-02")
    plain = execute(defs, instance, "raw_assets")
    tick(sensor, defs, instance, None)
    mcps = recorder.mcps
    validate_all(mcps)
    spec = {"type": "PARTITION", "partition": "2024-01-02"}
    for urn in (f"urn:li:dataProcessInstance:{run.run_id}",
                f"urn:li:dataProcessInstance:{step_run_id(run.run_id, 'customer_revenue')}"):
        events = values(mcps, urn, "dataProcessInstanceRunEvent")
        assert [e["status"] for e in events] == ["STARTED", "COMPLETE"]
        assert all(e["partitionSpec"] == spec for e in events), events
    operations = values(mcps, dataset("dagster", "customer_revenue"), "operation")
    assert operations and all(o["partitionSpec"] == spec for o in operations)
    # a run without partitions says none
    plain_events = values(mcps, f"urn:li:dataProcessInstance:{plain.run_id}", "dataProcessInstanceRunEvent")
    assert plain_events and all("partitionSpec" not in e for e in plain_events)
    assert all("partitionSpec" not in o for o in values(mcps, dataset("dagster", "customers"), "operation"))


@dg.op
def connect() -> None:
    raise RuntimeError("warehouse unreachable")


@dg.op
def fine() -> int:
    return 1


@dg.job
def warehouse_job():
    fine()
    connect()


def test_failure_message_is_the_root_cause(instance):
    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs = dg.Definitions(jobs=[warehouse_job], sensors=[sensor])
    run = execute(defs, instance, "warehouse_job")
    assert not run.success
    tick(sensor, defs, instance, None)
    validate_all(recorder.mcps)
    step = f"urn:li:dataProcessInstance:{step_run_id(run.run_id, 'connect')}"
    props = last(recorder.mcps, step, "dataProcessInstanceProperties")["customProperties"]
    assert props["errorMessage"] == "RuntimeError: warehouse unreachable"
    assert "warehouse unreachable" in props["errorStackTrace"]
    run_props = last(recorder.mcps, f"urn:li:dataProcessInstance:{run.run_id}",
                     "dataProcessInstanceProperties")["customProperties"]
    assert run_props["errorMessage"] == "RuntimeError: warehouse unreachable"


def test_examples_failing_job_names_its_cause(instance):
    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs = example_defs(sensor)
    run = execute(defs, instance, "failing_job")
    tick(sensor, defs, instance, None)
    step = f"urn:li:dataProcessInstance:{step_run_id(run.run_id, 'will_fail')}"
    props = last(recorder.mcps, step, "dataProcessInstanceProperties")["customProperties"]
    assert props["errorMessage"] == "RuntimeError: the source database is down"
