"""Which rule chose each URN of an event, in words: ``bridge explain`` and the status page.

The URNs always come from the translator itself (``get_dataset_urn``, ``get_flow_urn``,
``get_job_urn``); this module only says why, by asking the same rules of
:mod:`translators.datahub.platforms` (and the flow naming of the translator) what they give with one
setting at a time left out. A platform renamed by an overridden ``get_platform_urn`` is named as the
URN names it, and the rule says so; when the translator's URN is not what those rules give (a subclass
overriding ``get_dataset_ref``, ``get_dataset_urn``, ``get_flow_id``...), the explanation says so.

Pure: no IO. Whether the URNs exist in DataHub is asked by the caller
(:func:`emitters.rest.exists.missing_urns`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from bridge.model import Dataset, DatasetEvent, Event, JobEvent, RunEvent
from translators.datahub.column_lineage import column_inputs
from translators.datahub.dbt_flows import flow_naming_of, is_dbt_event
from translators.datahub.platform_config import PlatformConfig
from translators.datahub.platforms import _FS_PLATFORMS, _GLUE_PREFIXES, resolve_dataset

if TYPE_CHECKING:
    from translators.datahub.translator import DataHubTranslator

__all__ = ["DatasetExplanation", "JobExplanation", "RunExplanation", "explain_dataset", "explain_dataset_urn", "explain_event",
           "explain_run"]

_CUSTOM = "a customised translator ({hooks}) chose it, not the platform rules"
_RENAMED = "platform {platform} named {name} by a customised translator (get_platform_urn)"


@attrs.frozen(kw_only=True)
class DatasetExplanation:
    """A dataset's DataHub identity and the rules that decided it.

    ``rule`` says how platform and name were found; ``env_rule`` and ``instance_rule`` where the env
    and platform instance came from.
    """

    namespace: str
    name: str
    urn: str
    platform: str | None
    dataset_name: str | None
    platform_instance: str | None
    env: str | None
    rule: str
    env_rule: str
    instance_rule: str
    custom: bool = False

    @property
    def sentence(self) -> str:
        """Everything in one line (the status page's "rule" column)."""
        if self.custom:
            return self.rule
        instance = f", platform instance {self.platform_instance}" if self.platform_instance else ""
        return f"{self.rule}; env {self.env}{instance}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "dataset", "namespace": self.namespace, "name": self.name, "urn": self.urn,
                "platform": self.platform, "dataset_name": self.dataset_name,
                "platform_instance": self.platform_instance, "env": self.env,
                "rule": self.rule, "env_rule": self.env_rule, "instance_rule": self.instance_rule}


@attrs.frozen(kw_only=True)
class JobExplanation:
    """A job's dataFlow and dataJob URNs and the rules that decided them."""

    namespace: str
    name: str
    orchestrator: str
    orchestrator_rule: str
    flow_id: str
    flow_rule: str
    cluster: str
    cluster_rule: str
    flow_urn: str
    job_id: str | None
    job_rule: str
    urn: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "job", **attrs.asdict(self)}


def _changed(config: PlatformConfig, dataset: Dataset, **without: Any) -> Any:
    """The identity the rules give with some settings left out (to see what each one did)."""
    return resolve_dataset(dataset.namespace, dataset.name, dataset.symlinks, config=attrs.evolve(config, **without))


def _platform_rule(dataset: Dataset, ref: Any, config: PlatformConfig) -> str:
    namespace, name = dataset.namespace, dataset.name
    tables = [s for s in dataset.symlinks if s.type == "TABLE"] if config.use_symlinks else []
    if tables and tables[-1].name.strip():
        link = tables[-1]
        kind = ("a Glue table: platform glue" if link.namespace.startswith(_GLUE_PREFIXES)
                else f"platform {ref.platform} (hive_platform_alias)")
        return f"symlink: the last TABLE symlink {link.namespace} {link.name} names it, {kind}"
    bare = _changed(config, dataset, namespace_overrides=())
    if bare.platform == "unknown":
        return ("fallback: no platform can be read from the namespace, so platform unknown and name "
                "namespace/name (as DataHub's converter)")
    if "://" in namespace or "://" in name:
        scheme = (namespace if "://" in namespace else name).split(":", 1)[0]
        if scheme.lower() in _FS_PLATFORMS or bare.platform == "hdfs":
            return (f"path: the URI scheme {scheme}:// makes platform {bare.platform}; the name is the path "
                    "without scheme or leading slash")
        return f"URI namespace: the scheme {scheme} makes platform {bare.platform}; the name is kept"
    return f"the namespace {namespace} is the platform"


