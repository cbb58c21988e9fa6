"""Read a finished Dagster run into plain frozen records (the only module touching Dagster's storage).

:func:`read_run` collects what the event builder (:mod:`dagster_plugin.events`)
needs from the instance — the run record, run and step stats, the job
snapshot (ops, their ``In``/``Out`` metadata, dependencies), the event log
(asset materializations/observations, asset check evaluations, handled outputs,
loaded inputs, step failures) — and, when the sensor runs in the code location that defined the
run's job, the asset definitions (deps, group, owners, metadata). Everything
downstream is pure and testable without Dagster's storage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from dagster_plugin.metadata import metadata_value
from dagster_plugin.metadata import plain as _plain

__all__ = [
    "AssetEvent",
    "AssetInfo",
    "CheckEvaluation",
    "IOEvent",
    "OpInfo",
    "OpLineage",
    "RunInfo",
    "StepInfo",
    "metadata_value",
    "read_run",
    "root_cause",
]


def _ts(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, tz=dt.UTC) if value is not None else None


@attrs.frozen(kw_only=True)
class OpLineage:
    """Datasets an op reads and writes, as an ``asset_lineage_extractor`` returns them.

    Items are dataset URN strings, ``bridge.Dataset`` objects or ``(namespace, name)`` tuples.
    """

    inputs: Sequence[Any] = attrs.field(factory=tuple, converter=tuple)
    outputs: Sequence[Any] = attrs.field(factory=tuple, converter=tuple)


@attrs.frozen(kw_only=True)
class AssetEvent:
    """An asset materialization or observation, with its metadata already made plain."""

    kind: str  # "materialization" | "observation"
    asset_key: tuple[str, ...]
    step_key: str | None
    timestamp: dt.datetime
    description: str | None = None
    partition: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    tags: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CheckEvaluation:
    """An asset check's evaluation in a run: passed or not, its severity and (plain) metadata."""

    asset_key: tuple[str, ...]
    check_name: str
    passed: bool
    step_key: str | None
    timestamp: dt.datetime
    severity: str = "ERROR"  # ERROR | WARN
    description: str | None = None
    partition: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class IOEvent:
    """A handled output or loaded input of a step, with its (plain) metadata."""

    kind: str  # "output" | "input"
    step_key: str
    name: str  # output or input name
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OpInfo:
    """An op node of the job: its definition's description, tags and In/Out metadata."""

    name: str  # the node name (an alias when the op is invoked under another name)
    definition: str
    description: str | None = None
    tags: Mapping[str, str] = attrs.field(factory=dict)
    input_metadata: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    output_metadata: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    upstream_ops: tuple[str, ...] = ()
    is_dynamic_mapped: bool = False


@attrs.frozen(kw_only=True)
class StepInfo:
    """One step of the run (a mapped op has one step per mapping key)."""

    key: str
    op: str
    status: str  # SUCCESS | FAILURE | SKIPPED | IN_PROGRESS
    start: dt.datetime | None
    end: dt.datetime | None
    attempts: int = 1
    mapping_key: str | None = None
    error: str | None = None
    error_stack: str | None = None


@attrs.frozen(kw_only=True)
class AssetInfo:
    """An asset as its definition describes it (available when the sensor's code location defines it)."""

    key: tuple[str, ...]
    deps: tuple[tuple[str, ...], ...] = ()
    group: str | None = None
    description: str | None = None
    owners: tuple[str, ...] = ()
    tags: Mapping[str, str] = attrs.field(factory=dict)
    kinds: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    partitioned: bool = False


@attrs.frozen(kw_only=True)
class RunInfo:
    """Everything about one finished run the event builder needs."""

    run_id: str
    job_name: str
    status: str  # SUCCESS | FAILURE | CANCELED
    start: dt.datetime | None
    end: dt.datetime | None
    tags: Mapping[str, str] = attrs.field(factory=dict)
    job_description: str | None = None
    job_tags: Mapping[str, str] = attrs.field(factory=dict)
    job_metadata: Mapping[str, Any] = attrs.field(factory=dict)
    location: str | None = None
    repository: str | None = None
    module: str | None = None
    code_module: str | None = None  # the Python module of the code location (None for a file)
    parent_run_id: str | None = None
    root_run_id: str | None = None
    partition: str | None = None
    error: str | None = None
    ops: Mapping[str, OpInfo] = attrs.field(factory=dict)
    steps: tuple[StepInfo, ...] = ()
    asset_events: tuple[AssetEvent, ...] = ()
    io_events: tuple[IOEvent, ...] = ()
    assets: Mapping[tuple[str, ...], AssetInfo] = attrs.field(factory=dict)
    checks: tuple[CheckEvaluation, ...] = ()
    # the step that materializes each asset (from planned materializations), for failed steps too
    planned_assets: Mapping[str, tuple[tuple[str, ...], ...]] = attrs.field(factory=dict)


