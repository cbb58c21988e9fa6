"""Which rule chose a dataset's URN, in words, for the status page.

The URN itself always comes from the configured translator (``get_dataset_urn``); this module
only explains it, by looking at the same inputs and settings the platform rules of
:mod:`translators.datahub.platforms` read. When the translator's URN is not what those rules
give (a subclass overriding ``get_dataset_ref``/``get_dataset_urn``), the explanation says so.
"""

from __future__ import annotations

from typing import Any

from translators.datahub.platforms import PlatformConfig, resolve_dataset

__all__ = ["explain_dataset_urn"]

_PATH_PLATFORMS = frozenset({"s3", "gcs", "abs", "dbfs", "file", "hdfs"})
_GLUE_PREFIXES = ("aws:glue:", "arn:aws:glue:")


def _override(namespace: str, config: PlatformConfig) -> str | None:
    key = namespace.lower() if config.lowercase_urns else namespace
    for override in config.namespace_overrides:  # (longest first)
        own = override.namespace.lower() if config.lowercase_urns else override.namespace
        if key == own or key.startswith(own):
            return override.namespace
    return None


def explain_dataset_urn(dataset: Any, urn: str, config: PlatformConfig) -> str:
    """One sentence naming the rule that made ``urn`` from an OpenLineage dataset.

    Args:
        dataset: a :class:`bridge.model.Dataset` (namespace, name, symlinks).
        urn: the URN the translator chose for it.
        config: the translator's platform rules (``TranslatorConfig.platforms``).
    """
    namespace, name = dataset.namespace, dataset.name
    ref = resolve_dataset(namespace, name, dataset.symlinks, config=config)
    if ref.urn != urn:
        return "a customised translator (get_dataset_ref / get_dataset_urn) chose it, not the platform rules"
    parts: list[str] = []
    tables = [s for s in dataset.symlinks if s.type == "TABLE"] if config.use_symlinks else []
    if tables and tables[-1].name.strip():
        link = tables[-1]
        kind = ("a Glue table: platform glue" if link.namespace.startswith(_GLUE_PREFIXES)
                else f"platform {ref.platform} (hive_platform_alias or an iceberg catalog)")
        parts.append(f"symlink: the last TABLE symlink {link.namespace} {link.name} names it, {kind}")
        namespace = link.namespace
    elif ref.platform == "unknown":
        parts.append("fallback: no platform can be read from the namespace, so platform unknown and name "
                     "namespace/name (as DataHub's converter)")
    elif "://" in namespace or "://" in name:
        scheme = (namespace if "://" in namespace else name).split(":", 1)[0]
        if ref.platform in _PATH_PLATFORMS:
            parts.append(f"path: the URI scheme {scheme}:// makes platform {ref.platform}; the name is the path "
                         "without scheme or leading slash")
            if any(spec.platform == ref.platform for spec in config.path_specs):
                parts.append("cut by a path spec of that platform where one matched")
            if config.file_partition_regexp:
                parts.append("a trailing partition stripped (file_partition_regexp)")
        else:
            parts.append(f"URI namespace: the scheme {scheme} makes platform {ref.platform}; the name is kept")
    else:
        parts.append(f"the namespace {namespace} is the platform")
    if config.lowercase_urns:
        parts.append("lower-cased (lowercase_urns)")
    override = _override(namespace, config)
    if override is not None:
        parts.append(f"namespace override {override!r} applied")
    instance = f", platform instance {ref.platform_instance}" if ref.platform_instance else ""
    parts.append(f"env {ref.env}{instance}")
    return "; ".join(parts)
