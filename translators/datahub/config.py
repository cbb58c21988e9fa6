"""Configuration of the DataHub translator.

One frozen, keyword-only attrs class, :class:`TranslatorConfig`, built in code
or from a plain mapping with :meth:`TranslatorConfig.from_dict` (the one door
in from files and the CLI). Dataset-identity settings (env, lower-casing,
namespace overrides, path specs, symlinks) live in the nested
:class:`~translators.datahub.platform_config.PlatformConfig`; ``from_dict`` accepts
them flat as well so the common ones read naturally::

    TranslatorConfig.from_dict({
        "env": "DEV",
        "platform_instance": "eu-airflow",           # the orchestrator's instance
        "dataset_platform_instance": "warehouse-1",  # default instance of datasets
        "lowercase_urns": True,
        "namespace_overrides": {"postgres://db1:5432": {"platform_instance": "db1"}},
        "flow_naming": "parent",
        "emit_upstream_lineage": True,
    })

Anything more specific is a subclass of
:class:`~translators.datahub.translator.DataHubTranslator` overriding a
``get_*`` method, not another setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError, unknown_settings
from bridge.secrets import check_secret_keys
from translators.datahub.aspects import OWNERSHIP_TYPES
from translators.datahub.compat import check_compat
from translators.datahub.dbt_flows import PROJECT, check_dbt_flow_naming
from translators.datahub.platform_config import PlatformConfig
from translators.datahub.writes import PATCH_FORMATS, write_policy

__all__ = ["FLOW_NAMING", "TranslatorConfig"]

FLOW_NAMING = ("prefix", "parent", "root", "namespace", "job")
"""How the dataFlow id of a job is chosen (or pass a callable ``event -> str``):