def explain_dataset(dataset: Dataset, urn: str, config: PlatformConfig, *,
                    platform_name: Callable[[str], str] | None = None) -> DatasetExplanation:  # fmt: skip
    """Why the translator made ``urn`` of an OpenLineage dataset.

    Args:
        dataset: the dataset (namespace, name, symlinks).
        urn: the URN the translator chose for it (``get_dataset_urn``).
        config: the translator's platform rules (``TranslatorConfig.platforms``).
        platform_name: the translator's ``platform_name_of`` (the name its ``get_platform_urn`` gives a
            platform); without it, platforms are not renamed.
    """
    ref = resolve_dataset(dataset.namespace, dataset.name, dataset.symlinks, config=config)
    platform = platform_name(ref.platform) if platform_name else ref.platform  # the one the URN carries
    base = {"namespace": dataset.namespace, "name": dataset.name, "urn": urn}
    if attrs.evolve(ref, platform=platform).urn != urn:
        return DatasetExplanation(**base, platform=None, dataset_name=None, platform_instance=None, env=None,
                                  rule=_CUSTOM.format(hooks="get_dataset_ref / get_dataset_urn"),
                                  env_rule="", instance_rule="", custom=True)
    parts = [_platform_rule(dataset, ref, config)]
    if config.lowercase_urns and _changed(config, dataset, lowercase_urns=False) != ref:
        parts.append("lower-cased (lowercase_urns)")
    no_spec = _changed(config, dataset, path_specs=())
    if no_spec.name != ref.name:
        parts.append("cut at {table} by a path spec (path_specs)")
    if config.file_partition_regexp and _changed(config, dataset, file_partition_regexp=None).name != ref.name:
        parts.append("a trailing partition stripped (file_partition_regexp)")
    no_override = _changed(config, dataset, namespace_overrides=())
    override = next((o.namespace for o in config.namespace_overrides
                     if _changed(config, dataset, namespace_overrides=(o,)) != no_override), None)
    if no_override.platform != ref.platform:
        parts.append(f"platform {ref.platform} set by namespace override {override!r}")
    if platform != ref.platform:
        parts.append(_RENAMED.format(platform=ref.platform, name=platform))

    if no_override.env != ref.env:
        env_rule = f"namespace override {override!r}"
    elif ref.env != config.env:
        env_rule = f"the path spec of platform {ref.platform}"
    else:
        env_rule = "the translator's env" + (" (default)" if config.env == "PROD" else "")
    if ref.platform_instance is None:
        instance_rule = "none set"
    elif no_override.platform_instance != ref.platform_instance:
        instance_rule = f"namespace override {override!r}"
    elif no_spec.platform_instance != ref.platform_instance:
        instance_rule = f"the path spec of platform {ref.platform}"
    else:
        instance_rule = "the translator's dataset_platform_instance"
    return DatasetExplanation(**base, platform=platform, dataset_name=ref.name,
                              platform_instance=ref.platform_instance, env=ref.env, rule="; ".join(parts),
                              env_rule=env_rule, instance_rule=instance_rule)


def explain_dataset_urn(dataset: Any, urn: str, config: PlatformConfig, *,
                        platform_name: Callable[[str], str] | None = None) -> str:  # fmt: skip
    """One sentence naming the rule that made ``urn`` (see :func:`explain_dataset`)."""
    return explain_dataset(dataset, urn, config, platform_name=platform_name).sentence


