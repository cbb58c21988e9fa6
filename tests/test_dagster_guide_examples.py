"""DataHub's Dagster guide examples run with only their imports changed, and write DataHub's URNs.

``tests/datahub_guide/*.py.txt`` are the examples of acryl-datahub-dagster-plugin (Apache-2.0,
metadata-ingestion-modules/dagster-plugin/examples), as published. Each is rewritten by
:data:`IMPORTS` (the mapping README's migration section lists) and run in a subprocess where
importing acryl-datahub or DataHub's plugin fails: its jobs run in a temporary Dagster instance and
its own sensor is ticked as the daemon ticks it (first tick, the runs, the next tick), delivering to
the GMS test server (the one thing the harness changes is the example's server URL). The URNs it
wrote are compared with acryl-datahub's own builders.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.utilities.urns.dataset_urn import DatasetUrn

from tests.servers.gms import GmsServer

ROOT = Path(__file__).resolve().parent.parent
GUIDE = Path(__file__).resolve().parent / "datahub_guide"

#: DataHub's module -> the bridge's, for every name the guide imports from acryl-datahub or DataHub's plugin.
IMPORTS = {
    "datahub_dagster_plugin.sensors.datahub_sensors": "dagster_plugin",
    "datahub_dagster_plugin.client.dagster_generator": "dagster_plugin",
    "datahub.ingestion.graph.client": "dagster_plugin",
    "datahub.ingestion.graph.config": "dagster_plugin",
    "datahub.utilities.urns.dataset_urn": "dagster_plugin",
}

RUNNER = r"""
import importlib.abc, json, sys

class NoDataHub(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("datahub", "datahub_dagster_plugin"):
            raise ImportError(f"acryl-datahub is not installed here ({name})")

sys.meta_path.insert(0, NoDataHub())
import attrs
import dagster as dg

namespace = {"__name__": "guide_example"}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), namespace)
defs, config = namespace["defs"], namespace["config"]
sensor = [s for s in defs.sensors][0]
from dagster_plugin import make_datahub_sensor
sensor = make_datahub_sensor(attrs.evolve(config, datahub_client_config={"server": sys.argv[2]}), name=sensor.name)
defs = dg.Definitions(assets=defs.assets, jobs=defs.jobs, sensors=[sensor])
jobs = [j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")]
with dg.instance_for_test() as instance:
    ticks = [sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=None, definitions=defs))]
    for job in jobs:
        assert defs.resolve_job_def(job).execute_in_process(instance=instance).success, job
    ticks.append(sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=ticks[0].cursor,
                                                              definitions=defs)))
print(json.dumps({"jobs": jobs, "ticks": [t.skip_message for t in ticks],
                  "datahub": sorted(m for m in sys.modules if m.split(".")[0] in ("datahub", "datahub_dagster_plugin"))}))
"""


def bridged(name: str) -> str:
    """The guide's example with only its imports changed."""
    text = (GUIDE / f"{name}.py.txt").read_text()
    out = re.sub(r"^from (\S+) import", lambda m: f"from {IMPORTS.get(m[1], m[1])} import", text, flags=re.M)
    changed = [(a, b) for a, b in zip(text.splitlines(), out.splitlines(), strict=True) if a != b]
    assert changed and all(a.startswith("from ") and b.startswith("from dagster_plugin import") for a, b in changed)
    return out


def flow(job: str) -> str:
    return str(DataFlow(orchestrator="dagster", id=f"prod/{job}", env="PROD").urn)


def op_job(job: str, op: str) -> str:
    return str(DataJob(id=f"prod/{op}", flow_urn=DataFlow(orchestrator="dagster", id=f"prod/{job}", env="PROD").urn,
                       name=op).urn)


def table(name: str) -> str:
    return DatasetUrn("snowflake", name).urn()


@pytest.mark.slow
@pytest.mark.parametrize(("example", "runs", "lineage"), [
    ("basic_setup", 0, {}),
    ("ops_job", 1, {op_job("do_stuff", "transform"): ({table("tableA")}, {table("tableB")})}),
    ("assets_job", 1, {}),  # its AssetIn/AssetOut datahub.* metadata: DataHub's plugin writes no lineage from it either
    ("advanced_ops_jobs", 1, {op_job("do_stuff", "transform"): ({table("tableA")}, {table("tableB")})}),
])
def test_the_guides_example_runs_with_only_the_imports_changed(example, runs, lineage, tmp_path):
    script = tmp_path / f"{example}.py"
    script.write_text(bridged(example))
    with GmsServer() as gms:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DAGSTER_HOME": str(tmp_path)}
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(script), gms.url], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["datahub"] == []  # nothing of acryl-datahub was imported
        assert out["ticks"][1].startswith(f"reported {runs} run(s)"), out["ticks"]
        flows = {urn for urn, aspect in gms.aspects if aspect == "dataFlowInfo"}
        assert flows == {flow(job) for job in out["jobs"]} if runs else not flows
        for job, (inputs, outputs) in lineage.items():
            io = gms.aspects[(job, "dataJobInputOutput")]
            assert inputs <= {e["destinationUrn"] for e in io.get("inputDatasetEdges") or ()}, io
            assert outputs <= {e["destinationUrn"] for e in io.get("outputDatasetEdges") or ()}, io


@pytest.mark.parametrize(("args", "instance"), [
    (("snowflake", "tableA"), None), (("snowflake", "db.t(1),x", "dev"), None),
    (("urn:li:dataPlatform:hive", "a.b", "PROD"), None), (("postgres", "shop.public.orders", "PROD"), "eu"),
])
def test_dataset_urn_is_datahubs(args, instance):
    import dagster_plugin

    ours, theirs = dagster_plugin.DatasetUrn, DatasetUrn
    if instance is None:
        assert ours(*args) == str(ours(*args)) == ours(*args).urn() == theirs(*args).urn()
    else:
        assert ours.create_from_ids(*args, platform_instance=instance).urn() == theirs.create_from_ids(
            *args, platform_instance=instance).urn()
    urn = theirs(*args[:2]).urn()
    parsed = ours.from_string(urn)
    assert (parsed.urn(), parsed.platform, parsed.name, parsed.env) == (
        urn, theirs.from_string(urn).platform, theirs.from_string(urn).name, theirs.from_string(urn).env)
    with pytest.raises(ValueError, match="not a dataset URN"):
        ours.from_string("urn:li:corpuser:x")


def test_datahub_client_config_takes_datahubs_fields_and_gives_what_datahubs_gives():
    from datahub.ingestion.graph.client import DatahubClientConfig as Theirs

    from bridge.errors import ConfigError
    from dagster_plugin import DatahubClientConfig, DatahubDagsterSourceConfig
    from dagster_plugin.client_config import FIELDS

    assert set(FIELDS) == set(Theirs.model_fields)
    fields = {"server": "http://gms:8080", "token": "t", "timeout_sec": 3.0, "tcp_keepalive": True}
    ours = DatahubDagsterSourceConfig(datahub_client_config=DatahubClientConfig(**fields)).emitter()
    assert ours == DatahubDagsterSourceConfig(datahub_client_config=Theirs(**fields)).emitter()
    assert DatahubClientConfig(**fields).server == "http://gms:8080" and "t'" not in repr(DatahubClientConfig(**fields))
    with pytest.raises(ConfigError, match="unknown DatahubClientConfig field"):
        DatahubClientConfig(server="http://gms:8080", tcp_keep_alive=True)
