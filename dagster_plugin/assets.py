"""Assets of a run as neutral datasets (pure): identity, schema, owners, lineage, physical twins.

An asset's dataset carries what its definition and its latest materialization
or observation say: ``dagster/column_schema`` (schema and column tags),
``dagster/column_lineage``, description, owners, tags, group, partition, row
count, the rest of its metadata as properties (facet ``dagsterAsset``, mapped by
:class:`dagster_plugin.translator.DagsterTranslator`), its upstream assets and
the physical datasets holding its data ("twins": ``dagster/table_name``,
``dagster/uri``, ``path``, DataHub's ``[env, platform, *name]`` key convention).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from bridge.model import Dataset, DatasetEvent, DatasetStatistics, Tag
from dagster_plugin.config import DagsterPluginConfig
from dagster_plugin.datasets import (
    AssetNamer,
    column_lineage,
    dataset_from_key_convention,
    datasets_from_metadata,
    key_of,
    name_only,
    owner_from_dagster,
    schema_fields,
    table_platform,
)
from dagster_plugin.runs import AssetInfo, CheckEvaluation, RunInfo
from dagster_plugin.sql import parse_tables

__all__ = ["PRODUCER", "AssetDatasets", "assertion", "drop_none", "props", "unique"]

PRODUCER = "https://github.com/lineage-bridge/lineage-bridge/dagster_plugin"
# metadata keys that are lineage/schema, not properties
_STRUCTURAL = {"dagster/column_schema", "dagster/column_lineage", "datahub.inputs", "datahub.outputs"}


def unique(datasets: Iterable[Dataset]) -> tuple[Dataset, ...]:
    """First occurrence of each dataset wins, except a richer (described) one replaces a bare one."""
    out: dict[tuple[str, ...], Dataset] = {}
    for dataset in datasets:
        old = out.get(key_of(dataset))
        if old is None or (old.fields is None and not old.facets and (dataset.fields is not None or dataset.facets)):
            out[key_of(dataset)] = dataset
    return tuple(out.values())


def _text(value: Any) -> str:
    if isinstance(value, Mapping) and len(value) == 1 and ("path" in value or "url" in value):
        return str(next(iter(value.values())))
    return str(value)


def props(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {k: _text(v) for k, v in metadata.items() if k not in _STRUCTURAL and v is not None}


def assertion(check: CheckEvaluation) -> dict[str, Any]:
    """An asset check evaluation as an entry of OpenLineage's ``dataQualityAssertions`` facet (1-1-0).

    ``assertion`` and ``name`` are the check's name; ``severity`` is ``error`` or ``warn``; a ``column``
    (or ``dagster/column``) metadata value names the column checked; the rest of the metadata is kept as
    ``params`` (text), with the partition checked.
    """
    metadata = dict(check.metadata)
    column = next((metadata.pop(k) for k in ("column", "dagster/column") if isinstance(metadata.get(k), str)), None)
    params = {k: _text(v) for k, v in metadata.items() if v is not None}
    if check.partition:
        params["partition"] = check.partition
    return drop_none({
        "assertion": check.check_name,
        "name": check.check_name,
        "success": check.passed,
        "column": column,
        "severity": check.severity.lower() if check.severity else None,
        "description": check.description,
        "params": params,
    })


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != [] and v != {}}



@attrs.define
class AssetDatasets:
    """The assets of one run as datasets (built once per key)."""

    run: RunInfo
    config: DagsterPluginConfig
    namer: AssetNamer
    _sql: dict[tuple[str, ...], tuple[list[Dataset], list[Dataset]]] = attrs.field(factory=dict)
    _metadata: dict[tuple[str, ...], tuple[dict[str, Any], Any]] = attrs.field(factory=dict)

    def _url(self, key: tuple[str, ...]) -> str | None:
        base = self.config.dagster_url
        return "/".join([base.rstrip("/"), "assets", *key]) if base else None

    def upstreams(self, key: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Upstream asset keys: the definition's deps, else those named by column lineage."""
        info = self.run.assets.get(key)
        if info is not None:
            return list(info.deps)
        deps: list[tuple[str, ...]] = []
        for event in self.run.asset_events:
            if event.asset_key == key:
                lineage = event.metadata.get("dagster/column_lineage") or {}
                for items in (lineage.get("deps_by_column") or {}).values():
                    deps += [tuple(i["asset_key"]) for i in items if tuple(i["asset_key"]) not in deps]
        return deps

    def metadata(self, key: tuple[str, ...]) -> tuple[dict[str, Any], Any]:
        """Definition metadata overlaid by the latest event's metadata; and that event (worked out once
        per key: the run's events are read once, whoever asks; callers only read it)."""
        done = self._metadata.get(key)
        if done is not None:
            return done
        info = self.run.assets.get(key)
        metadata = dict(info.metadata) if info else {}
        latest = None
        for event in self.run.asset_events:
            if event.asset_key == key:
                metadata.update(event.metadata)
                latest = event
        done = self._metadata[key] = (metadata, latest)
        return done

    def platform(self, key: tuple[str, ...]) -> str | None:
        """The asset's table platform: its kinds/storage kind, its table, its dataset's, or ``table_platform``."""
        info = self.run.assets.get(key)
        metadata, _ = self.metadata(key)
        found = table_platform(info.kinds if info else (), info.tags if info else {}, metadata.get("dagster/uri"))
        if found:
            return found
        for dataset in (self.namer(key), *self.twins(key)):
            if "://" not in dataset.namespace and dataset.namespace not in ("dagster", "file"):
                return dataset.namespace
        return self.config.table_platform

    def sql(self, key: tuple[str, ...]) -> tuple[list[Dataset], list[Dataset]]:
        """The tables the asset's SQL metadata (``Query`` or the configured keys) reads and writes."""
        if key in self._sql:
            return self._sql[key]
        found: tuple[list[Dataset], list[Dataset]] = ([], [])
        platform = self.platform(key) if self.config.parses_sql() else None
        if platform:
            metadata, _ = self.metadata(key)
            for name in self.config.asset_query_metadata_keys:
                query = metadata.get(name)
                if isinstance(query, str) and query.strip():
                    tables = parse_tables(query, platform)
                    found[0].extend(Dataset(namespace=platform, name=t) for t in tables.inputs)
                    found[1].extend(Dataset(namespace=platform, name=t) for t in tables.outputs)
        self._sql[key] = found
        return found

    def physical(self, key: tuple[str, ...]) -> list[Dataset]:
        base = self.dataset(key)
        # The physical table is the asset's data: give it the asset's schema and column lineage too.
        return [
            attrs.evolve(d, fields=base.fields, column_lineage=base.column_lineage)  # type: ignore[arg-type]
            for d in self.twins(key)
        ]

    def reported(self, key: tuple[str, ...], *, identity: bool = False) -> list[Dataset]:
        """The datasets standing for an asset in a step's lineage.

        The asset's dataset and its physical twins; with ``emit_assets=False`` (as DataHub's plugin)
        only physical datasets: the twins, and the asset's own dataset when a converter names a
        table. ``identity`` gives names only (for the upstreams of another asset).
        """
        own = self.namer(key) if identity else self.dataset(key)
        if self.config.emit_assets:
            return [own] if identity else [own, *self.physical(key)]
        physical = self.twins(key) if identity else self.physical(key)
        return ([own] if own.namespace != "dagster" else []) + physical

    def twins(self, key: tuple[str, ...]) -> list[Dataset]:
        """Physical datasets holding the asset's data (its table, URI, path), without schema details."""
        info = self.run.assets.get(key)
        metadata, _ = self.metadata(key)
        if not self.config.capture_input_output:  # "path" is what IO managers add: their storage, not data
            metadata = {k: v for k, v in metadata.items() if k in ("dagster/table_name", "dagster/uri")}
        found = datasets_from_metadata(metadata, kinds=info.kinds if info else (), tags=info.tags if info else {},
                                       table_platform_default=self.config.table_platform)
        if self.config.asset_keys_to_dataset_urn_converter is None and self.config.capture_dataset_from_asset_key:
            conventional = dataset_from_key_convention(key)
            if conventional is not None:
                found.insert(0, conventional)
        named = key_of(self.namer(key))
        return [d for d in unique(found) if key_of(d) != named]

    def dataset(self, key: tuple[str, ...]) -> Dataset:
        info: AssetInfo | None = self.run.assets.get(key)
        metadata, latest = self.metadata(key)
        identity = self.namer(key)
        schema = schema_fields(metadata.get("dagster/column_schema"))
        tags = [Tag(key=k, value=v or None, source="DAGSTER") for k, v in (info.tags if info else {}).items()]
        if info and info.group:
            tags.append(Tag(key="asset_group", value=info.group, source="DAGSTER"))
        if schema:
            tags += list(schema[1])
        row_count = metadata.get("dagster/row_count")
        partition = latest.partition if latest else None
        return Dataset(
            namespace=identity.namespace,
            name=identity.name,
            fields=schema[0] if schema else None,  # type: ignore[arg-type]  # attrs optional(tuple) converter
            description=(latest.description if latest and latest.description else None) or (info.description if info else None),
            owners=tuple(owner_from_dagster(o) for o in (info.owners if info else ())),
            tags=tuple(tags),
            column_lineage=column_lineage(metadata.get("dagster/column_lineage"), self.namer),
            output_statistics=DatasetStatistics(row_count=row_count) if type(row_count) is int else None,
            facets={
                **identity.facets,
                "dagsterAsset": drop_none(
                    {
                        "assetKey": list(key),
                        "subType": "Asset",
                        "group": info.group if info else None,
                        "codeLocation": self.run.location,
                        "browsePath": [p for p in (self.run.location, info.group if info else None) if p],
                        "kinds": list(info.kinds) if info and info.kinds else None,
                        "partition": partition,
                        "partitioned": info.partitioned if info else None,
                        "url": self._url(key),
                        "lastRunId": self.run.run_id if latest else None,
                        "upstreams": [list(key_of(self.namer(d))) for d in self.upstreams(key)]
                        + [list(key_of(d)) for d in self.sql(key)[0]] or None,
                        "twins": [list(key_of(d)) for d in self.twins(key)] or None,
                        "properties": props(metadata) or None,
                        "platformInstance": self.config.platform_instance if identity.namespace == "dagster" else None,
                    }
                ),
            },
        )

    def checked(self) -> tuple[Dataset, ...]:
        """The datasets of assets whose checks ran, each with its checks' last evaluations as an
        OpenLineage ``dataQualityAssertions`` input facet (the translator makes them DataHub assertions)."""
        latest: dict[tuple[str, ...], dict[str, CheckEvaluation]] = {}
        for check in sorted(self.run.checks, key=lambda c: c.timestamp):
            latest.setdefault(check.asset_key, {})[check.check_name] = check
        out: list[Dataset] = []
        for key, checks in latest.items():
            facet = {"assertions": [assertion(c) for c in checks.values()]}
            out += [attrs.evolve(name_only(d), input_facets={"dataQualityAssertions": facet})
                    for d in self.reported(key, identity=True)]
        return unique(out)

    def events(self) -> list[DatasetEvent]:
        if not self.config.capture_asset_materialization or not self.config.emit_assets:
            return []
        seen: dict[tuple[str, ...], dt.datetime] = {}
        for event in self.run.asset_events:
            seen[event.asset_key] = event.timestamp
        return [
            DatasetEvent(event_time=time, producer=PRODUCER, dataset=self.dataset(key))
            for key, time in seen.items()
        ]


