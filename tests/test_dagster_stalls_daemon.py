"""Dead letters and the tick deadline, with ticks run by Dagster's own sensor daemon code.

``execute_sensor_iteration`` is what ``dagster-daemon`` runs every few seconds:
it loads tests/dagster_stall_defs.py in a code server subprocess, evaluates the
sensor over gRPC (with Dagster's sensor timeout), and stores the tick and the
cursor in the instance. So :func:`dagster_plugin.dead_letters` reads what a
real deployment stores, and the tick's duration is the one Dagster sees.
"""

import json
import logging
import socket
import time
from pathlib import Path

import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, load_remote_repo
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration

from dagster_plugin import SensorCursor, dead_letters, requeue_dead_letters
from tests.servers.gms import GmsServer

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 3.0
MARGIN = 5.0

pytestmark = pytest.mark.slow


def _defs():
    from tests import dagster_stall_defs

    return dagster_stall_defs.defs


def _execute(instance, job):
    return _defs().resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False).run_id


class Daemon:
    """The sensor daemon's iteration over the test definitions, one call per tick."""

    def __init__(self, context, instance):
        self.context = context
        self.instance = instance
        self.sensor = load_remote_repo(context, "__repository__").get_sensor("datahub_sensor")

    def tick(self):
        time.sleep(1.05)  # the sensor's minimum interval
        start = time.monotonic()
        list(execute_sensor_iteration(self.context, logging.getLogger("test_sensor_daemon"), None, None))
        took = time.monotonic() - start
        last = self.instance.get_ticks(self.sensor.get_remote_origin_id(), self.sensor.selector_id, limit=1)[0]
        print(f"daemon tick took {took:.2f}s: {last.status.value} {last.skip_reason or last.error}")
        return took, last


@pytest.fixture()
def daemon(instance, monkeypatch, tmp_path, request):
    monkeypatch.setenv("STALL_TEST_BROKEN", str(tmp_path / "broken"))
    monkeypatch.setenv("STALL_TEST_DEADLINE", str(DEADLINE))
    gms_url = request.getfixturevalue("gms_url")
    monkeypatch.setenv("STALL_TEST_GMS", gms_url)
    target = ModuleTarget(module_name="tests.dagster_stall_defs", attribute="defs", working_directory=str(ROOT),
                          location_name="stall_defs")
    with create_test_daemon_workspace_context(target, instance) as context:
        yield Daemon(context, instance)


@pytest.fixture()
def gms():
    with GmsServer() as server:
        yield server


class TestDeadLetters:
    @pytest.fixture()
    def gms_url(self, gms):
        return gms.url

    def test_dead_letters_are_stored_listed_and_requeued(self, daemon, instance, gms, tmp_path):
        broken = tmp_path / "broken"
        broken.touch()
        bad = [_execute(instance, "failing_job") for _ in range(2)]
        daemon.tick()
        good = _execute(instance, "raw_assets")
        for _ in range(4):
            daemon.tick()
            if len(dead_letters(instance)) == 2:
                break
        assert [d.run_id for d in dead_letters(instance)] == bad
        assert all(d.tries == 2 and "KeyError" in d.error for d in dead_letters(instance))
        assert any(p["entityUrn"].endswith(good) for p in gms.proposals)

        # The command line reads the same instance ($DAGSTER_HOME).
        from click.testing import CliRunner

        from bridge.cli import main

        env = {"DAGSTER_HOME": instance.root_directory}
        listed = CliRunner().invoke(main, ["dagster", "dead-letters", "--json"], env=env, catch_exceptions=False)
        assert listed.exit_code == 0, listed.output
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [r["run_id"] for r in rows] == bad and all("KeyError" in r["error"] for r in rows)

        broken.unlink()  # the user fixes the extractor, then: requeue everything dead-lettered
        retried = CliRunner().invoke(main, ["dagster", "retry", "--all"], env=env, catch_exceptions=False)
        assert retried.exit_code == 0 and "2 run(s) will be tried again" in retried.output
        assert requeue_dead_letters(instance, ["no-such-run"]) == []
        _, last = daemon.tick()
        assert last.status == TickStatus.SKIPPED and last.skip_reason.startswith("reported 2 run(s)")
        assert dead_letters(instance) == []
        for run_id in bad:
            assert any(p["entityUrn"] == f"urn:li:dataProcessInstance:{run_id}" for p in gms.proposals)


class TestDeadline:
    @pytest.fixture()
    def listener(self):
        # accepts connections (the kernel's backlog) and never answers
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock
        sock.close()

    @pytest.fixture()
    def gms_url(self, listener):
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    def test_a_silent_gms_never_makes_dagster_cut_a_tick_off(self, daemon, instance, listener):
        runs = [_execute(instance, job) for job in ("raw_assets", "raw_assets", "failing_job")]
        for _ in range(2):
            took, last = daemon.tick()
            assert took < DEADLINE + MARGIN
            # the sensor returned by itself: a skipped tick with its cursor, not a timed-out failure
            assert last.status == TickStatus.SKIPPED, last.error
            assert "stopped at the tick deadline" in last.skip_reason
        state = daemon.instance.get_instigator_state(daemon.sensor.get_remote_origin_id(),
                                                     daemon.sensor.selector_id)
        assert list(SensorCursor.parse(state.instigator_data.cursor).retry) == [runs[0]]

        port = listener.getsockname()[1]
        listener.close()  # DataHub comes back at the same address
        with GmsServer(port=port) as gms:
            for _ in range(8):
                took, last = daemon.tick()
                assert took < DEADLINE + MARGIN and last.status == TickStatus.SKIPPED
                done = {run_id for run_id in runs
                        if any(p["entityUrn"] == f"urn:li:dataProcessInstance:{run_id}" for p in gms.proposals)}
                if done == set(runs):
                    break
            assert done == set(runs)
