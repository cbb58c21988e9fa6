"""The sensor's cursor: where it is in the instance's run-status events, and what must be retried.

Stored by Dagster with the sensor's state (so it survives daemon restarts) as
compact JSON::

    {"v": 1, "after": 1234, "retry": {"<run id>": {"id": 1200, "tries": 2, "error": "..."}}}

``after`` is the storage id of the last run-finished event handled (reported,
or put on the retry list); ``retry`` holds the runs whose delivery failed,
with the storage id of their finished event and how often they were tried.
A run is therefore reported once when delivery works, and never dropped when
it does not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["SensorCursor"]


@attrs.frozen(kw_only=True)
class Retry:
    """A run whose report failed: its finished event's storage id, tries so far, last error."""

    storage_id: int
    tries: int
    error: str = ""


@attrs.frozen(kw_only=True)
class SensorCursor:
    """Immutable cursor state; methods return a new cursor."""

    after: int = 0
    retry: Mapping[str, Retry] = attrs.field(factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> SensorCursor:
        """Read a stored cursor; an empty one starts from the beginning, a bare integer is ``after``."""
        if not raw:
            return cls()
        raw = raw.strip()
        if raw.isdigit():
            return cls(after=int(raw))
        try:
            data = json.loads(raw)
            retry = {
                str(run_id): Retry(storage_id=int(v["id"]), tries=int(v["tries"]), error=str(v.get("error", "")))
                for run_id, v in dict(data.get("retry") or {}).items()
            }
            return cls(after=int(data.get("after", 0)), retry=retry)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            from bridge.errors import ConfigError

            raise ConfigError(f"unreadable sensor cursor {raw[:80]!r}: {exc}; reset the sensor's cursor") from exc

    def serialize(self) -> str:
        data: dict[str, Any] = {"v": 1, "after": self.after}
        if self.retry:
            data["retry"] = {
                run_id: {"id": r.storage_id, "tries": r.tries, "error": r.error[:300]}
                for run_id, r in sorted(self.retry.items(), key=lambda item: item[1].storage_id)
            }
        return json.dumps(data, separators=(",", ":"))

    def reported(self, run_id: str, storage_id: int) -> SensorCursor:
        """The run was delivered: forget any retry, move past its event."""
        retry = {k: v for k, v in self.retry.items() if k != run_id}
        return SensorCursor(after=max(self.after, storage_id), retry=retry)

    def failed(self, run_id: str, storage_id: int, error: str) -> SensorCursor:
        """The run's delivery failed: keep it for a later tick, move past its event."""
        old = self.retry.get(run_id)
        retry = dict(self.retry)
        retry[run_id] = Retry(storage_id=storage_id, tries=(old.tries if old else 0) + 1, error=error)
        return SensorCursor(after=max(self.after, storage_id), retry=retry)

    def skipped(self, storage_id: int) -> SensorCursor:
        """An event that is not ours to report (another code location): just move past it."""
        return SensorCursor(after=max(self.after, storage_id), retry=self.retry)
