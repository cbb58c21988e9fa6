"""What the page's JSON endpoints answer, built from a :class:`~bridge.ui._reader.StateReader`.

Runs come from the journal (the newest events received, already redacted); an event's delivery
status from where the spool holds it (queued, retrying, dead-lettered, or gone: delivered); its
MCPs from translating it again with the configured translator (translation is deterministic);
the lineage graph from the edges the lineage memory says a destination confirmed.
"""

from __future__ import annotations

import json
from typing import Any

from bridge.secrets import DEFAULT_SECRETS, Secrets
from bridge.spool import DeadLetter
from bridge.ui._reader import JournalEntry, SpoolState, StateReader
from translators.datahub.explain import explain_dataset_urn

__all__ = ["Views"]

_TERMINAL = ("COMPLETE", "FAIL", "ABORT")
MAX_DEPTH = 5
#: Edges in a lineage graph: by default, and at most (``/ui/api/lineage?limit=``).
EDGES, MAX_EDGES = 500, 5000


def node_label(urn: str) -> tuple[str, str]:
    """``(kind, short label)`` of a job or dataset URN, for the graph."""
    from translators.datahub.urn_parsing import split_urn

    try:
        kind, parts = split_urn(urn)
    except Exception:  # noqa: BLE001 - a URN the memory holds but this version cannot split: show it whole
        return "other", urn
    if kind == "dataset" and len(parts) == 3:
        return "dataset", f"{parts[1]} ({parts[0].rsplit(':', 1)[-1]})"
    if kind == "dataJob" and len(parts) == 2:
        try:
            _, flow = split_urn(parts[0])
            shown = len(flow) == 3 and not parts[1].startswith(flow[1])  # (Spark: the job name holds the app's)
            return "job", f"{flow[1]}.{parts[1]}" if shown else parts[1]
        except Exception:  # noqa: BLE001 - as above
            return "job", parts[1]
    return kind, urn


def _letter(letter: DeadLetter, secrets: Secrets) -> dict[str, Any]:
    out = letter.to_dict()
    if "event" in out:
        out["event"] = secrets.redact(out["event"])
    else:
        out["raw"] = "(not JSON; not shown)"
    out["key"] = letter.key
    return out


def _status(entry: JournalEntry, state: SpoolState) -> dict[str, Any]:
    letter = state.dead.get(entry["digest"])
    if letter is not None:
        return {"state": "dead", "dead_letter": letter.id, "reason": letter.reason, "urn": letter.urn,
                "aspect": letter.aspect, "status": letter.status}
    queued = state.queued.get(entry["digest"])
    if queued is not None:
        return {"state": queued[0], "attempts": queued[1], "error": queued[2]}
    return {"state": "delivered"}


