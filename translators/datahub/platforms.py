"""OpenLineage dataset (namespace, name, symlinks) -> DataHub dataset identity.

The rules reproduce DataHub's own OpenLineage converter
(``metadata-integration/java/openlineage-converter``:
``OpenLineagePlatformResolver.convertOpenlineageDatasetToDatasetUrn``,
``HdfsPathDataset``, ``HdfsPlatform``, ``PathSpec``) so that the URNs we emit
are the URNs DataHub's Spark/OpenLineage ingestion emits for the same events,
and lineage joins with DataHub's other sources. In order:

1. Symlinks (unless ``use_symlinks`` is off): the *last* symlink of type
   ``TABLE`` replaces the dataset. A Glue symlink (namespace ``arn:aws:glue:``
   or, before OpenLineage 0.17.1, ``aws:glue:``) becomes platform ``glue``; any
   other TABLE symlink becomes ``iceberg`` when the catalog facet says so, else
   ``hive_platform_alias`` (``hive``). A name ``table/db/tbl`` (the
   OpenLineage Glue form) becomes ``db.tbl``; a blank one is ignored.
2. ``lowercase_urns`` lower-cases namespace and name.
3. A namespace with ``://`` (or, for old Marquez payloads, a name with ``://``)
   is a URI ``namespace/name``; its scheme is the platform, with
   ``awsathena`` -> ``athena`` and ``sqlserver`` -> ``mssql``. The name stays
   the OpenLineage name (``postgres://h:5432`` + ``db.schema.table`` ->
   ``postgres`` / ``db.schema.table``; ``hdfs://nn:8020`` + ``/warehouse/t`` ->
   ``hdfs`` / ``/warehouse/t``).
4. File-system schemes (s3, s3a, s3n -> ``s3``; gs, gcs -> ``gcs``; abfs,
   abfss, wasb, wasbs -> ``abs``; dbfs; file) are paths: the name is the URI
   without its scheme, trailing slashes and (except ``file``) the leading
   slash (``gs://bucket`` + ``a/b.csv`` -> ``gcs`` / ``bucket/a/b.csv``). A
   matching path spec (``s3://bucket/{table}/*``) cuts the path at ``{table}``;
   ``file_partition_regexp`` strips a trailing partition.
5. Otherwise the namespace itself is the platform (``bigquery``, ``file``,
   ``dbfs``, ``hive``, ``glue``, ...).
6. Platform instance and env: a namespace override, then the platform's path
   spec, then the global ``platform_instance`` / ``env``.

Deliberate differences from DataHub, all on inputs DataHub cannot handle:
DataHub drops a dataset whose ``namespace/name`` is not a valid Java URI (a
space in a path); we keep it, parsed leniently. An unknown or malformed
namespace never fails: it becomes platform ``unknown`` with name
``namespace/name`` (DataHub's fallback). Namespace overrides also match by
prefix, may set the platform, and apply to paths too (DataHub's ``connections``
map matches exact keys and only for non-path datasets). DataHub remembers
"original URN -> symlinked URN" aliases across events in a mutable map; pass
``aliases`` to get the same effect. A ``user:password@`` in a URI is dropped
(``s3://key:secret@bucket`` + ``a`` -> ``bucket/a``; DataHub keeps it in the URN). Names with ``,`` ``(`` ``)`` are
percent-encoded as DataHub's Python SDK does (the Java converter's ``TupleKey``
joins them raw, which yields URNs DataHub's own parsers split wrongly).
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping, Sequence

from bridge.model import Symlink
from bridge.secrets import without_credentials
from translators.datahub.platform_config import DatasetRef, NamespaceOverride, PlatformConfig, dataset_urn

__all__ = ["resolve_dataset", "resolve_dataset_urn"]

logger = logging.getLogger(__name__)

# OpenLineage scheme -> DataHub platform where they differ (OpenLineagePlatformResolver.PLATFORM_MAP).
_SCHEME_PLATFORMS = {"awsathena": "athena", "sqlserver": "mssql"}
# File-system schemes (HdfsPlatform): their datasets are paths.
_FS_PLATFORMS = dict.fromkeys(("s3", "s3a", "s3n"), "s3") | dict.fromkeys(("gs", "gcs"), "gcs")
_FS_PLATFORMS |= dict.fromkeys(("abfs", "abfss", "wasb", "wasbs"), "abs") | {"dbfs": "dbfs", "file": "file"}
_GLUE_PREFIXES = ("aws:glue:", "arn:aws:glue:")
_GLUE_ARN = re.compile(r"(?:arn:)?aws:glue:([^:]+):([^:]+)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_SEP = "://"
_TABLE_PREFIX = "table/"
_UNKNOWN = "unknown"


def _java_split(text: str, sep: str) -> list[str]:
    """``String.split`` as Java does it: trailing empty strings are dropped."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts if text else [""]


