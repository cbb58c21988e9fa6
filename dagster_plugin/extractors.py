"""``asset_lineage_extractor``: this plugin's signatures and DataHub's, told apart once.

Three shapes are accepted (checked when the config is built, so a wrong one is one clear
:class:`~bridge.errors.ConfigError`, not a failure per run):

* ``fn(run)`` and ``fn(run, context)``: this plugin's, with the :class:`~dagster_plugin.runs.RunInfo`
  and the sensor's evaluation context;
* ``fn(context, dagster_generator, graph)``: DataHub's plugin's (its guide, "Define your custom
  logic to capture asset lineage information"). It gets a real ``dagster.RunStatusSensorContext``
  of the finished run, a :class:`DagsterGeneratorShim` standing for DataHub's ``DagsterGenerator``
  and, as ``graph``, a stand-in that refuses use with a clear error: this plugin holds no
  ``DataHubGraph`` (the sensor writes through the bridge's emitter).

All may return ``{op or step key: lineage}`` with DataHub's ``DatasetLineage(inputs, outputs)``
(sets of ``DatasetUrn`` or URN strings), an :class:`~dagster_plugin.runs.OpLineage`, a pair or a
mapping (see :func:`normalise_extracted`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from bridge.errors import ConfigError
from dagster_plugin.runs import OpLineage
from dagster_plugin.urns import DatasetUrn, converted_urn

__all__ = ["DATAHUB_STYLE", "DagsterGenerator", "DagsterGeneratorShim", "DataHubGraph", "DatasetLineage",
           "ExtractorUnsupportedError", "call_extractor", "extractor_style", "normalise_extracted"]

DATAHUB_STYLE = "datahub"
DEFAULT_SENSOR_NAME = "datahub_sensor"
_SHAPES = "fn(run), fn(run, context), or DataHub's fn(context, dagster_generator, graph)"


class ExtractorUnsupportedError(ConfigError):
    """A DataHub-style extractor used something this plugin does not provide: fix the extractor.

    Retrying cannot help, so the sensor dead-letters the run at once (and says why, once).
    """

    final = True


def extractor_style(fn: Callable[..., Any]) -> str:
    """``run``, ``run_context`` or ``datahub``, from how many positional arguments ``fn`` needs.

    Raises:
        ConfigError: no accepted shape fits (the message lists them).
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: assume this plugin's (run, context)
        return "run_context"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = len([p for p in positional if p.default is p.empty])
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    if any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params):
        raise ConfigError(f"must be {_SHAPES}; it has required keyword-only arguments", key="asset_lineage_extractor")
    if required == 3:
        return DATAHUB_STYLE
    if required > 3 or not (positional or varargs):
        raise ConfigError(f"must be {_SHAPES}; it takes {required} required arguments",
                          key="asset_lineage_extractor")
    return "run" if max(required, min(len(positional), 2)) == 1 and not varargs else "run_context"


class DatasetLineage(NamedTuple):
    """DataHub's ``DatasetLineage`` (``datahub_dagster_plugin.client.dagster_generator``): what one op or
    step read and wrote, as sets of :class:`~dagster_plugin.urns.DatasetUrn` or URN strings."""

    inputs: set[Any]
    outputs: set[Any]


class DataHubGraph:
    """Stands for the ``DataHubGraph`` DataHub's plugin passes a DataHub-style extractor (the name its guide
    annotates ``graph`` with): this plugin has none to give, so any use of it is an error saying so."""

    def __getattr__(self, name: str) -> Any:
        raise ExtractorUnsupportedError(
            f"graph.{name}: this plugin passes no DataHubGraph to a DataHub-style extractor (it writes through "
            "the bridge's emitter); build your own DataHubGraph in the extractor if it must read DataHub",
            key="asset_lineage_extractor",
        )

    def __bool__(self) -> bool:
        return False


