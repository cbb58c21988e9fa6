"""Writes that never erase: the whole corpus, through every path at once, into a DataHub others wrote first.

The GMS test server (which applies UPSERT, CREATE and PATCH the way DataHub does) is
pre-seeded with what another source and people in the UI wrote: lineage edges, tags,
owners, descriptions, custom properties, a warehouse schema, a dataset's upstreams, soft deletes.
Then the 74 corpus events (and one that adds tags and descriptions) are delivered,
each job's events spread over different processes that share no memory:

* three ``bridge consume`` workers (separate state directories, one consumer group),
  one of them killed with SIGKILL part-way and restarted on its own directory;
* ``bridge send`` in its own process;
* the Python API (``Bridge.emit``) in a third process;
* the Dagster sensor, for a real Dagster run whose op writes one of the seeded datasets.

With the default write policy, every seeded fact is still there, every edge any event
carried is there, and nothing is listed twice. The control run, with the policy set to
``upsert``, shows the loss.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from dagster_plugin import DagsterPluginConfig, make_datahub_sensor
from tests.dagster_helpers import execute, tick
from tests.servers.gms import GmsServer
from tests.servers.gms_state import job_edges
from tests.waiting import wait_until
from translators.datahub import DataHubTranslator, make_dataset_urn
from translators.datahub.writes import DEFAULT_WRITE_POLICY
from translators.openlineage import parse_event

ROOT = Path(__file__).resolve().parents[1]
# The 74 corpus events, and one that carries what they do not: job, dataset and column tags, descriptions.
FILES = [*sorted((ROOT / "tests" / "corpus" / "openlineage").rglob("*.json")),
         ROOT / "tests" / "golden" / "inputs" / "failed_run.json"]
UI_TAG, STEWARD = "urn:li:tag:reviewed_in_ui", "urn:li:corpuser:steward"
OTHER_SOURCE = make_dataset_urn("snowflake", "raw.other_source_table")
SHARED = make_dataset_urn("bigquery", "bigquery-public-data.samples.shakespeare")  # a corpus dataset Dagster writes too
STAMP = {"time": 1_700_000_000_000, "actor": "urn:li:corpuser:ingestion"}
UPSERT_ALL = dict.fromkeys(DEFAULT_WRITE_POLICY, "upsert")


def _facts(events) -> dict:
    """What the events say, as whole aspects: every job's edges, column lineage, tags, owners, described entities."""
    out = {"io": collections.defaultdict(lambda: collections.defaultdict(set)), "fgl": collections.defaultdict(set),
           "tags": collections.defaultdict(set), "owners": collections.defaultdict(set), "described": set(),
           "datasets": set(), "jobs": set(), "flows": set()}  # fmt: skip
    translator = DataHubTranslator()
    for ev in events:
        for m in translator.translate_aspects(ev):
            urn, v = m.entity_urn, m.aspect_value
            kind = {"dataset": "datasets", "dataJob": "jobs", "dataFlow": "flows"}.get(m.entity_type)
            if kind:
                out[kind].add(urn)
            if m.aspect_name == "dataJobInputOutput":
                for plain, edges in (("inputDatasets", "inputDatasetEdges"), ("outputDatasets", "outputDatasetEdges"),
                                     ("inputDatajobs", "inputDatajobEdges")):  # fmt: skip
                    out["io"][urn][edges] |= set(v.get(plain) or ())
                for f in v.get("fineGrainedLineages") or ():
                    out["fgl"][urn] |= {(f.get("transformOperation") or "NONE", d, u)
                                        for d in f["downstreams"] for u in f["upstreams"]}  # fmt: skip
            elif m.aspect_name == "globalTags":
                out["tags"][urn] |= {t["tag"] for t in v["tags"]}
            elif m.aspect_name == "ownership":
                out["owners"][urn] |= {(o["owner"], o["type"]) for o in v["owners"]}
            elif m.aspect_name in ("datasetProperties", "dataJobInfo", "dataFlowInfo") and v.get("description"):
                out["described"].add(urn)
    return out


def _seed(gms: GmsServer, facts: dict) -> None:
    """What another source and the UI wrote before the bridge ran."""
    for urn in facts["jobs"] | facts["datasets"] | facts["flows"]:
        gms.seed(urn, "globalTags", {"tags": [{"tag": UI_TAG}]})
        gms.seed(urn, "ownership", {"owners": [{"owner": STEWARD, "type": "DATA_STEWARD"}], "lastModified": STAMP})
    for urn in facts["jobs"]:
        gms.seed(urn, "dataJobInputOutput", {"inputDatasets": [OTHER_SOURCE], "outputDatasets": []})
        info = {"name": "seeded", "type": {"string": "COMMAND"}, "customProperties": {"seeded.by": "ui"}}
        gms.seed(urn, "dataJobInfo", {**info, **({} if urn in facts["described"] else {"description": "From the UI"})})
    for urn in facts["datasets"]:
        gms.seed(urn, "status", {"removed": True})  # soft-deleted in the UI (or by the warehouse's stateful ingestion)
        props = {"customProperties": {"seeded.by": "warehouse"}}
        gms.seed(urn, "datasetProperties", {**props, **({} if urn in facts["described"] else {"description": "DWH"})})
        gms.seed(urn, "upstreamLineage", {"upstreams": [{"dataset": OTHER_SOURCE, "type": "TRANSFORMED",
                                                         "auditStamp": STAMP}]})  # fmt: skip
        gms.seed(urn, "schemaMetadata", {
            "schemaName": "warehouse", "platform": urn.split(",")[0].split("(", 1)[1], "version": 0, "hash": "",
            "platformSchema": {"com.linkedin.schema.OtherSchema": {"rawSchema": ""}},
            "fields": [{"fieldPath": "warehouse_only", "nativeDataType": "int",
                        "type": {"type": {"com.linkedin.schema.NumberType": {}}}}]})  # fmt: skip


