"""DataHub's plugin code working unchanged: ``make_datahub_sensor``'s arguments, a DataHub-style
``asset_lineage_extractor(context, dagster_generator, graph)``, and DataHub's plugin's URNs.

Runs are real (a temporary Dagster instance); the sensor is ticked as the daemon ticks it.
"""

from typing import NamedTuple

import dagster as dg
import pytest
from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance
from datahub.utilities.urns.dataset_urn import DatasetUrn

from bridge.errors import ConfigError
from bridge.testing import RecordingEmitter
from dagster_plugin import DagsterPluginConfig, DatahubDagsterSourceConfig, SensorCursor, make_datahub_sensor
from dagster_plugin.selection import RunSelection
from tests.dagster_helpers import dataset, execute, last, tick, validate_all


class DatasetLineage(NamedTuple):  # as datahub_dagster_plugin.client.dagster_generator defines it
    inputs: set
    outputs: set


@dg.op
def extract(context: dg.OpExecutionContext) -> int:
    context.log_event(dg.AssetMaterialization(asset_key=["raw", "events"], description="raw events"))
    return 1


@dg.op
def transform(value: int) -> int:
    return value + 1


@dg.job
def do_stuff():
    transform(extract())


@dg.job
def other_job():
    extract()


# what acryl-datahub's DataFlow / DataJob build for DataHub's plugin's ids (DatahubDagsterSourceConfig's default)
PLUGIN_FLOW = DataFlow(orchestrator="dagster", id="prod/do_stuff", env="PROD")


def plugin_job(op: str) -> str:
    return str(DataJob(id=f"prod/{op}", flow_urn=PLUGIN_FLOW.urn, name=op).urn)


def sent(instance, jobs, config, **sensor_args):
    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(config, emitter=lambda: recorder, **sensor_args)
    defs = dg.Definitions(jobs=[do_stuff, other_job], sensors=[sensor])
    runs = [execute(defs, instance, job).run_id for job in jobs]
    out = tick(sensor, defs, instance, None)
    return recorder.mcps, runs, out


def io(mcps, urn):
    """Dataset edges of a data job, from its dataJobInputOutput PATCHes / UPSERTs."""
    found = {"inputDatasetEdges": set(), "outputDatasetEdges": set()}
    for m in mcps:
        if m.entity_urn == urn and m.aspect_name == "dataJobInputOutput":
            value = m.aspect_value
            ops = value if isinstance(value, list) else [
                {"path": f"/{k}/x", "value": e} for k in found for e in value.get(k) or ()]
            for op in ops:
                kind = op["path"].split("/")[1]
                if kind in found and isinstance(op.get("value"), dict):
                    found[kind].add(op["value"]["destinationUrn"])
    return found


# -- make_datahub_sensor's arguments ------------------------------------------------------------


def test_sensor_takes_dagsters_scheduling_and_selection_arguments():
    config = DatahubDagsterSourceConfig(backfill=True, datahub_client_config={"kind": "console"})
    sensor = make_datahub_sensor(
        config, name="lineage_to_datahub", minimum_interval_seconds=45, description="to DataHub",
        default_status=dg.DefaultSensorStatus.RUNNING, monitored_jobs=[do_stuff],
        job_selection=[dg.JobSelector(location_name="elsewhere", job_name="remote_job")],
        tags={"team": "data"},
    )
    defs = dg.Definitions(jobs=[do_stuff, other_job], sensors=[sensor])
    loaded = defs.resolve_sensor_def("lineage_to_datahub")
    assert loaded.minimum_interval_seconds == 45
    assert loaded.default_status == dg.DefaultSensorStatus.RUNNING
    assert loaded.description == "to DataHub"
    assert make_datahub_sensor(config, name=None).name == "datahub_sensor"  # DataHub passes name=None
    # DataHub's plugin also passes job/jobs/asset_selection/required_resource_keys on to dagster.sensor
    targeted = make_datahub_sensor(config, name="with_jobs", jobs=[other_job], required_resource_keys=set())
    assert dg.Definitions(jobs=[other_job], sensors=[targeted]).resolve_sensor_def("with_jobs").job_name == "other_job"


def test_monitored_jobs_and_job_selection_limit_what_is_reported(instance):
    config = DatahubDagsterSourceConfig(backfill=True, datahub_client_config={"kind": "console"})
    for selection in ({"monitored_jobs": [do_stuff]}, {"job_selection": ["do_stuff"]},
                      {"monitored_jobs": [dg.JobSelector(location_name="nowhere", job_name="x")],
                       "job_selection": [do_stuff]}):
        with dg.instance_for_test() as inst:
            mcps, runs, out = sent(inst, ("do_stuff", "other_job"), config, **selection)
            assert out.skip_message.startswith("reported 1 run(s)"), (selection, out.skip_message)
            flows = {m.entity_urn for m in mcps if m.entity_type == "dataFlow"}
            assert flows == {str(PLUGIN_FLOW.urn)}, selection
            # the unmonitored run is passed over, not kept for later
            assert SensorCursor.parse(out.cursor).retry == {}


