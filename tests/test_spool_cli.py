"""``bridge spool status | dead | retry | purge`` on a real spool (and ``bridge serve --help``)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bridge.cli import main
from bridge.spool import Settlement, Spool


def _spool_with_dead_letters(state):
    with Spool(state) as spool:
        events = [json.dumps({"job": {"namespace": "ns", "name": f"j{i}"}, "i": i}) for i in range(3)]
        spool.append([(f"job:ns/j{i}", e) for i, e in enumerate(events)]).result(5)
        rows = spool.pending(limit=10)
        spool.settle(Settlement(dead=[
            (rows[0], "Failed to validate record: urn=x rejected", "urn:li:dataJob:x", "dataJobInfo", 422),
            (rows[1], "invalid event: job.name: is required", None, None, None),
        ])).result(5)


def test_status_dead_retry_purge(tmp_path):
    state = str(tmp_path / "state")
    _spool_with_dead_letters(state)
    runner = CliRunner()

    status = runner.invoke(main, ["spool", "status", "--state-dir", state, "--json"])
    assert status.exit_code == 0, status.output
    assert (json.loads(status.output)["pending"], json.loads(status.output)["dead"]) == (1, 2)

    dead = runner.invoke(main, ["spool", "dead", "--state-dir", state])
    assert dead.exit_code == 0
    lines = dead.output.strip().splitlines()
    assert len(lines) == 2 and "urn:li:dataJob:x dataJobInfo [422]" in lines[0] and "rejected" in lines[0]
    as_json = [json.loads(line) for line in runner.invoke(main, ["spool", "dead", "--state-dir", state, "--json"]).output.splitlines()]
    assert [d["event"]["i"] for d in as_json] == [0, 1]

    assert runner.invoke(main, ["spool", "retry", "--state-dir", state]).exit_code == 2  # says which
    retried = runner.invoke(main, ["spool", "retry", "--state-dir", state, str(as_json[0]["id"])])
    assert retried.exit_code == 0 and "re-queued 1" in retried.output
    refused = runner.invoke(main, ["spool", "purge", "--state-dir", state, "--all"], input="n\n")
    assert refused.exit_code == 1
    purged = runner.invoke(main, ["spool", "purge", "--state-dir", state, "--all", "--yes"])
    assert purged.exit_code == 0 and "deleted 1" in purged.output
    with Spool(state, exclusive=False) as spool:
        assert spool.dead_count() == 0
        assert sorted(json.loads(e.body)["i"] for e in spool.pending(limit=10)) == [0, 2]


def test_spool_commands_say_when_there_is_no_spool(tmp_path):
    result = CliRunner().invoke(main, ["spool", "status", "--state-dir", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "no spool in" in result.output


def test_serve_refuses_a_state_dir_in_use(tmp_path):
    with Spool(tmp_path / "state"):
        result = CliRunner().invoke(main, ["serve", "--state-dir", str(tmp_path / "state"), "--port", "1"])
    assert result.exit_code == 1
    assert "another bridge process is using the spool" in result.output
