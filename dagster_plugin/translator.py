"""The DataHub translator, taught what Dagster events carry (a subclass, as the translator intends).

:class:`DagsterTranslator` keeps everything :class:`~translators.datahub.DataHubTranslator`
does and adds what the plugin's facets say (see :mod:`dagster_plugin.events`):

* the Dagster run is a process instance of the *flow* (as in DataHub's own
  Dagster plugin), so the flow-level event makes no extra data job;
* runs link to the Dagster UI and carry their attempt number, partition,
  step key and status; a partitioned run's run events, and the ``operation`` of each
  dataset it wrote, carry the partition key as their ``partitionSpec``;
* flows and jobs are browsed under their code location; jobs carry the op
  definition and code location as properties and the ``Op`` subtype;
* assets get the ``Asset`` subtype, a browse path (code location / group),
  their Dagster metadata as properties, a link to the asset page, and their
  upstream assets (from the asset graph) with column lineage as ``upstreamLineage``, and the
  physical datasets holding its data (table name, URI, path, DataHub's ``[env, platform, ...]``
  key convention) as ``siblings``, written on both sides (the table's only while it has none).

Options of DataHub's plugin it honours (given by the sensor's config): ``connect_ops_to_ops``
(upstream ops as upstream data jobs), ``emit_siblings`` / ``dagster_is_primary_sibling``, and the
``urn_scheme`` (:mod:`dagster_plugin.compat`).

It stays pure: the MCPs depend only on the event and the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import DatasetEvent, Event, RunEvent
from dagster_plugin.compat import BRIDGE, DATAHUB_PLUGIN, URN_SCHEMES, PluginNames
from dagster_plugin.datasets import ASSET_PLATFORM
from translators.datahub import DataHubTranslator, TranslatorConfig, aspects
from translators.datahub.urns import make_schema_field_urn

__all__ = ["DagsterTranslator"]

MCPW = MetadataChangeProposalWrapper


def _facet(facets: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = facets.get(name) if facets else None
    return value if isinstance(value, Mapping) else {}


def _partition_spec(partition: str) -> dict[str, Any]:
    """DataHub's ``PartitionSpec`` of a timeseries aspect (run event, operation) for a Dagster partition key."""
    return {"type": "PARTITION", "partition": str(partition)}


def _mcp(urn: str, entity_type: str, name: str, aspect: dict[str, Any]) -> MCPW:
    return MCPW(entity_urn=urn, entity_type=entity_type, aspect_name=name, aspect=aspect)