* ``prefix`` (default, as DataHub's own OpenLineage converter): the job name up
  to its first ``.`` (Airflow ``dag.task`` -> ``dag``; Spark ``app.action`` -> ``app``);
* ``parent``: the parent job's name when the run has a parent, else the job name;
* ``root``: the root job's name (parent's root, else parent), else the job name;
* ``namespace``: the job namespace (one flow per namespace);
* ``job``: the job name (every job is its own flow).
"""

_PLATFORM_KEYS = {f.name for f in attrs.fields(PlatformConfig)} - {"platform_instance"}


def _flow_naming(instance: Any, attribute: Any, value: Any) -> None:
    if callable(value) or value in FLOW_NAMING:
        return
    raise ConfigError(f"must be one of {list(FLOW_NAMING)} or a callable, got {value!r}", key="flow_naming")


def _optional_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "true",
        "false",
        "1",
        "0",
        "yes",
        "no",
        "on",
        "off",
    ):
        return value.strip().lower() in ("true", "1", "yes", "on")
    raise ConfigError(f"must be true or false, got {value!r}", key="translator")


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"must be a whole number, got {value!r}", key="max_property_length") from exc
    if number < 1:
        raise ConfigError(f"must be at least 1, got {number}", key="max_property_length")
    return number


def _patch_format(instance: Any, attribute: Any, value: str) -> None:
    if value not in PATCH_FORMATS:
        raise ConfigError(f"must be one of {list(PATCH_FORMATS)}, got {value!r}", key="patch_format")


def _write_policy(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a table of aspect name -> mode, got {value!r}", key="write_policy")
    return write_policy(value)


def _owner_type(instance: Any, attribute: Any, value: str) -> None:
    if value not in OWNERSHIP_TYPES:
        raise ConfigError(
            f"must be a DataHub ownership type {sorted(OWNERSHIP_TYPES)}, got {value!r}", key=attribute.name
        )


@attrs.frozen(kw_only=True)
class TranslatorConfig:
    """How neutral events become DataHub MCPs.

    Attributes:
        platforms: dataset identity rules (env, ``platform_instance`` of datasets,
            ``lowercase_urns``, ``namespace_overrides``, ``path_specs``, symlinks).
        platform_instance: the orchestrator's platform instance. Like DataHub's
            converter it becomes the dataFlow URN's cluster, and flows/jobs get a
            ``dataPlatformInstance`` aspect.
        orchestrator: force the dataFlow orchestrator (``airflow``, ``spark``...);
            by default it comes from the processing engine, integration or producer.
        flow_naming: see :data:`FLOW_NAMING`, or a callable ``event -> flow id``.
        cluster: dataFlow cluster; ``None`` uses the job namespace (as DataHub's
            converter), or ``platform_instance`` when that is set.
        materialize_datasets: emit dataset aspects (status, schemaMetadata,
            datasetProperties, ownership, globalTags, operation) beside the lineage.
        emit_column_lineage: put column lineage in ``dataJobInputOutput.fineGrainedLineages``.
        include_indirect_column_lineage: also the column lineage of columns that only chose the
            rows (OpenLineage ``INDIRECT``: JOIN, FILTER, GROUP_BY...), kept apart from the DIRECT
            entries (see :mod:`translators.datahub.column_lineage`).
        column_lineage_inputs: a dataset that only the column lineage of an output names (not the
            event's ``inputs``) is added as a table-level input of the job and the run, and
            materialised like the event's own inputs. dbt-ol names the seeds a model reads this way
            only. An output of the event is never made an input of it (no self-loop).
        dbt_flow_naming: the flows of ``dbt-ol``'s jobs: ``project`` (one flow per dbt project,
            see :mod:`translators.datahub.dbt_flows`) or a :data:`FLOW_NAMING` value (``prefix``:
            DataHub's converter's naming, as other producers get).
        emit_upstream_lineage: also emit ``upstreamLineage`` (with fine-grained
            lineage) on the output datasets of jobs. Off by default: the job's own lineage
            (``dataJobInputOutput``) already links them through the job. (A DatasetEvent's
            dataset always gets the ``upstreamLineage`` its column lineage and
            ``get_dataset_upstreams`` give: no job carries it.)
        capture_raw_facets: keep facets the model has no field for as JSON custom
            properties (``facet.<name>``) on the job, run and dataset.
        default_owner_type: DataHub ownership type for owners whose OpenLineage type
            is not one of DataHub's.
        max_property_length: longer custom-property values are cut (SQL, stack traces).
        write_policy: aspect name -> write mode (``patch``, ``upsert``, ``if_absent``, ``skip``),
            over :data:`~translators.datahub.writes.DEFAULT_WRITE_POLICY` (see
            :mod:`translators.datahub.writes`); holds the whole resulting policy.
        patch_format: ``template`` (the key layout of GMS's registered patch templates) or
            ``generic`` (tags and owners as acryl-datahub >= 1.5 writes them, with ``arrayPrimaryKeys``).
        compat: write the URNs one of DataHub's own plugins writes, for the events from its
            orchestrator, so moving from the plugin duplicates nothing: ``datahub-airflow-plugin``
            (see :mod:`translators.datahub.compat`). ``None`` (default): DataHub's OpenLineage
            converter's URNs.
        secret_keys: words that make a key look like a secret, added to
            :data:`~bridge.secrets.DEFAULT_SECRET_KEYS`: the values of such keys are
            written as ``***`` wherever raw facets, Spark properties or environment variables are
            kept (see :mod:`bridge.secrets`).
    """

    platforms: PlatformConfig = attrs.field(factory=PlatformConfig)
    platform_instance: str | None = attrs.field(default=None, converter=_optional_text)
    orchestrator: str | None = attrs.field(default=None, converter=_optional_text)
    flow_naming: str | Callable[[Any], str] = attrs.field(default="prefix", validator=_flow_naming)
    cluster: str | None = attrs.field(default=None, converter=_optional_text)
    materialize_datasets: bool = attrs.field(default=True, converter=_bool)
    emit_column_lineage: bool = attrs.field(default=True, converter=_bool)
    include_indirect_column_lineage: bool = attrs.field(default=True, converter=_bool)
    column_lineage_inputs: bool = attrs.field(default=True, converter=_bool)
    dbt_flow_naming: str = attrs.field(default=PROJECT, validator=check_dbt_flow_naming)
    emit_upstream_lineage: bool = attrs.field(default=False, converter=_bool)
    capture_raw_facets: bool = attrs.field(default=False, converter=_bool)
    default_owner_type: str = attrs.field(default="TECHNICAL_OWNER", validator=_owner_type)
    max_property_length: int = attrs.field(default=16_000, converter=_positive_int)
    write_policy: Mapping[str, str] = attrs.field(factory=write_policy, converter=_write_policy)
    patch_format: str = attrs.field(default="template", validator=_patch_format)
    compat: str | None = attrs.field(default=None, converter=check_compat)
    secret_keys: tuple[str, ...] = attrs.field(default=(), converter=check_secret_keys)

    @property
    def env(self) -> str:
        """Env (DataHub FabricType) of dataset URNs."""
        return self.platforms.env

    @property
    def lowercase_urns(self) -> bool:
        """Whether dataset namespaces and names are lower-cased."""
        return self.platforms.lowercase_urns

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TranslatorConfig:
        """Build from a plain mapping; unknown keys are an error so typos are caught.

        Dataset settings may be given flat (``env``, ``lowercase_urns``,
        ``namespace_overrides``, ``path_specs``, ``use_symlinks``,
        ``hive_platform_alias``, ``file_partition_regexp``,
        ``dataset_platform_instance``) or nested under ``platforms``.

        Raises:
            ConfigError: an unknown key or a bad value; the error names the key.
        """
        data = dict(data or {})
        platforms = dict(data.pop("platforms", None) or {})
        if "dataset_platform_instance" in data:
            platforms["platform_instance"] = data.pop("dataset_platform_instance")
        for key in sorted(_PLATFORM_KEYS & set(data)):
            platforms[key] = data.pop(key)
        known = {f.name for f in attrs.fields(cls)} - {"platforms"}
        unknown = sorted(set(data) - known)
        if unknown:
            allowed = sorted(known | _PLATFORM_KEYS | {"platforms", "dataset_platform_instance"})
            raise ConfigError(unknown_settings(unknown, allowed), key="translator")
        try:
            return cls(platforms=PlatformConfig.from_dict(platforms), **data)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), key="translator") from exc