class DagsterGeneratorShim:
    """What a DataHub-style extractor gets as ``dagster_generator`` (DataHub's ``DagsterGenerator``).

    The URN helpers work as in DataHub's plugin; ``emit_asset`` sends nothing (this sensor reports
    every materialized asset itself) and returns the asset's URN, so the guide's example works.
    Anything else raises :class:`ExtractorUnsupportedError` naming it.
    """

    def __init__(self, config: Any, logger: Any) -> None:
        self.config = config
        self.logger = logger

    def dataset_urn_from_asset(self, asset_key: Sequence[str]) -> DatasetUrn:
        return DatasetUrn("dagster", ".".join(asset_key), self.config.env)

    def asset_keys_to_dataset_urn_converter(self, asset_key: Sequence[str]) -> DatasetUrn | None:
        """The user's converter (what it returns checked: :func:`~dagster_plugin.urns.converted_urn`), else DataHub's
        ``[env, platform, *name]`` key convention (built as DataHub's plugin builds it), else None."""
        if self.config.asset_keys_to_dataset_urn_converter is not None:
            return converted_urn(self.config.asset_keys_to_dataset_urn_converter, asset_key)
        if len(asset_key) >= 3:
            return DatasetUrn(asset_key[1], ".".join(asset_key[2:]), asset_key[0])
        return None

    def emit_asset(self, graph: Any, asset_key: Sequence[str], description: str | None = None,
                   properties: Mapping[str, str] | None = None, *args: Any, **kwargs: Any) -> DatasetUrn:
        return self.dataset_urn_from_asset(asset_key)

    def __getattr__(self, name: str) -> Any:
        raise ExtractorUnsupportedError(
            f"dagster_generator.{name} is not provided by this plugin (only dataset_urn_from_asset, "
            "asset_keys_to_dataset_urn_converter and emit_asset); return the lineage as DatasetLineage instead",
            key="asset_lineage_extractor",
        )


#: DataHub's name (``datahub_dagster_plugin.client.dagster_generator.DagsterGenerator``), for the guide's annotations.
DagsterGenerator = DagsterGeneratorShim


def _run_status_context(instance: Any, run_id: str, sensor_context: Any) -> Any:
    """A real ``RunStatusSensorContext`` of the finished run (what DataHub's plugin passes)."""
    import dagster as dg
    from dagster._check import CheckError

    run = instance.get_run_by_id(run_id)
    kinds = {dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED}
    ends = [e for e in instance.all_logs(run_id, of_type=kinds) if e.dagster_event is not None]
    if run is None or not ends:
        raise LookupError(f"run {run_id} has no finished-run event for a RunStatusSensorContext")
    try:  # a context built without a sensor name (tests, previews) refuses to tell it
        name = sensor_context.sensor_name or DEFAULT_SENSOR_NAME
        evaluation = sensor_context if isinstance(sensor_context, dg.SensorEvaluationContext) else None
    except (AttributeError, dg.DagsterInvariantViolationError, CheckError):
        name, evaluation = DEFAULT_SENSOR_NAME, None
    return dg.build_run_status_sensor_context(
        sensor_name=name, dagster_event=ends[-1].dagster_event, dagster_instance=instance, dagster_run=run,
        context=evaluation,  # gives the run-status context its repository_def, resources and log
    )


def call_extractor(fn: Callable[..., Any], config: Any, run: Any, *, instance: Any, context: Any) -> Any:
    """Call the user's extractor with the arguments its shape wants."""
    style = extractor_style(fn)
    if style == "run":
        return fn(run)
    if style == "run_context":
        return fn(run, context)
    status_context = _run_status_context(instance, run.run_id, context)
    return fn(status_context, DagsterGeneratorShim(config, status_context.log), DataHubGraph())


def normalise_extracted(value: Any) -> dict[str, OpLineage]:
    """Accept what a user's extractor returns: {name: OpLineage | (inputs, outputs) | {"inputs", "outputs"}}."""
    out: dict[str, OpLineage] = {}
    for name, item in dict(value or {}).items():
        if isinstance(item, OpLineage):
            out[str(name)] = item
        elif isinstance(item, Mapping):
            out[str(name)] = OpLineage(inputs=item.get("inputs", ()), outputs=item.get("outputs", ()))
        elif isinstance(item, Sequence) and len(item) == 2:
            out[str(name)] = OpLineage(inputs=item[0], outputs=item[1])
        else:  # DataHub's DatasetLineage NamedTuple has .inputs/.outputs
            out[str(name)] = OpLineage(inputs=getattr(item, "inputs", ()), outputs=getattr(item, "outputs", ()))
    return out