def _match_path_spec(path: str, spec: str) -> str | None:
    """Cut ``path`` at the ``{table}`` folder of ``spec`` (HdfsPathDataset.getMatchedUri)."""
    spec_folders = _java_split(spec.split("/{table}")[0] + "/{table}", "/")
    path_folders = _java_split(path, "/")
    if len(path_folders) < len(spec_folders):
        return None
    out = []
    for want, got in zip(spec_folders, path_folders, strict=False):
        if want in (got, "*"):
            out.append(got + "/")
        elif want == "{table}":
            return "".join(out) + got
        else:
            return None
    return None


def _strip_partition(path: str, regexp: str) -> str:
    # Plain concatenation, as DataHub does (``regexp + "$"``).
    stripped = re.sub(regexp + "$", "", path)
    return stripped[:-1] if stripped.endswith("/") else stripped


def _after_scheme(path: str) -> str | None:
    parts = _java_split(path, _SEP)
    return parts[1] if len(parts) == 2 else None


def _path_dataset(uri: str, scheme: str, config: PlatformConfig) -> tuple[str, str, str | None, bool]:
    """(platform, name, instance, instance_from_spec) of a file-system URI (HdfsPathDataset.create)."""
    path = uri.rstrip("/")
    if _after_scheme(path) is None:
        # Not "<scheme>://<rest>": DataHub keeps the whole text as an hdfs path.
        return "hdfs", path, None, False
    platform = _FS_PLATFORMS[scheme]
    for spec in config.path_specs:
        if spec.platform != platform:
            continue
        for template in spec.path_spec_list:
            raw = _match_path_spec(path, template)
            if raw is not None:
                return platform, (_after_scheme(raw) or raw).removeprefix("/"), spec.platform_instance, True
    raw = path
    if config.file_partition_regexp is not None:
        raw = _strip_partition(path, config.file_partition_regexp)
    rest = _after_scheme(raw)
    if rest is None:
        return "hdfs", path, None, False
    # DataHub keeps the leading slash of local files only.
    name = rest if platform == "file" else rest.removeprefix("/")
    return platform, name, None, False


def _connection_key(namespace: str) -> str | None:
    """The ``connections`` key of a namespace (OpenLineagePlatformResolver.toConnectionKey)."""
    glue = _GLUE_ARN.search(namespace)
    if glue:
        return f"arn:aws:glue:{glue.group(1)}:{glue.group(2)}"
    return namespace if _SEP in namespace else None


def _find_override(keys: Sequence[str], config: PlatformConfig) -> NamespaceOverride | None:
    def key_of(override: NamespaceOverride) -> str:
        return override.namespace.lower() if config.lowercase_urns else override.namespace

    for key in keys:
        for override in config.namespace_overrides:
            if key == key_of(override):
                return override
    for key in keys:
        for override in config.namespace_overrides:  # longest prefix first
            if key.startswith(key_of(override)):
                return override
    return None