def test_selectors_match_by_location_repository_and_job():
    selection = RunSelection.of([dg.JobSelector(location_name="a", job_name="j")],
                                [dg.RepositorySelector(location_name="b", repository_name="r"),
                                 dg.CodeLocationSelector(location_name="c")])
    assert selection.job_names is None and selection.other_locations
    assert selection.matches("j", "a", "__repository__", own="mine")  # JobSelector's default repository
    assert not selection.matches("k", "a", "__repository__", own="mine")
    assert selection.matches("k", "b", "r", own="mine") and not selection.matches("k", "b", "s", own="mine")
    assert selection.matches("anything", "c", None, own="mine")
    assert not selection.matches("j", "mine", None, own="mine")
    assert RunSelection.of(["j"], None).job_names == ["j"]
    with pytest.raises(TypeError, match="monitored_jobs/job_selection items"):
        RunSelection.of([42])


# -- DataHub's extractor signature ---------------------------------------------------------------


def asset_lineage_extractor(
    context: dg.RunStatusSensorContext,
    dagster_generator: "DagsterGenerator",  # noqa: F821 - DataHub's types, as its guide writes them
    graph: "DataHubGraph",  # noqa: F821
) -> "dict[str, DatasetLineage]":
    """DataHub's example extractor (examples/advanced_ops_jobs.py), unchanged but for the last lines."""
    from dagster._core.events import DagsterEventType

    logs = context.instance.all_logs(
        context.dagster_run.run_id,
        {
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.ASSET_OBSERVATION,
            DagsterEventType.HANDLED_OUTPUT,
            DagsterEventType.LOADED_INPUT,
        },
    )
    dataset_lineage: dict[str, DatasetLineage] = {}
    for log in logs:
        if not log.dagster_event or not log.step_key:
            continue
        if log.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            if log.step_key not in dataset_lineage:
                dataset_lineage[log.step_key] = DatasetLineage(set(), set())
            materialization = log.asset_materialization
            if not materialization:
                continue
            properties = {key: str(value) for (key, value) in materialization.metadata.items()}
            asset_key = materialization.asset_key.path
            dataset_urn = dagster_generator.emit_asset(graph, asset_key, materialization.description, properties)
            dataset_lineage[log.step_key].outputs.add(dataset_urn)
    # and a table the op reads, as a DataHub DatasetUrn
    dataset_lineage.setdefault("transform", DatasetLineage(set(), set())).inputs.add(
        DatasetUrn("snowflake", "tableA"))
    return dataset_lineage


def test_a_datahub_style_extractor_works(instance):
    config = DatahubDagsterSourceConfig(backfill=True, datahub_client_config={"kind": "console"}, capture_input_output=False,
                                        asset_lineage_extractor=asset_lineage_extractor)
    mcps, _, out = sent(instance, ("do_stuff",), config)
    assert out.skip_message.startswith("reported 1 run(s)"), out.skip_message
    validate_all(mcps)
    extract_io = io(mcps, plugin_job("extract"))
    assert extract_io["outputDatasetEdges"] == {dataset("dagster", "raw.events")}
    transform_io = io(mcps, plugin_job("transform"))
    assert dataset("snowflake", "tableA") in transform_io["inputDatasetEdges"]


def test_an_extractor_using_the_graph_is_dead_lettered_at_once_with_a_clear_error(instance, caplog):
    def uses_graph(context, dagster_generator, graph):
        graph.get_aspect("urn:li:dataset:x", object)
        return {}

    config = DatahubDagsterSourceConfig(backfill=True, datahub_client_config={"kind": "console"}, asset_lineage_extractor=uses_graph)
    _, runs, out = sent(instance, ("do_stuff",), config)
    assert "1 dead-lettered" in out.skip_message, out.skip_message
    cursor = SensorCursor.parse(out.cursor)
    assert list(cursor.dead) == runs and cursor.retry == {}
    assert "graph.get_aspect: this plugin passes no DataHubGraph" in caplog.text


def test_the_generators_urns_are_built_as_datahubs_plugin_builds_them():
    """``dagster_generator``'s URN helpers: DataHub's ``DatasetUrn(platform=, name=, env=)`` (env upper-cased,
    reserved characters encoded), as DataHub's ``DagsterGenerator`` builds them."""
    from dagster_plugin import DagsterGenerator

    generator = DagsterGenerator(DatahubDagsterSourceConfig(env="dev"), logger=None)
    assert generator.dataset_urn_from_asset(["raw", "events"]).urn() == DatasetUrn(
        platform="dagster", name="raw.events", env="dev").urn()
    key = ["prod", "snowflake", "db", "t(1),x"]
    assert generator.asset_keys_to_dataset_urn_converter(key).urn() == DatasetUrn(
        platform="snowflake", name="db.t(1),x", env="prod").urn()
    assert generator.asset_keys_to_dataset_urn_converter(["raw", "events"]) is None


