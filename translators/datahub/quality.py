"""OpenLineage ``dataQualityAssertions`` -> DataHub assertions and their results.

Each assertion of the input facet (``{"assertion": "not_null", "success": true,
"column": "user_name"}``) becomes an ``assertion`` entity, the way DataHub's own
OpenLineage converter builds it, so both land on the same entity:

* URN ``urn:li:assertion:<id>`` where ``<id>`` is the name-based (MD5, version 3)
  UUID of ``<dataset urn>:<column or "">:<assertion>`` -- Java's
  ``UUID.nameUUIDFromBytes``, as the converter computes it. The same check on the
  same column of the same dataset is the same assertion in every run.
* ``assertionInfo``: type ``CUSTOM`` (DataHub's schema marks the older ``DATASET``
  shape as deprecated for external tools), source ``EXTERNAL``, the dataset as
  ``customAssertion.entity`` and, for a column check, the column's schemaField URN;
  scope ``DATASET_COLUMN`` or ``DATASET_ROWS``, operator ``_NATIVE_`` with the
  check's name as ``nativeType`` and ``logic``. Written whole (``upsert``): the
  assertion is the producer's, identified by what it checks; nobody edits it.
* ``dataPlatformInstance``: the orchestrator's platform (and instance), as the
  converter does.
* ``assertionRunEvent`` (timeseries), for a run: ``SUCCESS`` or ``FAILURE`` at the
  event's time, with the run id and the dataset as the assertee; a check that does not
  say whether it passed gets none. ``failures`` (rows that failed, newer producers) is
  the result's ``unexpectedCount``; ``severity`` is kept in ``nativeResults``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import Dataset
from translators.datahub.aspects import mcp
from translators.datahub.urns import make_schema_field_urn

__all__ = ["assertion_mcps", "assertion_urn"]

ASSERTION_TYPE = "OpenLineage Data Quality Assertion"
"""``customAssertion.type``: how DataHub lists these assertions (the converter's name)."""


@attrs.frozen(kw_only=True)
class QualityCheck:
    """One entry of a ``dataQualityAssertions`` facet."""

    name: str
    column: str | None = None
    success: bool | None = None
    failures: int | None = None
    severity: str | None = None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def quality_checks(facet: Any) -> list[QualityCheck]:
    """The usable entries of a ``dataQualityAssertions`` facet (kept raw by the parser); others are skipped."""
    items = facet.get("assertions") if isinstance(facet, Mapping) else None
    out = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping) or _text(item.get("assertion")) is None:
            continue
        success, failures = item.get("success"), item.get("failures")
        out.append(QualityCheck(
            name=item["assertion"].strip(),
            column=_text(item.get("column")),
            success=success if isinstance(success, bool) else None,
            failures=failures if isinstance(failures, int) and not isinstance(failures, bool) and failures >= 0
            else None,
            severity=_text(item.get("severity")),
        ))  # fmt: skip
    return out


def assertion_urn(dataset_urn: str, column: str | None, name: str) -> str:
    """``urn:li:assertion:<uuid3 of "<dataset urn>:<column>:<name>">`` (DataHub's converter's id)."""
    digest = hashlib.md5(f"{dataset_urn}:{column or ''}:{name}".encode(), usedforsecurity=False).digest()
    return f"urn:li:assertion:{uuid.UUID(bytes=digest, version=3)}"


def _info(check: QualityCheck, dataset_urn: str, field_urn: str | None) -> dict[str, Any]:
    custom: dict[str, Any] = {"type": ASSERTION_TYPE, "entity": dataset_urn}
    if field_urn:
        custom["field"] = field_urn
        custom["fields"] = [field_urn]
    custom.update(scope="DATASET_COLUMN" if field_urn else "DATASET_ROWS", operator="_NATIVE_",
                  nativeType=check.name, logic=check.name)  # fmt: skip
    return {
        "customProperties": {},
        "type": "CUSTOM",
        "customAssertion": custom,
        "source": {"type": "EXTERNAL"},
        "description": check.name,
    }


def _run_event(check: QualityCheck, urn: str, dataset_urn: str, run_id: str, time_ms: int) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "SUCCESS" if check.success else "FAILURE"}
    if check.failures is not None:
        result["unexpectedCount"] = check.failures
    if check.severity:
        result["nativeResults"] = {"severity": check.severity}
    return {
        "timestampMillis": time_ms,
        "runId": run_id,
        "asserteeUrn": dataset_urn,
        "status": "COMPLETE",
        "result": result,
        "assertionUrn": urn,
    }


def assertion_mcps(
    sightings: Mapping[str, Iterable[Dataset]],
    *,
    platform: Callable[[], dict[str, Any]],
    run_id: str | None,
    time_ms: int,
) -> list[MetadataChangeProposalWrapper]:
    """The assertion MCPs of an event's input datasets.

    Args:
        sightings: dataset URN -> the event's datasets with that URN.
        platform: makes the ``dataPlatformInstance`` of the assertions (the orchestrator's), when there are any.
        run_id: the run's id; ``None`` (a JobEvent) writes no results.
        time_ms: the event's time.
    """
    out: list[MetadataChangeProposalWrapper] = []
    done: set[str] = set()
    instance: dict[str, Any] | None = None
    for dataset_urn, datasets in sightings.items():
        for ds in datasets:
            facet = ds.input_facets.get("dataQualityAssertions") if ds.input_facets else None
            for check in quality_checks(facet) if facet else ():
                urn = assertion_urn(dataset_urn, check.column, check.name)
                if urn in done:
                    continue
                done.add(urn)
                column_urn = make_schema_field_urn(dataset_urn, check.column) if check.column else None
                instance = instance or platform()
                out.append(mcp(urn, "assertion", "assertionInfo", _info(check, dataset_urn, column_urn)))
                out.append(mcp(urn, "assertion", "dataPlatformInstance", dict(instance)))
                if run_id is not None and check.success is not None:
                    out.append(mcp(urn, "assertion", "assertionRunEvent",
                                   _run_event(check, urn, dataset_urn, run_id, time_ms)))
    return out
