"""A sensor with no cursor (its first tick, or its cursor reset in the UI), against real runs.

By default it starts from now, as Dagster's run-status sensors and DataHub's
plugin do, and says so; ``backfill=True`` reports the runs that finished
before. A re-report after a lost cursor (with backfill) leaves every asset's
``datasetProperties`` as complete as the first report did, in the GMS test
server's store.
"""

import logging

from bridge.testing import RecordingEmitter
from dagster_plugin import DagsterPluginConfig, SensorCursor, make_datahub_sensor
from tests.dagster_helpers import dataset, example_defs, execute, tick
from tests.servers.gms import GmsServer


def _finished(recorder: RecordingEmitter) -> set[str]:
    """Dagster runs whose end was reported."""
    return {m.entity_urn.rsplit(":", 1)[1] for m in recorder.mcps if m.aspect_name == "dataProcessInstanceRunEvent"
            and m.aspect_value.get("result") and "dataPlatform" not in m.entity_urn}


def test_no_cursor_starts_from_now_and_says_so(instance, caplog):
    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(DagsterPluginConfig(datahub_client_config={"kind": "console"}),
                                 emitter=lambda: recorder)
    defs = example_defs(sensor)
    before = execute(defs, instance, "raw_assets")
    caplog.set_level(logging.WARNING, logger="dagster_plugin")
    first = tick(sensor, defs, instance, None)
    assert first.skip_message.startswith("reported 0 run(s) (no cursor: started from now")
    assert "runs that finished before" in caplog.text and "backfill=True" in caplog.text
    assert recorder.mcps == []
    assert SensorCursor.parse(first.cursor).after > 0

    after = execute(defs, instance, "failing_job")
    second = tick(sensor, defs, instance, first.cursor)
    assert second.skip_message.startswith("reported 1 run(s)")
    assert "no cursor" not in second.skip_message
    assert after.run_id in _finished(recorder) and before.run_id not in _finished(recorder)


def test_an_empty_instance_starts_at_the_first_run(instance):
    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(DagsterPluginConfig(datahub_client_config={"kind": "console"}),
                                 emitter=lambda: recorder)
    defs = example_defs(sensor)
    first = tick(sensor, defs, instance, None)
    assert first.cursor  # stored, so the next tick is not a "no cursor" tick again
    run = execute(defs, instance, "failing_job")
    assert tick(sensor, defs, instance, first.cursor).skip_message.startswith("reported 1 run(s)")
    assert run.run_id in _finished(recorder)


def test_backfill_reports_the_runs_finished_before_spread_over_ticks(instance, caplog):
    recorder = RecordingEmitter()
    config = DagsterPluginConfig(datahub_client_config={"kind": "console"}, backfill=True,
                                        max_runs_per_tick=2)
    sensor = make_datahub_sensor(config, emitter=lambda: recorder)
    defs = example_defs(sensor)
    runs = [execute(defs, instance, job).run_id for job in ("raw_assets", "failing_job", "events_pipeline")]
    caplog.set_level(logging.INFO, logger="dagster_plugin")
    first = tick(sensor, defs, instance, None)
    assert first.skip_message.startswith("reported 2 run(s)")
    assert "backfill is on" in caplog.text
    second = tick(sensor, defs, instance, first.cursor)
    assert second.skip_message.startswith("reported 1 run(s)")
    assert set(runs) <= _finished(recorder)


def test_backfill_is_off_unless_asked():
    from dagster_plugin import DagsterPluginConfig

    assert DagsterPluginConfig.from_env({}).backfill is False  # (asked for: test_dagster_config's from_env test)


def test_re_report_after_a_lost_cursor_keeps_full_dataset_properties(instance):
    """Report, lose the cursor, report everything again: what GMS holds for the assets is unchanged."""
    with GmsServer(validate_aspects=True) as gms:
        config = DagsterPluginConfig(datahub_client_config={"server": gms.url},
                                            dagster_url="http://dagster:3000", backfill=True)
        sensor = make_datahub_sensor(config)
        defs = example_defs(sensor)
        execute(defs, instance, "raw_assets")
        first = tick(sensor, defs, instance, None)
        assert first.skip_message.startswith("reported 1 run(s)")
        customers = dataset("dagster", "customers")
        reported = gms.aspects[(customers, "datasetProperties")]
        assert reported["description"] == "Customers, one row per customer."
        assert reported["externalUrl"] == "http://dagster:3000/assets/customers"
        assert reported["customProperties"]["dagster.group"] == "raw"
        held = {key: value for key, value in gms.aspects.items() if key[1] == "datasetProperties"}

        # the cursor is lost (reset in the UI; a new sensor in a restarted code server): everything again
        restarted = make_datahub_sensor(config)
        defs2 = example_defs(restarted)
        again = tick(restarted, defs2, instance, None)
        assert again.skip_message.startswith("reported 1 run(s)")
        after = {key: value for key, value in gms.aspects.items() if key[1] == "datasetProperties"}
        assert after == held
        assert after[(customers, "datasetProperties")]["customProperties"]["dagster.group"] == "raw"
