"""Every ``bridge`` command in README.md's shell blocks runs, as written, against real servers.

``test_readme_commands`` checks that each line parses; this module runs them, in README order and in the
directory a reader would be in, and checks what each one did: a GMS test server stands in for
``http://localhost:8080`` / ``http://gms:8080``, a real tansu broker for ``localhost:9092`` / ``kafka:9092``,
the Schema Registry test server for ``http://localhost:8081``, and ``events/`` holds the bundled corpus.
Placeholders a reader would replace are replaced the same way: the dead-letter ids ``12 13`` by real ones,
``/var/lib/bridge/worker-1`` by a temporary directory, ``/var/lib/bridge`` by the state directory the
README's own ``bridge serve`` lines filled. Nothing else in the line is touched.

Each README line is looked up in ``RUNNERS`` below by its exact text: a new or changed command in the README
fails :func:`test_every_readme_command_has_a_runner` until it is run here too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.servers.gms import GmsServer
from tests.servers.kafka_broker import committed_offsets, kafka_broker, read_topic
from tests.test_readme_commands import LINES, _variants

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "openlineage"
BRIDGE = str(Path(sys.executable).with_name("bridge"))
GMS_TOKEN = "gms-secret"
BRIDGE_TOKEN = "bridge-secret"
MCP_TOPIC = "MetadataChangeProposal_v1"


class Workspace:
    """The reader's directory, the servers standing in for theirs, and how a README line becomes a command."""

    def __init__(self, cwd: Path, gms: GmsServer, bootstrap: str, registry_url: str) -> None:
        self.cwd, self.gms, self.bootstrap, self.registry_url = cwd, gms, bootstrap, registry_url
        # The tokens reach a command only where the line says "$DATAHUB_GMS_TOKEN" / "$BRIDGE_TOKEN".
        hidden = ("DATAHUB_GMS_TOKEN", "BRIDGE_TOKEN", "DATAHUB_GMS_URL", "BRIDGE_EMITTER", "BRIDGE_STATE_DIR",
                  "BRIDGE_CONFIG")
        self.env = {name: value for name, value in os.environ.items() if name not in hidden}
        self.ids: dict[str, str] = {}  # README placeholder id -> a real dead-letter id

    def words(self, words: list[str]) -> list[str]:
        places = {
            "http://localhost:8080": self.gms.url, "http://gms:8080": self.gms.url,
            "localhost:9092": self.bootstrap, "kafka:9092": self.bootstrap,
            "http://localhost:8081": self.registry_url,
            "/var/lib/bridge/worker-1": str(self.cwd / "worker-1"),
            "/var/lib/bridge": str(self.cwd / ".bridge-state"),  # the state the serve lines above left
            "$DATAHUB_GMS_TOKEN": GMS_TOKEN, "$BRIDGE_TOKEN": BRIDGE_TOKEN,
        }
        out = [places.get(word, self.ids.get(word, word)) for word in words]
        assert out[0] == "bridge"
        return [BRIDGE, *out[1:]]

    def run(self, words: list[str], *, stdin: str = "", expect: int = 0) -> subprocess.CompletedProcess[str]:
        command = self.words(words)
        done = subprocess.run(command, cwd=self.cwd, env=self.env, input=stdin, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == expect, (
            f"{shlex.join(words)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
        return done

    def start(self, words: list[str]) -> subprocess.Popen[str]:
        log = open(self.cwd / f"{words[1]}.log", "a")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(self.words(words), cwd=self.cwd, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
        log.close()
        return process

    def stop(self, process: subprocess.Popen[str], name: str) -> None:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        assert code == 0, f"{name} exited {code} on SIGTERM:\n{self.log(name)}"

    def log(self, name: str) -> str:
        return (self.cwd / f"{name}.log").read_text(errors="replace")[-3000:]


def _mcp_count(path: Path) -> int:
    return len(json.loads(path.read_text()))


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _wait_http(url: str, process: subprocess.Popen[str], ws: Workspace, name: str) -> None:
    def up() -> bool:
        assert process.poll() is None, f"{name} exited {process.returncode}:\n{ws.log(name)}"
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    _wait(up, f"{url} to answer")


def _event(job: str, output: str, event_type: str = "COMPLETE") -> dict:
    return {
        "eventType": event_type, "eventTime": "2026-12-06T08:00:00Z",
        "producer": "https://example.com/readme-test", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        "run": {"runId": f"01935f0e-0000-7000-8000-{abs(hash(job)) % 10**12:012d}"},
        "job": {"namespace": "readme", "name": job},
        "inputs": [], "outputs": [{"namespace": "postgres://db:5432", "name": f"shop.public.{output}"}],
    }


def _dataset_urn(output: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:postgres,shop.public.{output},PROD)"


# -- the runners, one per README line -----------------------------------------------------------


def run_translate(ws: Workspace, variants: list[list[str]]) -> None:
    (ws.cwd / "mcps.json").write_text("[]")  # an older output, which the command must replace
    for words in variants:
        ws.run(words)
        mcps = json.loads((ws.cwd / "mcps.json").read_text())
        assert mcps and all(m["entityUrn"].startswith("urn:li:") for m in mcps)


def run_send_default(ws: Workspace, variants: list[list[str]]) -> None:
    for words in variants:
        ws.run(words)
        # The default emitter: DataHub's file format under the state directory, every MCP of the corpus.
        assert _mcp_count(ws.cwd / ".bridge-state" / "mcps.json") == _mcp_count(ws.cwd / "mcps.json")


def run_send_rest(ws: Workspace, variants: list[list[str]]) -> None:
    ws.gms.token = GMS_TOKEN
    for words in variants:
        before = len(ws.gms.proposals)
        ws.run(words)
        assert len(ws.gms.proposals) > before  # GMS takes nothing without the token


def run_emit_kafka(ws: Workspace, variants: list[list[str]]) -> None:
    expected = _mcp_count(ws.cwd / "mcps.json")
    for words in variants:
        before = len(read_topic(ws.bootstrap, MCP_TOPIC, count=10**6, timeout=2))
        ws.run(words)
        after = read_topic(ws.bootstrap, MCP_TOPIC, count=before + expected, timeout=30)
        assert len(after) - before == expected
        assert after[-1].value()[:1] == b"\x00"  # Confluent wire format: magic byte, then the schema id


def run_check(ws: Workspace, variants: list[list[str]]) -> None:
    ws.gms.token = None  # the README's check line sends no token
    for words in variants:
        out = ws.run(words)
        assert ws.gms.url in out.stdout + out.stderr


def run_help(ws: Workspace, variants: list[list[str]]) -> None:
    for words in variants:
        assert "Usage:" in ws.run(words).stdout


def _serve_one_event(ws: Workspace, words: list[str], job: str, output: str, landed: Callable[[], bool]) -> None:
    """Start the serve line, post one event writing ``output``, wait until it ``landed``, stop the server."""
    process = ws.start(words)
    try:
        _wait_http("http://127.0.0.1:5000/readyz", process, ws, "serve")
        answer = requests.post("http://127.0.0.1:5000/api/v1/lineage", json=_event(job, output), timeout=10)
        assert answer.status_code == 201, answer.text
        _wait(landed, f"{job}'s event delivered")
    finally:
        ws.stop(process, "serve")


def run_serve_default(ws: Workspace, variants: list[list[str]]) -> None:
    out = ws.cwd / ".bridge-state" / "mcps.json"
    for words in variants:
        _serve_one_event(ws, words, "readme.default", "seen", lambda: _dataset_urn("seen") in out.read_text())


REJECTED = ("bad1", "bad2", "bad3", "bad4")


def run_serve_rest(ws: Workspace, variants: list[list[str]]) -> None:
    """Serves with the bridge's token; GMS refuses four tables, which become the dead letters of the next block."""
    ws.gms.token = GMS_TOKEN
    ws.gms.reject_urns.update(_dataset_urn(name) for name in REJECTED)
    for words in variants:
        process = ws.start(words)
        try:
            _wait_http("http://127.0.0.1:5000/readyz", process, ws, "serve")
            url = "http://127.0.0.1:5000/api/v1/lineage"
            assert requests.post(url, json=_event("readme.nope", "good"), timeout=10).status_code == 401
            auth = {"Authorization": f"Bearer {BRIDGE_TOKEN}"}
            for name in ("good", *REJECTED):
                answer = requests.post(url, json=_event(f"readme.{name}", name), headers=auth, timeout=10)
                assert answer.status_code == 201, answer.text
            _wait(lambda: (_dataset_urn("good"), "status") in ws.gms.aspects, "the good event in GMS")
            _wait(lambda: _dead_ids(ws) == 4, "four dead letters")
        finally:
            ws.stop(process, "serve")


def _dead_ids(ws: Workspace) -> int:
    out = subprocess.run([BRIDGE, "spool", "dead", "--json"], cwd=ws.cwd, env=ws.env, capture_output=True,
                         text=True, timeout=60)
    letters = [json.loads(line) for line in out.stdout.splitlines()]
    ws.ids = {placeholder: str(letter["id"]) for placeholder, letter in zip(("12", "13"), letters, strict=False)}
    return len(letters)


def run_spool_status(ws: Workspace, variants: list[list[str]]) -> None:
    for words in variants:
        out = ws.run(words).stdout
        assert re.search(r"^dead:\s+4\b", out, re.M), out


def run_spool_dead(ws: Workspace, variants: list[list[str]]) -> None:
    _dead_ids(ws)
    for words in variants:
        out = ws.run(words).stdout
        lines = out.splitlines()
        assert len(lines) == 4
        if "--json" in words:
            assert {json.loads(line)["event"]["job"]["name"] for line in lines} == {f"readme.{n}" for n in REJECTED}
        else:
            assert all("422" in line or "reject" in line.lower() for line in lines), out


def run_spool_retry(ws: Workspace, variants: list[list[str]]) -> None:
    """``retry 12 13`` re-queues two; ``--all`` the rest. A server started again delivers what GMS now takes."""
    ids, every = _unique(variants)
    assert ids[-2:] == ["12", "13"] and every[-1] == "--all"
    assert "re-queued 2 event(s)" in ws.run(ids).stdout
    assert "re-queued 2 event(s)" in ws.run(every).stdout
    assert "re-queued 0 event(s)" in ws.run(every).stdout  # nothing dead left: said, not an error
    assert ws.run(["bridge", "spool", "retry", "12"], expect=1).stderr.count("no dead letter with id") == 1
    ws.gms.reject_urns.discard(_dataset_urn("bad1"))  # the cause of one is fixed
    process = ws.start(["bridge", "serve", "--emitter", "rest", "--gms-server", "http://gms:8080",
                        "--gms-token", "$DATAHUB_GMS_TOKEN"])
    try:
        _wait(lambda: (_dataset_urn("bad1"), "status") in ws.gms.aspects, "the fixed event in GMS")
        _wait(lambda: _dead_ids(ws) == 3, "the three still refused back among the dead letters")
    finally:
        ws.stop(process, "serve")


def run_spool_purge(ws: Workspace, variants: list[list[str]]) -> None:
    """``purge 12`` asks, then deletes one; ``--all`` answered "n" deletes nothing; ``--all --yes`` the rest."""
    one, ask_all, yes_all = _unique(variants)
    assert one[-1] == "12" and ask_all[-1] == "--all" and yes_all[-2:] == ["--all", "--yes"]
    _dead_ids(ws)
    assert "deleted 1 dead letter(s)" in ws.run(one, stdin="y\n").stdout
    assert "no dead letter with id" in ws.run(one, expect=1).stderr  # the same id again: gone, and said so
    assert "Aborted" in ws.run(ask_all, stdin="n\n", expect=1).stderr
    assert _dead_ids(ws) == 2
    assert "deleted 2 dead letter(s)" in ws.run(yes_all).stdout
    assert _dead_ids(ws) == 0


def _unique(variants: list[list[str]]) -> list[list[str]]:
    """The distinct variants, ids first, then by length (``_variants`` builds them from a set)."""
    distinct = {tuple(words) for words in variants}
    return [list(words) for words in sorted(distinct, key=lambda w: ("--all" in w, len(w)))]


def run_spool_check(ws: Workspace, variants: list[list[str]]) -> None:
    for words in variants:
        assert ws.run(words).stdout.startswith("ok: ")


def run_spool_recover(ws: Workspace, variants: list[list[str]]) -> None:
    for words in variants:
        ws.run(words)
        assert ws.run(["bridge", "spool", "check"]).stdout.startswith("ok: ")


def run_consume(ws: Workspace, variants: list[list[str]]) -> None:
    """Events on the topic reach GMS; a message that is no event goes to the dead-letter topic."""
    from confluent_kafka import Producer

    ws.gms.token = None  # the README's consume line sends no token
    producer = Producer({"bootstrap.servers": ws.bootstrap})
    for n in range(5):
        producer.produce("openlineage", json.dumps(_event(f"readme.topic{n}", f"topic{n}")).encode())
    producer.produce("openlineage", b"{not json")
    producer.flush(30)
    for words in variants:
        process = ws.start(words)
        try:
            _wait(lambda: all((_dataset_urn(f"topic{n}"), "status") in ws.gms.aspects for n in range(5)),
                  "the topic's events in GMS")
            dead = read_topic(ws.bootstrap, "openlineage-dead", count=1, timeout=60)
            assert len(dead) == 1 and dead[0].value() == b"{not json"
            _wait(lambda: committed_offsets(ws.bootstrap, "lineage-bridge", "openlineage") == 6,
                  "offsets committed past every message")
        finally:
            ws.stop(process, "consume")
        assert (ws.cwd / "worker-1").is_dir()


def run_serve_for_dbt(ws: Workspace, variants: list[list[str]]) -> None:
    """The bridge dbt-ol posts to (its events are tested in test_dbt_real): one event reaches GMS."""
    ws.gms.token = None
    for words in variants:
        _serve_one_event(ws, words, "readme.dbt", "dbt_model",
                         lambda: (_dataset_urn("dbt_model"), "status") in ws.gms.aspects)


def run_ui(ws: Workspace, variants: list[list[str]]) -> None:
    """The status page of the state the serve lines left: their runs, read-only; behind the token when given."""
    for words in variants:
        port = int(words[words.index("--port") + 1]) if "--port" in words else 5050
        base = f"http://127.0.0.1:{port}"
        process = ws.start(words)
        try:
            _wait_http(f"{base}/", process, ws, "ui")
            headers = {}
            if "--bridge-token" in words:
                token = words[words.index("--bridge-token") + 1]
                assert requests.get(f"{base}/ui/api/runs", timeout=10).status_code == 401
                wrong = {"Authorization": "Bearer not-it"}
                assert requests.get(f"{base}/ui/api/runs", headers=wrong, timeout=10).status_code == 403
                headers = {"Authorization": f"Bearer {token}"}
            now = requests.get(f"{base}/ui/api/now", headers=headers, timeout=10).json()
            assert now["mode"] == "offline"
            runs = requests.get(f"{base}/ui/api/runs", headers=headers, timeout=10).json()["runs"]
            assert {"readme.good", "readme.bad1"} <= {run["job"].rsplit("/", 1)[-1] for run in runs}, runs
        finally:
            ws.stop(process, "ui")


RUNNERS: dict[str, Callable[[Workspace, list[list[str]]], None]] = {
    "bridge translate events/ -o mcps.json": run_translate,
    "bridge send events/": run_send_default,
    'bridge send events/ --emitter rest --gms-server http://localhost:8080 --gms-token "$DATAHUB_GMS_TOKEN"':
        run_send_rest,
    "bridge emit mcps.json --emitter kafka --kafka-bootstrap localhost:9092 --schema-registry-url "
    "http://localhost:8081": run_emit_kafka,
    "bridge check --emitter rest --gms-server http://localhost:8080": run_check,
    "bridge --help": run_help,
    "bridge translate --help": run_help,
    "bridge serve": run_serve_default,
    'bridge serve --host 0.0.0.0 --port 5000 --bridge-token "$BRIDGE_TOKEN" --emitter rest '
    '--gms-server http://gms:8080 --gms-token "$DATAHUB_GMS_TOKEN"': run_serve_rest,
    "bridge spool status": run_spool_status,
    "bridge spool dead [--json]": run_spool_dead,
    "bridge spool retry 12 13 | --all": run_spool_retry,
    "bridge spool purge 12 | --all [--yes]": run_spool_purge,
    "bridge spool check": run_spool_check,
    "bridge spool recover": run_spool_recover,
    "bridge consume --topic openlineage --kafka-bootstrap kafka:9092 --group lineage-bridge "
    "--dead-letter-topic openlineage-dead --emitter rest --gms-server http://gms:8080 "
    "--state-dir /var/lib/bridge/worker-1": run_consume,
    "bridge ui --state-dir .bridge-state": run_ui,
    "bridge ui --state-dir /var/lib/bridge --port 8081 --bridge-token s3cret": run_ui,
    "bridge serve --emitter rest --gms-server http://gms:8080": run_serve_for_dbt,
}


def _key(line: str) -> str:
    return " ".join(line.split())


def test_every_readme_command_has_a_runner():
    assert [_key(line) for line in LINES if _key(line) not in RUNNERS] == []
    assert sorted(set(RUNNERS) - {_key(line) for line in LINES}) == []  # no runner for a line gone from README


@pytest.fixture()
def workspace(tmp_path) -> Iterator[Workspace]:
    from tests.servers.schema_registry import schema_registry

    shutil.copytree(CORPUS, tmp_path / "events")
    topics = [MCP_TOPIC, "openlineage", "openlineage-dead"]
    with GmsServer() as gms, kafka_broker(topics=topics) as broker, schema_registry() as registry:
        yield Workspace(tmp_path, gms, broker.bootstrap, registry.url)


def test_every_readme_command_runs_as_written(workspace):
    """In README order, in one directory, as a reader would: each line's runner says what it must have done."""
    if _port_taken(5000):
        pytest.fail("port 5000 is taken: README's `bridge serve` lines listen there")
    for line in LINES:
        RUNNERS[_key(line)](workspace, _variants(line))


def _port_taken(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
