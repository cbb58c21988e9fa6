"""The README's Python examples run as written (against the GMS test server instead of localhost:8080)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.servers.gms import GmsServer

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _python_block_after(heading_text: str) -> str:
    start = README.index(heading_text)
    match = re.compile(r"```python\n(.*?)```", re.S).search(README, start)
    assert match, f"no python block after {heading_text!r}"
    return match.group(1)


def test_building_mcps_by_hand_example():
    code = _python_block_after("Building MCPs by hand")
    with GmsServer() as gms:
        exec(compile(code.replace("http://localhost:8080", gms.url), "README.md", "exec"), {})
        assert [(p["entityUrn"], p["aspectName"]) for p in gms.proposals] == [
            ("urn:li:dataset:(urn:li:dataPlatform:bigquery,my-project.my-dataset.user-table,PROD)", "datasetProperties")
        ]


def test_python_api_example():
    code = _python_block_after("## Python API")
    calls = []
    namespace = {"load_orders": lambda: calls.append("ran")}
    with GmsServer() as gms:
        exec(compile(code.replace("http://localhost:8080", gms.url), "README.md", "exec"), namespace)
        assert calls == ["ran"]
        statuses = [p["aspect"]["value"] for p in gms.proposals if p["aspectName"] == "dataProcessInstanceRunEvent"]
        assert len(statuses) == 2 and '"STARTED"' in statuses[0] and '"SUCCESS"' in statuses[1]
        io = [p for p in gms.proposals if p["aspectName"] == "dataJobInputOutput"]
        assert io and "shop.public.orders" in io[-1]["aspect"]["value"]
