"""Custom properties for jobs, runs and datasets, from the neutral model.

DataHub shows ``customProperties`` as a key/value table. Jobs get what describes
the job (integration, job type, SQL, where the code lives); runs get what
describes one execution (engine version, nominal times, the error, parent run,
and a short summary of well-known producer facets such as Spark application
details or the Airflow task instance). With ``capture_raw_facets`` every facet
the model has no field for is added as compact JSON under ``facet.<name>``, so
nothing a producer sent is lost.

Values are strings, cut to ``max_length`` characters (SQL and stack traces can
be long; GMS rejects very large aspects).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from bridge.model import Dataset, ErrorInfo, Job, Run, Tag
from bridge.secrets import DEFAULT_SECRETS, REDACTED, Secrets

__all__ = [
    "airflow_attempt",
    "airflow_dag_description",
    "airflow_dag_tags",
    "airflow_duration_ms",
    "airflow_log_url",
    "airflow_upstream_jobs",
    "dataset_properties",
    "dig",
    "job_properties",
    "raw_facet_properties",
    "run_error",
    "run_properties",
    "summarised_run_facets",
    "tag_label",
]

# Producer facets worth a summary on the run, and which of their keys to keep
# (dotted paths into the facet). Anything else stays available through
# ``capture_raw_facets``.
_RUN_FACET_SUMMARY: dict[str, tuple[str, ...]] = {
    "spark_applicationDetails": (
        "appName", "applicationId", "master", "deployMode", "sparkUser", "userName", "uiWebUrl",
        "historyUrl", "proxyUrl",
    ),
    "spark_jobDetails": ("jobId", "jobDescription", "jobGroup", "jobCallSite"),
    "spark_version": ("spark-version", "openlineage-spark-version"),
    "gcp_dataproc_spark": ("appId", "appName", "batchId", "batchUuid", "clusterName", "clusterUuid",
                           "jobId", "jobUuid", "projectId", "queryNodeName", "sessionId"),
    "airflowDagRun": ("dag.dag_id", "dagRun.run_id", "dagRun.run_type", "dagRun.external_trigger"),
    "airflow": ("dag.dag_id", "dagRun.run_id", "dagRun.run_type", "task.task_id", "task.operator_class",
                "taskInstance.try_number", "taskInstance.map_index", "taskUuid"),
    "airflowState": ("dagRunState",),
    "externalQuery": ("externalQueryId", "source"),
    "dbt_run": ("invocation_id",),
    "dbt_version": ("version",),
}  # fmt: skip
_RUN_FACET_PATHS = {
    name: tuple((f"{name}.{key}", tuple(key.split("."))) for key in keys)
    for name, keys in _RUN_FACET_SUMMARY.items()
}


def summarised_run_facets() -> frozenset[str]:
    """The producer run facets summarised in the run's properties (Spark, Airflow, Dataproc, dbt...)."""
    return frozenset(_RUN_FACET_SUMMARY)


def _cut(value: str, max_length: int) -> str:
    return value if len(value) <= max_length else value[: max_length - 1] + "\u2026"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def dig(facet: Any, *path: str) -> Any:
    """``facet[path[0]][path[1]]...``, or None where an object is missing (facets are any JSON)."""
    for part in path:
        if not _is_map(facet):
            return None
        facet = facet.get(part)
    return facet


def _is_map(value: Any) -> bool:
    # Facets decoded from JSON are dicts, or absent (None); the abstract check is only the fallback (it is slow).
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


def _put(out: dict[str, str], key: str, value: Any, max_length: int, secrets: Secrets = DEFAULT_SECRETS) -> None:
    if value is not None and value != "" and secrets.is_secret(key):
        out[key] = REDACTED
        return
    if type(value) is str:  # the common case, kept cheap
        if value:
            value = secrets.redact_text(value)  # a password in a JDBC URL, SQL's IDENTIFIED BY ...
            out[key] = value if len(value) <= max_length else _cut(value, max_length)
        return
    if value is None:
        return
    out[key] = _cut(_text(secrets.redact(value)), max_length)


def tag_label(tag: Tag) -> str:
    """The DataHub tag name of an OpenLineage tag: ``key``, or ``key:value`` when the value says more.

    A value that is empty, ``true`` or the key itself adds nothing: Airflow's provider sends each
    DAG tag as ``{"key": "sales", "value": "sales"}``, which is the tag ``sales`` (as DataHub's
    Airflow plugin and OpenLineage converter name it), not ``sales:sales``.
    """
    value = tag.value
    if value is None or value in ("", "true", tag.key):
        return tag.key
    return f"{tag.key}:{value}"


