"""What an event's producer and job type say, in DataHub's words: the orchestrator, a job's subtype."""

from __future__ import annotations

import functools
import re

__all__ = ["orchestrator_from_producer", "subtype_label"]

_OL_PRODUCER = re.compile(r"^https://github\.com/OpenLineage/OpenLineage/.*/([^/]+)/?$")
_ACRONYMS = frozenset({"DAG", "SQL", "RDD", "DBT", "ETL", "API"})


@functools.lru_cache(maxsize=256)
def subtype_label(job_type: str) -> str:
    """``SQL_JOB`` -> ``SQL Job``; ``TASK`` -> ``Task``."""
    words = re.split(r"[_\s]+", job_type.strip())
    return " ".join(w.upper() if w.upper() in _ACRONYMS else w.capitalize() for w in words if w)


def orchestrator_from_producer(producer: str) -> str:
    """Guess the orchestrator from an OpenLineage ``producer`` URI; never fails.

    ``https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark`` -> ``spark``;
    Apache Airflow's provider -> ``airflow``; Trino -> ``trino``; otherwise the
    last path segment, lower-cased; ``openlineage`` when there is nothing usable.
    """
    text = (producer or "").strip()
    match = _OL_PRODUCER.match(text)
    if match:
        return match.group(1).lower()
    if text.startswith("https://github.com/apache/airflow/"):
        return "airflow"
    if text.startswith("https://github.com/trinodb/trino/"):
        return "trino"
    path = text.split("://", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    if "://" in text:
        path = path.partition("/")[2]
    for segment in reversed(path.split("/")):
        segment = segment.strip().lower()
        if segment and not segment.startswith(".."):
            return segment
    return "openlineage"
