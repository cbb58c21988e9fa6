"""A destination that is down: ``bridge emit``/``send`` fail fast, say each distinct error once, and exit non-zero.

The CLI runs as a real child process on the bundled corpus (483 MCPs) against real
test servers that were stopped (closed ports), or against a socket that accepts
connections and drops them, counting how often the bridge tried. No timing
thresholds: "fast" is asserted as the number of connection attempts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bridge.errors import ConnectionFailedError, RejectedError, RetriableError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.breaker import Unreachable, naming
from tests.servers.gms import GmsServer
from tests.servers.kafka_broker import free_port

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "openlineage"
#: Most lines a run against a dead destination may print: retry warnings of the first
#: batch, the breaker's warning, one error with three examples (two if a probe failed
#: in other words), the summary.
MAX_LINES = 14


def bridge(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``bridge ARGS`` as a user runs it: a child process, in an empty folder, with a clean environment."""
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "DATAHUB_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", "from bridge.cli import main; main()", *args], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def corpus_mcps(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The bundled corpus translated to an MCP file (what `bridge translate` writes)."""
    path = tmp_path_factory.mktemp("corpus") / "mcps.json"
    done = bridge(path.parent, "translate", str(CORPUS), "-o", str(path))
    assert done.returncode == 0, done.stderr
    mcps = json.loads(path.read_text())
    assert len(mcps) == 483
    return path, mcps


class DropAll:
    """A port where something accepts TCP connections and closes them at once, counting them.

    A server that is down but whose socket still answers: every request fails
    with a broken connection, and :attr:`accepted` says how often the bridge tried.
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def __enter__(self) -> DropAll:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self._thread.join(5)


def stopped_gms_url() -> str:
    """The URL of a GMS test server that was started and then stopped (a closed port)."""
    gms = GmsServer().start()
    url = gms.url
    gms.stop()
    return url


def assert_one_error_for_all(output: str, count: int, first: list[dict] | None, corpus: list[dict]) -> str:
    """The ``count`` failures said as one error, each with three of the MCPs it hit, and the summary.

    A run that outlasts the breaker's hold probes the destination once more; that probe may fail
    in other words (a second error line). ``first``: the MCPs in the order they were emitted.
    Returns the first error line.
    """
    lines = output.splitlines()
    assert len(lines) <= MAX_LINES, output
    groups = [line for line in lines if line.startswith("failed (")]
    assert 1 <= len(groups) <= 2, output
    assert sum(int(g.split("(")[1].split(" ")[0]) for g in groups) == count, output
    examples = [line.strip() for line in lines if line.startswith("  urn=")]
    known = {f"urn={m['entityUrn']} aspect={m['aspectName']}" for m in corpus}
    assert 3 <= len(examples) <= 3 * len(groups) and set(examples) <= known, output
    if first is not None:
        assert {f"urn={m['entityUrn']} aspect={m['aspectName']}" for m in first[:3]} <= set(examples), output
    assert lines[-1].startswith((f"MCPs read: {len(corpus)}", "events read: 74")) and f"failed: {count};" in lines[-1]
    return groups[0]


# ------------------------------------------------------------------ Kafka: Schema Registry down


@pytest.fixture()
def kafka_flags(kafka_broker_server):
    def flags(registry_url: str) -> list[str]:
        return ["--emitter", "kafka", "--kafka-bootstrap", kafka_broker_server.bootstrap,
                "--schema-registry-url", registry_url]

    return flags


def test_emit_with_the_registry_down_fails_fast_with_one_summary(tmp_path, corpus_mcps, kafka_flags):
    pytest.importorskip("confluent_kafka")
    from tests.servers.schema_registry import SchemaRegistryServer

    registry = SchemaRegistryServer().start()
    registry.stop()  # a registry that was there and is gone
    path, mcps = corpus_mcps
    done = bridge(tmp_path, "emit", str(path), *kafka_flags(registry.url))
    assert done.returncode == 1, done.stderr
    assert f"Schema Registry {registry.url} unreachable" in assert_one_error_for_all(done.stderr, len(mcps), mcps, mcps)
    assert registry.requests == []


def test_the_registry_is_not_asked_again_for_every_mcp(tmp_path, corpus_mcps, kafka_flags):
    pytest.importorskip("confluent_kafka")
    path, mcps = corpus_mcps
    with DropAll() as registry:
        done = bridge(tmp_path, "emit", str(path), *kafka_flags(registry.url))
    assert done.returncode == 1, done.stderr
    assert_one_error_for_all(done.stderr, len(mcps), mcps, mcps)
    # One lookup is the client's 3 attempts (1 + max.retries=2); without the breaker each of the
    # 483 MCPs would make its own (1449 connections). A probe every few seconds may add a lookup.
    assert 3 <= registry.accepted <= 9, registry.accepted


def test_send_with_the_registry_down_fails_fast_with_one_summary(tmp_path, corpus_mcps, kafka_flags):
    pytest.importorskip("confluent_kafka")
    _, mcps = corpus_mcps
    with DropAll() as registry:
        done = bridge(tmp_path, "send", str(CORPUS), *kafka_flags(registry.url))
    assert done.returncode == 1, done.stderr
    failed = int(done.stderr.splitlines()[-1].split("failed: ")[1].split(";")[0])
    assert failed >= len(mcps)
    assert_one_error_for_all(done.stderr, failed, None, mcps)
    assert 3 <= registry.accepted <= 9, registry.accepted


# ------------------------------------------------------------------ REST: GMS down


def test_emit_with_gms_down_groups_the_errors_and_names_the_first_mcps(tmp_path, corpus_mcps):
    path, mcps = corpus_mcps
    url = stopped_gms_url()
    done = bridge(tmp_path, "emit", str(path), "--emitter", "rest", "--gms-server", url)
    assert done.returncode == 1, done.stderr
    assert f"nothing is listening at {url}" in assert_one_error_for_all(done.stderr, len(mcps), mcps, mcps)
    assert "Traceback" not in done.stderr


def test_send_with_gms_down_groups_the_errors(tmp_path, corpus_mcps):
    _, mcps = corpus_mcps
    done = bridge(tmp_path, "send", str(CORPUS), "--emitter", "rest", "--gms-server", stopped_gms_url())
    assert done.returncode == 1, done.stderr
    assert_one_error_for_all(done.stderr, len(mcps), None, mcps)


def test_gms_is_not_retried_batch_after_batch_once_it_is_down(tmp_path, corpus_mcps):
    path, mcps = corpus_mcps
    with DropAll() as gms:
        config = tmp_path / "bridge.toml"
        # Quick retries keep the test short; 483 MCPs are 3 batches.
        config.write_text(f'emitter = "rest"\n[emitters.rest]\ngms_server = "{gms.url}"\nretry_backoff_sec = 0.01\n')
        done = bridge(tmp_path, "emit", str(path), "--config", str(config))
    assert done.returncode == 1, done.stderr
    assert_one_error_for_all(done.stderr, len(mcps), mcps, mcps)
    # The first batch: 1 + retry_max_times (4) attempts. Without the breaker, every batch
    # would make as many (15). A probe every few seconds may add one.
    assert 5 <= gms.accepted <= 8, gms.accepted


# ------------------------------------------------------------------ file emitter: the same report


def test_file_emitter_failures_are_grouped_too(tmp_path, corpus_mcps):
    path, mcps = corpus_mcps
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    done = bridge(tmp_path, "emit", str(path), "--emitter", "file", "-o", str(blocker / "out.json"))
    assert done.returncode == 1, done.stderr
    assert "cannot open" in assert_one_error_for_all(done.stderr, len(mcps), mcps, mcps)


# ------------------------------------------------------------------ the breaker itself


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_fails_fast_while_open_then_lets_one_probe_through():
    clock = Clock()
    breaker = Unreachable("GMS at http://gms", hold=5.0, clock=clock)
    assert breaker.check("urn:li:a", "status") is False  # closed: try as usual
    breaker.unreachable(ConnectionFailedError("nothing is listening at http://gms", urn="urn:li:a", aspect="status"))
    with pytest.raises(ConnectionFailedError) as info:
        breaker.check("urn:li:b", "ownership")
    assert str(info.value) == "nothing is listening at http://gms; urn=urn:li:b; aspect=ownership"
    assert (info.value.urn, info.value.aspect) == ("urn:li:b", "ownership")
    clock.now += 5.0
    assert breaker.check("urn:li:c", "status") is True  # the probe
    with pytest.raises(ConnectionFailedError):  # one probe per hold
        breaker.check("urn:li:d", "status")
    breaker.reachable()
    assert breaker.check("urn:li:e", "status") is False
    assert (breaker.opened, breaker.short_circuited) == (1, 2)


def test_naming_keeps_the_class_and_what_the_server_said():
    shared = RetriableError("GMS at http://gms is unavailable for now", status=503, server_message="busy")
    named = naming(shared, "urn:li:x", "status")
    assert type(named) is RetriableError
    assert str(named) == "GMS at http://gms is unavailable for now; urn=urn:li:x; aspect=status; status=503; server said: busy"
    assert (named.status, named.server_message) == (503, "busy")
    assert naming(named, "urn:li:x", "status") is named
    own = RejectedError("GMS rejected the proposal", urn="urn:li:y", aspect="status", status=422)
    assert str(naming(own, "urn:li:z", "ownership")) == (
        "GMS rejected the proposal; urn=urn:li:z; aspect=ownership; status=422")


def test_rest_client_recovers_through_the_probe_when_gms_is_back():
    from emitters.rest.client import GmsClient
    from emitters.rest.config import RestEmitterConfig
    from emitters.rest.emitter import RestEmitter

    port = free_port()
    mcp = MetadataChangeProposalWrapper(entity_urn="urn:li:dataset:x", aspect_name="status", aspect={"removed": False})
    emitter = RestEmitter(RestEmitterConfig.from_dict({"gms_server": f"http://127.0.0.1:{port}", "retry_backoff_sec": 0.01}))
    clock = Clock()
    client: GmsClient = emitter._client
    client.breaker = Unreachable("GMS", clock=clock)
    with pytest.raises(ConnectionFailedError, match="gave up after 5 attempts"):
        emitter.emit(mcp)
    with GmsServer(port=port) as gms:
        with pytest.raises(ConnectionFailedError, match="urn=urn:li:dataset:x"):
            emitter.emit(mcp)  # still known to be down: not even tried
        assert gms.request_count == 0
        clock.now += client.breaker.hold
        emitter.emit(mcp)  # the probe: GMS answers, the breaker closes
        emitter.emit(mcp)
        assert gms.request_count == 2 and not client.breaker.is_open
    emitter.close()


def test_registry_lookup_recovers_through_the_probe_when_the_registry_is_back():
    pytest.importorskip("confluent_kafka")
    from emitters.kafka.avro import load_mcp_schema
    from emitters.kafka.registry import SchemaIdResolver, registry_client_config
    from tests.servers.schema_registry import SchemaRegistryServer

    registry = SchemaRegistryServer().start()
    registry.stop()
    resolver = SchemaIdResolver(url=registry.url, client_config=registry_client_config(registry.url, {}, 2.0),
                                schema_text=load_mcp_schema(), mode="register")
    clock = Clock()
    resolver.breaker = Unreachable("Schema Registry", clock=clock)
    with pytest.raises(ConnectionFailedError, match="unreachable"):
        resolver.schema_id("topic-value")
    registry.start()
    try:
        with pytest.raises(ConnectionFailedError, match="unreachable"):
            resolver.schema_id("topic-value")  # known to be down: not asked
        assert registry.requests == []
        clock.now += resolver.breaker.hold
        assert resolver.schema_id("topic-value") == registry.registry.subjects["topic-value"][0]
        assert not resolver.breaker.is_open
    finally:
        registry.stop()
