"""Each example runs as a user runs it (``python -m examples.dagster.<name>``) and reports its runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.mcp import MetadataChangeProposalWrapper

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "entity_types"),
    [
        ("basic_setup", {"dataFlow", "dataJob", "dataProcessInstance"}),
        ("assets_job", {"dataFlow", "dataJob", "dataProcessInstance", "dataset"}),
        ("ops_job", {"dataFlow", "dataJob", "dataProcessInstance", "dataset"}),
        ("custom_lineage_extractor", {"dataFlow", "dataJob", "dataProcessInstance", "dataset"}),
    ],
)
def test_example_runs_and_writes_mcps(example, entity_types, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAGSTER_HOME": str(tmp_path / "home")}
    env.pop("BRIDGE_DAGSTER_CLIENT_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", f"examples.dagster.{example}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "reported" in proc.stdout
    objs = json.loads((tmp_path / "dagster-example-mcps.json").read_text())
    mcps = [MetadataChangeProposalWrapper.from_obj(o) for o in objs]
    assert {m.entity_type for m in mcps} >= entity_types
