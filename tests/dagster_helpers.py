"""Helpers of the Dagster plugin tests: run jobs in a real instance, tick a sensor as the daemon does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg

from bridge.mcp import MetadataChangeProposalWrapper
from tests._datahub_reference import check_mcp
from tests.servers.gms_state import held


def example_defs(sensor: dg.SensorDefinition) -> dg.Definitions:
    """The example assets and jobs (``examples/dagster``) with ``sensor``."""
    from examples.dagster import assets_job, ops_job

    return dg.Definitions(
        assets=[assets_job.customers, assets_job.orders, assets_job.customer_revenue],
        jobs=[assets_job.raw_job, ops_job.events_pipeline, ops_job.failing_job],
        sensors=[sensor],
    )


def execute(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, *, partition: str | None = None,
            run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """Execute ``job`` of ``defs`` in ``instance`` (failures are results, not exceptions)."""
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, run_config=run_config or {}, raise_on_error=False
    )


def tick(sensor: dg.SensorDefinition, defs: dg.Definitions, instance: dg.DagsterInstance,
         cursor: str | None) -> Any:
    """Evaluate ``sensor`` once the way the daemon does: a context with the instance and the stored cursor."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


def report_job(instance: dg.DagsterInstance, assets: list, job: Any,
               **options: Any) -> list[MetadataChangeProposalWrapper]:
    """Run the asset ``job`` once, report it with one sensor tick (``options`` configure the sensor, from the
    first run on), check every MCP against DataHub's classes and return them."""
    from bridge.testing import RecordingEmitter
    from dagster_plugin import DagsterPluginConfig, make_datahub_sensor

    recorder = RecordingEmitter()
    config = DagsterPluginConfig(datahub_client_config={"kind": "console"}, backfill=True, **options)
    sensor = make_datahub_sensor(config, emitter=lambda: recorder)
    defs = dg.Definitions(assets=assets, jobs=[job], sensors=[sensor])
    assert execute(defs, instance, job.name).success
    assert tick(sensor, defs, instance, None).skip_message.startswith("reported 1 run(s)")
    validate_all(recorder.mcps)
    return recorder.mcps


def shown(state: dict[tuple[str, str], dict], urn: str, aspect: str) -> dict:
    """One aspect of what DataHub holds; a job's lineage also lists its edges' URNs under the plain names
    (``inputDatasets``, ``outputDatasets``, ``inputDatajobs``), as DataHub shows both."""
    value = state.get((urn, aspect))
    assert value is not None, f"no {aspect} for {urn}"
    value = dict(value)
    if aspect == "dataJobInputOutput":
        for edges, plain in (("inputDatasetEdges", "inputDatasets"), ("outputDatasetEdges", "outputDatasets"),
                             ("inputDatajobEdges", "inputDatajobs")):  # fmt: skip
            urns = [e["destinationUrn"] for e in value.get(edges) or ()]
            value[plain] = urns + [u for u in value.get(plain) or () if u not in urns]
    return value


def values(mcps: Iterable[MetadataChangeProposalWrapper], urn: str, aspect: str) -> list[dict]:
    """Every value of one aspect of one entity among ``mcps``, in order."""
    return [m.aspect_value for m in mcps if m.entity_urn == urn and m.aspect_name == aspect]


def last(mcps: Iterable[MetadataChangeProposalWrapper], urn: str, aspect: str) -> dict:
    """The aspect as DataHub would hold it after ``mcps`` (UPSERTs replace, PATCHes apply; see :func:`shown`)."""
    return shown(held(mcps), urn, aspect)


def validate_all(mcps: Iterable[MetadataChangeProposalWrapper]) -> int:
    """Check every MCP against acryl-datahub's schema (the core's conformance check); return the count."""
    count = 0
    for mcp in mcps:
        check_mcp(mcp)
        count += 1
    return count


def flow(job: str, cluster: str = "PROD") -> str:
    return f"urn:li:dataFlow:(dagster,{job},{cluster})"


def datajob(job: str, op: str, cluster: str = "PROD") -> str:
    return f"urn:li:dataJob:({flow(job, cluster)},{job}.{op})"


def dataset(platform: str, name: str, env: str = "PROD") -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:{platform},{name},{env})"
