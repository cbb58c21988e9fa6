"""DataHub URN builders (reading URNs back: :mod:`translators.datahub.urn_parsing`).

The functions here have the same names, arguments and results as DataHub's
``datahub.emitter.mce_builder`` builders, so that users who know those know
these, and so that the URNs we emit are byte-for-byte the ones DataHub's own
ingestion emits for the same inputs (that is what makes lineage join). The
test suite checks every builder against acryl-datahub on arbitrary text.

Escaping follows DataHub's rules (``docs/what/urn.md`` "Restrictions" and
``UrnEncoder``): in the free-text parts of a URN the reserved characters
``,`` ``(`` ``)`` and ``␟`` are percent-encoded (``%2C``, ``%28``, ``%29``,
``%E2%90%9F``); nothing else is touched. A builder that DataHub would reject
(an empty part, a malformed embedded URN) raises
:class:`bridge.errors.InvalidEventError` naming the argument, because such a
value always comes from the input event.

Deliberate differences from ``mce_builder``: no process-wide state (DataHub
lower-cases dataset names when the ``DATAHUB_DATASET_URN_TO_LOWER`` environment
variable is set; here the caller decides, see
``translators.datahub.platform_config.PlatformConfig.lowercase_urns``).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from translators.datahub.urn_parsing import PREFIX as _PREFIX
from translators.datahub.urn_parsing import has_reserved, invalid_part, parse_typed_urn

__all__ = [
    "DEFAULT_ENV",
    "DEFAULT_FLOW_CLUSTER",
    "OwnerType",
    "datahub_guid",
    "encode_urn_part",
    "make_container_urn",
    "make_data_flow_urn",
    "make_data_job_urn",
    "make_data_job_urn_with_flow",
    "make_data_platform_instance_urn",
    "make_data_platform_urn",
    "make_data_process_instance_urn",
    "make_dataplatform_instance_urn",
    "make_dataset_urn",
    "make_dataset_urn_with_platform_instance",
    "make_domain_urn",
    "make_group_urn",
    "make_owner_urn",
    "make_schema_field_urn",
    "make_tag_urn",
    "make_term_urn",
    "make_user_urn",
]

DEFAULT_ENV = "PROD"
# DataHub's data-flow "cluster" default is lower-case, unlike the dataset env.
DEFAULT_FLOW_CLUSTER = "prod"

# Percent-encoded forms, as urllib.parse.quote produces them (what DataHub uses).
_RESERVED = {",": "%2C", "(": "%28", ")": "%29", "\u241f": "%E2%90%9F"}
_RESERVED_TABLE = str.maketrans(_RESERVED)


class OwnerType(enum.StrEnum):
    """Kind of owner; the value is the URN entity type (as in DataHub)."""

    USER = "corpuser"
    GROUP = "corpGroup"


def encode_urn_part(value: str) -> str:
    """Percent-encode DataHub's reserved URN characters in one free-text part.

    Args:
        value: a name, id or path that will become one part of a URN.

    Returns:
        ``value`` with ``,`` ``(`` ``)`` ``␟`` percent-encoded; anything else unchanged.
    """
    if not has_reserved(value):
        return value
    return value.translate(_RESERVED_TABLE)


def _non_empty(value: str, arg: str) -> str:
    if not value:
        raise invalid_part(arg, "must not be empty")
    return value


def make_data_platform_urn(platform: str) -> str:
    """Build ``urn:li:dataPlatform:<platform>``.

    Args:
        platform: platform name (``postgres``, ``s3``), or a dataPlatform URN (normalised).

    Returns:
        The data platform URN.
    """
    if platform.startswith(_PREFIX):
        (name,) = parse_typed_urn(platform, "dataPlatform", 1, "platform")
        return f"{_PREFIX}dataPlatform:{name}"
    return f"{_PREFIX}dataPlatform:{_non_empty(encode_urn_part(platform), 'platform')}"


def make_dataset_urn_with_platform_instance(
    platform: str, name: str, platform_instance: str | None, env: str = DEFAULT_ENV
) -> str:
    """Build ``urn:li:dataset:(<platform urn>,[<instance>.]<name>,<ENV>)``.

    Args:
        platform: platform name or dataPlatform URN.
        name: dataset name (reserved characters are encoded).
        platform_instance: optional instance, prefixed to the name with a dot.
        env: fabric type; upper-cased as DataHub does. It is not encoded, so it
            must not contain reserved characters.

    Returns:
        The dataset URN.
    """
    platform_urn = make_data_platform_urn(platform)
    full_name = f"{platform_instance}.{name}" if platform_instance else name
    full_name = _non_empty(encode_urn_part(full_name), "name")
    env = _non_empty(env.upper(), "env")
    if has_reserved(env):
        raise invalid_part("env", f"{env!r} contains reserved characters , ( )")
    return f"{_PREFIX}dataset:({platform_urn},{full_name},{env})"


def make_dataset_urn(platform: str, name: str, env: str = DEFAULT_ENV) -> str:
    """Build a dataset URN without a platform instance (see :func:`make_dataset_urn_with_platform_instance`)."""
    return make_dataset_urn_with_platform_instance(platform, name, None, env)


def make_dataplatform_instance_urn(platform: str, instance: str) -> str:
    """Build ``urn:li:dataPlatformInstance:(<platform urn>,<instance>)``.

    Like DataHub, ``instance`` is used verbatim (not encoded), and an instance
    that is already a dataPlatformInstance URN is returned unchanged.

    Args:
        platform: platform name or dataPlatform URN.
        instance: instance name, or a full dataPlatformInstance URN.

    Returns:
        The data platform instance URN.
    """
    if instance.startswith(f"{_PREFIX}dataPlatformInstance"):
        return instance
    return f"{_PREFIX}dataPlatformInstance:({make_data_platform_urn(platform)},{instance})"


# The brief's spelling; DataHub spells it without the underscore.
make_data_platform_instance_urn = make_dataplatform_instance_urn


def make_schema_field_urn(parent_urn: str, field_path: str) -> str:
    """Build ``urn:li:schemaField:(<parent urn>,<encoded field path>)``.

    Args:
        parent_urn: URN of the dataset (or other entity) owning the field.
        field_path: the field path (v1 ``a.b`` or v2 ``[version=2.0]...``).

    Returns:
        The schema field URN.
    """
    if not parent_urn.startswith(_PREFIX):
        raise invalid_part("parent_urn", f"a schema field's parent must be a URN, got {parent_urn!r}")
    return f"{_PREFIX}schemaField:({parent_urn},{encode_urn_part(field_path)})"


class _GuidEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        # Keys nested in keys (DataHub's DatahubKey) contribute their own guid.
        guid = getattr(o, "guid", None)
        if callable(guid):
            return guid()
        return super().default(o)


# One encoder, reused: building a JSONEncoder per call costs more than the hashing.
_GUID_ENCODER = _GuidEncoder(separators=(",", ":"), sort_keys=True)


def datahub_guid(obj: Mapping[str, Any]) -> str:
    """Deterministic id of a JSON-able mapping, as DataHub computes it.

    The md5 hex digest of the compact JSON with sorted keys; DataHub uses it for
    container ids and data process instance ids, so equal inputs give equal ids.

    Args:
        obj: JSON-able mapping (values may be objects with a ``guid()`` method).

    Returns:
        32 lower-case hex characters.
    """
    text = _GUID_ENCODER.encode(obj if isinstance(obj, dict) else dict(obj))
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - an id, not security


def make_container_urn(guid: str | Mapping[str, Any]) -> str:
    """Build ``urn:li:container:<guid>``.

    Args:
        guid: the container guid, a container URN (returned unchanged), or a
            key mapping hashed with :func:`datahub_guid`.

    Returns:
        The container URN.
    """
    if isinstance(guid, Mapping):
        guid = datahub_guid(guid)
    if guid.startswith(f"{_PREFIX}container"):
        return guid
    return f"{_PREFIX}container:{guid}"


def make_user_urn(username: str) -> str:
    """Build ``urn:li:corpuser:<username>`` (a user or group URN is returned unchanged)."""
    if username.startswith((f"{_PREFIX}corpuser:", f"{_PREFIX}corpGroup:")):
        return username
    return f"{_PREFIX}corpuser:{encode_urn_part(username)}"


def make_group_urn(groupname: str) -> str:
    """Build ``urn:li:corpGroup:<groupname>`` (a user or group URN is returned unchanged)."""
    if groupname.startswith((f"{_PREFIX}corpGroup:", f"{_PREFIX}corpuser:")):
        return groupname
    return f"{_PREFIX}corpGroup:{encode_urn_part(groupname)}"


def make_owner_urn(owner: str, owner_type: OwnerType | str) -> str:
    """Build a user or group URN.

    Args:
        owner: user or group name, or an existing corpuser/corpGroup URN.
        owner_type: :class:`OwnerType` or its value (``corpuser`` / ``corpGroup``).

    Returns:
        The owner URN.
    """
    try:
        kind = OwnerType(owner_type)
    except ValueError as exc:
        raise invalid_part("owner_type", f"unknown owner type {owner_type!r}") from exc
    return make_user_urn(owner) if kind is OwnerType.USER else make_group_urn(owner)


def make_tag_urn(tag: str) -> str:
    """Build ``urn:li:tag:<tag>`` (a tag URN is returned unchanged)."""
    if tag.startswith(f"{_PREFIX}tag:"):
        return tag
    if tag.startswith(_PREFIX):
        raise invalid_part("tag", f"expected a tag name or tag URN, got {tag!r}")
    return f"{_PREFIX}tag:{_non_empty(encode_urn_part(tag), 'tag')}"


def make_term_urn(term: str) -> str:
    """Build ``urn:li:glossaryTerm:<term>`` (verbatim, as DataHub; a term URN is returned unchanged)."""
    if term.startswith(f"{_PREFIX}glossaryTerm:"):
        return term
    return f"{_PREFIX}glossaryTerm:{term}"


def make_domain_urn(domain: str) -> str:
    """Build ``urn:li:domain:<domain>`` (verbatim, as DataHub; a domain URN is returned unchanged)."""
    if domain.startswith(f"{_PREFIX}domain:"):
        return domain
    return f"{_PREFIX}domain:{domain}"


def make_data_flow_urn(
    orchestrator: str,
    flow_id: str,
    cluster: str = DEFAULT_FLOW_CLUSTER,
    platform_instance: str | None = None,
) -> str:
    """Build ``urn:li:dataFlow:(<orchestrator>,[<instance>.]<flow_id>,<cluster>)``.

    Args:
        orchestrator: e.g. ``airflow``, ``spark``, ``dagster``.
        flow_id: the flow (pipeline, DAG, job group) id.
        cluster: DataHub's "cluster"; kept as given (not upper-cased), unlike a dataset env.
        platform_instance: optional instance prefixed to the flow id with a dot.

    Returns:
        The data flow URN.
    """
    orchestrator = _non_empty(encode_urn_part(orchestrator), "orchestrator")
    full_id = f"{platform_instance}.{flow_id}" if platform_instance else flow_id
    full_id = _non_empty(encode_urn_part(full_id), "flow_id")
    cluster = _non_empty(encode_urn_part(cluster), "cluster")
    return f"{_PREFIX}dataFlow:({orchestrator},{full_id},{cluster})"


def make_data_job_urn_with_flow(flow_urn: str, job_id: str) -> str:
    """Build ``urn:li:dataJob:(<flow urn>,<job_id>)``.

    Args:
        flow_urn: a dataFlow URN (validated and normalised).
        job_id: the job (task, step, asset) id.

    Returns:
        The data job URN.
    """
    orchestrator, flow_id, cluster = parse_typed_urn(flow_urn, "dataFlow", 3, "flow_urn")
    job_id = _non_empty(encode_urn_part(job_id), "job_id")
    return f"{_PREFIX}dataJob:({_PREFIX}dataFlow:({orchestrator},{flow_id},{cluster}),{job_id})"


def make_data_job_urn(
    orchestrator: str,
    flow_id: str,
    job_id: str,
    cluster: str = DEFAULT_FLOW_CLUSTER,
    platform_instance: str | None = None,
) -> str:
    """Build a data job URN from its flow's parts (see :func:`make_data_flow_urn`)."""
    return make_data_job_urn_with_flow(
        make_data_flow_urn(orchestrator, flow_id, cluster, platform_instance), job_id
    )


def make_data_process_instance_urn(dataProcessInstanceId: str) -> str:  # noqa: N803 - DataHub's name
    """Build ``urn:li:dataProcessInstance:<id>`` (verbatim, as DataHub).

    Use :func:`datahub_guid` to make the id from the run's identity.
    """
    return f"{_PREFIX}dataProcessInstance:{dataProcessInstanceId}"
