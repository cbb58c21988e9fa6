"""Hypothesis strategies the fuzz tests share: real corpus events with some fields replaced."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
CORPUS_EVENTS = [json.loads(p.read_text()) for p in sorted(CORPUS.rglob("*.json"))]

_keys = st.sampled_from(["eventType", "eventTime", "run", "job", "inputs", "outputs", "producer", "schemaURL",
                         "dataset", "runId", "namespace", "name", "facets"])


@st.composite
def mutated_event(draw: Any, events: list[dict], values: st.SearchStrategy) -> dict:
    """One of ``events`` with some fields (top level or one level down) replaced by ``values``."""
    event = copy.deepcopy(draw(st.sampled_from(events)))
    for key, value in draw(st.dictionaries(_keys, values, min_size=1, max_size=3)).items():
        target = draw(st.sampled_from([event, event.get("run"), event.get("job"), event.get("inputs")]))
        if isinstance(target, dict):
            target[key] = value
        elif isinstance(target, list) and target and isinstance(target[0], dict):
            target[0][key] = value
        else:
            event[key] = value
    return event
