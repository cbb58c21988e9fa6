"""The GMS test server in a child process (for benchmarks): ``python -m tests.servers.gms``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from typing import Any

__all__ = ["GmsProcess"]


class GmsProcess:
    """The GMS test server in a child process (for benchmarks).

    Args:
        store: keep proposals in the child (only counts are visible from here either way).
        token: as :class:`GmsServer`.
    """

    def __init__(self, *, store: bool = False, token: str | None = None) -> None:
        self.store = store
        self.token = token
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> GmsProcess:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        cmd = [sys.executable, "-m", "tests.servers.gms", "--port", "0"]
        if not self.store:
            cmd.append("--no-store")
        if self.token:
            cmd += ["--token", self.token]
        self._proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"GMS test server process did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        return self

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/__test__/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/__test__/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> GmsProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
