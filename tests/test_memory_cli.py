"""``bridge memory show | reset``: a DataHub rebuilt at the same address gets everything again after a reset."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from tests.servers.gms import GmsServer

CORPUS = Path(__file__).parent / "corpus" / "openlineage" / "spark_dataproc_simple_producer_test_complete"


def test_a_reset_destination_is_sent_everything_again(tmp_path):
    runner, state = CliRunner(), str(tmp_path / "state")
    with GmsServer() as gms:
        send = ["send", str(CORPUS), "--state-dir", state, "--emitter", "rest", "--gms-server", gms.url]
        assert runner.invoke(main, send).exit_code == 0
        everything = list(gms.proposals)
        gms.reset()  # DataHub rebuilt at the same address: it holds nothing now
        assert runner.invoke(main, send).exit_code == 0
        # the memory still says GMS has it all: no lineage goes again (only what differs between the
        # events of a replay: run states, run properties, the last events' job properties, and the status
        # of a table the replay drops and creates again)
        # (a value planned while an earlier, different one is still on its way goes after it: the
        # memory's value is not what DataHub will hold once that one lands)
        assert {p["aspectName"] for p in gms.proposals} <= {
            "dataProcessInstanceRunEvent", "dataProcessInstanceProperties", "operation", "status", "dataJobInfo",
            "dataTransformLogic"}
        assert len(gms.proposals) < len(everything) / 2
        # (the HDFS location /user/hive/warehouse/t1 is the Hive table default.t1 through its symlink)
        dropped = {"." + o["name"].rsplit("/", 1)[-1] + "," for f in CORPUS.glob("*.json")
                   for o in json.loads(f.read_text()).get("outputs", [])
                   if (o.get("facets", {}).get("lifecycleStateChange") or {}).get("lifecycleStateChange") == "DROP"}
        assert dropped
        assert not [p for p in gms.proposals if p["aspectName"] == "status"
                    and not any(name in p["entityUrn"] for name in dropped)]
        gms.reset()

        shown = runner.invoke(main, ["memory", "show", "--state-dir", state, "--json"])
        assert shown.exit_code == 0, shown.output
        (row,) = json.loads(shown.output)
        assert row["destination"] == f"rest:{gms.url}" and row["slots"] > 0

        unknown = runner.invoke(main, ["memory", "reset", "--state-dir", state, "rest:http://elsewhere:8080"])
        assert unknown.exit_code == 1 and f"it knows: rest:{gms.url}" in unknown.output
        assert runner.invoke(main, ["memory", "reset", "--state-dir", state]).exit_code == 1  # names nothing
        reset = runner.invoke(main, ["memory", "reset", "--state-dir", state, f"rest:{gms.url}"])
        assert reset.exit_code == 0 and "forgot" in reset.output
        assert runner.invoke(main, send).exit_code == 0
        # everything again (compared as a set: a batch the client re-sent after a lost answer counts once)
        sent = lambda proposals: {json.dumps(p, sort_keys=True) for p in proposals}  # noqa: E731
        assert sent(gms.proposals) == sent(everything)


def test_show_without_a_memory_says_so(tmp_path):
    result = CliRunner().invoke(main, ["memory", "show", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no lineage memory" in result.output


def test_reset_all_empties_the_memory_run_names_included(tmp_path):
    from bridge.lineage import Entry, LineageMemory

    runner, state = CliRunner(), tmp_path / "state"
    gms, run = "rest:http://gms:8080", "urn:li:dataProcessInstance:r1"

    def remembered() -> tuple[list[str], dict]:
        memory = LineageMemory.in_state_dir(state)
        try:
            return [row["destination"] for row in memory.summary() if row["slots"]], memory.run_names.get([run])
        finally:
            memory.close()

    memory = LineageMemory.in_state_dir(state)
    memory.destination(gms).put_many(run, "status", [("", Entry("d", False, 1.0, 1.0, None))])
    memory.run_names.put({run: run + "-own"}, 1.0)
    memory.close()
    assert remembered() == ([gms], {run: (run + "-own", 1.0)})
    one = runner.invoke(main, ["memory", "reset", "--state-dir", str(state), gms])
    assert one.exit_code == 0 and "other names" not in one.output
    assert remembered() == ([], {run: (run + "-own", 1.0)})  # a destination's reset keeps what names runs
    show = runner.invoke(main, ["memory", "show", "--state-dir", str(state)])
    assert show.exit_code == 0 and "runs known by two names: 1" in show.output and "is empty" not in show.output
    everything = runner.invoke(main, ["memory", "reset", "--state-dir", str(state), "--all"])
    assert everything.exit_code == 0 and "forgot the other names of runs (1)" in everything.output
    assert remembered() == ([], {})
    show = runner.invoke(main, ["memory", "show", "--state-dir", str(state)])
    assert show.exit_code == 0 and show.output == f"{gms}: 0 entities, 0 slots, 0 edges\n"
