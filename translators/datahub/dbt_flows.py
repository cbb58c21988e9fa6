"""Which dataFlow the events of ``dbt-ol`` belong to (``[translator] dbt_flow_naming``).

``dbt-ol`` (openlineage-dbt) sends one job per dbt invocation, named ``dbt-run-<project>``
(``OPENLINEAGE_DBT_JOB_NAME`` or ``--openlineage-dbt-job-name`` rename it), and one job per
model, snapshot and test, named after the node (``<database>.<schema>.<project>.<model>``,
``<database>.<schema>.<project>.<model>.test``, ``test.<project>.<singular test>``), each with
the invocation as its parent run.

The default naming of other producers, DataHub's OpenLineage converter's "the job name up to its
first ``.``", scatters one dbt project over three flows: the models under a flow named after the
warehouse database, the singular tests under ``test``, the invocation under its own. DataHub's
own dbt source writes no flows at all (models and tests are datasets and assertions there), so
the choice is ours, and the bridge takes the one a dbt user expects:

* ``project`` (default): one flow per dbt invocation job, i.e. per dbt project: the invocation's
  own job is the flow's job, and every model, snapshot and test run by it is a job of that flow
  (the invocation job is the parent run's job of each node's run, so the nodes of a project land
  in its flow whatever database or schema they write to);
* any :data:`~translators.datahub.config.FLOW_NAMING` value (``prefix`` is DataHub's converter's
  naming): dbt events are named like every other producer's.

An event is dbt's when its job type facet says ``integration: DBT``, its processing engine is
``dbt``, or its producer is OpenLineage's dbt integration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.errors import ConfigError, did_you_mean
from bridge.model import JobEvent, RunEvent

if TYPE_CHECKING:
    from translators.datahub.config import TranslatorConfig

__all__ = ["DBT_FLOW_NAMING", "check_dbt_flow_naming", "dbt_project_flow_id", "flow_naming_of", "is_dbt_event"]

PROJECT = "project"
DBT_FLOW_NAMING = (PROJECT, "prefix", "parent", "root", "namespace", "job")
"""The values ``dbt_flow_naming`` takes: ``project``, or one of ``flow_naming``'s."""

_DBT_PRODUCER_SUFFIX = "/integration/dbt"


def check_dbt_flow_naming(instance: Any, attribute: Any, value: Any) -> None:
    """attrs validator of ``dbt_flow_naming``.

    Raises:
        ConfigError: a value not in :data:`DBT_FLOW_NAMING`, with the closest one suggested.
    """
    if value in DBT_FLOW_NAMING:
        return
    hint = did_you_mean(str(value), DBT_FLOW_NAMING)
    raise ConfigError(f"must be one of {list(DBT_FLOW_NAMING)}, got {value!r}{hint}", key="dbt_flow_naming")


def is_dbt_event(event: RunEvent | JobEvent) -> bool:
    """Whether an event comes from ``dbt-ol``: integration ``DBT``, processing engine ``dbt``, or
    OpenLineage's dbt integration as producer (the invocation's first event has no engine yet)."""
    if (event.job.integration or "").strip().upper() == "DBT":
        return True
    run = getattr(event, "run", None)
    if run is not None and (run.processing_engine or "").strip().lower() == "dbt":
        return True
    return (event.producer or "").strip().rstrip("/").endswith(_DBT_PRODUCER_SUFFIX)


def flow_naming_of(config: TranslatorConfig, event: RunEvent | JobEvent) -> Any:
    """The flow naming in force for an event: ``dbt_flow_naming`` for dbt's, else ``flow_naming``."""
    return config.dbt_flow_naming if is_dbt_event(event) else config.flow_naming


def dbt_project_flow_id(event: RunEvent | JobEvent) -> str:
    """The flow of a dbt event under ``project`` naming: the dbt invocation job's name.

    The invocation's own events (job type ``JOB``) name it; a node's events name it as their
    parent run's job. The invocation may itself have a parent (an Airflow task that ran
    ``dbt-ol``, through ``OPENLINEAGE_PARENT_ID``): that does not move it out of its project's flow.
    """
    job = event.job
    run = getattr(event, "run", None)
    parent = run.parent if run is not None else None
    if parent is None or (job.job_type or "").strip().upper() == "JOB":
        return job.name
    return parent.job_name