def _resolve_one(namespace: str, name: str, config: PlatformConfig, key_override: str | None) -> DatasetRef:
    # A password in the URI is no part of the dataset's name (DataHub's converter keeps it: s3://k:secret@b).
    namespace, name = without_credentials(namespace), without_credentials(name)
    if config.lowercase_urns:
        namespace, name = namespace.lower(), name.lower()
    keys = [k for k in (key_override, _connection_key(namespace), namespace) if k]
    if config.lowercase_urns:
        keys = [k.lower() for k in keys]
    override = _find_override(keys, config)

    instance: str | None = config.platform_instance
    is_path = False
    if _SEP in namespace or _SEP in name:
        if _SEP not in namespace:
            uri = name  # old Marquez: namespace "file.localhost", name "file:///tmp/x"
        elif not namespace.endswith("/") and not name.startswith("/"):
            uri = f"{namespace}/{name}"
        else:
            uri = namespace + name
        match = _SCHEME.match(uri)
        if match is None:
            logger.debug("no URI scheme, using fallback: namespace=%s name=%s", namespace, name)
            return _fallback(namespace, name, config)
        scheme = match.group(1)
        if scheme in _FS_PLATFORMS:
            is_path = True
            platform, name, spec_instance, from_spec = _path_dataset(uri, scheme, config)
            if from_spec:
                instance = spec_instance
        else:
            platform = _SCHEME_PLATFORMS.get(scheme, scheme)
    else:
        platform = namespace
        if platform in _FS_PLATFORMS and config.file_partition_regexp is not None:
            name = _strip_partition(name, config.file_partition_regexp)

    env = config.env
    if not is_path:
        # Path datasets take their instance from the matched path spec only; others from any spec.
        for spec in config.path_specs:
            if spec.platform == platform and spec.platform_instance is not None:
                instance = spec.platform_instance
                break
        for spec in config.path_specs:
            if spec.platform == platform and spec.env is not None:
                env = spec.env
                break
    if override is not None:
        platform = override.platform or platform
        instance = override.platform_instance or instance
        env = override.env or env
    if not platform or platform.startswith("urn:") or not name:
        return _fallback(namespace, name, config)
    return DatasetRef(platform=platform, name=name, platform_instance=instance, env=env)


def _fallback(namespace: str, name: str, config: PlatformConfig) -> DatasetRef:
    # DataHub's OpenLineageDatasetMapper: unknown platform, "namespace/name".
    return DatasetRef(
        platform=_UNKNOWN,
        name=f"{namespace}/{name}",
        platform_instance=config.platform_instance,
        env=config.env,
    )


def resolve_dataset(
    namespace: str,
    name: str,
    symlinks: Sequence[Symlink] = (),
    *,
    config: PlatformConfig,
    catalog_framework: str | None = None,
    aliases: MutableMapping[DatasetRef, DatasetRef] | None = None,
) -> DatasetRef:
    """Work out the DataHub dataset identity of an OpenLineage dataset. Never raises.

    Args:
        namespace: OpenLineage dataset namespace (``postgres://h:5432``, ``gs://b``, ``bigquery``).
        name: OpenLineage dataset name.
        symlinks: the dataset's symlinks facet identifiers.
        config: platform rules.
        catalog_framework: the ``catalog`` facet's ``framework``; ``iceberg`` makes a
            (non-Glue) TABLE symlink an ``iceberg`` dataset instead of a Hive one.
        aliases: optional caller-owned map; when a TABLE symlink replaces a dataset the
            "path identity -> table identity" pair is recorded, and later datasets that
            resolve to a recorded path identity get the table identity (DataHub's
            ``urnAliases``). ``None`` keeps the function stateless.

    Returns:
        The dataset's platform, name, platform instance and env.
    """
    table = [s for s in symlinks if s.type == "TABLE"] if config.use_symlinks else []
    link = table[-1] if table else None  # DataHub keeps the last TABLE symlink
    link_name = link.name if link is not None else ""
    if link_name.startswith(_TABLE_PREFIX):
        link_name = link_name[len(_TABLE_PREFIX) :].replace("/", ".")
    if link is None or not link_name.strip():
        # No usable logical name: the physical identity stands.
        ref = _resolve_one(namespace, name, config, None)
    else:
        if link.namespace.startswith(_GLUE_PREFIXES):
            platform_ns = "glue"
        elif (catalog_framework or "").strip().lower() == "iceberg":
            platform_ns = "iceberg"
        else:
            platform_ns = config.hive_platform_alias
        ref = _resolve_one(platform_ns, link_name, config, _connection_key(link.namespace))
        if aliases is not None:
            aliases[_resolve_one(namespace, name, config, None)] = ref
    if aliases is not None and ref in aliases:
        return aliases[ref]
    return ref


def resolve_dataset_urn(
    namespace: str,
    name: str,
    symlinks: Sequence[Symlink] = (),
    *,
    config: PlatformConfig,
    catalog_framework: str | None = None,
    aliases: MutableMapping[DatasetRef, DatasetRef] | None = None,
) -> str:
    """:func:`resolve_dataset` then :func:`dataset_urn`."""
    ref = resolve_dataset(
        namespace, name, symlinks, config=config, catalog_framework=catalog_framework, aliases=aliases
    )
    return dataset_urn(ref)
