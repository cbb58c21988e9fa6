"""Standard OpenLineage facets -> keyword arguments of the neutral model.

Each handler reads one standard facet and returns the model fields it fills.
A handler raises :class:`Malformed` when the facet cannot be used; the caller
then keeps the facet verbatim (nothing is lost) and warns. Keys of a standard
facet that the model has no field for (``contentType``, ``pullRequestNumber``,
producer extensions) are kept as a *residue* under the facet's name in the
``facets`` dict, so :mod:`._dump` can put them back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bridge.errors import InvalidEventError

from . import _facets_dataset as ds
from . import _facets_job_run as jr
from ._facets_dataset import stats_from_quality_metrics
from ._values import Malformed, warn

__all__ = [
    "DATASET_FACETS",
    "INPUT_FACETS",
    "JOB_FACETS",
    "OUTPUT_FACETS",
    "RUN_FACETS",
    "apply_facets",
    "standard_facets",
    "stats_from_quality_metrics",
]

_META = ("_producer", "_schemaURL")

Handler = Callable[[Mapping[str, Any], str, "str | None"], dict[str, Any]]

# -- tables -----------------------------------------------------------------------
# facet name -> (handler, keys the handler models); other keys become the residue.


def _table(**entries: tuple[Handler, tuple[str, ...]]) -> dict[str, tuple[Handler, frozenset[str]]]:
    return {name: (handler, frozenset(keys + _META)) for name, (handler, keys) in entries.items()}


JOB_FACETS = _table(
    jobType=(jr.job_type, ("processingType", "integration", "jobType")),
    documentation=(jr.documentation, ("description",)),
    ownership=(jr.owners, ("owners",)),
    tags=(jr.tags, ("tags",)),
    sql=(jr.sql, ("query", "dialect")),
    sourceCode=(jr.source_code, ("sourceCode", "language")),
    sourceCodeLocation=(jr.source_location, ("url", "type", "repoUrl", "path", "version", "tag", "branch")),
)
RUN_FACETS = _table(
    parent=(jr.parent, ("run", "job", "root")),
    nominalTime=(jr.nominal_time, ("nominalStartTime", "nominalEndTime")),
    errorMessage=(jr.error_message, ("message", "stackTrace", "programmingLanguage")),
    processing_engine=(jr.processing_engine, ("name", "version", "openlineageAdapterVersion")),
    tags=(jr.tags, ("tags",)),
)
DATASET_FACETS = _table(
    schema=(ds.schema, ("fields",)),
    dataSource=(ds.data_source, ("name", "uri")),
    symlinks=(ds.symlinks, ("identifiers",)),
    storage=(ds.storage, ("storageLayer", "fileFormat")),
    version=(ds.version, ("datasetVersion",)),
    lifecycleStateChange=(ds.lifecycle, ("lifecycleStateChange", "previousIdentifier")),
    datasetType=(ds.dataset_type, ("datasetType", "subType")),
    columnLineage=(ds.column_lineage, ("fields", "dataset")),
    ownership=(jr.owners, ("owners",)),
    tags=(jr.tags, ("tags",)),
    documentation=(jr.documentation, ("description",)),
)
INPUT_FACETS = _table(inputStatistics=(ds.input_statistics, ("rowCount", "size", "fileCount")))
OUTPUT_FACETS = _table(outputStatistics=(ds.output_statistics, ("rowCount", "size", "fileCount")))

_STANDARD = {"run": RUN_FACETS, "job": JOB_FACETS, "dataset": DATASET_FACETS, "input": INPUT_FACETS,
             "output": OUTPUT_FACETS}


def standard_facets(place: str) -> frozenset[str]:
    """The facets the model has fields for at ``place`` (``run``, ``job``, ``dataset``, ``input`` or
    ``output`` facets of an event); any other facet is kept verbatim in the model's ``facets``.

    Raises:
        KeyError: an unknown place.
    """
    return frozenset(_STANDARD[place])


def apply_facets(
    facets: Any,
    table: Mapping[str, tuple[Handler, frozenset[str]]],
    path: str,
    loc: str | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Fill ``kwargs`` from the standard facets in ``facets``; return what the model cannot hold.

    Args:
        facets: the facets object of the event (may be ``None`` or, from bad producers, anything).
        table: which facets are standard here, see :data:`JOB_FACETS` and friends.
        path: JSON path of ``facets`` (for warnings).
        loc: where the event came from (for warnings).
        kwargs: model keyword arguments, updated in place.

    Returns:
        The facets to keep verbatim: unknown facets, malformed or ``_deleted`` standard
        facets, and the residue (unmodelled keys) of standard ones.
    """
    if not facets:
        return {}
    if not (type(facets) is dict or isinstance(facets, Mapping)):
        warn(loc, path, f"facets must be an object, got {type(facets).__name__}; ignored")
        return {}
    rest: dict[str, Any] = {}
    for name, facet in facets.items():
        entry = table.get(name)
        if entry is None:
            rest[name] = facet
            continue
        if not (type(facet) is dict or isinstance(facet, Mapping)):
            if facet is not None:
                warn(
                    loc, f"{path}.{name}", f"facet must be an object, got {type(facet).__name__}; kept as is"
                )
            rest[name] = facet
            continue
        if facet.get("_deleted"):
            rest[name] = facet
            continue
        handler, known = entry
        try:
            kwargs.update(handler(facet, f"{path}.{name}", loc))
        except Malformed as exc:
            warn(loc, exc.path, f"{exc.reason}; facet kept as is")
            rest[name] = facet
            continue
        except InvalidEventError as exc:  # a model validator disagreed: same treatment
            warn(loc, f"{path}.{name}", f"{exc.reason}; facet kept as is")
            rest[name] = facet
            continue
        if not facet.keys() <= known:  # set comparison in C; the residue is rare
            rest[name] = {k: v for k, v in facet.items() if k not in known}
    return rest
