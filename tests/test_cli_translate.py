"""``bridge translate`` on the real corpus, bad inputs, stdin; every command's --help."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.mcp import MetadataChangeProposalWrapper

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
CORPUS_EVENTS = sorted(CORPUS.rglob("*.json"))


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_translates_the_whole_corpus(tmp_path):
    out = tmp_path / "mcps.json"
    result = run("translate", str(CORPUS), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert len(CORPUS_EVENTS) == 74
    assert f"events read: {len(CORPUS_EVENTS)}, rejected: 0" in result.stderr
    mcps = [MetadataChangeProposalWrapper.from_obj(o) for o in json.loads(out.read_text())]
    summary_count = int(result.stderr.split("MCPs: ")[1].split(",")[0].split(";")[0])
    assert summary_count == len(mcps) > 74
    types = {m.entity_type for m in mcps}
    assert {"dataFlow", "dataJob", "dataProcessInstance", "dataset"} <= types
    for kind in types:
        assert f"{kind}=" in result.stderr


def test_rejected_events_are_reported_with_file_line_and_reason(tmp_path):
    good = json.loads((CORPUS / "simple_run_event" / "simple_run_event.json").read_text())
    bad = dict(good, run={"facets": {}})  # no runId
    lines = [json.dumps(good), "{not json", json.dumps(bad), json.dumps(good)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "mcps.json"
    result = run("translate", str(path), "-o", str(out))
    assert result.exit_code == 1
    assert f"{path}:2" in result.stderr
    assert f"{path}:3" in result.stderr and "runId" in result.stderr
    assert "events read: 4, rejected: 2" in result.stderr
    assert json.loads(out.read_text())  # the good events still went through
    assert run("translate", str(path), "-o", str(out), "--skip-invalid").exit_code == 0


def test_reads_stdin_and_writes_a_json_array_to_stdout():
    event = (CORPUS / "simple_run_event" / "simple_run_event.json").read_text()
    result = run("translate", "-", input=event)
    assert result.exit_code == 0
    objs = json.loads(result.stdout)
    assert objs and all(MetadataChangeProposalWrapper.from_obj(o) for o in objs)


def test_env_and_platform_instance_flags_reach_the_urns():
    event = (CORPUS / "simple_run_event" / "simple_run_event.json").read_text()
    result = run(
        "translate", "-", "--env", "DEV", "--platform-instance", "airflow-eu",
        "--dataset-platform-instance", "warehouse", input=event,
    )
    objs = json.loads(result.stdout)
    datasets = {o["entityUrn"] for o in objs if o["entityType"] == "dataset"}
    assert datasets and all(u.endswith(",DEV)") and ",warehouse." in u for u in datasets)
    flows = {o["entityUrn"] for o in objs if o["entityType"] == "dataFlow"}
    assert flows and all(u.endswith(",airflow-eu)") for u in flows)


def test_missing_path_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["translate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output


@pytest.mark.parametrize("command", [[], *[[name] for name in main.commands]])
def test_every_command_has_complete_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
    body = result.output.split("Options:")[0]
    assert len(body.split("\n\n")) >= 2, "help needs a description, not just a usage line"


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out.update(_commands(command, f"{prefix}{name} "))
        else:
            out[prefix + name] = command
    return out


def test_config_and_state_dir_say_the_same_wherever_they_are_shared():
    """One --config in every command; one --state-dir in those that only look into a state directory
    (``state_options``: spool, memory and ui)."""
    helps = {name: {p.name: p.help for p in command.params} for name, command in _commands(main).items()}
    assert len({h["config_path"] for h in helps.values() if "config_path" in h}) == 1
    assert helps["ui"]["state_dir"] == helps["spool status"]["state_dir"] == helps["memory show"]["state_dir"]


def test_console_script_is_installed():
    exe = shutil.which("bridge", path=str(Path(sys.executable).parent))
    assert exe, "the `bridge` console script is not installed next to this Python"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    for name in ("translate", "emit", "send", "check"):
        assert name in proc.stdout
