"""A sensor never stalls: runs that fail for good are dead-lettered, and a tick ends by its deadline.

Real runs in a real temporary Dagster instance, ticks evaluated as the daemon
evaluates them (``build_sensor_context`` with the instance and the cursor the
previous tick returned), delivery through the real REST emitter to the GMS
test server — or to a socket that accepts connections and never answers.
"""

import logging
import socket
import time

from bridge.testing import RecordingEmitter
from dagster_plugin import (
    REQUEUE_TAG,
    DagsterPluginConfig,
    SensorCursor,
    dead_letters,
    make_datahub_sensor,
    requeue_dead_letters,
)
from tests.dagster_helpers import example_defs, execute, tick
from tests.servers.gms import GmsServer


def _completed(mcps, run_ids):
    """Run ids whose end (COMPLETE run event) was sent, as often as it was sent."""
    return sorted(m.entity_urn.rsplit(":", 1)[1] for m in mcps if m.aspect_name == "dataProcessInstanceRunEvent"
                  and m.aspect_value["status"] == "COMPLETE" and m.entity_urn.rsplit(":", 1)[1] in run_ids)


def _completed_at_gms(gms, run_ids):
    return sorted(p["entityUrn"].rsplit(":", 1)[1] for p in gms.proposals
                  if p["aspectName"] == "dataProcessInstanceRunEvent" and '"COMPLETE"' in p["aspect"]["value"]
                  and p["entityUrn"].rsplit(":", 1)[1] in run_ids)


# -- item 2: runs that fail for good ---------------------------------------------------------


class BrokenForFailingJob:
    """A user's lineage extractor with a bug that only runs of ``failing_job`` hit (until it is fixed)."""

    def __init__(self):
        self.fixed = False

    def __call__(self, run):
        if run.job_name == "failing_job" and not self.fixed:
            raise KeyError("warehouse_table")
        return {}


def test_runs_failing_for_good_are_dead_lettered_and_never_block_good_runs(instance, caplog):
    recorder = RecordingEmitter()
    extractor = BrokenForFailingJob()
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"kind": "console"}, max_runs_per_tick=2,
                                        max_tries=3, asset_lineage_extractor=extractor)
    sensor = make_datahub_sensor(config, emitter=lambda: recorder)
    defs = example_defs(sensor)
    bad = [execute(defs, instance, "failing_job").run_id for _ in range(2)]
    out = tick(sensor, defs, instance, None)
    assert "reported 0 run(s), 2 failed" in out.skip_message
    cursor = out.cursor

    # The case: 2 bad runs on the retry list, a maximum of 2 per tick. Every later good run
    # is reported by the first tick after it finished.
    good = []
    for _ in range(4):
        good.append(execute(defs, instance, "raw_assets").run_id)
        out = tick(sensor, defs, instance, cursor)
        cursor = out.cursor
        assert _completed(recorder.mcps, good) == sorted(good), out.skip_message
    state = SensorCursor.parse(cursor)
    assert state.retry == {}
    assert sorted(state.dead) == sorted(bad)
    assert {d.tries for d in state.dead.values()} == {3}
    assert all("KeyError: 'warehouse_table'" in d.error for d in state.dead.values())
    assert "2 dead letter(s)" in out.skip_message
    assert f"gave up on run {bad[0]} after 3 failed tries" in caplog.text
    assert [d.run_id for d in dead_letters(cursor)] == bad  # oldest first

    # Dead letters are tried no more...
    out = tick(sensor, defs, instance, cursor)
    assert out.skip_message.startswith("reported 0 run(s), 2 dead letter(s)")
    # ...until the user fixes the cause and requeues one (what the proposed CLI command calls).
    extractor.fixed = True
    assert requeue_dead_letters(instance, [bad[0], "no-such-run"]) == [bad[0]]
    assert instance.get_run_by_id(bad[0]).tags[REQUEUE_TAG]
    out = tick(sensor, defs, instance, out.cursor)
    assert out.skip_message.startswith("reported 1 run(s)")
    assert _completed(recorder.mcps, bad) == [bad[0]]
    assert [d.run_id for d in dead_letters(out.cursor)] == [bad[1]]
    # The tag is consumed: the same request does not requeue again; a new one does.
    out = tick(sensor, defs, instance, out.cursor)
    assert out.skip_message.startswith("reported 0 run(s), 1 dead letter(s)")
    requeue_dead_letters(instance, [bad[1]])
    out = tick(sensor, defs, instance, out.cursor)
    assert out.skip_message == "reported 1 run(s)"
    assert _completed(recorder.mcps, bad) == sorted(bad)
    assert SensorCursor.parse(out.cursor).dead == {}


def test_retries_do_not_starve_new_runs_within_a_tick(instance):
    recorder = RecordingEmitter()
    extractor = BrokenForFailingJob()
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"kind": "console"}, max_runs_per_tick=4,
                                        max_tries=100, asset_lineage_extractor=extractor)
    sensor = make_datahub_sensor(config, emitter=lambda: recorder)
    defs = example_defs(sensor)
    bad = [execute(defs, instance, "failing_job").run_id for _ in range(6)]
    cursor = tick(sensor, defs, instance, None).cursor
    cursor = tick(sensor, defs, instance, cursor).cursor
    assert len(SensorCursor.parse(cursor).retry) == 6  # more waiting retries than the tick's budget
    good = [execute(defs, instance, "raw_assets").run_id for _ in range(2)]
    out = tick(sensor, defs, instance, cursor)
    assert out.skip_message.startswith("reported 2 run(s), 2 failed")  # new and retried runs take turns
    assert _completed(recorder.mcps, good) == sorted(good)
    assert sorted(SensorCursor.parse(out.cursor).retry) == sorted(bad) and not SensorCursor.parse(out.cursor).dead


