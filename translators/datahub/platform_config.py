"""How OpenLineage datasets become DataHub dataset identities: the settings, and the identity itself.

:class:`PlatformConfig` (env, platform instance, symlinks, namespace overrides, path specs) is what
:func:`translators.datahub.platforms.resolve_dataset` follows; :class:`DatasetRef` is what it gives,
:func:`dataset_urn` its URN and :func:`dataset_ref_of` the way back; :func:`data_platform_name` reads
the platform name of a ``dataPlatform`` URN.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError
from translators.datahub.urn_parsing import parse_dataset_urn, parse_typed_urn
from translators.datahub.urns import make_dataset_urn_with_platform_instance

__all__ = ["FABRIC_TYPES", "DatasetRef", "NamespaceOverride", "PathSpec", "PlatformConfig", "data_platform_name",
           "dataset_ref_of", "dataset_urn"]

# DataHub's FabricType enum: a dataset URN's env must be one of these.
FABRIC_TYPES = frozenset(
    {"DEV", "TEST", "QA", "UAT", "EI", "PRE", "STG", "NON_PROD", "PROD", "CORP", "RVW", "PRD", "TST"}
    | {"SIT", "SBX", "SANDBOX", "CERT"}
)


def _env(value: Any, key: str) -> str:
    env = str(value).upper()
    if env not in FABRIC_TYPES:
        raise ConfigError(f"{value!r} is not a DataHub env; use one of {sorted(FABRIC_TYPES)}", key=key)
    return env


def _optional_env(value: Any) -> str | None:
    return None if value is None else _env(value, "env")


def _bool(value: Any) -> bool:
    # Config files and environment-style settings carry booleans as text.
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"must be true or false, got {value!r}", key="platforms")


def _optional_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@attrs.frozen(kw_only=True)
class DatasetRef:
    """Identity of a DataHub dataset: what its URN is made of."""

    platform: str
    name: str
    platform_instance: str | None = None
    env: str = "PROD"

    @property
    def urn(self) -> str:
        """The dataset URN (see :func:`dataset_urn`)."""
        return dataset_urn(self)


@attrs.frozen(kw_only=True)
class PathSpec:
    """A path template for one platform, as DataHub's ``path_spec_list``.

    ``s3://bucket/foo/{table}/*`` makes ``s3://bucket/foo/orders/2024/x.parquet``
    the dataset ``bucket/foo/orders``; ``*`` matches one folder.
    """

    platform: str
    path_spec_list: tuple[str, ...] = attrs.field(converter=tuple, default=())

    @path_spec_list.validator
    def _check_templates(self, _attribute: Any, value: tuple[str, ...]) -> None:
        for template in value:
            if "/{table}" not in template:
                raise ConfigError(f"path spec {template!r} has no /{{table}} folder", key="path_specs")

    platform_instance: str | None = attrs.field(default=None, converter=_optional_text)
    env: str | None = attrs.field(default=None, converter=_optional_env)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PathSpec:
        """Build from ``{"platform", "path_spec_list", "platform_instance", "env"}``."""
        if "platform" not in data:
            raise ConfigError("a path spec needs a 'platform'", key="path_specs")
        specs = data.get("path_spec_list", ())
        if isinstance(specs, str):
            specs = [s.strip() for s in specs.split(",") if s.strip()]
        return cls(
            platform=str(data["platform"]),
            path_spec_list=tuple(specs),
            platform_instance=data.get("platform_instance"),
            env=data.get("env"),
        )


@attrs.frozen(kw_only=True)
class NamespaceOverride:
    """What to use for datasets whose namespace is (or starts with) ``namespace``."""

    namespace: str
    platform: str | None = attrs.field(default=None, converter=_optional_text)
    platform_instance: str | None = attrs.field(default=None, converter=_optional_text)
    env: str | None = attrs.field(default=None, converter=_optional_env)


def _overrides(value: Any) -> tuple[NamespaceOverride, ...]:
    if isinstance(value, Mapping):
        items: Iterable[Any] = (
            v if isinstance(v, NamespaceOverride) else NamespaceOverride(namespace=k, **dict(v))
            for k, v in value.items()
        )
    else:
        items = value
    # Longest first, so the most specific prefix wins.
    return tuple(sorted(items, key=lambda o: -len(o.namespace)))


def _path_specs(value: Iterable[Any]) -> tuple[PathSpec, ...]:
    return tuple(v if isinstance(v, PathSpec) else PathSpec.from_dict(v) for v in value)


@attrs.frozen(kw_only=True)
class PlatformConfig:
    """How OpenLineage datasets become DataHub dataset identities.

    Attributes:
        env: default env (DataHub FabricType) of dataset URNs.
        platform_instance: default platform instance (DataHub's ``commonDatasetPlatformInstance``).
        lowercase_urns: lower-case namespace and name first (DataHub ``lowerCaseUrns``).
        use_symlinks: prefer a TABLE symlink (Hive/Glue table) over the path (DataHub default: on).
        hive_platform_alias: platform of non-Glue TABLE symlinks (DataHub ``hivePlatformAlias``).
        namespace_overrides: per namespace (exact or prefix) platform / instance / env.
        path_specs: path templates per platform (DataHub ``path_spec_list``).
        file_partition_regexp: regexp of a trailing partition to strip from paths.
    """

    env: str = attrs.field(default="PROD", converter=lambda v: _env(v, "env"))
    platform_instance: str | None = attrs.field(default=None, converter=_optional_text)
    lowercase_urns: bool = attrs.field(default=False, converter=_bool)
    use_symlinks: bool = attrs.field(default=True, converter=_bool)
    hive_platform_alias: str = "hive"
    namespace_overrides: tuple[NamespaceOverride, ...] = attrs.field(default=(), converter=_overrides)
    path_specs: tuple[PathSpec, ...] = attrs.field(default=(), converter=_path_specs)
    file_partition_regexp: str | None = attrs.field(default=None, converter=_optional_text)

    @file_partition_regexp.validator
    def _check_regexp(self, _attribute: Any, value: str | None) -> None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigError(f"not a valid regexp: {exc}", key="file_partition_regexp") from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PlatformConfig:
        """Build from a plain mapping (unknown keys are an error, so typos are caught).

        ``namespace_overrides`` is ``{namespace_or_prefix: {platform, platform_instance, env}}``;
        ``path_specs`` a list of ``{platform, path_spec_list, platform_instance, env}``.
        """
        data = dict(data or {})
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; known: {sorted(known)}", key="platforms")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(str(exc), key="platforms") from exc


def dataset_urn(ref: DatasetRef) -> str:
    """The DataHub dataset URN of ``ref`` (``urn:li:dataset:(urn:li:dataPlatform:p,[inst.]name,ENV)``)."""
    return make_dataset_urn_with_platform_instance(ref.platform, ref.name, ref.platform_instance, ref.env)


def dataset_ref_of(urn: str, *, platform_instance: str | None = None) -> DatasetRef:
    """The identity whose URN is ``urn``: the inverse of :func:`dataset_urn`.

    A URN does not tell a platform instance from the first part of a dotted name: ``platform_instance``
    is the identity's instance when the URN's name starts with it and a dot, and there is none otherwise.

    Raises:
        InvalidEventError: ``urn`` is not a dataset URN (``field`` names the hook that makes them).
    """
    platform, name, env = parse_dataset_urn(urn, arg="get_dataset_urn")
    if platform_instance and name.startswith(f"{platform_instance}."):
        name = name[len(platform_instance) + 1 :]
    else:
        platform_instance = None
    return DatasetRef(platform=platform, name=name, platform_instance=platform_instance, env=env)


def data_platform_name(platform_urn: str) -> str:
    """The platform name of a ``dataPlatform`` URN (``urn:li:dataPlatform:glue`` -> ``glue``): what a
    dataset or flow URN carries of a platform that
    :meth:`~translators.datahub.datasets.DatasetHooks.get_platform_urn` names.

    Raises:
        InvalidEventError: ``platform_urn`` is not a dataPlatform URN (``field`` names the hook that makes them).
    """
    (name,) = parse_typed_urn(platform_urn, "dataPlatform", 1, "get_platform_urn")
    return name
