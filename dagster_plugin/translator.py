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

A dataset URN the user wrote out in full (``datahub.inputs``/``datahub.outputs`` metadata, the
``asset_keys_to_dataset_urn_converter``, a lineage extractor) is written as given wherever it appears
(:meth:`DagsterTranslator.get_dataset_urn`), as DataHub's plugin writes it: ``env``,
``platform_instance`` and the platform rules apply to the datasets the bridge names itself.

Options of DataHub's plugin it honours (given by the sensor's config): ``connect_ops_to_ops``
(upstream ops as upstream data jobs), ``emit_siblings`` / ``dagster_is_primary_sibling``, and the
``urn_scheme`` (:mod:`dagster_plugin.compat`).

It stays pure: the MCPs depend only on the event and the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from bridge.model import Dataset, DatasetEvent, RunEvent
from dagster_plugin.compat import BRIDGE, DATAHUB_PLUGIN, URN_SCHEMES, PluginNames
from dagster_plugin.datasets import dataset_of_key, given_urn
from translators.datahub import DataHubTranslator, TranslatorConfig, aspects

__all__ = ["DagsterTranslator"]


def _facet(facets: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = facets.get(name) if facets else None
    return value if isinstance(value, Mapping) else {}


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

    # -- datasets ----------------------------------------------------------------

    def get_dataset_urn(self, dataset: Dataset) -> str:
        """A dataset URN the user wrote out in full, as given (:func:`dagster_plugin.datasets.given_urn`);
        else the bridge's (``env``, ``platform_instance``, the platform rules)."""
        urn = given_urn(dataset)
        return urn if urn is not None else super().get_dataset_urn(dataset)

    def _urns_of(self, keys: Sequence[Sequence[str]]) -> list[str]:
        """The URNs of the datasets named in a ``dagsterAsset`` facet (:func:`dagster_plugin.datasets.key_of`)."""
        # by name: the translator's cached dataset_urn_of; a given URN: the hook, which keeps it
        return [self.get_dataset_urn(dataset_of_key(key)) if len(key) > 2 else self.dataset_urn_of(key[0], key[1])
                for key in keys]

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

    # -- the flow's run, browse paths, partitions ------------------------------------

    def _is_flow_run(self, event: Any) -> bool:
        return isinstance(event, RunEvent) and "dagsterJob" in event.job.facets and event.run.parent is None

    def emits_job(self, event: Any) -> bool:
        """The Dagster run is an instance of the flow: its own events write no data job."""
        return not self._is_flow_run(event) and super().emits_job(event)

    def get_flow_name(self, event: Any, flow_id: str) -> str:
        """Under ``urn_scheme="datahub-dagster-plugin"``, DataHub's plugin names the flow by the job, not its id."""
        if self.plugin_names is not None and self._is_flow_run(event):
            return str(event.job.name.split("__")[-1])
        return super().get_flow_name(event, flow_id)

    def get_flow_properties(self, event: Any) -> dict[str, str]:
        """The Dagster job's properties (code location, repository...) on its flow."""
        props = super().get_flow_properties(event)
        return {**props, **self.get_job_properties(event)} if self._is_flow_run(event) else props

    def _location(self, facet: Mapping[str, Any], *tail: tuple[str, str | None]) -> dict[str, Any] | None:
        location = [str(p) for p in facet.get("browsePath") or ()]
        if not location:
            return None
        instance = self.get_platform_instance_urn("dagster") if self.config.platform_instance else None
        entries: list[tuple[str, str | None]] = [(instance, instance)] if instance else []
        entries.append((location[0], None))
        entries.extend(tail)
        return aspects.browse_paths_v2(entries)

    def get_flow_browse_path(self, event: Any) -> dict[str, Any]:
        """Under the code location."""
        path = self._location(_facet(event.job.facets, "dagsterJob")) if isinstance(event, RunEvent) else None
        return path if path is not None else super().get_flow_browse_path(event)

    def get_job_browse_path(self, event: Any, flow_urn: str) -> dict[str, Any]:
        """Under the code location, then the flow."""
        facet = _facet(event.job.facets, "dagsterJob") if isinstance(event, RunEvent) else {}
        path = self._location(facet, (flow_urn, flow_urn))
        return path if path is not None else super().get_job_browse_path(event, flow_urn)

    def get_partition(self, event: RunEvent) -> str | None:
        """The Dagster run's partition key."""
        partition = _facet(event.run.facets, "dagsterRun").get("partition") if "dagsterJob" in event.job.facets else None
        return str(partition) if partition else super().get_partition(event)

    def get_dataset_partition(self, event: Any, urn: str, datasets: Sequence[Dataset]) -> str | None:
        """The partition an asset's materialization wrote (its last output sighting's), else the run's."""
        if isinstance(event, RunEvent) and "dagsterJob" in event.job.facets:
            written = [_facet(d.facets, "dagsterAsset").get("partition") for d in datasets
                       if any(d is o for o in event.outputs)]  # fmt: skip
            own = next((p for p in reversed(written) if p), None)
            partition = own or self.get_partition(event)
            if partition:
                return str(partition)
        return super().get_dataset_partition(event, urn, datasets)

    # -- assets (a DatasetEvent carrying the dagsterAsset facet) -------------------------

    def _asset(self, event: Any) -> Mapping[str, Any] | None:
        if not isinstance(event, DatasetEvent) or "dagsterAsset" not in event.dataset.facets:
            return None
        return _facet(event.dataset.facets, "dagsterAsset")

    def get_dataset_properties(self, event: Any, urn: str, datasets: Sequence[Dataset]) -> dict[str, Any] | None:
        """The asset's Dagster metadata as properties, and a link to its page."""
        value = super().get_dataset_properties(event, urn, datasets)
        facet = self._asset(event)
        if facet is None:
            return value
        props = {f"dagster.{k}": str(facet[k]) for k in ("group", "codeLocation", "partition", "lastRunId")
                 if facet.get(k) is not None}  # fmt: skip
        if facet.get("assetKey"):
            props["dagster.assetKey"] = "/".join(facet["assetKey"])
        props.update({k: str(v) for k, v in (facet.get("properties") or {}).items()})
        if value is None:
            return aspects.dataset_properties(description=event.dataset.description, custom_properties=props,
                                              external_url=facet.get("url"))  # fmt: skip
        value = {**value, "customProperties": {**props, **value.get("customProperties", {})}}
        if facet.get("url"):
            value["externalUrl"] = facet["url"]
        return value

    def get_dataset_subtypes(self, event: Any, datasets: Sequence[Dataset]) -> list[str]:
        facet = self._asset(event)
        if facet is not None and facet.get("subType"):
            return [str(facet["subType"])]
        return super().get_dataset_subtypes(event, datasets)

    def get_dataset_browse_path(self, event: Any, datasets: Sequence[Dataset]) -> dict[str, Any] | None:
        """Code location / group."""
        facet = self._asset(event)
        if facet is None:
            return super().get_dataset_browse_path(event, datasets)
        return self._location(facet, *[(str(p), None) for p in (facet.get("browsePath") or ())[1:]])

    def get_dataset_upstreams(self, event: DatasetEvent) -> list[str]:
        """The asset's upstream assets (from the asset graph and its SQL)."""
        facet = self._asset(event)
        if facet is None:
            return super().get_dataset_upstreams(event)
        return self._urns_of(facet.get("upstreams") or ())

    def get_siblings(self, event: Any, datasets: Sequence[Dataset]) -> tuple[list[str], bool] | None:
        """The asset and its table/file are the same data (as dbt models and their tables): siblings, on both
        sides as DataHub's own siblings are, so lineage shows across the link (the table's side only while
        it has none)."""
        facet = self._asset(event)
        if facet is None or not self.emit_siblings or not facet.get("twins"):
            return super().get_siblings(event, datasets)
        return self._urns_of(facet["twins"]), self.dagster_is_primary_sibling