# -- jobs ------------------------------------------------------------------------

_NAMING = {
    "project": "the dbt invocation job's name (one flow per dbt project)",
    "prefix": "the job name up to its first '.' (DataHub's converter)",
    "namespace": "the job namespace",
    "job": "the whole job name",
}


@attrs.frozen(kw_only=True)
class RunExplanation:
    """A run's process instance URN, its parent run's, and the rules that decided them."""

    namespace: str
    name: str
    run_id: str
    urn: str
    rule: str
    parent_urn: str | None
    parent_rule: str
    #: delivery may name the parent by another URN (a ``compat`` preset renames runs): ``parent_urn``
    #: is then not what DataHub will hold
    parent_renamed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "run", **attrs.asdict(self)}


def _orchestrator_rule(translator: DataHubTranslator, event: RunEvent | JobEvent) -> str:
    orchestrator = translator.get_orchestrator(event)
    name = translator.platform_name_of(orchestrator)
    rule = _chosen_orchestrator(translator, event)
    return rule if name == orchestrator else f"{rule}; {_RENAMED.format(platform=orchestrator, name=name)}"


def _chosen_orchestrator(translator: DataHubTranslator, event: RunEvent | JobEvent) -> str:
    if translator.overrides("get_orchestrator"):
        return _CUSTOM.format(hooks="get_orchestrator")
    if translator.config.orchestrator:
        return "the orchestrator setting"
    run = getattr(event, "run", None)
    if run is not None and run.processing_engine:
        return "the run's processing_engine facet"
    if event.job.integration:
        return "the integration of the jobType facet"
    return f"the producer {event.producer!r}" if event.producer else "no producer: the default"


def _flow_rule(translator: DataHubTranslator, event: RunEvent | JobEvent) -> str:
    if translator.overrides("get_flow_id", "get_compat"):
        return _CUSTOM.format(hooks="get_flow_id")
    if translator.get_compat(event) is not None:
        return f"compat {translator.config.compat}: the DAG id (with the platform instance, if any)"
    naming = flow_naming_of(translator.config, event)
    setting = f"{'dbt_flow_naming' if is_dbt_event(event) else 'flow_naming'}={naming if isinstance(naming, str) else 'a function'}"
    if callable(naming):
        return f"{setting}: a function of the event"
    if naming in _NAMING:
        return f"{setting}: {_NAMING[naming]}"
    parent = translator.get_parent(event)
    if parent is None:
        return f"{setting}: no parent run, so the job's own name"
    if naming == "root" and parent.root_job_name:
        return f"{setting}: the root run's job"
    return f"{setting}: the parent run's job"


def _cluster_rule(translator: DataHubTranslator, event: RunEvent | JobEvent) -> str:
    if translator.overrides("get_flow_cluster", "get_compat"):
        return _CUSTOM.format(hooks="get_flow_cluster")
    if translator.get_compat(event) is not None:
        return f"compat {translator.config.compat}: the cluster setting, else the plugin's default prod"
    if translator.config.cluster:
        return "the cluster setting"
    if translator.config.platform_instance:
        return "the platform_instance setting"
    return "the job namespace (as DataHub's converter)"


def explain_job(translator: DataHubTranslator, event: RunEvent | JobEvent) -> JobExplanation:
    """Why the translator gives ``event``'s job the flow and job URNs it does."""
    flow_urn = translator.get_flow_urn(event)
    emits = translator.emits_job(event)
    if translator.overrides("get_job_id", "get_compat"):
        job_rule = _CUSTOM.format(hooks="get_job_id")
    elif translator.get_compat(event) is not None:
        job_rule = (f"compat {translator.config.compat}: the task id" if emits else
                    f"compat {translator.config.compat}: a DAG run's own event writes the flow only, no job")
    else:
        job_rule = "the whole OpenLineage job name (as DataHub's converter)"
    return JobExplanation(
        namespace=event.job.namespace, name=event.job.name,
        orchestrator=translator.get_orchestrator(event), orchestrator_rule=_orchestrator_rule(translator, event),
        flow_id=translator.get_flow_id(event), flow_rule=_flow_rule(translator, event),
        cluster=translator.get_flow_cluster(event), cluster_rule=_cluster_rule(translator, event),
        flow_urn=flow_urn, job_id=translator.get_job_id(event) if emits else None, job_rule=job_rule,
        urn=translator.get_job_urn(event, flow_urn) if emits else None,
    )


