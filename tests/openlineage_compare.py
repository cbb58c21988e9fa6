"""Structural comparison of OpenLineage JSON: are the standard facets of two events equal in meaning?"""

from __future__ import annotations

import datetime as dt
from typing import Any

from translators.openlineage._dump import FACET_SCHEMAS

_TIME_KEYS = {"eventTime", "nominalStartTime", "nominalEndTime"}


def norm(value: Any, key: str | None = None) -> Any:
    """Equal-in-meaning form: no facet metadata, absent == null == empty, times as datetimes."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("_producer", "_schemaURL") or (k == "masking" and v is False):
                continue
            v = norm(v, k)
            if v not in (None, [], {}):
                out[k] = v
        return out
    if isinstance(value, list):
        return [norm(v) for v in value]
    if key in _TIME_KEYS and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


def _standard(kind: str) -> set[str]:
    return {name.split(".", 1)[1] for name in FACET_SCHEMAS if name.startswith(kind + ".")}


def compare_facets(kind: str, original: dict | None, dumped: dict | None, where: str) -> None:
    original, dumped = original or {}, dumped or {}
    standard = _standard(kind)
    for name, facet in original.items():
        if name in standard:
            assert norm(dumped.get(name)) == norm(facet), f"{where}.{name}"
        else:
            assert dumped.get(name) == facet, f"{where}.{name} (custom facet must be verbatim)"
    extra = {n for n in dumped if n not in original and norm(dumped[n])}
    assert not extra, f"{where}: facets appeared from nowhere: {extra}"


def compare_event_json(original: dict[str, Any], dumped: dict[str, Any]) -> None:
    """Assert that ``dumped`` carries everything ``original`` did (identity, times, every facet)."""
    for key in ("eventType", "producer"):
        assert dumped.get(key) == original.get(key), key
    assert norm(dumped.get("eventTime"), "eventTime") == norm(original.get("eventTime"), "eventTime")
    if "run" in original:
        assert dumped["run"]["runId"] == original["run"]["runId"]
        compare_facets("run", original["run"].get("facets"), dumped["run"]["facets"], "run.facets")
    if "job" in original:
        assert (dumped["job"]["namespace"], dumped["job"]["name"]) == (
            original["job"]["namespace"],
            original["job"]["name"],
        )
        compare_facets("job", original["job"].get("facets"), dumped["job"]["facets"], "job.facets")
    for side in ("inputs", "outputs"):
        theirs_all = original.get(side) or []
        ours_all = dumped.get(side) or []
        assert len(ours_all) == len(theirs_all), side
        for i, (ours, theirs) in enumerate(zip(ours_all, theirs_all, strict=True)):
            _compare_dataset(ours, theirs, f"{side}[{i}]")
    if "dataset" in original:
        _compare_dataset(dumped["dataset"], original["dataset"], "dataset")


def _compare_dataset(ours: dict[str, Any], theirs: dict[str, Any], where: str) -> None:
    assert (ours["namespace"], ours["name"]) == (theirs["namespace"], theirs["name"]), where
    compare_facets("dataset", theirs.get("facets"), ours.get("facets"), f"{where}.facets")
    compare_facets("input", theirs.get("inputFacets"), ours.get("inputFacets"), f"{where}.inputFacets")
    compare_facets("output", theirs.get("outputFacets"), ours.get("outputFacets"), f"{where}.outputFacets")