def _env(tmp_path: Path, gms: GmsServer, policy: dict[str, str], name: str) -> dict[str, str]:
    config = tmp_path / "bridge.json"
    config.write_text(json.dumps({"emitter": "rest", "emitters": {"rest": {"gms_server": gms.url}},
                                  "translator": {"write_policy": policy}}))  # fmt: skip
    return {**os.environ, "PYTHONPATH": str(ROOT), "BRIDGE_CONFIG": str(config),
            "BRIDGE_STATE_DIR": str(tmp_path / name)}  # fmt: skip


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bridge.cli import main; main()", *args]


_API = """
import json, sys
from bridge import Bridge
from translators.openlineage import parse_event
lineage = Bridge.from_config()
for path in sys.argv[1:]:
    lineage.emit(parse_event(json.load(open(path))))
lineage.flush()
lineage.close()
"""


@dg.op(out=dg.Out(metadata={"datahub.outputs": [SHARED]}))
def publish_words() -> int:
    return 1


@dg.job
def publish_job():
    publish_words()


def _landed(gms: GmsServer, events) -> bool:
    """Whether every event's run state (one timeseries point per event) reached GMS."""
    seen = {(p["entityUrn"], json.loads(p["aspect"]["value"])["timestampMillis"]) for p in list(gms.proposals)
            if p["aspectName"] == "dataProcessInstanceRunEvent"}  # fmt: skip
    return all((f"urn:li:dataProcessInstance:{e.run.run_id}", int(e.event_time.timestamp() * 1000)) in seen
               for e in events)  # fmt: skip


def _deliver_everywhere(tmp_path: Path, broker, gms: GmsServer, policy: dict[str, str]) -> None:
    shares: dict[str, list[Path]] = {"kafka": FILES[0::3], "send": FILES[1::3], "api": FILES[2::3]}
    topic = f"never-erase-{uuid.uuid4().hex[:8]}"
    broker.create_topics([topic], partitions=3)
    workers: dict[int, subprocess.Popen] = {}

    def worker(i: int) -> subprocess.Popen:
        log = open(tmp_path / f"consume-{i}.log", "ab")  # noqa: SIM115 - owned by the child
        return subprocess.Popen(_cli("consume", "--topic", topic, "--kafka-bootstrap", broker.bootstrap,
                                     "--group", f"g-{topic}", "--consumer-config", "session.timeout.ms=6000",
                                     "--consumer-config", "heartbeat.interval.ms=500"),
                                cwd=ROOT, env=_env(tmp_path, gms, policy, f"consume-{i}"), stdout=log, stderr=log)

    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap})

    def produce(paths: list[Path]) -> None:
        for path in paths:
            obj = json.loads(path.read_text())
            producer.produce(topic, key=f"{obj['job']['namespace']}/{obj['job']['name']}", value=path.read_bytes())
        producer.flush(30)

    events = {p: parse_event(json.loads(p.read_text())) for p in FILES}
    try:
        workers = {i: worker(i) for i in range(3)}
        half = len(shares["kafka"]) // 2
        produce(shares["kafka"][:half])
        other = [subprocess.Popen(_cli("send", *map(str, shares["send"])), cwd=ROOT,
                                  env=_env(tmp_path, gms, policy, "send"), stderr=subprocess.PIPE),
                 subprocess.Popen([sys.executable, "-c", _API, *map(str, shares["api"])], cwd=ROOT,
                                  env=_env(tmp_path, gms, policy, "api"), stderr=subprocess.PIPE)]  # fmt: skip
        wait_until(lambda: _landed(gms, [events[p] for p in shares["kafka"][:3]]), 90, "Kafka delivered nothing")
        workers[0].send_signal(signal.SIGKILL)  # mid-stream: half of the topic is still to come
        workers[0].wait(10)
        produce(shares["kafka"][half:])
        workers[0] = worker(0)  # restarted on its own state directory
        for process in other:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()[-3000:]
        sensor = make_datahub_sensor(DagsterPluginConfig(
            datahub_client_config={"server": gms.url}, translator={"write_policy": policy}, backfill=True))  # fmt: skip
        defs = dg.Definitions(jobs=[publish_job], sensors=[sensor])
        with dg.instance_for_test() as instance:
            assert execute(defs, instance, "publish_job").success
            assert "reported 1 run(s)" in tick(sensor, defs, instance, None).skip_message
        wait_until(lambda: _landed(gms, events.values()), 120, "not every event reached GMS")
    finally:
        for process in workers.values():
            process.kill()
            process.wait(10)


