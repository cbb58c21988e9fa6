"""Datasets: the ``get_*`` hooks that decide a dataset's identity and aspects, and the MCPs they make.

:class:`DatasetHooks` is one of :class:`~translators.datahub.translator.DataHubTranslator`'s
bases: subclass the translator and override a hook to change one decision. The MCPs of an
event's datasets are assembled by :meth:`DatasetHooks.dataset_mcps` from those hooks and pure
helpers; nothing edits them afterwards.

Every dataset URN the translator writes or shows is :meth:`DatasetHooks.get_dataset_urn`'s: the
dataset's own aspects, job and run inputs and outputs, upstreams, the schemaField URNs of column
lineage, assertions, siblings, ``bridge explain`` and the status page. Every platform is
:meth:`DatasetHooks.get_platform_urn`'s: the default dataset URNs' (so all the above), and flows' and
jobs' (:mod:`translators.datahub.jobs`). Rules that protect what DataHub already knows:

* ``ownership``, ``globalTags``, ``datasetProperties`` and ``schemaMetadata`` are only emitted
  when the event says something about them (``datasetProperties`` only with a description, or
  with ``capture_raw_facets``); how each is written is the write policy's business
  (:mod:`translators.datahub.writes`).
* ``upstreamLineage``: a DatasetEvent's dataset, from :meth:`DatasetHooks.get_dataset_upstreams` and
  its column lineage; a job's output, with ``emit_upstream_lineage``, from the event's inputs and
  the datasets its column lineage reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Dataset, DatasetEvent, Event, Owner, Tag
from translators.datahub import aspects
from translators.datahub.aspects import OWNERSHIP_TYPES, mcp
from translators.datahub.event_datasets import EventDatasets, bounded_cache
from translators.datahub.platform_config import DatasetRef, data_platform_name, dataset_ref_of, dataset_urn
from translators.datahub.platforms import resolve_dataset
from translators.datahub.profiles import dataset_measurements
from translators.datahub.properties import dataset_properties, tag_label
from translators.datahub.quality import assertion_mcps
from translators.datahub.schema_types import field_path_items, schema_field_type
from translators.datahub.urns import (
    make_data_platform_urn,
    make_dataplatform_instance_urn,
    make_group_urn,
    make_tag_urn,
    make_user_urn,
)
from translators.datahub.writes import LinkedAspect

if TYPE_CHECKING:
    from translators.datahub.config import TranslatorConfig

__all__ = ["DatasetHooks"]

MCPW = MetadataChangeProposalWrapper
_GROUP_PREFIXES = ("team:", "group:")
_USER_PREFIXES = ("user:",)


class DatasetHooks:
    """Dataset identity, owners, tags and dataset aspects: one ``get_*`` hook per decision."""

    config: TranslatorConfig
    secrets: Any
    _default_dataset_urn: bool  # (DataHubTranslator.__init__: which of these hooks a subclass overrides)
    _default_platform_urn: bool

    def _init_dataset_caches(self) -> None:
        self._dataset_refs: dict[tuple[Any, ...], DatasetRef] = {}
        self._dataset_urns: dict[DatasetRef, str] = {}
        self._named_urns: dict[tuple[str, str], str] = {}

    # -- identity ----------------------------------------------------------------------------

    def get_dataset_urn(self, dataset: Dataset) -> str:
        """The URN of an OpenLineage dataset: the one hook of every dataset URN the translator writes
        (the dataset's own aspects, job and run inputs and outputs, upstreams, column lineage's
        schemaField URNs, siblings) and shows (``bridge explain``, the status page).

        By default the URN of :meth:`get_dataset_ref`'s identity, its platform named by
        :meth:`get_platform_urn`. An override must be a pure function of the dataset: the URNs of datasets
        known only by name are remembered (:meth:`dataset_urn_of`). ``schemaMetadata`` and
        ``dataPlatformInstance`` name the platform (and instance) of the URN it gives.
        """
        return self._ref_urn(self.get_dataset_ref(dataset))

    def get_dataset_ref(self, dataset: Dataset) -> DatasetRef:
        """The DataHub identity (platform, name, platform instance, env) of an OpenLineage dataset by the
        platform rules (see :mod:`translators.datahub.platforms`); the default :meth:`get_dataset_urn` is its URN."""
        return bounded_cache(self._dataset_refs, (dataset.namespace, dataset.name, dataset.symlinks),
                             lambda key: resolve_dataset(*key, config=self.config.platforms))  # fmt: skip

    def dataset_urn_of(self, namespace: str, name: str) -> str:
        """:meth:`get_dataset_urn` of a dataset known only by its namespace and name (a column lineage
        input, a Dagster asset's upstream or twin), remembered per name."""
        return bounded_cache(self._named_urns, (namespace, name),
                             lambda key: self.get_dataset_urn(Dataset(namespace=namespace, name=name)))  # fmt: skip

    def _ref_urn(self, ref: DatasetRef) -> str:
        """The default :meth:`get_dataset_urn` of ``ref`` (cached)."""
        return bounded_cache(self._dataset_urns, ref, self._named_urn)

    def _named_ref(self, ref: DatasetRef) -> DatasetRef:
        """``ref`` as its URN names it: its platform :meth:`get_platform_urn`'s."""
        return ref if self._default_platform_urn else attrs.evolve(ref, platform=self.platform_name_of(ref.platform))

    def _named_urn(self, ref: DatasetRef) -> str:
        return dataset_urn(self._named_ref(ref))

    def urn_and_identity(self, dataset: Dataset) -> tuple[str, DatasetRef, bool]:
        """``(URN, ref, whether ref is already the URN's identity)`` of an event's dataset: the URN
        :meth:`get_dataset_urn` gives (made from the ref at hand when that hook is not overridden) and
        :meth:`get_dataset_ref`'s ref; when the flag is false, :meth:`identity_of` gives the identity (asked only for a URN first seen)."""
        ref = self.get_dataset_ref(dataset)
        if self._default_dataset_urn:
            return self._ref_urn(ref), ref, self._default_platform_urn
        return self.get_dataset_urn(dataset), ref, False

    def identity_of(self, urn: str, ref: DatasetRef) -> DatasetRef:
        """The identity whose URN is ``urn``: :meth:`_named_ref` if it is ``ref``'s, else (an overridden
        :meth:`get_dataset_urn`'s) read back from it (``ref``'s platform instance kept if its name still has it)."""
        return self._named_ref(ref) if self._ref_urn(ref) == urn else dataset_ref_of(
            urn, platform_instance=ref.platform_instance)  # fmt: skip

    def get_dataset_instance_urn(self, ref: DatasetRef) -> str | None:
        """``dataPlatformInstance`` URN of a dataset that has a platform instance. ``ref`` is the
        identity of the URN written: its platform is already the one :meth:`get_platform_urn` names."""
        if not ref.platform_instance:
            return None
        return make_dataplatform_instance_urn(ref.platform, ref.platform_instance)

    def get_platform_urn(self, platform: str) -> str:
        """The dataPlatform URN of a dataset's platform (by :meth:`get_dataset_ref`) or an orchestrator
        (``urn:li:dataPlatform:<platform>``): the one hook of every platform named, so an override
        (``hive`` -> ``urn:li:dataPlatform:glue``, a pure function) renames a platform everywhere at once:
        the platform part of the default :meth:`get_dataset_urn`, ``schemaMetadata``, ``dataPlatformInstance``
        (of datasets, flows, jobs, runs, assertions) and the orchestrator of flow and job URNs."""
        return make_data_platform_urn(platform)

    def platform_name_of(self, platform: str) -> str:
        """The name URNs carry of :meth:`get_platform_urn`'s platform (``platform`` unless it is overridden);
        an InvalidEventError (``field`` ``get_platform_urn``) if the override gives no dataPlatform URN."""
        return platform if self._default_platform_urn else data_platform_name(self.get_platform_urn(platform))

    def get_owner(self, owner: Owner) -> tuple[str, str]:
        """``(owner URN, DataHub ownership type)`` of an OpenLineage owner.

        ``user:x`` -> corpuser ``x``; ``team:x`` / ``group:x`` -> corpGroup ``x``;
        a corpuser/corpGroup URN is kept; anything else is a user name. An owner
        type DataHub does not know becomes ``config.default_owner_type``.
        """
        name = owner.name.strip()
        lower = name.lower()
        if lower.startswith(_GROUP_PREFIXES):
            urn = make_group_urn(name.split(":", 1)[1] or name)
        elif lower.startswith(_USER_PREFIXES):
            urn = make_user_urn(name.split(":", 1)[1] or name)
        else:
            urn = make_user_urn(name)
        kind = (owner.type or "").strip().upper().replace(" ", "_")
        return urn, kind if kind in OWNERSHIP_TYPES else self.config.default_owner_type

    def get_tag_urn(self, tag: Tag) -> str:
        """``urn:li:tag:<key>``, or ``urn:li:tag:<key>:<value>`` when the value is not empty, ``true`` or the key.

        See :func:`~translators.datahub.properties.tag_label`.
        """
        return make_tag_urn(tag_label(tag))

    # -- aspects -----------------------------------------------------------------------------

    def get_dataset_properties(self, event: Event, urn: str, datasets: Sequence[Dataset]) -> dict[str, Any] | None:
        """``datasetProperties`` of a dataset (all its sightings in the event), or None: not written.

        Written when the producer documented the dataset or raw facets were asked for -- never
        just for storage/format trivia (it is patched: its description set, properties added).
        """
        config = self.config
        description = next((ds.description for ds in datasets if ds.description), None)
        if not description and not config.capture_raw_facets:
            return None
        props = dataset_properties(datasets, max_length=config.max_property_length, raw=config.capture_raw_facets,
                                   secrets=self.secrets)  # fmt: skip
        return aspects.dataset_properties(description=description, custom_properties=props)

    def get_dataset_subtypes(self, event: Event, datasets: Sequence[Dataset]) -> list[str]:
        """``subTypes`` of a dataset: DataHub's names for the ``datasetType`` facet (``VIEW`` -> View)."""
        kind = next(((d.dataset_type, d.dataset_subtype) for d in datasets if d.dataset_type), None)
        if kind is None:
            return []
        base = kind[0].replace("_", " ").strip().title()
        sub = kind[1]
        return [base, f"{sub.replace('_', ' ').strip().title()} {base}"] if sub else [base]

    def get_dataset_browse_path(self, event: Event, datasets: Sequence[Dataset]) -> dict[str, Any] | None:
        """``browsePathsV2`` of a dataset, or None: DataHub derives one from the URN."""
        return None

    def get_dataset_upstreams(self, event: DatasetEvent) -> list[str]:
        """Upstream dataset URNs of a DatasetEvent's dataset (``upstreamLineage``), beside those its
        column lineage names. None by default: an OpenLineage DatasetEvent says no more. Name them
        with :meth:`get_dataset_urn` (or :meth:`dataset_urn_of`), so an override of it applies to them too."""
        return []

    def get_siblings(self, event: Event, datasets: Sequence[Dataset]) -> tuple[list[str], bool] | None:
        """``(sibling URNs, this dataset is primary)``: the same data under other URNs, written on both
        sides; None (the default): no siblings. Name them as :meth:`get_dataset_upstreams` does.

        The other side (a warehouse table, say) is another source's dataset, so its ``siblings``
        (a :class:`~translators.datahub.writes.LinkedAspect`) are written only while it has none
        (``if_absent``): a dbt model's link stays. When ``write_policy`` names ``siblings``, both sides
        are written as it says; an overridden :meth:`get_write_mode` decides both sides."""
        return None

    def get_dataset_partition(self, event: Event, urn: str, datasets: Sequence[Dataset]) -> str | None:
        """The partition of the dataset the event wrote (``partitionSpec`` of its ``operation``); None: the whole."""
        return None

    # -- the MCPs ----------------------------------------------------------------------------

    def schema_fields(self, datasets: list[Dataset]) -> list[dict[str, Any]] | None:
        """``schemaMetadata.fields`` from the first sighting with a schema; column tags from all."""
        source = next((ds for ds in datasets if ds.fields), None)
        if source is None:
            return None
        column_tags: dict[str, list[str]] = {}
        for ds in datasets:
            for tag in ds.tags:
                if tag.field:
                    column_tags.setdefault(tag.field, []).append(self.get_tag_urn(tag))
        fields: list[dict[str, Any]] = []
        for path, f, has_children in field_path_items(source.fields or ()):
            type_obj = schema_field_type(f.type)
            if has_children and next(iter(type_obj["type"])).rsplit(".", 1)[1] not in ("ArrayType", "MapType"):
                type_obj = {"type": {"com.linkedin.schema.RecordType": {}}}
            obj: dict[str, Any] = {"fieldPath": path, "type": type_obj, "nativeDataType": f.type or ""}
            if f.description:
                obj["description"] = f.description
            tags = column_tags.get(path)
            if tags:
                obj["globalTags"] = aspects.global_tags(dict.fromkeys(tags))
            fields.append(obj)
        return fields

    def dataset_mcps(self, event: Event, dsets: EventDatasets, time_ms: int, *, materialize: bool,
                     completed: bool) -> list[MCPW]:  # fmt: skip
        """The MCPs of an event's datasets: their own aspects (when ``materialize``) and each output's lineage."""
        out: list[MCPW] = []
        config = self.config
        outputs = set(dsets.outputs)
        for urn, seen in dsets.sightings.items():
            if materialize:
                out.extend(self._dataset_aspects(event, urn, seen, dsets.refs[urn], time_ms,
                                                 output=urn in outputs, completed=completed))  # fmt: skip
            if isinstance(event, DatasetEvent):  # the event states the dataset's own lineage: always written
                upstreams = dict.fromkeys(u for u in self.get_dataset_upstreams(event) if u != urn)
            elif config.emit_upstream_lineage and urn in outputs:  # a job's output: beside the job's lineage
                upstreams = dict.fromkeys(u for u in dsets.inputs if u != urn)
            else:
                continue
            fine, read = dsets.fine_grained(self, urn) if config.emit_column_lineage else ([], [])
            upstreams.update((parent, None) for parent in read if parent != urn)
            if upstreams:
                out.append(mcp(urn, "dataset", "upstreamLineage",
                               aspects.upstream_lineage(list(upstreams), time_ms, fine_grained=fine)))  # fmt: skip
        return out

    def _dataset_aspects(self, event: Event, urn: str, seen: list[Dataset], ref: DatasetRef, time_ms: int, *,
                         output: bool, completed: bool) -> list[MCPW]:  # fmt: skip
        # A job that dropped the table (lifecycleStateChange DROP on an output) soft-deletes it.
        dropped = output and any((ds.lifecycle_state or "").upper() == "DROP" for ds in seen)
        out = [mcp(urn, "dataset", "status", aspects.status(removed=dropped))]
        subtypes = self.get_dataset_subtypes(event, seen)
        if subtypes:
            out.append(mcp(urn, "dataset", "subTypes", aspects.sub_types(subtypes)))
        # ref is the identity of the URN written: its platform is get_platform_urn's already, not renamed again
        fields = self.schema_fields(seen)
        if fields:
            out.append(mcp(urn, "dataset", "schemaMetadata",
                           aspects.schema_metadata(ref.name, make_data_platform_urn(ref.platform), fields)))  # fmt: skip
        properties = self.get_dataset_properties(event, urn, seen)
        if properties is not None:
            out.append(mcp(urn, "dataset", "datasetProperties", properties))
        owners = list(dict.fromkeys(self.get_owner(o) for ds in seen for o in ds.owners))
        if owners:
            out.append(mcp(urn, "dataset", "ownership", aspects.ownership(owners, time_ms)))
        tags = list(dict.fromkeys(self.get_tag_urn(t) for ds in seen for t in ds.tags if not t.field))
        if tags:
            out.append(mcp(urn, "dataset", "globalTags", aspects.global_tags(tags)))
        instance_urn = self.get_dataset_instance_urn(ref)
        if instance_urn:
            out.append(mcp(urn, "dataset", "dataPlatformInstance",
                           aspects.data_platform_instance(make_data_platform_urn(ref.platform), instance_urn)))  # fmt: skip
        browse = self.get_dataset_browse_path(event, seen)
        if browse is not None:
            out.append(mcp(urn, "dataset", "browsePathsV2", browse))
        siblings = self.get_siblings(event, seen)
        if siblings is not None:
            others, primary = sorted(set(siblings[0]) - {urn}), siblings[1]
            out.append(mcp(urn, "dataset", "siblings", {"siblings": others, "primary": primary}))
            # another source's datasets: written only while they have no siblings, unless the policy names siblings
            out.extend(LinkedAspect._unchecked(other, "dataset", "siblings", {"siblings": [urn], "primary": not primary})
                       for other in others)  # fmt: skip
        partition = self.get_dataset_partition(event, urn, seen) if output else None
        out.extend(mcp(urn, "dataset", name, value)
                   for name, value in dataset_measurements(seen, time_ms, output=output, completed=completed,
                                                           partition=partition))  # fmt: skip
        return out

    def assertion_mcps(self, dsets: EventDatasets, orchestrator: str, run_id: str | None,
                       time_ms: int) -> list[MCPW]:  # fmt: skip
        """The input datasets' quality checks as assertions of the orchestrator's platform (see
        :mod:`translators.datahub.quality`)."""
        def platform() -> dict[str, Any]:
            return aspects.data_platform_instance(self.get_platform_urn(orchestrator),
                                                  self.get_platform_instance_urn(orchestrator))  # type: ignore[attr-defined]

        return assertion_mcps(dsets.sightings, platform=platform, run_id=run_id, time_ms=time_ms)
