"""OpenLineage column lineage -> DataHub ``FineGrainedLineage`` entries, DIRECT and INDIRECT apart.

OpenLineage says, for each input column of an output column, *how* it was used
(column lineage facet 1-2): ``DIRECT`` (the value comes from it: IDENTITY,
TRANSFORMATION, AGGREGATION) or ``INDIRECT`` (it only chose the rows: JOIN,
FILTER, GROUP_BY, SORT, WINDOW, CONDITIONAL). Folding both into one entry makes
a filter column look like a source of the value, so each output column gets one
entry per kind: its DIRECT upstreams, then its INDIRECT upstreams. An input
column used both ways is in both. An input column without transformations
(column lineage facet 1-0/1-1) is DIRECT, as DataHub's converter takes it.

``transformOperation`` is written as DataHub's converter writes it: the
``TYPE:SUBTYPE`` strings of the entry's transformations, sorted case-insensitively
and joined by ``,`` (``DIRECT:AGGREGATION,DIRECT:IDENTITY``); without
transformations, the facet's own ``transformationType`` (or description).
``include_indirect=False`` (``[translator] include_indirect_column_lineage = false``)
leaves the INDIRECT entries out, as the converter's option of the same name does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bridge.model import ColumnLineage, Dataset, InputField
from translators.datahub import aspects

__all__ = ["column_fine_grained", "column_inputs"]

_DIRECT, _INDIRECT = "DIRECT", "INDIRECT"


def _label(kind: str, subtype: str | None) -> str:
    return f"{kind}:{subtype}" if subtype else kind


def column_fine_grained(
    cl: ColumnLineage,
    downstream: str,
    field_urn: Callable[[InputField], str],
    *,
    include_indirect: bool = True,
) -> list[dict[str, Any]]:
    """The ``FineGrainedLineage`` dicts of one output column: one per kind of use.

    Args:
        cl: the output column and its input columns.
        downstream: the output column's schemaField URN.
        field_urn: the schemaField URN of an input column.
        include_indirect: also the entry of the columns that only selected rows.

    Returns:
        DIRECT first, then INDIRECT, then any other kind a producer invented (sorted); none
        when the column has no inputs.
    """
    upstreams: dict[str, dict[str, None]] = {}  # kind -> upstream field URNs (ordered set)
    labels: dict[str, set[str]] = {}
    for field in cl.inputs:
        urn = field_urn(field)
        if not field.transformations:
            upstreams.setdefault(_DIRECT, {})[urn] = None
            continue
        for t in field.transformations:
            kind = (t.type or _DIRECT).strip().upper() or _DIRECT
            upstreams.setdefault(kind, {})[urn] = None
            labels.setdefault(kind, set()).add(_label(t.type, t.subtype))
    order = sorted(upstreams, key=lambda k: (k != _DIRECT, k != _INDIRECT, k))
    out = []
    for kind in order:
        if kind == _INDIRECT and not include_indirect:
            continue
        names = labels.get(kind)
        operation = ",".join(sorted(names, key=str.lower)) if names else (
            cl.transformation_type or cl.transformation_description or None
        )
        out.append(aspects.fine_grained_lineage(sorted(upstreams[kind]), [downstream], transform_operation=operation))
    return out


def column_inputs(outputs: Iterable[Dataset]) -> Iterator[tuple[str, str]]:
    """``(namespace, name)`` of each dataset the outputs' column lineage reads from, once, in order."""
    seen: set[tuple[str, str]] = set()
    for ds in outputs:
        for cl in ds.column_lineage:
            for f in cl.inputs:
                key = (f.namespace, f.name)
                if key not in seen:
                    seen.add(key)
                    yield key
