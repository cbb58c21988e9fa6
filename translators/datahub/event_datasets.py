"""The datasets of one event, as the translator names them: URNs of its inputs and outputs, every
sighting of each, the identity each URN names, and column lineage worked out once per dataset.

Made by :class:`~translators.datahub.translator.DataHubTranslator` for each event from its dataset
hooks (:class:`~translators.datahub.datasets.DatasetHooks`); the job, run and dataset MCPs all read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from bridge.model import Dataset
from translators.datahub.column_lineage import column_fine_grained, column_inputs
from translators.datahub.urns import make_schema_field_urn

if TYPE_CHECKING:
    from translators.datahub.datasets import DatasetHooks
    from translators.datahub.platform_config import DatasetRef

__all__ = ["EventDatasets", "bounded_cache"]

_CACHE_LIMIT = 4096

K = TypeVar("K")
V = TypeVar("V")


def bounded_cache(cache: dict[K, V], key: K, compute: Callable[[K], V]) -> V:
    """``cache[key]``, computed on a miss; a full cache (``_CACHE_LIMIT`` entries) is emptied first."""
    value = cache.get(key)
    if value is None:
        value = compute(key)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value
    return value


class EventDatasets:
    """The datasets of one event: URNs (inputs, outputs), every sighting per URN, and column lineage.

    ``refs`` holds, per URN, the identity whose URN it is (what ``schemaMetadata`` and
    ``dataPlatformInstance`` name): :meth:`DatasetHooks.get_dataset_ref`'s, its platform renamed by an
    overridden :meth:`DatasetHooks.get_platform_urn`, or, when an overridden
    :meth:`DatasetHooks.get_dataset_urn` gave another URN, the one read back from that URN.
    """

    __slots__ = ("by_key", "inputs", "outputs", "sightings", "refs", "_fine")

    def __init__(self, tr: DatasetHooks, inputs: Iterable[Dataset], outputs: Iterable[Dataset]) -> None:
        self.by_key: dict[tuple[str, str], str] = {}
        self.sightings: dict[str, list[Dataset]] = {}
        self.refs: dict[str, DatasetRef] = {}
        self._fine: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}
        outputs = tuple(outputs)
        self.inputs = self._add(tr, inputs)
        self.outputs = self._add(tr, outputs)
        if tr.config.column_lineage_inputs:
            self.inputs += self._add(tr, self._column_only_inputs(tr, outputs))

    def _column_only_inputs(self, tr: DatasetHooks, outputs: tuple[Dataset, ...]) -> list[Dataset]:
        """Datasets the outputs' column lineage reads from that are neither inputs nor outputs of the
        event (dbt-ol names a model's seeds only there): bare datasets, made table-level inputs.
        An output is never made an input of its own event (no self-loop)."""
        known = set(self.inputs) | set(self.outputs)
        return [Dataset(namespace=namespace, name=name) for namespace, name in column_inputs(outputs)
                if self.urn_of(tr, namespace, name) not in known]  # fmt: skip

    def _add(self, tr: DatasetHooks, datasets: Iterable[Dataset]) -> list[str]:
        urns: dict[str, None] = {}  # ordered, and a membership test in O(1)
        for ds in datasets:
            urn, ref, plain = tr.urn_and_identity(ds)
            self.by_key.setdefault((ds.namespace, ds.name), urn)
            seen = self.sightings.get(urn)
            if seen is None:
                self.sightings[urn] = [ds]
                self.refs[urn] = ref if plain else tr.identity_of(urn, ref)
            else:
                seen.append(ds)
            urns[urn] = None
        return list(urns)

    def urn_of(self, tr: DatasetHooks, namespace: str, name: str) -> str:
        """URN of a dataset named in column lineage: the event's own dataset if it is one (symlinks applied)."""
        urn = self.by_key.get((namespace, name))
        return urn if urn is not None else tr.dataset_urn_of(namespace, name)

    def fine_grained(self, tr: DatasetHooks, urn: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Column lineage of the dataset ``urn`` (all its sightings): the FineGrainedLineage dicts (one per
        output column and kind, see :mod:`translators.datahub.column_lineage`) and the datasets they read,
        in the order the dicts name them. Worked out once per event (the job and the dataset both use it)."""
        done = self._fine.get(urn)
        if done is not None:
            return done
        out: list[dict[str, Any]] = []
        parents: dict[str, str] = {}  # schemaField URN -> its dataset's URN
        seen: set[str] = set()
        include_indirect = tr.config.include_indirect_column_lineage

        def upstream_field(f: Any) -> str:
            parent = self.urn_of(tr, f.namespace, f.name)
            field = make_schema_field_urn(parent, f.field)
            parents[field] = parent
            return field

        for ds in self.sightings[urn]:
            for cl in ds.column_lineage:
                if cl.output_field in seen or not cl.inputs:
                    continue
                seen.add(cl.output_field)
                out.extend(column_fine_grained(cl, make_schema_field_urn(urn, cl.output_field), upstream_field,
                                               include_indirect=include_indirect))  # fmt: skip
        read = list(dict.fromkeys(parents[f] for entry in out for f in entry["upstreams"]))
        done = self._fine[urn] = (out, read)
        return done