class Views:
    """The page's data.

    Args:
        reader: the state directory's files.
        translator: the configured :class:`~translators.datahub.DataHubTranslator`.
    """

    def __init__(self, reader: StateReader, translator: Any) -> None:
        self.reader = reader
        self.translator = translator
        #: the translator's rules of what is secret (a translator of another kind: the defaults)
        self.secrets: Secrets = getattr(translator, "secrets", DEFAULT_SECRETS)

    # -- runs ------------------------------------------------------------------

    def runs(self, *, search: str | None = None, limit: int = 100) -> dict[str, Any]:
        """The newest runs (newest first), each with its job, state, times and delivery summary."""
        entries = self.reader.recent(limit=2000, search=search or None)
        runs: dict[str, dict[str, Any]] = {}
        states = self.reader.spool_states([entry["key"] for entry in entries])
        for entry in reversed(entries):  # oldest first, so the last event of a run wins
            run_id = entry["run_id"] or f"{entry['event_type'] or 'event'}:{entry['id']}"
            run = runs.setdefault(run_id, {"run_id": run_id, "job": entry["job"], "events": 0,
                                           "first_received": entry["received"], "state": None,
                                           "delivery": {}, "has_run": entry["run_id"] is not None})
            run["events"] += 1
            run["last_received"] = entry["received"]
            run["last_event_time"] = entry["event_time"]
            if run["state"] not in _TERMINAL or entry["event_type"] in _TERMINAL:
                run["state"] = entry["event_type"]
            delivery = _status(entry, states[entry["key"]])["state"]
            run["delivery"][delivery] = run["delivery"].get(delivery, 0) + 1
        newest = sorted(runs.values(), key=lambda r: r["last_received"], reverse=True)[:limit]
        return {"runs": newest}

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's events: as received (redacted), their delivery status, MCPs and dataset URNs."""
        entries = self.reader.run_entries(run_id)
        if not entries:
            return None
        state = self.reader.spool_states([entries[0]["key"]])[entries[0]["key"]]
        events = [self._event(entry, state) for entry in entries]
        job_urn = next((e["job_urn"] for e in events if e.get("job_urn")), None)
        return {"run_id": run_id, "job": entries[0]["job"], "job_urn": job_urn, "events": events}

    def _event(self, entry: JournalEntry, state: SpoolState) -> dict[str, Any]:
        from bridge.model import DatasetEvent, JobEvent, RunEvent
        from translators.openlineage import parse_event

        body = json.loads(entry["body"])
        status = _status(entry, state)
        out: dict[str, Any] = {"received": entry["received"], "event_type": entry["event_type"],
                               "event_time": entry["event_time"], "status": status, "event": body,
                               "mcps": [], "datasets": []}
        try:
            event = parse_event(body)
            mcps = self.translator.translate(event)
        except Exception as exc:  # noqa: BLE001 - shown on the page; the delivery worker dead-letters it
            out["error"] = f"{type(exc).__name__}: {exc}"
            return out
        for mcp in mcps:
            item = mcp.to_obj()
            rejected = status["state"] == "dead" and (mcp.entity_urn, mcp.aspect_name) == (status["urn"],
                                                                                            status["aspect"])
            item["status"] = "rejected" if rejected else status["state"]
            out["mcps"].append(item)
        sides: list[tuple[str, Any]] = []
        if isinstance(event, (RunEvent, JobEvent)):
            out["job_urn"] = self.translator.get_job_urn(event)
            sides = [("input", d) for d in event.inputs] + [("output", d) for d in event.outputs]
        elif isinstance(event, DatasetEvent):
            sides = [("dataset", event.dataset)]
        for role, dataset in sides:
            urn = self.translator.get_dataset_urn(dataset)
            out["datasets"].append({"role": role, "namespace": dataset.namespace, "name": dataset.name, "urn": urn,
                                    "rule": explain_dataset_urn(dataset, urn, self.translator.config.platforms,
                                                                platform_name=self.translator.platform_name_of)})
        return out

    # -- dead letters ----------------------------------------------------------

    def dead(self, *, limit: int = 100) -> dict[str, Any]:
        letters = self.reader.dead_letters(limit=limit)
        return {"count": self.reader.dead_count(), "dead_letters": [_letter(x, self.secrets) for x in letters]}

    # -- lineage ---------------------------------------------------------------

    def lineage(self, urn: str, *, depth: int = 2, limit: int = EDGES) -> dict[str, Any]:
        """The upstream and downstream neighbours of a job or dataset, ``depth`` hops each way.

        Hop by hop, nearest first, at most ``limit`` edges: ``truncated`` says there were more.
        ``depth`` is 1 to :data:`MAX_DEPTH`.
        """
        kept, truncated = self.reader.lineage(urn, depth=max(1, min(depth, MAX_DEPTH)), limit=limit)
        nodes = {urn, *(u for edge in kept for u in edge)}
        return {
            "focus": urn,
            "nodes": [{"id": n, "kind": kind, "label": label} for n in sorted(nodes) for kind, label in [node_label(n)]],
            "edges": [{"id": f"{s} -> {t}", "source": s, "target": t} for s, t in sorted(kept)],
            "truncated": truncated,
        }

    # -- search ----------------------------------------------------------------

    def search(self, text: str) -> dict[str, Any]:
        """Jobs, datasets and runs whose names contain ``text``."""
        text = text.strip()
        if not text:
            return {"query": text, "entities": [], "runs": []}
        entities = [{"urn": u, "kind": kind, "label": label}
                    for u in self.reader.known_urns(text) for kind, label in [node_label(u)]]
        return {"query": text, "entities": entities, "runs": self.runs(search=text, limit=50)["runs"]}