# -- reading ------------------------------------------------------------------------


def read_run(instance: Any, run_id: str, repository_def: Any = None) -> RunInfo:
    """Read one run and its events from ``instance``.

    Args:
        instance: the ``DagsterInstance`` holding the run.
        run_id: which run.
        repository_def: the sensor's ``RepositoryDefinition`` (for asset definitions), if known.

    Returns:
        The run as a :class:`RunInfo`.
    """
    from dagster import DagsterEventType

    run = instance.get_run_by_id(run_id)
    if run is None:
        raise LookupError(f"run {run_id} is not in the Dagster instance")
    stats = instance.get_run_stats(run_id)
    snapshot = instance.get_job_snapshot(run.job_snapshot_id) if run.job_snapshot_id else None
    location = repository = module = None
    if run.remote_job_origin is not None:
        location = run.remote_job_origin.location_name
        repository = run.remote_job_origin.repository_origin.repository_name
    pointer = getattr(getattr(run.job_code_origin, "repository_origin", None), "code_pointer", None)
    module = getattr(pointer, "module", None) or getattr(pointer, "python_file", None)

    ops: dict[str, OpInfo] = {}
    if snapshot is not None:
        defs = {d.name: d for d in snapshot.node_defs_snapshot.op_def_snaps}
        for node in snapshot.dep_structure_snapshot.node_invocation_snaps:
            op_def = defs.get(node.node_def_name)
            if op_def is None:  # a graph node: its ops appear as their own invocations in steps
                continue
            ops[node.node_name] = OpInfo(
                name=node.node_name,
                definition=node.node_def_name,
                description=op_def.description,
                tags={**dict(op_def.tags or {}), **dict(node.tags or {})},
                input_metadata={i.name: _plain(i.metadata) for i in op_def.input_def_snaps},
                output_metadata={o.name: _plain(o.metadata) for o in op_def.output_def_snaps},
                upstream_ops=tuple(
                    sorted({u.node_name for dep in node.input_dep_snaps for u in dep.upstream_output_snaps})
                ),
                is_dynamic_mapped=bool(node.is_dynamic_mapped),
            )

    steps = []
    errors: dict[str, tuple[str, str | None]] = {}
    asset_events: list[AssetEvent] = []
    io_events: list[IOEvent] = []
    checks: list[CheckEvaluation] = []
    planned: dict[str, list[tuple[str, ...]]] = {}
    step_ops: dict[str, str] = {}
    run_error = None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if entry.step_key and event.node_handle is not None:
            step_ops[entry.step_key] = str(event.node_handle)
        if kind == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            data = event.event_specific_data
            key = tuple(data.asset_key.path)
            step = entry.step_key or _planned_step(event)
            if step:
                planned.setdefault(step, []).append(key)
        elif kind in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION):
            is_materialization = kind == DagsterEventType.ASSET_MATERIALIZATION
            item = entry.asset_materialization if is_materialization else entry.asset_observation
            asset_events.append(
                AssetEvent(
                    kind="materialization" if is_materialization else "observation",
                    asset_key=tuple(item.asset_key.path),
                    step_key=entry.step_key,
                    timestamp=dt.datetime.fromtimestamp(entry.timestamp, tz=dt.UTC),
                    description=item.description,
                    partition=item.partition,
                    metadata=_plain(item.metadata),
                    tags=dict(item.tags or {}),
                )
            )
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            severity = getattr(data, "severity", None)
            checks.append(
                CheckEvaluation(
                    asset_key=tuple(data.asset_key.path),
                    check_name=data.check_name,
                    passed=bool(data.passed),
                    step_key=entry.step_key,
                    timestamp=dt.datetime.fromtimestamp(entry.timestamp, tz=dt.UTC),
                    severity=str(getattr(severity, "value", severity) or "ERROR"),
                    description=getattr(data, "description", None) or _check_description(
                        repository_def, data.asset_key, data.check_name),
                    partition=getattr(data, "partition", None),
                    metadata=_plain(data.metadata),
                )
            )
        elif kind in (DagsterEventType.HANDLED_OUTPUT, DagsterEventType.LOADED_INPUT) and entry.step_key:
            data = event.event_specific_data
            is_output = kind == DagsterEventType.HANDLED_OUTPUT
            io_events.append(
                IOEvent(
                    kind="output" if is_output else "input",
                    step_key=entry.step_key,
                    name=data.output_name if is_output else data.input_name,
                    metadata=_plain(getattr(data, "metadata", None)),
                )
            )
        elif kind == DagsterEventType.STEP_FAILURE and entry.step_key:
            info = event.event_specific_data.error
            if info is not None:
                errors[entry.step_key] = (root_cause(info).message.strip(), info.to_string())
        elif kind == DagsterEventType.RUN_FAILURE:
            info = getattr(event.event_specific_data, "error", None)
            run_error = root_cause(info).message.strip() if info is not None else entry.user_message

    for stat in instance.get_run_step_stats(run_id):
        status = stat.status.value if stat.status is not None else "IN_PROGRESS"
        op = step_ops.get(stat.step_key, stat.step_key.split("[", 1)[0])
        mapping_key = stat.step_key[len(op) + 1 : -1] if stat.step_key.startswith(op + "[") else None
        error, stack = errors.get(stat.step_key, (None, None))
        steps.append(
            StepInfo(
                key=stat.step_key,
                op=op,
                status=status,
                start=_ts(stat.start_time),
                end=_ts(stat.end_time),
                attempts=max(int(stat.attempts or 1), 1),
                mapping_key=mapping_key,
                error=error,
                error_stack=stack,
            )
        )

    failed = [s for s in steps if s.status == "FAILURE" and s.error]
    if run.status.value == "FAILURE" and failed:
        # Dagster's run error only names the failed steps; the first step's root cause says what went wrong.
        run_error = min(failed, key=lambda s: (s.end or s.start or _ts(0), s.key)).error

    return RunInfo(
        run_id=run_id,
        job_name=run.job_name,
        status=run.status.value,
        start=_ts(stats.start_time),
        end=_ts(stats.end_time),
        tags=dict(run.tags or {}),
        job_description=snapshot.description if snapshot else None,
        job_tags=dict(snapshot.tags or {}) if snapshot else {},
        job_metadata=_plain(getattr(snapshot, "metadata", None)) if snapshot else {},
        location=location,
        repository=repository,
        module=module,
        code_module=getattr(pointer, "module", None),
        parent_run_id=run.parent_run_id,
        root_run_id=run.root_run_id,
        partition=(run.tags or {}).get("dagster/partition"),
        error=run_error,
        ops=ops,
        steps=tuple(steps),
        asset_events=tuple(asset_events),
        io_events=tuple(io_events),
        assets=read_assets(repository_def, {k for keys in planned.values() for k in keys} | {
            e.asset_key for e in asset_events
        }),
        planned_assets={step: tuple(keys) for step, keys in planned.items()},
        checks=tuple(checks),
    )