def _duplicates(state: dict) -> list[str]:
    """Anything DataHub would list twice."""
    found = []
    for (urn, aspect), value in state.items():
        keyed = {"dataJobInputOutput": [(f, "destinationUrn") for f in ("inputDatasetEdges", "outputDatasetEdges",
                                                                        "inputDatajobEdges")],
                 "globalTags": [("tags", "tag")], "upstreamLineage": [("upstreams", "dataset")]}.get(aspect, [])  # fmt: skip
        for field, key in keyed:
            items = [item[key] for item in value.get(field) or ()]
            found += [f"{urn} {field} {k}" for k, n in collections.Counter(items).items() if n > 1]
        if aspect == "ownership":
            pairs = collections.Counter((o["owner"], o["type"]) for o in value["owners"])
            found += [f"{urn} owner {p}" for p, n in pairs.items() if n > 1]
        for f in value.get("fineGrainedLineages") or () if aspect == "dataJobInputOutput" else ():
            if len(set(f["upstreams"])) != len(f["upstreams"]):
                found.append(f"{urn} column lineage {f['downstreams']}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["default", "upsert"])
def test_nothing_anyone_wrote_is_erased(tmp_path, kafka_broker_server, policy):
    events = [parse_event(json.loads(p.read_text())) for p in FILES]
    facts = _facts(events)
    with GmsServer(validate_aspects=True) as gms:
        _seed(gms, facts)
        _deliver_everywhere(tmp_path, kafka_broker_server, gms, {} if policy == "default" else UPSERT_ALL)
        state = dict(gms.aspects)
        dagster_job = "urn:li:dataJob:(urn:li:dataFlow:(dagster,publish_job,PROD),publish_job.publish_words)"

    lost = []  # every fact that is not in DataHub any more
    for urn in facts["jobs"] | facts["datasets"] | facts["flows"]:
        if UI_TAG not in {t["tag"] for t in state[(urn, "globalTags")]["tags"]}:
            lost.append(f"{urn}: the UI's tag")
        if (STEWARD, "DATA_STEWARD") not in {(o["owner"], o["type"]) for o in state[(urn, "ownership")]["owners"]}:
            lost.append(f"{urn}: the UI's owner")
        lost += [f"{urn}: tag {t}" for t in facts["tags"][urn] - {t["tag"] for t in state[(urn, "globalTags")]["tags"]}]
    for urn in facts["jobs"]:
        io = state[(urn, "dataJobInputOutput")]
        if OTHER_SOURCE not in job_edges(io, "inputDatasetEdges"):
            lost.append(f"{urn}: another source's input")
        for field, urns in facts["io"][urn].items():
            lost += [f"{urn}: {field} {u}" for u in urns - job_edges(io, field)]
        held_fgl = {(f["transformOperation"], f["downstreams"][0], u) for f in io.get("fineGrainedLineages") or ()
                    for u in f["upstreams"]}  # fmt: skip
        lost += [f"{urn}: column lineage {e}" for e in facts["fgl"][urn] - held_fgl]
        info = state[(urn, "dataJobInfo")]
        if info["customProperties"].get("seeded.by") != "ui" or (
                urn not in facts["described"] and info.get("description") != "From the UI"):  # fmt: skip
            lost.append(f"{urn}: the UI's description or property")
    for urn in facts["datasets"]:
        props = state[(urn, "datasetProperties")]
        if props["customProperties"].get("seeded.by") != "warehouse" or (
                urn not in facts["described"] and props.get("description") != "DWH"):  # fmt: skip
            lost.append(f"{urn}: the warehouse's description or property")
        if state[(urn, "status")] != {"removed": True}:
            lost.append(f"{urn}: the soft delete")
        if [f["fieldPath"] for f in state[(urn, "schemaMetadata")]["fields"]] != ["warehouse_only"]:
            lost.append(f"{urn}: the warehouse's schema")
        if OTHER_SOURCE not in {u["dataset"] for u in state[(urn, "upstreamLineage")]["upstreams"]}:
            lost.append(f"{urn}: another source's upstream")
    if SHARED not in job_edges(state.get((dagster_job, "dataJobInputOutput")), "outputDatasetEdges"):
        lost.append("the Dagster op's output")

    if policy == "default":
        assert lost == []
        assert _duplicates(state) == []
    else:  # the control: whole-aspect writes replace what others wrote, and what earlier events said
        assert any(line.endswith("the UI's tag") for line in lost)
        assert any(line.endswith("the UI's owner") for line in lost)
        assert any(line.endswith("another source's input") for line in lost)
        assert any(line.endswith("the warehouse's schema") for line in lost)
        assert any(line.endswith("the soft delete") for line in lost)
        assert any(": inputDatasetEdges " in line or ": outputDatasetEdges " in line for line in lost)
