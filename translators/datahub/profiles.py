"""What a run measured about a dataset -> ``datasetProfile`` and ``operation`` (both timeseries).

* ``dataQualityMetrics`` (input facet: a scan of the dataset by a data quality tool)
  -> ``datasetProfile``: row count, size in bytes, column count and, per column, null
  count, distinct count (``uniqueCount``), min, max, mean (sum / count), quantiles and
  median (the 0.5 quantile), as DataHub's converter maps it.
* ``outputStatistics`` -> the write's ``operation`` (rows as ``numAffectedRows``, bytes
  and files as ``numAffectedBytes``/``fileCount`` custom properties, the converter's
  keys), on whatever event carries them: Spark reports them on RUNNING events. The end
  of a run (COMPLETE) writes an operation for every output, with or without statistics.
* ``inputStatistics`` -> an ``operation`` of custom type ``READ`` (as the converter).
* Output statistics are also the dataset's ``datasetProfile`` (row count, size) when the
  write replaced the whole dataset (lifecycle ``CREATE`` or ``OVERWRITE``). Otherwise they
  count what one run appended or read -- a profile would show a table of a billion rows
  as the thousand rows appended today -- and stay on the operation only.

``datasetProfile`` has no custom properties, so file counts go on the operation. A
dataset both read and written by the event gets the write's operation only (one
timeseries point per dataset and time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from bridge.model import Dataset, DatasetStatistics
from translators.datahub import aspects

__all__ = ["dataset_measurements"]

# OpenLineage lifecycle state change -> DataHub operation type (others are CUSTOM).
_OPERATIONS = {
    "CREATE": "CREATE",
    "ALTER": "ALTER",
    "DROP": "DROP",
    "OVERWRITE": "INSERT",
    "TRUNCATE": "DELETE",
}
_WHOLE_DATASET = frozenset({"CREATE", "OVERWRITE"})


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _value_text(value: Any) -> str | None:
    """min/max as DataHub keeps them (strings): numbers as the converter prints doubles, text as is."""
    number = _number(value)
    if number is not None:
        return repr(number)
    return value if isinstance(value, str) and value else None


def _field_profile(path: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {"fieldPath": path}
    for key, name in (("nullCount", "nullCount"), ("distinctCount", "uniqueCount")):
        count = _count(metrics.get(key))
        if count is not None:
            obj[name] = count
    for key in ("min", "max"):
        text = _value_text(metrics.get(key))
        if text is not None:
            obj[key] = text
    total, count = _number(metrics.get("sum")), _number(metrics.get("count"))
    if total is not None and count:
        obj["mean"] = repr(total / count)
    quantiles = metrics.get("quantiles")
    if isinstance(quantiles, Mapping):
        points = [(str(q), _number(v)) for q, v in quantiles.items()]
        points = [(q, v) for q, v in points if v is not None]
        if points:
            obj["quantiles"] = [{"quantile": q, "value": repr(v)} for q, v in points]
            median = next((v for q, v in points if q in ("0.5", "0.50")), None)
            if median is not None:
                obj["median"] = repr(median)
    return obj


def quality_profile(facet: Any, time_ms: int) -> dict[str, Any] | None:
    """``datasetProfile`` of a ``dataQualityMetrics`` facet (kept raw by the parser); ``None`` if it says nothing."""
    if not isinstance(facet, Mapping):
        return None
    obj: dict[str, Any] = {"timestampMillis": time_ms}
    rows, size = _count(facet.get("rowCount")), _count(facet.get("bytes"))
    if rows is not None:
        obj["rowCount"] = rows
    if size is not None:
        obj["sizeInBytes"] = size
    columns = facet.get("columnMetrics")
    if isinstance(columns, Mapping) and columns:
        fields = [_field_profile(path, m) for path, m in columns.items()
                  if isinstance(path, str) and path.strip() and isinstance(m, Mapping)]  # fmt: skip
        obj["columnCount"] = len(columns)
        if fields:
            obj["fieldProfiles"] = fields
    return obj if len(obj) > 1 else None


def _stats_properties(stats: DatasetStatistics | None) -> dict[str, int]:
    if stats is None:
        return {}
    return {k: v for k, v in (("numAffectedBytes", stats.size_bytes), ("fileCount", stats.file_count)) if v is not None}


def _first(datasets: Iterable[Dataset], attr: str) -> Any:
    return next((getattr(ds, attr) for ds in datasets if getattr(ds, attr) is not None), None)


def dataset_measurements(
    datasets: list[Dataset], time_ms: int, *, output: bool, completed: bool, partition: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """``(aspect name, value)`` of one dataset's ``operation`` and ``datasetProfile`` in an event.

    Args:
        datasets: the event's sightings of the dataset.
        time_ms: the event's time.
        output: the event writes the dataset.
        completed: the event ends the run successfully (COMPLETE).
        partition: the partition of the dataset the event wrote (``operation.partitionSpec``).
    """
    out: list[tuple[str, dict[str, Any]]] = []
    written = _first(datasets, "output_statistics") if output else None
    read = _first(datasets, "input_statistics")
    state = (_first(datasets, "lifecycle_state") or "").upper()
    if output and (completed or written is not None):
        kind = _OPERATIONS.get(state, "CUSTOM" if state else "UPDATE")
        out.append(("operation", aspects.operation(
            time_ms, kind,
            custom_operation_type=state if kind == "CUSTOM" else None,
            affected_rows=written.row_count if written is not None else None,
            custom_properties=_stats_properties(written), partition=partition,
        )))  # fmt: skip
    elif read is not None:
        out.append(("operation", aspects.operation(
            time_ms, "CUSTOM", custom_operation_type="READ", affected_rows=read.row_count,
            custom_properties=_stats_properties(read), partition=partition,
        )))  # fmt: skip
    profile = None
    for ds in datasets:
        facet = ds.input_facets.get("dataQualityMetrics") if ds.input_facets else None
        profile = quality_profile(facet, time_ms) if facet is not None else None
        if profile is not None:
            break
    if profile is None and written is not None and state in _WHOLE_DATASET:
        profile = {"timestampMillis": time_ms}
        if written.row_count is not None:
            profile["rowCount"] = written.row_count
        if written.size_bytes is not None:
            profile["sizeInBytes"] = written.size_bytes
        profile = profile if len(profile) > 1 else None
    if profile is not None:
        out.append(("datasetProfile", profile))
    return out