def raw_facet_properties(facets: Mapping[str, Any], max_length: int,
                         secrets: Secrets = DEFAULT_SECRETS) -> dict[str, str]:
    """Every facet as compact JSON under ``facet.<name>`` (keys sorted, so output is stable), secrets redacted."""
    return {f"facet.{name}": _cut(_text(secrets.redact(facets[name])), max_length) for name in sorted(facets)}


def job_properties(job: Job, *, max_length: int, raw: bool, secrets: Secrets = DEFAULT_SECRETS) -> dict[str, str]:
    """Custom properties of a dataJob: what the job is and where its code lives.

    Args:
        job: the job.
        max_length: longer values are cut.
        raw: also add unmodelled job facets as JSON.
        secrets: which keys' values are redacted (``[translator] secret_keys``).
    """
    out: dict[str, str] = {}
    _put(out, "namespace", job.namespace, max_length, secrets)
    _put(out, "integration", job.integration, max_length, secrets)
    _put(out, "jobType", job.job_type, max_length, secrets)
    _put(out, "processingType", job.processing_type, max_length, secrets)
    _put(out, "sql", job.sql, max_length, secrets)
    _put(out, "sqlDialect", job.sql_dialect, max_length, secrets)
    _put(out, "sourceCodeLanguage", job.source_language, max_length, secrets)
    loc = job.source_location
    if loc is not None:
        for key, value in (
            ("url", loc.url), ("type", loc.type), ("repoUrl", loc.repo_url), ("path", loc.path),
            ("version", loc.version), ("tag", loc.tag), ("branch", loc.branch),
        ):  # fmt: skip
            _put(out, f"sourceCodeLocation.{key}", value, max_length, secrets)
    if raw and job.facets:
        out.update(raw_facet_properties(job.facets, max_length, secrets))
    return out


def run_error(run: Run) -> ErrorInfo | None:
    """Why the run failed: the ``errorMessage`` facet, else the Spark integration's ``spark.exception``
    facet (``message`` and ``stackTrace`` of the exception that ended the job, e.g. "Job aborted ...")."""
    if run.error is not None:
        return run.error
    facet = run.facets.get("spark.exception") if run.facets else None
    if not _is_map(facet):
        return None
    message, stack = facet.get("message"), facet.get("stackTrace")
    message = message if isinstance(message, str) else ""
    stack = stack if isinstance(stack, str) and stack else None
    return ErrorInfo(message=message, stack_trace=stack) if message or stack else None


def run_properties(run: Run, *, event_type: str, max_length: int, raw: bool,
                   secrets: Secrets = DEFAULT_SECRETS) -> dict[str, str]:
    """Custom properties of a dataProcessInstance: one execution.

    Args:
        run: the run.
        event_type: the OpenLineage event type that reported it.
        max_length: longer values are cut.
        raw: also add unmodelled run facets as JSON.
        secrets: which keys' values are redacted (``[translator] secret_keys``).
    """
    out: dict[str, str] = {"runId": run.run_id, "eventType": event_type}
    _put(out, "processingEngine", run.processing_engine, max_length, secrets)
    _put(out, "processingEngineVersion", run.processing_engine_version, max_length, secrets)
    _put(out, "openlineageAdapterVersion", run.openlineage_adapter_version, max_length, secrets)
    _put(out, "nominalStartTime", _iso(run.nominal_start_time), max_length, secrets)
    _put(out, "nominalEndTime", _iso(run.nominal_end_time), max_length, secrets)
    parent = run.parent
    if parent is not None:
        _put(out, "parentRunId", parent.run_id, max_length, secrets)
        _put(out, "parentJob", f"{parent.job_namespace}/{parent.job_name}", max_length, secrets)
        if parent.root_run_id:
            _put(out, "rootRunId", parent.root_run_id, max_length, secrets)
        if parent.root_job_name:
            _put(out, "rootJob", f"{parent.root_job_namespace or parent.job_namespace}/{parent.root_job_name}",
                 max_length, secrets)  # fmt: skip
    error = run_error(run)
    if error is not None:
        _put(out, "errorMessage", error.message, max_length, secrets)
        _put(out, "errorStackTrace", error.stack_trace, max_length, secrets)
        _put(out, "errorLanguage", error.language, max_length, secrets)
    if run.tags:
        _put(out, "tags", ",".join(tag_label(t) for t in run.tags), max_length, secrets)
    facets = run.facets
    if facets:
        spark_props = dig(facets.get("spark_properties"), "properties")
        if _is_map(spark_props):
            for key in sorted(spark_props):
                _put(out, str(key), spark_props[key], max_length, secrets)
        variables = dig(facets.get("environment-variables"), "environmentVariables")
        for variable in variables if isinstance(variables, list) else ():
            if _is_map(variable) and isinstance(variable.get("name"), str):
                _put(out, f"env.{variable['name']}", variable.get("value"), max_length, secrets)
        for name, facet in facets.items():
            paths = _RUN_FACET_PATHS.get(name)
            if paths is None or not _is_map(facet):
                continue
            for label, parts in paths:
                value = dig(facet, *parts)
                if value is not None:
                    _put(out, label, value, max_length, secrets)
        if raw:
            out.update(raw_facet_properties(facets, max_length, secrets))
    return out