def test_an_outage_never_dead_letters_a_run(instance):
    with GmsServer() as gms:
        config = DagsterPluginConfig(backfill=True, max_tries=1, datahub_client_config={"server": gms.url,
                                                                                  "retry_max_times": 0})
        sensor = make_datahub_sensor(config)
        defs = example_defs(sensor)
        run = execute(defs, instance, "failing_job").run_id
        gms.fail_next(10_000, status=503, retry_after=0)
        cursor = None
        for _ in range(3):
            cursor = tick(sensor, defs, instance, cursor).cursor
        state = SensorCursor.parse(cursor)
        assert list(state.retry) == [run] and state.dead == {}
        gms.clear_faults()
        out = tick(sensor, defs, instance, cursor)
        assert out.skip_message == "reported 1 run(s)"
        assert _completed_at_gms(gms, [run]) == [run]


# -- item 3: the tick deadline ---------------------------------------------------------------


DEADLINE = 3.0
MARGIN = 5.0  # generous: a loaded CI machine; the point is "returns", not a benchmark


def _timed_tick(sensor, defs, instance, cursor):
    start = time.monotonic()
    out = tick(sensor, defs, instance, cursor)
    took = time.monotonic() - start
    print(f"tick took {took:.2f}s: {out.skip_message}")  # the measurement, shown with -s
    return out, took


def test_a_gms_that_never_answers_cannot_hold_a_tick_past_its_deadline(instance):
    # A listener that accepts connections (the kernel's backlog) and never answers, with the REST
    # emitter's defaults (30 s timeout, 4 retries): one run would hold a tick for minutes.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"server": f"http://127.0.0.1:{port}"},
                                        tick_deadline_sec=DEADLINE)
    sensor = make_datahub_sensor(config)
    defs = example_defs(sensor)
    runs = [execute(defs, instance, job).run_id for job in ("raw_assets", "failing_job", "events_pipeline")]
    try:
        out, took = _timed_tick(sensor, defs, instance, None)
        assert took < DEADLINE + MARGIN, took
        assert "stopped at the tick deadline" in out.skip_message
        state = SensorCursor.parse(out.cursor)
        # the run being delivered is carried in the cursor; the runs not started are still after it
        assert list(state.retry) == [runs[0]] and state.retry[runs[0]].tries == 0
        out, took = _timed_tick(sensor, defs, instance, out.cursor)  # GMS still silent
        assert took < DEADLINE + MARGIN, took
        assert "reported 0 run(s)" in out.skip_message and list(SensorCursor.parse(out.cursor).retry) == [runs[0]]
        cursor = out.cursor
    finally:
        listener.close()  # the stuck connections are reset: the background delivery fails and ends

    with GmsServer(port=port) as gms:  # DataHub is back, at the same address
        for _ in range(10):
            out, took = _timed_tick(sensor, defs, instance, cursor)
            assert took < DEADLINE + MARGIN, took
            cursor = out.cursor
            if sorted(set(_completed_at_gms(gms, runs))) == sorted(runs):
                break
        assert sorted(set(_completed_at_gms(gms, runs))) == sorted(runs)
        state = SensorCursor.parse(cursor)
        assert state.retry == {} and state.dead == {}
        assert tick(sensor, defs, instance, cursor).skip_message == "reported 0 run(s)"


def test_a_delivery_finishing_after_its_tick_is_counted_once_not_sent_again(instance, caplog):
    caplog.set_level(logging.INFO, logger="dagster_plugin")
    with GmsServer() as gms:
        config = DagsterPluginConfig(backfill=True, datahub_client_config={"server": gms.url}, tick_deadline_sec=1.0)
        sensor = make_datahub_sensor(config)
        defs = example_defs(sensor)
        runs = [execute(defs, instance, job).run_id for job in ("raw_assets", "failing_job")]
        gms.slow_next(1, seconds=4)  # answered, but long after the tick's deadline
        out, took = _timed_tick(sensor, defs, instance, None)
        assert took < 1.0 + MARGIN, took
        assert "stopped at the tick deadline" in out.skip_message
        assert list(SensorCursor.parse(out.cursor).retry) == [runs[0]]
        cursor = out.cursor
        messages = []
        for _ in range(15):
            out, took = _timed_tick(sensor, defs, instance, cursor)
            assert took < 1.0 + MARGIN, took
            messages.append(out.skip_message)
            cursor = out.cursor
            if not SensorCursor.parse(cursor).retry and sorted(_completed_at_gms(gms, runs)) == sorted(runs):
                break
        assert sorted(_completed_at_gms(gms, runs)) == sorted(runs), messages  # each run's end sent once
        assert f"reported run {runs[0]} (its delivery finished after the last tick)" in caplog.text
        assert any("a delivery started by an earlier tick is still running" in r.message for r in caplog.records)
        assert tick(sensor, defs, instance, cursor).skip_message == "reported 0 run(s)"
