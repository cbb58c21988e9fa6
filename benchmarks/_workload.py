"""The MCPs the delivery benchmarks send: the same workload for the bridge and for acryl-datahub."""

from __future__ import annotations

from typing import Any

__all__ = ["aspects", "ours", "theirs"]


def aspects(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """``n`` (urn, aspect name, aspect) triples that look like what the translator produces."""
    from translators.datahub.urns import make_dataset_urn

    out = []
    for i in range(n):
        urn = make_dataset_urn("bigquery", f"my-project.dataset_{i % 50}.table_{i}")
        kind = i % 3
        if kind == 0:
            out.append((urn, "datasetProperties", {
                "name": f"table_{i}", "description": f"Table number {i}, written by job {i % 17}",
                "customProperties": {"owner_team": "analytics", "row_count": str(i * 10), "format": "parquet"},
                "tags": [],
            }))
        elif kind == 1:
            ups = [make_dataset_urn("bigquery", f"my-project.raw.src_{(i + k) % 97}") for k in range(3)]
            out.append((urn, "upstreamLineage", {
                "upstreams": [{"auditStamp": {"time": 1700000000000, "actor": "urn:li:corpuser:datahub"},
                               "dataset": u, "type": "TRANSFORMED"} for u in ups],
            }))
        else:
            out.append((urn, "status", {"removed": False}))
    return out


def ours(triples: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    from bridge.mcp import MetadataChangeProposalWrapper

    return [MetadataChangeProposalWrapper(entity_urn=u, aspect_name=a, aspect=v) for u, a, v in triples]


def theirs(triples: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    from datahub.emitter.mcp import MetadataChangeProposalWrapper
    from datahub.metadata.schema_classes import ASPECT_NAME_MAP

    return [MetadataChangeProposalWrapper(entityUrn=u, aspect=ASPECT_NAME_MAP[a].from_obj(v)) for u, a, v in triples]