def dataset_properties(datasets: Iterable[Dataset], *, max_length: int, raw: bool,
                       secrets: Secrets = DEFAULT_SECRETS) -> dict[str, str]:
    """Custom properties of a dataset, from every sighting of it in one event (first value wins)."""
    out: dict[str, str] = {}
    for ds in datasets:
        for key, value in (
            ("storageLayer", ds.storage_layer), ("fileFormat", ds.file_format),
            ("dataSource", ds.data_source_name), ("dataSourceUri", ds.data_source_uri),
            ("version", ds.version), ("lifecycleState", ds.lifecycle_state),
        ):  # fmt: skip
            if key not in out:
                _put(out, key, value, max_length, secrets)
        if raw:
            for facets in (ds.facets, ds.input_facets, ds.output_facets):
                for key, value in raw_facet_properties(facets, max_length, secrets).items():
                    out.setdefault(key, value)
    return out


def airflow_attempt(run: Run) -> int | None:
    """The Airflow try number of the run, when the producer reported it."""
    value = dig(run.facets.get("airflow"), "taskInstance", "try_number") if run.facets else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def airflow_log_url(run: Run) -> str | None:
    """Link to the Airflow task instance's log page, when the producer reported it."""
    value = dig(run.facets.get("airflow"), "taskInstance", "log_url") if run.facets else None
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None


def airflow_duration_ms(run: Run) -> int | None:
    """Duration in milliseconds, when Airflow reported it: the task instance's (``airflow`` facet,
    Airflow 2), or the DAG run's (``airflowDagRun.dagRun.duration`` on the DAG run's end)."""
    if not run.facets:
        return None
    for name, path in (("airflow", ("taskInstance", "duration")), ("airflowDagRun", ("dagRun", "duration"))):
        value = dig(run.facets.get(name), *path)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return round(value * 1000)
    return None


def _strings(value: Any) -> set[str] | None:
    """The strings of a list, or of its Python repr (``"['a', 'b']"``, as Airflow sends lists); None if neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value.replace("'", '"'))
        except ValueError:
            return None
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str) and v}
    return None


def airflow_dag_tags(run: Run) -> tuple[str, ...]:
    """DAG tags from the Airflow run facets (a list, or its Python repr as Airflow sends it)."""
    if not run.facets:
        return ()
    for name in ("airflowDagRun", "airflow"):
        tags = _strings(dig(run.facets.get(name), "dag", "tags"))
        if tags is not None:
            return tuple(sorted(tags))
    return ()


def airflow_dag_description(run: Run) -> str | None:
    """The DAG's ``description`` from the Airflow run facets (``airflowDagRun.dag`` or ``airflow.dag``)."""
    if not run.facets:
        return None
    for name in ("airflowDagRun", "airflow"):
        value = dig(run.facets.get(name), "dag", "description")
        if isinstance(value, str) and value.strip():
            return value
    return None


def dependency_upstream_jobs(run: Run) -> tuple[tuple[str, str], ...]:
    """``(namespace, name)`` of the jobs the run waits for, from the ``jobDependencies`` run facet."""
    facet = run.facets.get("jobDependencies") if run.facets else None
    upstream = facet.get("upstream") if _is_map(facet) else None
    out = []
    for item in upstream if isinstance(upstream, list) else ():
        job = item.get("job") if _is_map(item) else None
        namespace, name = (job.get("namespace"), job.get("name")) if _is_map(job) else (None, None)
        if isinstance(namespace, str) and namespace and isinstance(name, str) and name:
            out.append((namespace, name))
    return tuple(out)


def airflow_upstream_jobs(run: Run, job_name: str) -> tuple[str, ...]:
    """OpenLineage job names of the Airflow tasks this task runs after (same DAG), when reported.

    Airflow names a task's job ``<dag_id>.<task_id>`` and lists ``upstream_task_ids`` in its
    ``airflow`` run facet; the upstream tasks' jobs are named the same way.
    """
    task = dig(run.facets.get("airflow"), "task") if run.facets else None
    if task is None or not _is_map(task):
        return ()
    upstream = _strings(task.get("upstream_task_ids"))
    task_id = task.get("task_id")
    if not upstream or not isinstance(task_id, str) or not task_id or not job_name.endswith("." + task_id):
        return ()
    dag_prefix = job_name[: -len(task_id)]
    return tuple(sorted(dag_prefix + t for t in upstream if t != task_id))
