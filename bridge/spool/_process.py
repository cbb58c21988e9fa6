"""Delivery in a child process: its own interpreter (own GIL, own core) next to the intake.

Translating and emitting is CPU work in Python; in the intake's process it would
compete with the HTTP server for the GIL and slow acknowledgements down. The
child opens the same spool database (SQLite WAL lets two processes share it),
runs the usual :class:`~bridge.spool.DeliveryWorker` threads, and reports its
counters, breaker state and emitter health to the parent over a pipe. If it
dies, the parent starts a new one; if the parent dies (even ``kill -9``), the
child notices and exits. Nothing is lost either way: the spool is the truth.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from bridge.config import BridgeConfig
from bridge.logs import log_fields
from bridge.spool._health import SpoolCorruptError
from bridge.spool._metrics import Metrics
from bridge.spool._policy import DeliveryConfig

__all__ = ["DeliveryProcess"]

log = logging.getLogger(__name__)

_REPORT_EVERY = 0.25
_CHECK_EMITTER_EVERY = 5.0


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this process when its parent dies (even by SIGKILL)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the getppid() check in the report loop does it, a moment later


def _relay_wakeups(fd: int, wake: Any) -> None:
    """Child side of the wake-up pipe: each read means the intake committed something."""
    while True:
        try:
            if not os.read(fd, 4096):
                return  # the parent closed its end (it is stopping or gone)
        except OSError:
            return
        wake()


def _child_main(config: BridgeConfig, delivery: DeliveryConfig, synchronous: str, conn: Any, parent_pid: int,
                log_level: int, wakeups: Any = None) -> None:
    import signal

    from bridge.logs import configure_logging
    from bridge.spool._service import SpoolService

    configure_logging(log_level)
    _die_with_parent()
    # Ctrl+C reaches the whole process group; the parent decides when delivery stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if delivery.nice > 0:
        # Acknowledgements first: delivery gets the CPU the intake leaves (see DeliveryConfig.nice).
        with contextlib.suppress(OSError):
            os.nice(delivery.nice)
    # The parent's commits wake the workers through the wake-up pipe; the short idle wait is
    # only a backstop (and the granularity of retry times).
    delivery = attrs.evolve(delivery, idle_wait=min(delivery.idle_wait, 0.25 if wakeups is not None else 0.02))
    service = SpoolService(config, delivery=delivery, synchronous=synchronous, deliver="thread", exclusive=False)
    try:
        service.start()
    except SpoolCorruptError as exc:
        # Starting again would fail the same way: tell the parent (its /readyz says so) and stop.
        conn.send({"metrics": service.metrics.snapshot(), "paused": False, "opened": 0,
                   "emitter": "not checked", "spool": exc.problem, "final": True})
        return
    if wakeups is not None:
        threading.Thread(target=_relay_wakeups, args=(wakeups.fileno(), service.spool.wake),  # type: ignore[union-attr]
                         name="delivery-wakeups", daemon=True).start()
    emitter_status, checked = "unknown", 0.0
    try:
        while True:
            if conn.poll(_REPORT_EVERY) and conn.recv() == "stop":
                break
            if os.getppid() != parent_pid:
                # The intake died without stopping us: leave like it did; the spool keeps the rest.
                log.warning("intake process is gone; delivery process exits")
                os._exit(1)
            if time.monotonic() - checked > _CHECK_EMITTER_EVERY:
                checked = time.monotonic()
                try:
                    service.emitter.test_connection()
                    emitter_status = "ok"
                except Exception as exc:  # noqa: BLE001 - reported to the parent's /readyz
                    emitter_status = str(exc) or type(exc).__name__
            conn.send({"metrics": service.metrics.snapshot(), "paused": service.breaker.failing,
                       "opened": service.breaker.opened, "emitter": emitter_status,
                       "spool": service.spool.corruption})  # type: ignore[union-attr]
    finally:
        service.stop()
        with contextlib.suppress(OSError):
            conn.send({"metrics": service.metrics.snapshot(), "paused": False, "opened": service.breaker.opened,
                       "emitter": emitter_status, "spool": service.spool.corruption,  # type: ignore[union-attr]
                       "final": True})


class DeliveryProcess:
    """Start, watch and stop the delivery child process.

    Args:
        config: the bridge configuration (the child builds its own translator and emitter from it).
        delivery: worker settings.
        synchronous: SQLite durability level.
        metrics: the parent's registry; the child's counters are merged into it.
        on_corruption: called with SQLite's message when the child finds the spool's file damaged
            (the parent's spool remembers it, so ``/readyz`` says so).
    """

    def __init__(self, config: BridgeConfig, delivery: DeliveryConfig, synchronous: str, metrics: Metrics,
                 on_corruption: Callable[[str], None] | None = None) -> None:
        self.config = config
        self._on_corruption = on_corruption
        self.delivery = delivery
        self.synchronous = synchronous
        self.metrics = metrics
        self.paused = False
        self.opened = 0
        self.emitter_status = "starting"
        self.restarts = 0
        self._ctx = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Any = None
        self._wake_fd: int | None = None
        # Held while writing to or closing the wake-up fd, so a write never hits a reused fd number.
        self._wake_lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._offset: dict[str, Any] = {}

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> DeliveryProcess:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="delivery-process-watch", daemon=True)
        self._watcher.start()
        return self

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe()
        wake_read, wake_write = self._ctx.Pipe(duplex=False)
        self._process = self._ctx.Process(
            target=_child_main,
            args=(self.config, self.delivery, self.synchronous, child, os.getpid(), logging.getLogger().level,
                  wake_read),
            name="bridge-delivery",
            daemon=True,
        )
        self._process.start()
        child.close()
        wake_read.close()
        # Raw non-blocking writes of one byte: a full pipe means the child has wake-ups pending anyway.
        fd = os.dup(wake_write.fileno())
        wake_write.close()
        os.set_blocking(fd, False)
        with self._wake_lock:
            old, self._wake_fd = self._wake_fd, fd
            if old is not None:
                with contextlib.suppress(OSError):
                    os.close(old)
        self._conn = parent

    def wake(self) -> None:
        """Tell the child something was committed (cheap; call after every intake commit)."""
        with self._wake_lock:
            if self._wake_fd is not None:
                with contextlib.suppress(OSError):  # full: the child has wake-ups pending anyway
                    os.write(self._wake_fd, b"w")

    def _watch(self) -> None:
        while True:
            try:
                report = self._conn.recv()
            except (EOFError, OSError):
                if self._stopping.is_set():
                    return
                code = self._process.exitcode if self._process else None
                log.error("delivery process died; starting a new one", extra=log_fields(exitcode=code))
                self.emitter_status = "delivery process restarting"
                # Counters of the dead child are kept: later reports add to them.
                self.metrics.absorb(None, keep=True)
                self._process.join(1)
                time.sleep(1.0)
                if self._stopping.is_set():
                    return
                self.restarts += 1
                self._spawn()
                continue
            self.metrics.absorb(report["metrics"])
            self.paused = report["paused"]
            self.opened = report["opened"]
            self.emitter_status = report["emitter"]
            if report.get("spool") and self._on_corruption is not None:
                self._on_corruption(report["spool"])
            if report.get("final"):
                if report.get("spool") and not self._stopping.is_set():
                    log.error("delivery process stopped: the spool is corrupt", extra=log_fields(error=report["spool"]))
                return

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to finish its round and exit; kill it if it does not within ``timeout``."""
        self._stopping.set()
        if self._process is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(timeout)
        if self._process.is_alive():
            log.error("delivery process did not stop in time; terminating it")
            self._process.terminate()
            self._process.join(5)
        if self._watcher is not None:
            self._watcher.join(5)
        with self._wake_lock:
            fd, self._wake_fd = self._wake_fd, None
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
