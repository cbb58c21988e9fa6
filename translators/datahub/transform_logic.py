"""A job's SQL and source code -> DataHub's ``dataTransformLogic`` aspect of the dataJob.

DataHub shows ``dataTransformLogic`` on the job's page as its query/code. As
DataHub's OpenLineage converter does, the ``sql`` job facet becomes a transform
whose ``queryStatement`` is the query in language ``SQL``, and the ``sourceCode``
job facet another one with the code (language ``SQL`` when the facet says the code
is SQL, else ``UNKNOWN``: DataHub's ``QueryLanguage`` has no other values). Where
the code lives (``sourceCodeLocation``) stays in the job's custom properties.

The aspect is written whole (``upsert``): it is only emitted when the event carries
SQL or code, and then that is the job's current logic.
"""

from __future__ import annotations

from typing import Any

from bridge.model import Job
from bridge.secrets import DEFAULT_SECRETS, Secrets

__all__ = ["data_transform_logic"]


def _transform(text: str, language: str) -> dict[str, Any]:
    return {"queryStatement": {"value": text, "language": language}}


def data_transform_logic(job: Job, secrets: Secrets = DEFAULT_SECRETS) -> dict[str, Any] | None:
    """``dataTransformLogic`` of a job: its SQL, then its source code; ``None`` when it has neither.

    Secrets inside the text (``IDENTIFIED BY '...'``, a JDBC URL's password) are redacted
    (:meth:`bridge.secrets.Secrets.redact_text`).
    """
    transforms = []
    if job.sql and job.sql.strip():
        transforms.append(_transform(secrets.redact_text(job.sql), "SQL"))
    if job.source_code and job.source_code.strip():
        language = "SQL" if (job.source_language or "").strip().upper() == "SQL" else "UNKNOWN"
        transforms.append(_transform(secrets.redact_text(job.source_code), language))
    return {"transforms": transforms} if transforms else None
