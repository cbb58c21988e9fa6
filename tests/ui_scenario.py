"""The status page's test scenario: a real ``bridge serve`` delivering to the GMS test server, fed
Airflow corpus events plus one poison event (GMS rejects its job) that carries a secret.

Shared by tests/test_ui_api.py (JSON) and tests/test_ui_page.py (a real browser).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import requests

from tests.servers.bridge_process import BridgeProcess
from tests.servers.gms import GmsServer
from tests.waiting import wait_until

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
TOKEN = "ui-test-token"
SECRET = "hunter2-do-not-show"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def airflow_events() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((CORPUS / "airflow").glob("*.json"))[:10]]


def translated(event: dict) -> list[Any]:
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    return DataHubTranslator().translate(parse_event(event))


def job_urn(event: dict) -> str:
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    return DataHubTranslator().get_job_urn(parse_event(event))


def dataset_urns(event: dict, side: str) -> list[str]:
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    translator = DataHubTranslator()
    return [translator.get_dataset_urn(d) for d in getattr(parse_event(event), side)]


def poison_event(events: list[dict]) -> dict:
    """A COMPLETE event of a job GMS rejects, with a secret in a run facet."""
    poison = copy.deepcopy(events[4])
    poison["job"]["name"] = "poison_task"
    poison["run"]["runId"] = "0193aaaa-0000-7000-8000-00000000d1ed"
    poison["run"].setdefault("facets", {})["environment-properties"] = {
        "_producer": "https://example.com/test", "_schemaURL": "https://example.com/facet",
        "environment-properties": {"DB_PASSWORD": SECRET, "HOME": "/home/airflow"},
    }
    return poison


class Scenario:
    """GMS (in this process, so a test can change what it rejects) + ``bridge serve`` (a real process)."""

    def __init__(self, state_dir: Path) -> None:
        self.events = airflow_events()
        self.poison = poison_event(self.events)
        self.poison_job = job_urn(self.poison)
        self.gms = GmsServer(reject_urns=[self.poison_job]).start()
        self.serve = BridgeProcess(state_dir, "--emitter", "rest", "--gms-server", self.gms.url,
                                   "--bridge-token", TOKEN).start()

    @property
    def url(self) -> str:
        return self.serve.url

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(self.url + path, params=params, headers=AUTH, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post_all(self) -> None:
        body = self.events[:4] + [self.poison] + self.events[4:]
        response = requests.post(self.url + "/api/v1/lineage", json=body, headers=AUTH, timeout=30)
        assert response.status_code == 201, response.text
        total = len(body)
        wait_until(lambda: self.get("/ui/api/now")["journal_events"] == total
                   and (now := self.get("/ui/api/now"))["spool"]["pending"] == 0
                   and now["counters"]["delivered"] + now["counters"]["dead_lettered"] == total,
                   timeout=60, what="the events were not all settled and journalled")
        # The lineage memory is written by a thread of its own after GMS confirmed: wait for the edges.
        copy_job = job_urn(self.events[4])
        wait_until(lambda: len(self.get("/ui/api/lineage", urn=copy_job, depth=1)["edges"]) >= 4, timeout=30,
                   what="the lineage memory never held the copy job's edges")

    def stop(self) -> None:
        self.serve.stop()
        self.gms.stop()
