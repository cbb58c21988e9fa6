"""The neutral event model -> DataHub MCPs.

* :class:`DataHubTranslator` / :func:`translate` — one event in, a list of
  :class:`~bridge.mcp.MetadataChangeProposalWrapper` out; subclass and override
  ``get_*`` methods to customise.
* :class:`TranslatorConfig` — settings (env, platform instances, flow naming,
  what to emit).
* :mod:`.aspects` — aspect builders; :mod:`.typed_aspects` — typed aspects; :func:`aspect_mcp` sends
  any aspect DataHub knows by name, checked against DataHub's entity registry.
* :mod:`.urns` and :mod:`.platforms` — URN builders (DataHub ``mce_builder``
  names) and OpenLineage dataset -> DataHub dataset identity.
"""

from translators.datahub.config import FLOW_NAMING, TranslatorConfig
from translators.datahub.platform_config import DatasetRef, PlatformConfig, dataset_urn
from translators.datahub.platforms import resolve_dataset
from translators.datahub.registry import EntityRegistry, RawAspect, aspect_mcp, entity_registry
from translators.datahub.schema_types import datahub_type
from translators.datahub.translator import DataHubTranslator, orchestrator_from_producer, translate
from translators.datahub.typed_aspects import (
    DataPlatformInstance,
    DatasetProperties,
    GlobalTags,
    Owner,
    Ownership,
    Status,
    SubTypes,
    Upstream,
    UpstreamLineage,
)
from translators.datahub.urns import (
    make_data_flow_urn,
    make_data_job_urn,
    make_data_platform_urn,
    make_data_process_instance_urn,
    make_dataset_urn,
    make_dataset_urn_with_platform_instance,
    make_group_urn,
    make_schema_field_urn,
    make_tag_urn,
    make_user_urn,
)

__all__ = [
    "FLOW_NAMING",
    "DataHubTranslator",
    "DataPlatformInstance",
    "DatasetProperties",
    "DatasetRef",
    "EntityRegistry",
    "GlobalTags",
    "Owner",
    "Ownership",
    "PlatformConfig",
    "RawAspect",
    "Status",
    "SubTypes",
    "TranslatorConfig",
    "Upstream",
    "UpstreamLineage",
    "aspect_mcp",
    "datahub_type",
    "dataset_urn",
    "entity_registry",
    "make_data_flow_urn",
    "make_data_job_urn",
    "make_data_platform_urn",
    "make_data_process_instance_urn",
    "make_dataset_urn",
    "make_dataset_urn_with_platform_instance",
    "make_group_urn",
    "make_schema_field_urn",
    "make_tag_urn",
    "make_user_urn",
    "orchestrator_from_producer",
    "resolve_dataset",
    "translate",
]
