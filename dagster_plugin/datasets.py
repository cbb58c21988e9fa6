"""Dagster asset keys, metadata and URNs -> neutral :class:`bridge.Dataset` objects (pure).

Identity rules (the translator turns ``namespace`` + ``name`` into a DataHub
URN; a namespace without ``://`` is the platform itself):

* an asset is ``dagster`` / ``"."``-joined key (DataHub's Dagster plugin uses
  the same URN), unless ``asset_keys_to_dataset_urn_converter`` names another
  dataset URN for it;
* a dataset URN (from the converter, ``datahub.inputs``/``datahub.outputs``
  metadata or a lineage extractor) becomes ``namespace=<platform>``,
  ``name=<name>`` carrying the URN itself (facet ``datahubUrn``), which the
  translator writes as given, whatever ``env`` or ``platform_instance`` say (as
  DataHub's plugin does): :func:`given_urn`, :func:`key_of`;
* ``dagster/uri`` and ``path`` metadata are URIs (``s3://bucket/key``,
  ``/tmp/file``); ``dagster/table_name`` is a table of the asset's storage
  kind (``kinds={"snowflake"}``), else of its ``dagster/uri``'s scheme, else of the
  plugin's ``table_platform``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from bridge.model import (
    ColumnLineage,
    Dataset,
    InputField,
    Owner,
    SchemaField,
    Tag,
    Transformation,
)
from dagster_plugin.urns import DatasetUrn, converted_urn
from translators.datahub.urn_parsing import parse_dataset_urn

__all__ = [
    "ASSET_PLATFORM",
    "AssetNamer",
    "dataset_from_urn",
    "dataset_from_uri",
    "dataset_of_key",
    "datasets_from_metadata",
    "given_urn",
    "name_only",
    "key_of",
    "owner_from_dagster",
    "schema_fields",
    "table_platform",
]

ASSET_PLATFORM = "dagster"

# Asset kinds / storage kinds that name a table platform for ``dagster/table_name``.
_TABLE_PLATFORMS = {
    "athena", "bigquery", "clickhouse", "databricks", "db2", "duckdb", "hive", "mariadb", "mssql",
    "mysql", "oracle", "postgres", "postgresql", "redshift", "snowflake", "sqlite", "teradata", "trino",
}
_PLATFORM_ALIASES = {"postgresql": "postgres", "gs": "gcs", "s3a": "s3", "s3n": "s3"}


_GIVEN_URN = "datahubUrn"


def dataset_from_urn(urn: str) -> Dataset:
    """``urn:li:dataset:(urn:li:dataPlatform:<p>,<name>,<env>)`` -> ``Dataset(namespace=p, name=name)``
    carrying ``urn`` (see :func:`given_urn`).

    Raises:
        InvalidEventError: ``urn`` is not a dataset URN.
    """
    platform, name, env = parse_dataset_urn(urn, arg="dataset urn")
    return Dataset(namespace=platform, name=name, facets={_GIVEN_URN: {"urn": urn, "env": env}})


def given_urn(dataset: Dataset) -> str | None:
    """The DataHub URN the user wrote out for ``dataset`` (:func:`dataset_from_urn`), or None: the
    translator writes it as given (:meth:`dagster_plugin.translator.DagsterTranslator.get_dataset_urn`)."""
    facet = dataset.facets.get(_GIVEN_URN)
    urn = facet.get("urn") if isinstance(facet, Mapping) else None
    return urn if isinstance(urn, str) else None


def key_of(dataset: Dataset) -> tuple[str, ...]:
    """Which dataset ``dataset`` is: ``(namespace, name)``, and the URN given for it if any (the same table
    under another env is another dataset). The ``upstreams``/``twins`` of the ``dagsterAsset`` facet are these."""
    urn = given_urn(dataset)
    return (dataset.namespace, dataset.name) if urn is None else (dataset.namespace, dataset.name, urn)


def dataset_of_key(key: Sequence[str]) -> Dataset:
    """The dataset :func:`key_of` names (the URN given for it kept)."""
    namespace, name, *urn = key
    return dataset_from_urn(urn[0]) if urn else Dataset(namespace=namespace, name=name)


def name_only(dataset: Dataset) -> Dataset:
    """``dataset`` by name only (its schema and lineage left out), the URN given for it kept."""
    given = {_GIVEN_URN: dataset.facets[_GIVEN_URN]} if given_urn(dataset) is not None else {}
    return Dataset(namespace=dataset.namespace, name=dataset.name, facets=given)


def dataset_from_uri(uri: str) -> Dataset | None:
    """A ``dagster/uri`` or ``path`` value as a dataset (OpenLineage naming), or None when empty."""
    uri = (uri or "").strip()
    if not uri:
        return None
    if "://" not in uri:
        return Dataset(namespace="file", name=uri)
    parts = urlsplit(uri)
    scheme = _PLATFORM_ALIASES.get(parts.scheme, parts.scheme)
    if scheme == "file":
        return Dataset(namespace="file", name=parts.path)
    path = parts.path.lstrip("/")
    if not parts.netloc or not path:
        return Dataset(namespace=f"{scheme}://{parts.netloc}", name=path or "/")
    return Dataset(namespace=f"{scheme}://{parts.netloc}", name=path)


def table_platform(kinds: Iterable[str], tags: Mapping[str, str], uri: Any = None,
                   default: str | None = None) -> str | None:
    """The platform of a ``dagster/table_name``: the first table platform among the asset's kinds and its
    ``dagster/storage_kind`` tag, else the scheme of its ``dagster/uri`` (``snowflake://...``), else ``default``
    (the plugin's ``table_platform``)."""
    scheme = uri.split("://", 1)[0] if isinstance(uri, str) and "://" in uri else ""
    for kind in [*kinds, tags.get("dagster/storage_kind", ""), scheme]:
        kind = (kind or "").lower()
        if kind in _TABLE_PLATFORMS:
            return _PLATFORM_ALIASES.get(kind, kind)
    return default


def datasets_from_metadata(
    metadata: Mapping[str, Any], *, kinds: Iterable[str] = (), tags: Mapping[str, str] | None = None,
    table_platform_default: str | None = None,
) -> list[Dataset]:
    """Physical datasets named by plain metadata: ``dagster/table_name``, ``dagster/uri``, ``path``,
    and ``datahub.inputs``/``datahub.outputs`` URN lists are handled by the caller.

    ``dagster/table_name`` is a table of the platform :func:`table_platform` finds; with none found (no
    table kind, no URI, no ``table_platform_default``) it names no dataset, as its platform is unknown.
    """
    out: list[Dataset] = []
    table = metadata.get("dagster/table_name")
    if isinstance(table, str) and table.strip():
        platform = table_platform(kinds, tags or {}, metadata.get("dagster/uri"), table_platform_default)
        if platform:
            out.append(Dataset(namespace=platform, name=table.strip()))
    for key in ("dagster/uri", "uri", "path"):
        value = metadata.get(key)
        if out and key == "dagster/uri" and table_platform((), {}, value):
            continue  # a database URI of the table named by dagster/table_name: the same table
        if isinstance(value, Mapping):
            value = value.get("path") or value.get("url")
        if isinstance(value, str):
            dataset = dataset_from_uri(value)
            if dataset is not None:
                out.append(dataset)
    return out


def urns_in(value: Any) -> list[str]:
    """Dataset URNs listed in an In/Out metadata value (a URN string or a list of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


_FABRIC_TYPES = {
    "DEV", "TEST", "QA", "UAT", "EI", "PRE", "STG", "NON_PROD", "PROD", "CORP", "RVW", "PRD", "TST", "SIT", "SBX",
    "SANDBOX", "CERT",
}


def dataset_from_key_convention(key: Sequence[str]) -> Dataset | None:
    """DataHub's asset-key convention ``[env, platform, *name]`` (``["prod", "snowflake", "db", "t"]``)
    as the physical dataset it names, in the env the key names (as DataHub's plugin, whatever the
    configured ``env``); None for other keys."""
    if len(key) >= 3 and key[0].upper() in _FABRIC_TYPES and key[1]:
        platform = _PLATFORM_ALIASES.get(key[1].lower(), key[1].lower())
        return dataset_from_urn(DatasetUrn(platform, ".".join(key[2:]), key[0]).urn())
    return None


def owner_from_dagster(owner: str) -> Owner:
    """Dagster ``team:x`` -> a group owner URN; ``alice@example.com`` / ``user`` -> a user owner URN."""
    if owner.startswith("team:"):
        return Owner(name=f"urn:li:corpGroup:{owner[5:]}", type="TECHNICAL_OWNER")
    if owner.startswith("urn:li:"):
        return Owner(name=owner, type="TECHNICAL_OWNER")
    return Owner(name=f"urn:li:corpuser:{owner}", type="TECHNICAL_OWNER")


def schema_fields(schema: Any) -> tuple[tuple[SchemaField, ...], tuple[Tag, ...]] | None:
    """``dagster/column_schema`` (plain form) -> schema fields and column tags; None when absent."""
    if not isinstance(schema, Mapping) or not isinstance(schema.get("columns"), list):
        return None
    fields = []
    tags = []
    for position, column in enumerate(schema["columns"]):
        fields.append(
            SchemaField(
                name=column["name"],
                type=column.get("type") or None,
                description=column.get("description") or None,
                ordinal_position=position,
            )
        )
        for key, value in (column.get("tags") or {}).items():
            tags.append(Tag(key=key, value=value or None, field=column["name"], source="DAGSTER"))
    return tuple(fields), tuple(tags)


class AssetNamer:
    """Names asset keys as datasets, once per key (the user's converter may be slow or strict).

    Args:
        converter: ``fn(asset_key_path) -> dataset URN str | None`` (DataHub's
            ``asset_keys_to_dataset_urn_converter``; an object with ``.urn()`` is accepted too).
    """

    def __init__(self, converter: Callable[[Sequence[str]], Any] | None = None) -> None:
        self._converter = converter
        self._cache: dict[tuple[str, ...], Dataset] = {}

    def __call__(self, key: Sequence[str]) -> Dataset:
        key = tuple(key)
        if key not in self._cache:
            self._cache[key] = self._name(key)
        return self._cache[key]

    def _name(self, key: tuple[str, ...]) -> Dataset:
        urn = converted_urn(self._converter, key) if self._converter is not None else None
        if urn is not None:
            return dataset_from_urn(str(urn))
        return Dataset(namespace=ASSET_PLATFORM, name=".".join(key))


def column_lineage(lineage: Any, namer: AssetNamer) -> tuple[ColumnLineage, ...]:
    """``dagster/column_lineage`` (plain form) -> column lineage edges of the output dataset."""
    if not isinstance(lineage, Mapping) or not isinstance(lineage.get("deps_by_column"), Mapping):
        return ()
    out = []
    for column, deps in lineage["deps_by_column"].items():
        inputs = []
        for dep in deps or ():
            upstream = namer(dep["asset_key"])
            inputs.append(
                InputField(
                    namespace=upstream.namespace,
                    name=upstream.name,
                    field=dep["column_name"],
                    transformations=(Transformation(type="DIRECT", subtype="TRANSFORMATION"),),
                )
            )
        if inputs:
            out.append(ColumnLineage(output_field=column, inputs=tuple(inputs)))
    return tuple(out)
