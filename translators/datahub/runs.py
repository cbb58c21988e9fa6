"""Runs: the ``get_*`` hooks that name and describe a process instance, and the MCPs they make.

:class:`RunHooks` is one of :class:`~translators.datahub.translator.DataHubTranslator`'s bases.
The run is ``urn:li:dataProcessInstance:<runId>`` (as DataHub's converter). Run states map as
DataHub's converter and Dagster plugin do: START and RUNNING -> ``STARTED``; COMPLETE ->
``COMPLETE``/``SUCCESS``; FAIL -> ``COMPLETE``/``FAILURE`` (message and stack trace go to the
run's properties); ABORT -> ``COMPLETE``/``SKIPPED`` (the run was stopped, it did not fail);
OTHER carries metadata only and emits no run event.

``dataProcessInstanceProperties.created`` is the event's time, as DataHub's converter does; the
delivery core keeps the earlier value of a run whose START it has seen.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from bridge.errors import InvalidEventError
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import EventType, RunEvent
from translators.datahub import aspects
from translators.datahub.aspects import mcp
from translators.datahub.event_datasets import EventDatasets
from translators.datahub.properties import (
    airflow_attempt,
    airflow_duration_ms,
    airflow_log_url,
    run_properties,
)
from translators.datahub.urns import encode_urn_part, make_data_process_instance_urn

if TYPE_CHECKING:
    from translators.datahub.translator import DataHubTranslator

__all__ = ["RunHooks", "epoch_millis"]

MCPW = MetadataChangeProposalWrapper
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DPI = "dataProcessInstance"

# OpenLineage run state -> (DataHub run status, result type or None).
_RUN_STATUS: dict[EventType, tuple[str, str | None]] = {
    EventType.START: ("STARTED", None),
    EventType.RUNNING: ("STARTED", None),
    EventType.COMPLETE: ("COMPLETE", "SUCCESS"),
    EventType.FAIL: ("COMPLETE", "FAILURE"),
    EventType.ABORT: ("COMPLETE", "SKIPPED"),
}


def epoch_millis(value: dt.datetime | None) -> int:
    """Milliseconds since the epoch, in integer arithmetic (no float rounding).

    Raises:
        InvalidEventError: no time (an event without ``eventTime``, parsed without ``received_at``).
    """
    if value is None:
        raise InvalidEventError("no eventTime, and no time the event was received was given", field="eventTime")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


class RunHooks:
    """The process instance of a run event: one ``get_*`` hook per decision."""

    def get_process_instance_urn(self, run_id: str) -> str:
        """``urn:li:dataProcessInstance:<runId>`` (as DataHub's converter; reserved characters encoded)."""
        return make_data_process_instance_urn(encode_urn_part(run_id))

    def get_run_urn(self: DataHubTranslator, event: RunEvent) -> str:
        """The run's process instance URN: :meth:`get_process_instance_urn` of its run id, or the
        ``compat`` scheme's (DataHub's Airflow plugin: a task run's guid of its DAG, task and DAG run ids)."""
        scheme = self.get_compat(event)
        urn = scheme.run_urn(event) if scheme is not None else None
        return urn or self.get_process_instance_urn(event.run.run_id)

    def get_parent_instance_urn(self, event: RunEvent) -> str | None:
        """The parent run's process instance URN: the run-to-run link (none when a producer names the run
        as its own parent: a run is not its own parent in DataHub)."""
        parent = event.run.parent
        if parent is None or parent.run_id == event.run.run_id:
            return None
        return self.get_process_instance_urn(parent.run_id)

    def get_run_name(self: DataHubTranslator, event: RunEvent) -> str:
        """Display name of the run: the run id, as DataHub's converter, or the ``compat`` scheme's instance id."""
        scheme = self.get_compat(event)
        return (scheme.run_id(event) if scheme is not None else None) or event.run.run_id

    def get_process_type(self, event: RunEvent) -> str:
        """``STREAMING`` for streaming jobs, ``BATCH_SCHEDULED`` when there is a nominal time, else ``BATCH_AD_HOC``."""
        if (event.job.processing_type or "").upper() == "STREAMING":
            return "STREAMING"
        return "BATCH_SCHEDULED" if event.run.nominal_start_time is not None else "BATCH_AD_HOC"

    def get_attempt(self, event: RunEvent) -> int:
        """Attempt number of the run: Airflow's try number when reported, else 1."""
        return airflow_attempt(event.run) or 1

    def get_run_properties(self: DataHubTranslator, event: RunEvent) -> dict[str, str]:
        """``customProperties`` of the run (engine, nominal times, error, parent, facet summary)."""
        return run_properties(event.run, event_type=event.event_type.value, max_length=self.config.max_property_length,
                              raw=self.config.capture_raw_facets, secrets=self.secrets)  # fmt: skip

    def get_run_url(self, event: RunEvent) -> str | None:
        """``externalUrl`` of the run: the Airflow task log when reported (override to link your UI)."""
        return airflow_log_url(event.run)

    def get_duration_ms(self, event: RunEvent) -> int | None:
        """Run duration for terminal run events, when the event itself says: Airflow's task duration.

        Otherwise the delivery core fills ``durationMillis`` in from the run's START, which it
        holds from an earlier event (``merge``, ``merged_from``).
        """
        return airflow_duration_ms(event.run) if event.event_type.is_terminal else None

    def get_partition(self, event: RunEvent) -> str | None:
        """The partition the run worked on (``partitionSpec`` of its run events); None: no partition."""
        return None

    # -- the MCPs ----------------------------------------------------------------------------

    def run_mcps(self: DataHubTranslator, event: RunEvent, template_urn: str, orchestrator: str,
                 dsets: EventDatasets, time_ms: int) -> list[MCPW]:  # fmt: skip
        """The process instance's MCPs: properties, its job (or flow) and parent, its state, its datasets."""
        run_urn = self.get_run_urn(event)
        url = self.get_run_url(event)
        properties = self.get_run_properties(event)
        if "runId" not in properties:  # what names the run's other URN (run_alias): always there
            properties = {"runId": event.run.run_id, **properties}
        out = [
            mcp(run_urn, _DPI, "dataProcessInstanceProperties", aspects.dpi_properties(
                self.get_run_name(event), created_ms=time_ms, type=self.get_process_type(event),
                custom_properties=properties, external_url=url,
            )),
            mcp(run_urn, _DPI, "dataProcessInstanceRelationships",
                aspects.dpi_relationships(template_urn, self.get_parent_instance_urn(event))),
        ]  # fmt: skip
        state = _RUN_STATUS.get(event.event_type)
        if state is not None:
            status, result = state
            out.append(mcp(run_urn, _DPI, "dataProcessInstanceRunEvent", aspects.dpi_run_event(
                time_ms, status, result=result, native_result=event.event_type.value if result else None,
                attempt=_whole(self.get_attempt(event), "get_attempt"),
                duration_ms=_whole(self.get_duration_ms(event), "get_duration_ms"), external_url=url,
                partition=self.get_partition(event),
            )))  # fmt: skip
        if dsets.inputs:
            out.append(mcp(run_urn, _DPI, "dataProcessInstanceInput", aspects.dpi_io("inputs", dsets.inputs)))
        if dsets.outputs:
            out.append(mcp(run_urn, _DPI, "dataProcessInstanceOutput", aspects.dpi_io("outputs", dsets.outputs)))
        out.extend(self._instance(run_urn, _DPI, orchestrator))
        return out


def _whole(value: Any, hook: str) -> Any:
    """A hook's whole number (or None) as DataHub's long fields take it; anything else is named, not written."""
    if value is None or type(value) is int:
        return value
    raise InvalidEventError(f"must return a whole number, got {value!r}", field=hook)