def explain_run(translator: DataHubTranslator, event: RunEvent) -> RunExplanation:
    """Why the translator gives ``event``'s run, and its parent run, the URNs it does."""
    compat = translator.config.compat
    if translator.overrides("get_run_urn", "get_process_instance_urn", "get_compat"):
        rule = _CUSTOM.format(hooks="get_run_urn")
    elif (scheme := translator.get_compat(event)) is not None and scheme.run_urn(event):
        rule = f"compat {compat}: the plugin's guid of the DAG id, the task id and the DAG run id"
    else:
        rule = "the OpenLineage run id (as DataHub's converter)"
    parent = event.run.parent
    parent_urn = translator.get_parent_instance_urn(event)
    if translator.overrides("get_parent_instance_urn", "get_process_instance_urn"):
        parent_rule = _CUSTOM.format(hooks="get_parent_instance_urn")
    elif parent is None:
        parent_rule = "no parent facet"
    elif parent_urn is None:
        parent_rule = "the parent facet names the run itself: no link (a run is not its own parent)"
    else:
        parent_rule = f"the parent facet's run id ({parent.job_namespace} / {parent.job_name})"
    renamed = parent_urn is not None and translator.get_compat(event) is not None
    if renamed:
        parent_rule += (f"; under compat {compat} that run has another URN, which delivery links to once it has "
                        "seen the run")
    return RunExplanation(namespace=event.job.namespace, name=event.job.name, run_id=event.run.run_id,
                          urn=translator.get_run_urn(event), rule=rule, parent_urn=parent_urn,
                          parent_rule=parent_rule, parent_renamed=renamed)  # fmt: skip


def _datasets(translator: DataHubTranslator, event: Event) -> Iterator[tuple[str, Dataset]]:
    if isinstance(event, RunEvent | JobEvent):
        yield from (("input", d) for d in event.inputs)
        yield from (("output", d) for d in event.outputs)
        written = event.outputs
    elif isinstance(event, DatasetEvent):
        yield "dataset", event.dataset
        written = (event.dataset,)
    else:
        return
    config = translator.config
    if not (config.emit_column_lineage or config.column_lineage_inputs):
        return  # nothing written names them
    named = {(d.namespace, d.name) for d in written}
    if isinstance(event, RunEvent | JobEvent):
        named.update((d.namespace, d.name) for d in event.inputs)
    for namespace, name in column_inputs(written):
        if (namespace, name) not in named:
            yield "column lineage input", Dataset(namespace=namespace, name=name)


Explanation = JobExplanation | RunExplanation | DatasetExplanation


def explain_event(translator: DataHubTranslator, event: Event) -> list[tuple[str, Explanation]]:
    """``(role, explanation)`` of the event's job (role ``job``), its run (``run``) and each dataset
    (``input``, ``output``, ``column lineage input`` -- named only by an output's column lineage --,
    or ``dataset`` for a DatasetEvent), in the event's order."""
    out: list[tuple[str, Explanation]] = []
    if isinstance(event, RunEvent | JobEvent):
        out.append(("job", explain_job(translator, event)))
    if isinstance(event, RunEvent):
        out.append(("run", explain_run(translator, event)))
    for role, dataset in _datasets(translator, event):
        urn = translator.get_dataset_urn(dataset)
        out.append((role, explain_dataset(dataset, urn, translator.config.platforms,
                                          platform_name=translator.platform_name_of)))  # fmt: skip
    return out