def _check_description(repository_def: Any, asset_key: Any, check_name: str) -> str | None:
    """The check's definition's description (when the sensor's code location defines the check)."""
    if repository_def is None:
        return None
    from dagster import AssetCheckKey

    key = AssetCheckKey(asset_key, check_name)
    graph = repository_def.asset_graph
    if key not in graph.asset_check_keys:
        return None
    return graph.get_check_spec(key).description


def root_cause(info: Any) -> Any:
    """The user's error under Dagster's wrappers (``DagsterExecutionStepExecutionError: Error occurred while
    executing op ...`` -> ``RuntimeError: warehouse unreachable``); the error itself when it wraps nothing."""
    while getattr(info, "cause", None) is not None and str(getattr(info, "cls_name", "")).startswith("Dagster"):
        info = info.cause
    return info


def _planned_step(event: Any) -> str | None:
    handle = getattr(event, "step_handle", None)
    return getattr(handle, "key", None)


def read_assets(repository_def: Any, keys: set[tuple[str, ...]]) -> dict[tuple[str, ...], AssetInfo]:
    """Describe ``keys`` (and nothing else) from the repository's asset graph, when there is one."""
    if repository_def is None or not keys:
        return {}
    from dagster import AssetKey

    graph = repository_def.asset_graph
    out: dict[tuple[str, ...], AssetInfo] = {}
    for key in keys:
        asset_key = AssetKey(list(key))
        if not graph.has(asset_key):
            continue
        node = graph.get(asset_key)
        out[key] = AssetInfo(
            key=key,
            deps=tuple(sorted(tuple(p.path) for p in node.parent_keys)),
            group=node.group_name,
            description=node.description,
            owners=tuple(node.owners or ()),
            tags={k: v for k, v in (node.tags or {}).items() if not k.startswith("dagster/kind/")},
            kinds=tuple(sorted(node.kinds or ())),
            metadata=_plain(node.metadata),
            partitioned=node.partitions_def is not None,
        )
    return out