def test_a_converter_naming_no_dataset_urn_is_a_clear_error(instance, caplog):
    """A DataHub-style extractor asking ``dagster_generator`` for a converter's URN that is none: the run fails
    with an error naming the converter, the asset key, what it returned and what is wrong."""
    def extractor(context, dagster_generator, graph):
        urn = dagster_generator.asset_keys_to_dataset_urn_converter(["raw", "events"])
        return {"extract": DatasetLineage(set(), {urn})}

    config = DatahubDagsterSourceConfig(backfill=True, datahub_client_config={"kind": "console"},
                                        asset_lineage_extractor=extractor,
                                        asset_keys_to_dataset_urn_converter=lambda key: "snowflake.db.events")
    _, runs, out = sent(instance, ("do_stuff",), config)
    assert "1 failed" in out.skip_message, out.skip_message
    error = SensorCursor.parse(out.cursor).retry[runs[0]].error
    assert error == ("asset_keys_to_dataset_urn_converter: asset key ['raw', 'events']: 'snowflake.db.events' is not "
                     "a URN (it must start with 'urn:li:')"), error


@pytest.mark.parametrize("fn", [lambda: {}, lambda a, b, c, d: {}, lambda *, run: {}])
def test_an_extractor_no_call_fits_is_refused_when_the_config_is_built(fn):
    with pytest.raises(ConfigError, match="asset_lineage_extractor: must be fn\\(run\\), fn\\(run, context\\), or "
                                          "DataHub's fn\\(context, dagster_generator, graph\\)"):
        DatahubDagsterSourceConfig(asset_lineage_extractor=fn)


# -- DataHub's plugin's URNs ------------------------------------------------------------------------


@pytest.mark.parametrize(("config_class", "how"), [
    (DatahubDagsterSourceConfig, {}),  # DataHub's name: DataHub's URNs by default
    (DagsterPluginConfig, {"urn_scheme": "datahub-dagster-plugin"}),
    (DagsterPluginConfig, {"translator": {"compat": "datahub-dagster-plugin"}}),
])
def test_urns_as_datahubs_plugin_writes_them(instance, config_class, how):
    config = config_class(backfill=True, datahub_client_config={"kind": "console"}, connect_ops_to_ops=True, **how)
    mcps, runs, _ = sent(instance, ("do_stuff",), config)
    validate_all(mcps)
    # what acryl-datahub's DataFlow / DataJob / DataProcessInstance build for the plugin's ids
    flow = PLUGIN_FLOW
    jobs = {op: DataJob(id=f"prod/{op}", flow_urn=flow.urn, name=op) for op in ("extract", "transform")}
    flow_run = DataProcessInstance.from_dataflow(dataflow=flow, id=runs[0])
    op_runs = {DataProcessInstance.from_datajob(datajob=j, id=f"{runs[0]}.{j.id}").urn.urn() for j in jobs.values()}
    urns = {m.entity_urn for m in mcps}
    assert {m.entity_urn for m in mcps if m.entity_type == "dataFlow"} == {str(flow.urn)}
    assert {m.entity_urn for m in mcps if m.entity_type == "dataJob"} == {str(j.urn) for j in jobs.values()}
    assert {m.entity_urn for m in mcps if m.entity_type == "dataProcessInstance"} == op_runs | {flow_run.urn.urn()}
    assert urns >= {str(flow.urn)}
    for op, job in jobs.items():
        assert last(mcps, str(job.urn), "dataJobInfo")["name"] == op
    # the flow's info is written by the run's own events only, named by the job as DataHub's plugin names it
    flow_infos = [m for m in mcps if m.entity_urn == str(flow.urn) and m.aspect_name == "dataFlowInfo"]
    assert len(flow_infos) == 1 and last(mcps, str(flow.urn), "dataFlowInfo")["name"] == "do_stuff"
    assert last(mcps, str(jobs["transform"].urn), "dataJobInputOutput")["inputDatajobs"] == [str(jobs["extract"].urn)]
    for urn in op_runs:
        assert last(mcps, urn, "dataProcessInstanceRelationships")["parentInstance"] == flow_run.urn.urn()


def test_plugin_urns_with_a_platform_instance(instance):
    config = DatahubDagsterSourceConfig(backfill=True, datahub_client_config={"kind": "console"}, platform_instance="eu")
    mcps, _, _ = sent(instance, ("do_stuff",), config)
    flow = DataFlow(orchestrator="dagster", id="prod/do_stuff", env="PROD", platform_instance="eu")
    assert {m.entity_urn for m in mcps if m.entity_type == "dataFlow"} == {str(flow.urn)}


def test_the_bridges_name_keeps_the_bridges_urns(instance):
    config = DagsterPluginConfig(backfill=True, datahub_client_config={"kind": "console"})
    mcps, _, _ = sent(instance, ("do_stuff",), config)
    assert {m.entity_urn for m in mcps if m.entity_type == "dataFlow"} == {"urn:li:dataFlow:(dagster,do_stuff,PROD)"}


def test_an_unknown_urn_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="urn_scheme: must be one of"):
        DatahubDagsterSourceConfig(urn_scheme="airflow")
