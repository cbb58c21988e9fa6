"""Shared fixtures: the real servers the tests start (Kafka broker, Schema Registry, GMS, bridge serve)."""

# Hypothesis imports its optimiser lazily, inside a running test; pytest then compiles it. On CPython
# 3.11 a compile in a thread that caught a RecursionError earlier (the fuzz tests send deeply nested
# JSON) can fail with "AST constructor recursion depth mismatch" (CPython gh-106905), so it is
# imported here, before any test runs.
import hypothesis.internal.conjecture.optimiser  # noqa: F401
import pytest

# ---------------------------------------------------------------------------
# Kafka: a real broker (tansu) and a Schema Registry test server.
# Owner: Kafka emitter (issue 4). Other sections: append your own block.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_broker_server():
    """The running tansu broker (a tests.servers.kafka_broker.TansuBroker) for the whole session.

    ``MetadataChangeProposal_v1`` exists; create others with ``.create_topics([...])``.
    """
    from tests.servers.kafka_broker import kafka_broker as _run_broker

    with _run_broker(topics=["MetadataChangeProposal_v1"]) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_broker(kafka_broker_server) -> str:
    """Bootstrap string (``127.0.0.1:<port>``) of the session's real Kafka-protocol broker."""
    return kafka_broker_server.bootstrap


@pytest.fixture()
def schema_registry():
    """A fresh Schema Registry test server (tests.servers.schema_registry.SchemaRegistryServer); ``.url``."""
    from tests.servers.schema_registry import schema_registry as _run_registry

    with _run_registry() as server:
        yield server


# ----------------------------- end Kafka block -----------------------------


# ---------------------------------------------------------------------------
# REST / GMS: a real GMS test server (tests/servers/gms.py) and a throw-away CA.
# Owner: REST emitter (issue 3). Other sections: append your own block.
# ---------------------------------------------------------------------------


@pytest.fixture()
def gms_server():
    """A fresh GMS test server (tests.servers.gms.GmsServer) on 127.0.0.1, no token; ``.url``, ``.proposals``."""
    from tests.servers.gms import GmsServer

    with GmsServer() as server:
        yield server


@pytest.fixture()
def tls_files(tmp_path):
    """A self-signed CA with server (localhost/127.0.0.1) and client certificates (tests.servers.tls.TlsFiles)."""
    from tests.servers.tls import make_tls_files

    return make_tls_files(tmp_path / "tls")


# ------------------------------ end REST block ------------------------------


# ---------------------------------------------------------------------------
# bridge serve / spool / consume (issue 5): a running bridge in a thread.
# Owner: serve helper. Other sections: append your own block.
# ---------------------------------------------------------------------------


@pytest.fixture()
def bridge_serve(tmp_path):
    """Factory: ``bridge_serve(emitter="file", emitters=None, deliver=True, **serve_settings)`` starts
    ``bridge serve`` (uvicorn + Starlette + spool) in a thread on a free port and returns the
    ``bridge.intake.BackgroundServer`` (``.url``, ``.service.spool``, ``.service.metrics``).
    The state directory is ``tmp_path / "state"``; servers are stopped at teardown."""
    from bridge.config import BridgeConfig
    from bridge.intake import BackgroundServer, ServeSettings
    from bridge.spool import SpoolService
    from tests.servers.kafka_broker import free_port

    started = []

    def start(*, emitter="file", emitters=None, deliver=True, state_dir=None, **settings):
        config = BridgeConfig(
            emitter=emitter, emitters=emitters or {}, state_dir=str(state_dir or tmp_path / "state")
        )
        serve_settings = ServeSettings.from_dict({"port": free_port(), **settings})
        service = SpoolService(
            config, delivery=serve_settings.delivery, synchronous=serve_settings.synchronous, deliver=deliver
        )
        server = BackgroundServer(config, serve_settings, service=service).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


# ------------------------------ end serve block -----------------------------


# ---------------------------------------------------------------------------
# Dagster: a real temporary instance per test.
# ---------------------------------------------------------------------------


@pytest.fixture()
def instance():
    """A real Dagster instance in a temporary directory (``dagster.instance_for_test``)."""
    import dagster as dg

    with dg.instance_for_test() as inst:
        yield inst