class DagsterTranslator(DataHubTranslator):
    """DataHub translation of the Dagster plugin's events.

    Args:
        config: the DataHub translator's config.
        connect_ops_to_ops: an op's data job lists its upstream ops' data jobs (``inputDatajobEdges``).
        emit_siblings: link assets to their physical tables with ``siblings``.
        dagster_is_primary_sibling: the asset is the primary sibling.
        urn_scheme: ``bridge`` (default) or ``datahub-dagster-plugin`` (:mod:`dagster_plugin.compat`).
    """

    def __init__(self, config: TranslatorConfig | None = None, *, connect_ops_to_ops: bool = False,
                 emit_siblings: bool = True, dagster_is_primary_sibling: bool = False,
                 urn_scheme: str = BRIDGE) -> None:
        super().__init__(config)
        if urn_scheme not in URN_SCHEMES:
            raise ValueError(f"urn_scheme must be one of {URN_SCHEMES}, got {urn_scheme!r}")
        self.connect_ops_to_ops = connect_ops_to_ops
        self.emit_siblings = emit_siblings
        self.dagster_is_primary_sibling = dagster_is_primary_sibling
        self.plugin_names = PluginNames(self.config.env) if urn_scheme == DATAHUB_PLUGIN else None

    # -- identities (DataHub's plugin's URNs under urn_scheme="datahub-dagster-plugin") -------------

    def _plugin_facet(self, event: Any) -> Mapping[str, Any] | None:
        if self.plugin_names is None or not hasattr(event, "job"):
            return None
        facet = _facet(event.job.facets, "dagsterJob")
        return facet or None

    def get_flow_id(self, event: Any) -> str:
        facet = self._plugin_facet(event)
        if facet is None or self.plugin_names is None:
            return super().get_flow_id(event)
        flow_id = self.plugin_names.flow_id(facet, event.job.name)
        return f"{self.config.platform_instance}.{flow_id}" if self.config.platform_instance else flow_id

    def get_flow_cluster(self, event: Any) -> str:
        if self._plugin_facet(event) is None:
            return super().get_flow_cluster(event)
        return self.config.env

    def get_flow_role(self, event: Any, flow_id: str) -> str:
        facet = self._plugin_facet(event)
        if facet is None:
            return super().get_flow_role(event, flow_id)
        return "child" if self._is_op(facet) else "own"  # the flow id is no longer the job's name

    def _is_op(self, facet: Mapping[str, Any]) -> bool:
        return bool(facet.get("opName"))

    def get_job_id(self, event: Any) -> str:
        facet = self._plugin_facet(event)
        if facet is None or self.plugin_names is None or not self._is_op(facet):
            return super().get_job_id(event)
        return self.plugin_names.job_id(facet)

    def get_job_name(self, event: Any, flow_id: str) -> str:
        facet = self._plugin_facet(event)
        if facet is None or not self._is_op(facet):
            return super().get_job_name(event, flow_id)
        return PluginNames.job_name(facet)

    def get_run_urn(self, event: RunEvent) -> str:
        facet = self._plugin_facet(event)
        if facet is None or self.plugin_names is None:
            return super().get_run_urn(event)
        if not self._is_op(facet):
            return self.plugin_names.run_urn(event.run.run_id)
        parent = event.run.parent
        if parent is None or _facet(event.run.facets, "dagsterRun").get("mappingKey") is not None:
            return super().get_run_urn(event)
        return self.plugin_names.run_urn(f"{parent.run_id}.{self.plugin_names.job_id(facet)}")

    def get_parent_instance_urn(self, event: RunEvent) -> str | None:
        if self._plugin_facet(event) is None or event.run.parent is None or self.plugin_names is None:
            return super().get_parent_instance_urn(event)
        return self.plugin_names.run_urn(event.run.parent.run_id)

    def get_upstream_job_urns(self, event: Any, flow_urn: str) -> list[str]:
        facet = _facet(event.job.facets, "dagsterJob")
        if not self.connect_ops_to_ops or not self._is_op(facet) or not facet.get("upstreamOps"):
            return super().get_upstream_job_urns(event, flow_urn)
        flow = event.job.name.split(".", 1)[0]
        urns = []
        for op in facet["upstreamOps"]:
            upstream = dict(facet, opName=op, opDefinition=(facet.get("upstreamOpDefinitions") or {}).get(op, op))
            job = attrs.evolve(event.job, name=f"{flow}.{op}", facets={**event.job.facets, "dagsterJob": upstream})
            urns.append(self.get_job_urn(attrs.evolve(event, job=job), flow_urn))
        return list(dict.fromkeys(urns))

    def get_write_mode(self, mcp: MCPW) -> str:
        """As configured; the ``siblings`` of a physical table (not a Dagster asset) only if it has none."""
        if mcp.aspect_name == "siblings" and "siblings" not in self.config.write_policy \
                and not mcp.entity_urn.startswith(f"urn:li:dataset:(urn:li:dataPlatform:{ASSET_PLATFORM},"):
            return "if_absent"
        return super().get_write_mode(mcp)

    # -- runs ------------------------------------------------------------------

    def get_run_url(self, event: RunEvent) -> str | None:
        return _facet(event.run.facets, "dagsterRun").get("url") or super().get_run_url(event)

    def get_attempt(self, event: RunEvent) -> int:
        attempts = _facet(event.run.facets, "dagsterRun").get("attempts")
        return int(attempts) if isinstance(attempts, int) and attempts > 0 else super().get_attempt(event)

    def get_run_properties(self, event: RunEvent) -> dict[str, str]:
        props = super().get_run_properties(event)
        facet = _facet(event.run.facets, "dagsterRun")
        for key in ("status", "stepKey", "mappingKey", "attempts", "partition", "dagsterRunId", "parentRunId",
                    "rootRunId"):  # fmt: skip
            if facet.get(key) is not None:
                props[f"dagster.{key}"] = str(facet[key])
        for key, value in (facet.get("tags") or {}).items():
            props.setdefault(f"dagster.tag.{key}", str(value))
        return props

    # -- flows and jobs ----------------------------------------------------------

    def get_job_properties(self, event: Any) -> dict[str, str]:
        props = super().get_job_properties(event)
        facet = _facet(event.job.facets, "dagsterJob")
        for key in ("codeLocation", "repository", "module", "opName", "opDefinition", "assetGroup"):
            if facet.get(key):
                props[f"dagster.{key}"] = str(facet[key])
        if facet.get("upstreamOps"):
            props["dagster.upstreamOps"] = ",".join(facet["upstreamOps"])
        for key, value in (facet.get("properties") or {}).items():
            props.setdefault(key, str(value))
        return props

    # -- the whole event -----------------------------------------------------------

    def translate_aspects(self, event: Event) -> list[MCPW]:
        mcps = super().translate_aspects(event)
        if isinstance(event, RunEvent) and "dagsterJob" in event.job.facets:
            return self._adjust_run(event, mcps)
        if isinstance(event, DatasetEvent) and "dagsterAsset" in event.dataset.facets:
            return self._adjust_asset(event, mcps)
        return mcps

    def _browse(self, facet: Mapping[str, Any], *tail: tuple[str, str | None]) -> dict[str, Any] | None:
        location = [str(p) for p in facet.get("browsePath") or ()]
        if not location:
            return None
        instance = self.get_platform_instance_urn("dagster") if self.config.platform_instance else None
        entries: list[tuple[str, str | None]] = [(instance, instance)] if instance else []
        entries.append((location[0], None))
        entries.extend(tail)
        return aspects.browse_paths_v2(entries)

    def _adjust_run(self, event: RunEvent, mcps: list[MCPW]) -> list[MCPW]:
        facet = _facet(event.job.facets, "dagsterJob")
        is_flow_run = event.run.parent is None
        flow_urn = self.get_flow_urn(event)
        job_urn = self.get_job_urn(event, flow_urn)
        partition = _facet(event.run.facets, "dagsterRun").get("partition")
        written = self._output_partitions(event, partition)
        out: list[MCPW] = []
        for mcp in mcps:
            if is_flow_run and mcp.entity_urn == job_urn:
                continue  # the Dagster job is the flow; its run belongs to the flow, not to a data job
            if mcp.aspect_name == "dataProcessInstanceRunEvent" and partition:
                mcp = attrs.evolve(mcp, aspect={**mcp.aspect_value, "partitionSpec": _partition_spec(partition)})
            elif mcp.aspect_name == "operation" and written.get(mcp.entity_urn):
                spec = _partition_spec(written[mcp.entity_urn])
                mcp = attrs.evolve(mcp, aspect={**mcp.aspect_value, "partitionSpec": spec})
            if mcp.aspect_name == "dataProcessInstanceRelationships" and is_flow_run:
                value = dict(mcp.aspect_value)
                value["parentTemplate"] = flow_urn
                mcp = attrs.evolve(mcp, aspect=value)
            elif mcp.aspect_name == "browsePathsV2" and mcp.entity_type == "dataFlow":
                path = self._browse(facet)
                if path is not None:
                    mcp = attrs.evolve(mcp, aspect=path)
            elif mcp.aspect_name == "browsePathsV2" and mcp.entity_type == "dataJob":
                path = self._browse(facet, (flow_urn, flow_urn))
                if path is not None:
                    mcp = attrs.evolve(mcp, aspect=path)
            elif mcp.aspect_name == "dataFlowInfo" and is_flow_run:
                value = dict(mcp.aspect_value)
                value["customProperties"] = {**value.get("customProperties", {}), **self.get_job_properties(event)}
                if self.plugin_names is not None:  # DataHub's plugin names the flow by the job, not its id
                    value["name"] = event.job.name.split("__")[-1]
                mcp = attrs.evolve(mcp, aspect=value)
            out.append(mcp)
        return out

    def _output_partitions(self, event: RunEvent, partition: str | None) -> dict[str, str]:
        """Output dataset URN -> the partition written: the asset's own (a materialization's), else the run's."""
        out: dict[str, str] = {}
        for dataset in event.outputs:
            own = _facet(dataset.facets, "dagsterAsset").get("partition") or partition
            if own:
                out[self.get_dataset_urn(dataset)] = str(own)
        return out

    def _adjust_asset(self, event: DatasetEvent, mcps: list[MCPW]) -> list[MCPW]:
        dataset = event.dataset
        facet = _facet(dataset.facets, "dagsterAsset")
        urn = self.get_dataset_urn(dataset)
        time_ms = int(event.event_time.timestamp() * 1000)
        props = {f"dagster.{k}": str(facet[k]) for k in ("group", "codeLocation", "partition", "lastRunId")
                 if facet.get(k) is not None}  # fmt: skip
        if facet.get("assetKey"):
            props["dagster.assetKey"] = "/".join(facet["assetKey"])
        props.update({k: str(v) for k, v in (facet.get("properties") or {}).items()})
        out: list[MCPW] = []
        have_properties = False
        for mcp in mcps:
            if mcp.aspect_name == "datasetProperties" and mcp.entity_urn == urn:
                value = dict(mcp.aspect_value)
                value["customProperties"] = {**props, **value.get("customProperties", {})}
                if facet.get("url"):
                    value["externalUrl"] = facet["url"]
                mcp = attrs.evolve(mcp, aspect=value)
                have_properties = True
            out.append(mcp)
        if not have_properties:
            out.append(_mcp(urn, "dataset", "datasetProperties", aspects.dataset_properties(
                description=dataset.description, custom_properties=props, external_url=facet.get("url"))))  # fmt: skip
        if facet.get("subType"):
            out.append(_mcp(urn, "dataset", "subTypes", aspects.sub_types([facet["subType"]])))
        path = self._browse(facet, *[(str(p), None) for p in (facet.get("browsePath") or ())[1:]])
        if path is not None:
            out.append(_mcp(urn, "dataset", "browsePathsV2", path))
        upstreams = [self.get_ref_urn(self.get_dataset_ref_for(ns, name)) for ns, name in facet.get("upstreams") or ()]
        fine = []
        if self.config.emit_column_lineage:
            for cl in dataset.column_lineage:
                fields = sorted(
                    {make_schema_field_urn(self.get_ref_urn(self.get_dataset_ref_for(f.namespace, f.name)), f.field)
                     for f in cl.inputs}  # fmt: skip
                )
                if fields:
                    fine.append(aspects.fine_grained_lineage(
                        fields, [make_schema_field_urn(urn, cl.output_field)], transform_operation="DIRECT"))  # fmt: skip
        for f in fine:
            for field_urn in f["upstreams"]:
                parent = field_urn[len("urn:li:schemaField:(") : field_urn.rindex(",")]
                if parent not in upstreams and parent != urn:
                    upstreams.append(parent)
        twins = [self.get_ref_urn(self.get_dataset_ref_for(ns, name)) for ns, name in facet.get("twins") or ()]
        if twins and self.emit_siblings:
            # The asset and its table/file are the same data (as dbt models and their tables): siblings,
            # on both sides as DataHub's own siblings are, so lineage shows across the link. The table's
            # side is written only if it has no siblings yet (get_write_mode): its other links stay.
            out.append(_mcp(urn, "dataset", "siblings", {"siblings": sorted(set(twins) - {urn}),
                                                       "primary": self.dagster_is_primary_sibling}))
            for twin in sorted(set(twins) - {urn}):
                out.append(_mcp(twin, "dataset", "siblings", {"siblings": [urn],
                                                            "primary": not self.dagster_is_primary_sibling}))
        if upstreams:
            out.append(_mcp(urn, "dataset", "upstreamLineage",
                            aspects.upstream_lineage(upstreams, time_ms, fine_grained=fine)))  # fmt: skip
        return out
