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
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance
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
example = {"sensor": sensor.name, "status": sensor.default_status.value, "emitter": config.emitter(),
           "dagster_url": config.dagster_url}
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
    runs = [run.run_id for run in instance.get_runs()]
print(json.dumps({"jobs": jobs, "ticks": [t.skip_message for t in ticks], "example": example, "runs": runs,
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


def run_example(example: str, tmp_path: Path, gms: GmsServer) -> dict:
    """Run the guide's example (imports changed) against ``gms``: what the runner printed."""
    script = tmp_path / f"{example}.py"
    script.write_text(bridged(example))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(script), gms.url], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["datahub"] == []  # nothing of acryl-datahub was imported
    return out


def entities(gms: GmsServer, entity_type: str) -> set[str]:
    return {urn for urn, _ in gms.aspects if urn.startswith(f"urn:li:{entity_type}:")}


@pytest.mark.slow
def test_basic_setup_is_datahubs_sensor_and_config_and_writes_nothing(tmp_path):
    """No jobs, no assets: DataHub's plugin writes nothing; the sensor and config are those DataHub's would be."""
    from datahub.ingestion.graph.client import DatahubClientConfig

    theirs = DatahubClientConfig(server="https://your_datahub_url/gms", token="your_datahub_token")  # the example's
    with GmsServer() as gms:
        out = run_example("basic_setup", tmp_path, gms)
        assert out["example"] == {
            "sensor": "datahub_sensor", "status": "STOPPED",  # make_datahub_sensor(config): DataHub's defaults
            "emitter": ["rest", {"gms_server": theirs.server, "token": theirs.token}],
            "dagster_url": "https://my-dagster-cloud.dagster.cloud",
        }
        assert out["jobs"] == [] and out["runs"] == []
        assert out["ticks"][1].startswith("reported 0 run(s)"), out["ticks"]
        assert gms.proposals == []


@pytest.mark.slow
def test_assets_job_writes_what_datahubs_plugin_writes(tmp_path):
    """The assets example's flow, ops, runs, asset datasets and lineage, named by acryl-datahub's builders as
    DataHub's plugin names them (``DagsterGenerator`` with its ``emit_asset``): the op ``transform`` reads the
    asset ``extract`` (its upstream op's output) and ``tableC`` (its ``AssetIn``'s ``datahub.inputs``); the
    ``AssetOut``'s ``datahub.outputs`` (``tableD``) is used by DataHub's plugin with ``connect_ops_to_ops``
    only, so not here; the tables named in lineage get no aspects (``materialize_dependencies`` is off)."""
    with GmsServer() as gms:
        out = run_example("assets_job", tmp_path, gms)
        assert out["jobs"] == ["assets_job"] and len(out["runs"]) == 1, out
        assert out["ticks"][1].startswith("reported 1 run(s)"), out["ticks"]
        [run_id] = out["runs"]
        dataflow = DataFlow(orchestrator="dagster", id="prod/assets_job", env="PROD")
        jobs = {op: DataJob(id=f"prod/{op}", flow_urn=dataflow.urn, name=op) for op in ("extract", "transform")}
        asset = {key: DatasetUrn(platform="dagster", name=key, env="PROD").urn() for key in ("extract", "transform")}
        flow_run = DataProcessInstance.from_dataflow(dataflow=dataflow, id=run_id).urn.urn()
        op_runs = {op: DataProcessInstance.from_datajob(datajob=job, id=f"{run_id}.{job.id}").urn.urn()
                   for op, job in jobs.items()}
        aspects = gms.aspects

        assert entities(gms, "dataFlow") == {str(dataflow.urn)}
        assert entities(gms, "dataJob") == {str(job.urn) for job in jobs.values()}
        assert entities(gms, "dataProcessInstance") == {flow_run, *op_runs.values()}
        assert entities(gms, "dataset") == set(asset.values())
        assert aspects[(str(dataflow.urn), "dataFlowInfo")]["name"] == "assets_job"
        assert aspects[(str(dataflow.urn), "dataFlowInfo")]["externalUrl"] == "http://localhost:3000/jobs/assets_job"
        for op, job in jobs.items():
            assert aspects[(str(job.urn), "dataJobInfo")]["name"] == op
            assert aspects[(str(job.urn), "dataJobInfo")]["externalUrl"] == f"http://localhost:3000/jobs/assets_job/{op}"
            assert aspects[(str(job.urn), "subTypes")] == {"typeNames": ["Op"]}
        for urn in asset.values():
            assert aspects[(urn, "subTypes")] == {"typeNames": ["Asset"]}

        lineage = {op: ({e["destinationUrn"] for e in aspects[(str(job.urn), "dataJobInputOutput")]["inputDatasetEdges"]},
                        {e["destinationUrn"] for e in aspects[(str(job.urn), "dataJobInputOutput")]["outputDatasetEdges"]})
                   for op, job in jobs.items()}  # fmt: skip
        table_c = DatasetUrn(platform="snowflake", name="tableC", env="PROD").urn()
        assert lineage == {"extract": (set(), {asset["extract"]}),
                           "transform": ({asset["extract"], table_c}, {asset["transform"]})}
        # each op's run reads and writes what its op does (DataHub's clone_inlets / clone_outlets)
        for op, (inputs, outputs) in lineage.items():
            assert set(aspects.get((op_runs[op], "dataProcessInstanceInput"), {}).get("inputs", [])) == inputs
            assert set(aspects[(op_runs[op], "dataProcessInstanceOutput")]["outputs"]) == outputs
            assert aspects[(op_runs[op], "dataProcessInstanceRelationships")]["parentTemplate"] == str(jobs[op].urn)
        assert aspects[(flow_run, "dataProcessInstanceRelationships")]["parentTemplate"] == str(dataflow.urn)
        for urn in (flow_run, *op_runs.values()):
            assert aspects[(urn, "dataProcessInstanceRunEvent")]["result"]["type"] == "SUCCESS"
        table_d = DatasetUrn(platform="snowflake", name="tableD", env="PROD").urn()
        assert table_d not in json.dumps(list(aspects.values()))


@pytest.mark.slow
@pytest.mark.parametrize(("example", "lineage"), [
    ("ops_job", {op_job("do_stuff", "transform"): ({table("tableA")}, {table("tableB")})}),
    ("advanced_ops_jobs", {op_job("do_stuff", "transform"): ({table("tableA")}, {table("tableB")})}),
])
def test_the_guides_example_runs_with_only_the_imports_changed(example, lineage, tmp_path):
    with GmsServer() as gms:
        out = run_example(example, tmp_path, gms)
        assert out["ticks"][1].startswith("reported 1 run(s)"), out["ticks"]
        flows = {urn for urn, aspect in gms.aspects if aspect == "dataFlowInfo"}
        assert flows == {flow(job) for job in out["jobs"]}
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
