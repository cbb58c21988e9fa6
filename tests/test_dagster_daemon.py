"""End to end: the real ``dagster-daemon`` runs the example definitions with the sensor on, REST to GMS.

As a user would: a fresh ``DAGSTER_HOME``, ``DATAHUB_GMS_URL`` pointing at the
GMS test server, ``dagster sensor start datahub_sensor``, ``dagster job launch``;
the daemon launches the run, ticks the sensor, and the run arrives at GMS.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers.gms import GmsServer

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = "examples/dagster/definitions.py"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "dagster"), *args, "-f", DEFINITIONS, "-d", str(ROOT)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=True,
    )


def _run_id(job: str, env: dict) -> str:
    code = (
        "from dagster import DagsterInstance\n"
        f"runs = DagsterInstance.get().get_runs(filters=__import__('dagster').RunsFilter(job_name={job!r}))\n"
        "print(runs[0].run_id if runs else '')\n"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def test_daemon_reports_a_launched_run_to_gms(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log_path = tmp_path / "daemon.log"
    with GmsServer(validate_aspects=True) as gms:
        env = {**os.environ, "DAGSTER_HOME": str(home), "DATAHUB_GMS_URL": gms.url,
               "BRIDGE_DAGSTER_URL": "http://localhost:3000", "PYTHONPATH": str(ROOT),
               # the run may finish before the sensor's first tick, which would start from after it
               "BRIDGE_DAGSTER_BACKFILL": "true"}
        # Turn the sensor on before the daemon starts: both would otherwise create the
        # instance's SQLite schedule storage at once ("table secondary_indexes already exists").
        _cli("sensor", "start", "datahub_sensor", env=env)
        with open(log_path, "w") as log:
            daemon = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-f", DEFINITIONS, "-d", str(ROOT)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            assert gms.requests == []  # loading the code location connected nowhere
            _cli("job", "launch", "-j", "raw_assets", env=env)
            run_id = _run_id("raw_assets", env)
            assert run_id
            run_urn = f"urn:li:dataProcessInstance:{run_id}"
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and daemon.poll() is None:
                if (run_urn, "dataProcessInstanceRelationships") in gms.aspects and any(
                    p["entityUrn"] == run_urn and '"COMPLETE"' in p["aspect"]["value"] for p in gms.proposals
                ):
                    break
                time.sleep(1)
        finally:
            daemon.terminate()
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        log_text = log_path.read_text()
        assert any(p["entityUrn"] == run_urn and '"COMPLETE"' in p["aspect"]["value"] for p in gms.proposals), (
            log_text[-3000:])
        assert gms.aspects[(run_urn, "dataProcessInstanceRelationships")]["parentTemplate"] == (
            "urn:li:dataFlow:(dagster,raw_assets,PROD)")
        assert gms.aspects[(run_urn, "dataProcessInstanceProperties")]["externalUrl"] == (
            f"http://localhost:3000/runs/{run_id}")
        assert "datahub_sensor - Emitting metadata..." in log_text
        assert f"reported run {run_id}" in log_text
