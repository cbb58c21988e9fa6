"""``bridge serve`` as a real child process, for crash tests and benchmarks.

The process is the real CLI (``python -c 'from bridge.cli import main; main()' serve ...``)
so it can be killed with SIGKILL part-way and started again on the same state directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.servers.kafka_broker import free_port

__all__ = ["BridgeProcess"]

ROOT = Path(__file__).resolve().parents[2]


class BridgeProcess:
    """One ``bridge serve`` (or ``bridge ui``: ``command="ui"``) child process.

    Args:
        state_dir: the spool's directory (reuse it across restarts); the log is written beside it.
        args: extra CLI arguments after ``serve`` (``--emitter rest --gms-server ...``).
        port: fixed port (a free one by default; kept across restarts).
        env: extra environment variables.
        spool: pass ``--state-dir state_dir``; ``False`` for ``--to-topic``, which keeps no state.
        command: the ``bridge`` command that serves (``serve`` or ``ui``).

    The child never inherits a ``BRIDGE_TOKEN`` of the environment the tests run in (``env`` may set one).
    """

    def __init__(self, state_dir: str | os.PathLike[str], *args: str, port: int | None = None,
                 env: dict[str, str] | None = None, spool: bool = True, command: str = "serve") -> None:
        self.state_dir = str(state_dir)
        self.args = ["--state-dir", self.state_dir, *args] if spool else list(args)
        self.port = port or free_port()
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.command = command
        self.log_path = Path(self.state_dir).with_suffix(".log" if command == "serve" else f".{command}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> BridgeProcess:
        cmd = [
            sys.executable, "-c", "from bridge.cli import main; main()", "--log-level", "info", self.command,
            "--port", str(self.port), *self.args,
        ]
        env = {**{k: v for k, v in os.environ.items() if k != "BRIDGE_TOKEN"}, "PYTHONPATH": str(ROOT), **self.env}
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge {self.command} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"bridge {self.command} did not come up: {self.log_tail()}")

    def metric(self, name: str, default: float | None = None) -> float:
        """The value of an unlabelled metric at ``/metrics`` (``default`` when it is not there yet)."""
        for line in requests.get(self.url + "/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        if default is None:
            raise AssertionError(f"no metric {name} at {self.url}/metrics")
        return default

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush -- what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait for the graceful shutdown."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def __enter__(self) -> BridgeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
