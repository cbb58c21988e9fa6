"""Waiting for something a real server, thread or process does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition not reached in time",
               *, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something true; returns that value.

    Raises:
        AssertionError: ``what``, when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(interval)
    return value
