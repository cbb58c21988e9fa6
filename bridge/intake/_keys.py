"""The Kafka message key of an OpenLineage event, as openlineage-python's Kafka transport sets it.

``bridge serve --to-topic`` keys what it produces the same way, so events posted over HTTP and
events a transport writes to the same topic land on the same partitions, in order per job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from translators.openlineage._parse import _kind

__all__ = ["message_key"]


def message_key(event: Mapping[str, Any]) -> str:
    """The Kafka message key openlineage-python's ``KafkaTransport`` gives a (valid) event.

    A run is keyed by its root job -- ``run.facets.parent.root.job``, else the parent's job, else
    its own -- as ``run:<namespace>/<name>``, so a parent run and its children share a partition
    and stay in order; a JobEvent is ``job:<namespace>/<name>``, a DatasetEvent
    ``dataset:<namespace>/<name>``.
    """
    kind = _kind(event, None)
    if kind == "DatasetEvent":
        dataset = event["dataset"]
        return f"dataset:{dataset.get('namespace')}/{dataset.get('name')}"
    job = event["job"]
    if kind == "JobEvent":
        return f"job:{job.get('namespace')}/{job.get('name')}"
    run = event.get("run")
    facets = run.get("facets") if isinstance(run, Mapping) else None
    parent = facets.get("parent") if isinstance(facets, Mapping) else None
    if isinstance(parent, Mapping):
        root = parent.get("root")
        source = root.get("job") if isinstance(root, Mapping) else parent.get("job")
        if isinstance(source, Mapping) and source.get("namespace") and source.get("name"):
            return f"run:{source['namespace']}/{source['name']}"
    return f"run:{job.get('namespace')}/{job.get('name')}"
