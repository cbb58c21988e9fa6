"""The neutral event model -> DataHub MCPs.

:class:`DataHubTranslator` turns one :class:`~bridge.model.RunEvent`,
:class:`~bridge.model.JobEvent` or :class:`~bridge.model.DatasetEvent` into a
list of :class:`~bridge.mcp.MetadataChangeProposalWrapper`. It is pure: no IO,
no clock (times come from the event), no environment; the same event and
configuration always give the same MCPs in the same order.

There is one way to customise it, the dagster-dbt way: subclass and override one
``get_*`` method. Every decision is one, grouped by what it decides:

* flows and jobs -- :class:`~translators.datahub.jobs.FlowJobHooks` (``get_orchestrator``,
  ``get_flow_id``, ``get_job_urn``, ``get_flow_browse_path``, ``emits_job``, ...);
* runs -- :class:`~translators.datahub.runs.RunHooks` (``get_run_urn``, ``get_run_properties``,
  ``get_partition``, ...);
* datasets -- :class:`~translators.datahub.datasets.DatasetHooks` (``get_dataset_urn``, the one hook
  of every dataset URN written or shown, by default the URN of ``get_dataset_ref``'s platform rules;
  ``get_platform_urn``, the one hook of every platform named, datasets' and orchestrators';
  ``get_owner``, ``get_dataset_properties``, ``get_siblings``, ...);
* how each aspect is written (PATCH, UPSERT, only if absent) -- :meth:`DataHubTranslator.get_write_mode`
  over the write policy of :mod:`translators.datahub.writes`.

Each of those modules also assembles its MCPs from its hooks and pure helpers; nothing edits
the MCP lists afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import attrs

from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import DatasetEvent, Event, EventType, JobEvent, RunEvent
from bridge.secrets import Secrets
from translators.datahub.compat import compat_scheme
from translators.datahub.config import TranslatorConfig
from translators.datahub.datasets import DatasetHooks
from translators.datahub.event_datasets import EventDatasets
from translators.datahub.jobs import FlowJobHooks
from translators.datahub.producers import orchestrator_from_producer
from translators.datahub.run_merge import MERGED_FROM, MERGED_RUN_ASPECTS, merge_run_aspect, needs_duration
from translators.datahub.runs import RunHooks, epoch_millis
from translators.datahub.writes import apply_policy, expiring, policy_mode

__all__ = ["DataHubTranslator", "orchestrator_from_producer", "translate"]

MCPW = MetadataChangeProposalWrapper


class DataHubTranslator(FlowJobHooks, RunHooks, DatasetHooks):
    """Translate neutral events into DataHub MCPs.

    Args:
        config: translator settings; defaults to :class:`TranslatorConfig` ``()``.

    Override any ``get_*`` method to change one decision; everything else keeps
    working. The instance keeps small bounded caches of URNs (pure functions of
    their inputs), so reuse one translator for many events.
    """

    config_class = TranslatorConfig

    #: Hooks that are gone, and what to override instead: a subclass overriding one would be ignored silently.
    _GONE_HOOKS = {"get_dataset_ref_for": "get_dataset_ref or get_dataset_urn", "get_ref_urn": "get_dataset_urn"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, instead in DataHubTranslator._GONE_HOOKS.items():
            owner = next((k for k in cls.__mro__ if name in vars(k)), None)  # (a mixin's too)
            if owner is not None:
                raise TypeError(f"{owner.__name__}.{name}: the translator no longer calls {name}; override {instead}")

    def __init__(self, config: TranslatorConfig | None = None) -> None:
        self.config = config if config is not None else TranslatorConfig()
        self._init_flow_caches()
        self._init_dataset_caches()
        #: which keys' values are never kept (``config.secret_keys`` over the defaults)
        self.secrets = Secrets(self.config.secret_keys)
        self._compat = compat_scheme(
            self.config.compat, cluster=self.config.cluster, platform_instance=self.config.platform_instance
        )
        #: whether a run may get another URN than its OpenLineage run id gives (a compat scheme, or an
        #: overridden get_run_urn); if not, no run has two names and delivery need not look any up
        self.renames_runs = self._compat is not None or self.overrides("get_run_urn")
        # Hooks not overridden are not asked where their answer is known: the write policy is its table,
        # an event's datasets' URNs are made from the refs at hand, a platform's name is the one URNs carry.
        self._default_write_mode = not self.overrides("get_write_mode")
        self._default_dataset_urn = not self.overrides("get_dataset_urn")
        self._default_platform_urn = not self.overrides("get_platform_urn")

    def overrides(self, *hooks: str) -> bool:
        """Whether this translator's class overrides any of these methods of :class:`DataHubTranslator`."""
        cls = type(self)
        return any(getattr(cls, hook) is not getattr(DataHubTranslator, hook) for hook in hooks)

    # -- entry point -----------------------------------------------------------

    def translate(self, event: Event) -> list[MetadataChangeProposalWrapper]:
        """Translate one event into the MCPs to write, each in its write mode.

        Args:
            event: a RunEvent, JobEvent or DatasetEvent.

        Returns:
            The MCPs, in a stable order: flow, job, datasets, run. Aspects the write policy
            patches are ``PATCH`` MCPs, ``if_absent`` ones ``CREATE`` with ``If-None-Match: *``.

        Raises:
            InvalidEventError: the event cannot be expressed in DataHub (e.g. a
                URN part that DataHub rejects); the message names the field.
        """
        return self.to_writes(self.translate_aspects(event))

    __call__ = translate

    def translate_aspects(self, event: Event) -> list[MetadataChangeProposalWrapper]:
        r"""The event's aspects as whole values (``UPSERT`` MCPs), before the write policy; the ``siblings``
        of the other side of a link, another source's dataset, are
        :class:`~translators.datahub.writes.LinkedAspect`\ s (:meth:`get_siblings`)."""
        if isinstance(event, DatasetEvent):
            dsets = EventDatasets(self, (event.dataset,), ())
            return self.dataset_mcps(event, dsets, epoch_millis(event.event_time), materialize=True, completed=False)
        if not isinstance(event, RunEvent | JobEvent):
            raise TypeError(f"expected a RunEvent, JobEvent or DatasetEvent, got {type(event).__name__}")
        time_ms = epoch_millis(event.event_time)
        orchestrator = self.get_orchestrator(event)
        flow_urn = self.get_flow_urn(event)
        out = self.flow_mcps(event, flow_urn, orchestrator, time_ms)
        dsets = EventDatasets(self, event.inputs, event.outputs)
        job_urn = self.get_job_urn(event, flow_urn) if self.emits_job(event) else None
        if job_urn is not None:
            out += self.job_mcps(event, flow_urn, job_urn, orchestrator, time_ms)
            out += self.job_io_mcps(event, flow_urn, job_urn, dsets)
        is_run = isinstance(event, RunEvent)
        out += self.dataset_mcps(event, dsets, time_ms, materialize=self.config.materialize_datasets,
                                 completed=is_run and event.event_type is EventType.COMPLETE)  # fmt: skip
        out += self.assertion_mcps(dsets, orchestrator, event.run.run_id if is_run else None, time_ms)
        if is_run:
            out += self.run_mcps(event, job_urn or flow_urn, orchestrator, dsets, time_ms)
        return out

    # -- how aspects are written -------------------------------------------------

    def get_write_mode(self, mcp: MetadataChangeProposalWrapper) -> str:
        """``patch``, ``upsert``, ``if_absent`` or ``skip`` for this aspect of this entity type
        (``config.write_policy``: ``dataset.status`` before ``status``). Asked for every MCP, the other
        side of a link too (a :class:`~translators.datahub.writes.LinkedAspect`: ``if_absent`` unless the
        policy names its aspect)."""
        return policy_mode(self.config.write_policy, mcp)

    def to_writes(self, mcps: list[MetadataChangeProposalWrapper]) -> list[MetadataChangeProposalWrapper]:
        """Apply the write policy (:meth:`get_write_mode`) to whole-value MCPs (see :mod:`translators.datahub.writes`)."""
        # not overridden: the table itself
        mode_of = self.config.write_policy if self._default_write_mode else self.get_write_mode
        return apply_policy(mcps, mode_of, patch_format=self.config.patch_format)

    def merge(self, mcp: MetadataChangeProposalWrapper, before: Any) -> MetadataChangeProposalWrapper:
        """A run aspect merged with the value the destination holds from the run's earlier events.

        Called by the delivery core for MCPs :meth:`is_merged` says are merged, with the last
        value this destination confirmed (``None`` at first); see
        :func:`~translators.datahub.run_merge.merge_run_aspect`.
        """
        value = merge_run_aspect(mcp.aspect_name, before, mcp.aspect_value)
        return mcp if value == mcp.aspect_value else attrs.evolve(mcp, aspect=value)

    def is_merged(self, mcp: MetadataChangeProposalWrapper) -> bool:
        """Whether :meth:`merge` applies: whole-value run aspects that accumulate over a run's events,
        and a run's end whose duration the run's start (seen in an earlier event) gives."""
        if mcp.change_type != "UPSERT":
            return False
        if mcp.aspect_name in MERGED_RUN_ASPECTS:
            return True
        return mcp.aspect_name in MERGED_FROM and needs_duration(mcp.aspect_value)

    def merged_from(self, mcp: MetadataChangeProposalWrapper) -> str:
        """The aspect of the same entity whose held value :meth:`merge` takes as ``before``.

        The aspect itself, except for a timeseries aspect merged with another (:data:`MERGED_FROM`):
        a run's end takes its start from the run's ``dataProcessInstanceProperties``.
        """
        return MERGED_FROM.get(mcp.aspect_name, mcp.aspect_name)

    def is_timeseries(self, aspect_name: str) -> bool:
        """Whether an aspect is a timeseries (every distinct point is sent): DataHub's entity registry says."""
        return aspect_name in _timeseries_aspects()

    def is_edge(self, aspect_name: str, path: str) -> bool:
        """Whether a patch operation is a lineage edge that stale-edge expiry may remove."""
        return expiring(aspect_name, path)

    # -- runs known by two names -----------------------------------------------------------

    def run_alias(self, mcp: MetadataChangeProposalWrapper) -> tuple[str, str] | None:
        """``(the run's URN from its OpenLineage run id, the URN this translator gave it)`` when they differ.

        Under ``compat = "datahub-airflow-plugin"`` a task run is named as DataHub's plugin names it,
        but a child's event (a SQL hook's query) names its parent only by the OpenLineage run id. The
        delivery core keeps these pairs in the lineage memory (so another process, or a restart, knows
        them too) and :meth:`resolve_run_aliases` links the child to the run's real URN. The run id is
        the ``runId`` property, which :meth:`~translators.datahub.runs.RunHooks.run_mcps` always writes.
        A pair is a fact of naming, kept whether or not the run's own events are delivered; a child
        whose events all come before any of its parent's keeps the parent's plain URN.
        """
        if not self.renames_runs or mcp.aspect_name != "dataProcessInstanceProperties" or mcp.is_patch:
            return None
        run_id = (mcp.aspect_value.get("customProperties") or {}).get("runId")
        if not run_id:
            return None
        plain = self.get_process_instance_urn(run_id)
        return (plain, mcp.entity_urn) if plain != mcp.entity_urn else None

    def run_references(self, mcp: MetadataChangeProposalWrapper) -> tuple[str, ...]:
        """Run URNs an MCP names that may be another name of a run (a run's parent)."""
        if not self.renames_runs or mcp.aspect_name != "dataProcessInstanceRelationships" or mcp.change_type != "UPSERT":
            return ()
        parent = mcp.aspect_value.get("parentInstance")
        return (parent,) if parent else ()

    def resolve_run_aliases(self, mcp: MetadataChangeProposalWrapper,
                            aliases: Mapping[str, str]) -> MetadataChangeProposalWrapper:  # fmt: skip
        """The MCP with each run it names by another name (:meth:`run_references`) named by its real URN."""
        real = aliases.get(mcp.aspect_value.get("parentInstance") or "") if self.run_references(mcp) else None
        return attrs.evolve(mcp, aspect={**mcp.aspect_value, "parentInstance": real}) if real else mcp


@functools.cache
def _timeseries_aspects() -> frozenset[str]:
    from translators.datahub.registry import entity_registry

    return frozenset(entity_registry().timeseries)


def translate(event: Event, config: TranslatorConfig | None = None) -> list[MetadataChangeProposalWrapper]:
    """Translate one event with a default (or the given) configuration.

    A convenience for one-off calls; reuse a :class:`DataHubTranslator` for many
    events (it caches URNs).
    """
    return DataHubTranslator(config).translate(event)
