"""Which OpenLineage facets the DataHub translator maps, and which of an event's it does not.

Nothing is dropped silently: ``bridge translate`` and ``bridge send`` say in their summary which
facets of the events were not mapped to anything in DataHub (``facets not mapped: name×count``),
and ``bridge serve`` counts them in ``bridge_facets_unmapped_total{facet=...}``. Such a facet is
kept only as JSON with ``capture_raw_facets`` (``facet.<name>`` custom properties), else not at all.

A facet is *mapped* when the neutral model has fields for it (the standard facets the OpenLineage
reader parses, :mod:`translators.openlineage`), or when the translator reads it from the raw facets
the model keeps: :data:`READ_FACETS`, the one list of them, by where in the event they are.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping

from bridge.model import Dataset, DatasetEvent, Event, JobEvent, RunEvent
from translators.datahub.properties import summarised_run_facets

__all__ = ["READ_FACETS", "mapped_facets", "unmapped_facets"]

#: Producer facets the translator reads from the model's raw ``facets``, by place
#: (``run``, ``job``, ``dataset``, ``input``, ``output``), besides the run facets summarised in the
#: run's properties (:func:`~translators.datahub.properties.summarised_run_facets`).
READ_FACETS: Mapping[str, frozenset[str]] = {
    # airflow / airflowDagRun: compat ids, attempts, log URL, DAG tags and description, upstream tasks;
    # spark.exception: the failure message; spark_properties and environment-variables: run properties
    # (secrets redacted); jobDependencies: upstream jobs
    "run": frozenset({"airflow", "airflowDagRun", "spark.exception", "spark_properties", "environment-variables",
                      "jobDependencies"}) | summarised_run_facets(),
    "job": frozenset(),
    "dataset": frozenset(),
    # dataQualityAssertions: assertions; dataQualityMetrics: datasetProfile
    "input": frozenset({"dataQualityAssertions", "dataQualityMetrics"}),
    "output": frozenset(),
}


@functools.cache
def mapped_facets(place: str) -> frozenset[str]:
    """Every facet name mapped at ``place``: the model's standard facets there, and :data:`READ_FACETS`."""
    from translators.openlineage import standard_facets

    return standard_facets(place) | READ_FACETS[place]


def _count(out: Counter[str], facets: Mapping[str, object], place: str) -> None:
    if facets:
        mapped = mapped_facets(place)
        out.update(name for name in facets if name not in mapped)


def _datasets(event: Event) -> Iterable[Dataset]:
    if isinstance(event, RunEvent | JobEvent):
        return (*event.inputs, *event.outputs)
    return (event.dataset,) if isinstance(event, DatasetEvent) else ()


def unmapped_facets(event: Event) -> Counter[str]:
    """How often each facet of ``event`` that nothing maps occurs in it (each job, run, dataset once).

    A standard facet the reader kept in part (keys the model has no field for) counts as mapped.
    """
    out: Counter[str] = Counter()
    run = getattr(event, "run", None)
    if run is not None:
        _count(out, run.facets, "run")
    job = getattr(event, "job", None)
    if job is not None:
        _count(out, job.facets, "job")
    for dataset in _datasets(event):
        _count(out, dataset.facets, "dataset")
        _count(out, dataset.input_facets, "input")
        _count(out, dataset.output_facets, "output")
    return out
