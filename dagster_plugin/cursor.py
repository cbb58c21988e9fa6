"""The sensor's cursor: where it is in the instance's run-status events, what must be retried, what gave up.

Stored by Dagster with the sensor's state (so it survives daemon restarts) as
compact JSON::

    {"v": 1, "after": 1234,
     "retry": {"<run id>": {"id": 1200, "tries": 2, "error": "..."}},
     "dead": {"<run id>": {"id": 1100, "tries": 5, "error": "...", "token": ""}}}

``after`` is the storage id of the last run-finished event handled (reported,
put on the retry list, or passed over); ``retry`` holds the runs whose
delivery failed or was cut off by the tick deadline, with the storage id of
their finished event and how often they failed; ``dead`` holds the runs that
failed ``max_tries`` times (dead letters): no tick tries them again until a
user asks for it (:func:`dagster_plugin.requeue_dead_letters`). A run is
therefore reported once when delivery works, and never dropped when it does not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["MAX_DEAD_LETTERS", "DeadLetter", "Retry", "SensorCursor"]

#: Dead letters kept in the cursor at most (the oldest go first; each is logged when it is made).
MAX_DEAD_LETTERS = 200


@attrs.frozen(kw_only=True)
class Retry:
    """A run whose report failed (or was cut off): its finished event's storage id, failures so far, last error."""

    storage_id: int
    tries: int
    error: str = ""


@attrs.frozen(kw_only=True)
class DeadLetter:
    """A run that failed ``max_tries`` times and is no longer tried.

    ``token`` is the run's requeue tag when it was dead-lettered: only a new tag value brings it back.
    """

    run_id: str
    storage_id: int
    tries: int
    error: str = ""
    token: str = ""


@attrs.frozen(kw_only=True)
class SensorCursor:
    """Immutable cursor state; methods return a new cursor."""

    after: int = 0
    retry: Mapping[str, Retry] = attrs.field(factory=dict)
    dead: Mapping[str, DeadLetter] = attrs.field(factory=dict)

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
            dead = {
                str(run_id): DeadLetter(run_id=str(run_id), storage_id=int(v["id"]), tries=int(v["tries"]),
                                        error=str(v.get("error", "")), token=str(v.get("token", "")))
                for run_id, v in dict(data.get("dead") or {}).items()
            }
            return cls(after=int(data.get("after", 0)), retry=retry, dead=dead)
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
        if self.dead:
            data["dead"] = {
                run_id: {"id": d.storage_id, "tries": d.tries, "error": d.error[:300], "token": d.token}
                for run_id, d in sorted(self.dead.items(), key=lambda item: item[1].storage_id)
            }
        return json.dumps(data, separators=(",", ":"))

    def _with(self, *, after: int | None = None, retry: Mapping[str, Retry] | None = None,
              dead: Mapping[str, DeadLetter] | None = None) -> SensorCursor:
        return SensorCursor(after=self.after if after is None else max(self.after, after),
                            retry=self.retry if retry is None else retry,
                            dead=self.dead if dead is None else dead)

    def reported(self, run_id: str, storage_id: int) -> SensorCursor:
        """The run was delivered: forget any retry, move past its event."""
        retry = {k: v for k, v in self.retry.items() if k != run_id}
        return self._with(after=storage_id, retry=retry)

    def failed(self, run_id: str, storage_id: int, error: str, *, count: bool = True) -> SensorCursor:
        """The run's delivery failed: keep it for a later tick, move past its event.

        Args:
            count: add one to its tries (False for a failure that says nothing about the run itself,
                such as the tick's deadline passing while it was being delivered).
        """
        old = self.retry.get(run_id)
        retry = dict(self.retry)
        tries = (old.tries if old else 0) + (1 if count else 0)
        retry[run_id] = Retry(storage_id=storage_id, tries=tries, error=error)
        return self._with(after=storage_id, retry=retry)

    def dead_lettered(self, run_id: str, token: str = "") -> SensorCursor:
        """Move a run from the retry list to the dead letters (oldest dropped beyond :data:`MAX_DEAD_LETTERS`)."""
        entry = self.retry[run_id]
        retry = {k: v for k, v in self.retry.items() if k != run_id}
        dead = dict(self.dead)
        dead[run_id] = DeadLetter(run_id=run_id, storage_id=entry.storage_id, tries=entry.tries,
                                  error=entry.error, token=token)
        while len(dead) > MAX_DEAD_LETTERS:
            del dead[min(dead.values(), key=lambda d: d.storage_id).run_id]
        return self._with(retry=retry, dead=dead)

    def requeued(self, run_id: str) -> SensorCursor:
        """Put a dead letter back on the retry list with no tries counted."""
        entry = self.dead[run_id]
        dead = {k: v for k, v in self.dead.items() if k != run_id}
        retry = dict(self.retry)
        retry[run_id] = Retry(storage_id=entry.storage_id, tries=0, error=entry.error)
        return self._with(retry=retry, dead=dead)

    def skipped(self, storage_id: int) -> SensorCursor:
        """An event that is not ours to report (another code location): just move past it."""
        return self._with(after=storage_id)
