"""The journal: the last events ``bridge serve`` received, kept for the status page.

The spool forgets an event once it is delivered, so the page could not show a run's history
from it. The journal keeps the newest events (2,000 by default) in ``<state_dir>/journal.sqlite3``,
with the values of secret-looking keys already redacted (:mod:`bridge.secrets`, the
translator's own rules), so ``bridge ui --state-dir`` can show them after the
server stopped.

It costs the intake next to nothing: :meth:`Journal.record` only appends to a bounded in-memory
queue; a thread of its own decodes and writes the newest events about twice a second (and once
more at exit). It is a view, not a store: an event accepted just before a crash may be missing
from it, never from the spool.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge._json import read_json
from bridge.logs import log_fields
from bridge.rounds import digest
from bridge.secrets import DEFAULT_SECRETS, Secrets

__all__ = ["JOURNAL_FILE", "Journal"]

log = logging.getLogger(__name__)

#: The journal's file in a state directory.
JOURNAL_FILE = "journal.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received REAL NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    run_id TEXT,
    job TEXT,
    event_type TEXT,
    event_time TEXT,
    datasets TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id);
"""


#: What is kept of an event the journal could not redact (the page says so instead of showing it).
NOT_SHOWN = {"_bridge": "this event could not be redacted for the status page; it is not shown"}


def _row(received: float, key: str, body: str, secrets: Secrets = DEFAULT_SECRETS) -> tuple:
    try:
        event = read_json(body)
    except (ValueError, RecursionError):
        event = None
    if not isinstance(event, dict):
        return (received, key, digest(body), None, None, None, None, "", json.dumps(event))
    run = event.get("run") if isinstance(event.get("run"), dict) else {}
    job = event.get("job") if isinstance(event.get("job"), dict) else None
    names = [f"{d.get('namespace')}/{d.get('name')}" for side in ("inputs", "outputs")
             for d in event.get(side) or () if isinstance(d, dict)]
    if isinstance(event.get("dataset"), dict):
        names.append(f"{event['dataset'].get('namespace')}/{event['dataset'].get('name')}")
    try:
        shown = json.dumps(secrets.redact(event), separators=(",", ":"))
    except Exception as exc:  # noqa: BLE001 - the page says the event is there, without showing it
        log.warning("status page journal keeps an event without its body", extra=log_fields(
            key=key, run_id=run.get("runId"), error=f"{type(exc).__name__}: {exc}"))
        shown = json.dumps(NOT_SHOWN)
    return (received, key, digest(body), run.get("runId"),
            f"{job.get('namespace')}/{job.get('name')}" if job else None,
            event.get("eventType") or ("JOB" if job else "DATASET"), event.get("eventTime"), "\n".join(names),
            shown)


def _rows(items: list[tuple[float, str, str]], secrets: Secrets) -> list[tuple]:
    """The rows of ``items``; one that fails (a bug) is left out and logged, the others are kept."""
    rows = []
    for item in items:
        try:
            rows.append(_row(*item, secrets))
        except Exception as exc:  # noqa: BLE001 - one event must not cost the page the others
            log.error("status page journal skipped an event", extra=log_fields(
                key=item[1], error=f"{type(exc).__name__}: {exc}"))
    return rows


class Journal:
    """The newest events received, written to ``path`` by a background thread.

    Args:
        path: the SQLite file (``<state_dir>/journal.sqlite3``).
        keep: how many events the file keeps (older ones are dropped).
        interval: seconds between writes.
        secrets: whose values are redacted before anything is written (the translator's
            ``secret_keys`` over the defaults; see :mod:`bridge.secrets`).
    """

    def __init__(self, path: str | Path, *, keep: int = 2000, interval: float = 0.5,
                 secrets: Secrets = DEFAULT_SECRETS) -> None:
        self.path = Path(path)
        self.secrets = secrets
        self.keep = keep
        self.interval = interval
        self._queue: collections.deque[tuple[float, str, str]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = False
        # Written once more at exit; a weak reference, so a journal nobody holds can go.
        ref = weakref.ref(self)
        atexit.register(lambda: (journal := ref()) is not None and journal.flush())

    @classmethod
    def in_state_dir(cls, state_dir: str | Path, **kwargs: Any) -> Journal:
        return cls(Path(state_dir) / JOURNAL_FILE, **kwargs)

    def record(self, items: Sequence[tuple[str, str]]) -> None:
        """Note one request's accepted ``(key, event JSON)`` pairs (cheap: decoded later, off the event loop)."""
        now = time.time()
        self._queue.extend((now, key, body) for key, body in items)
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="bridge-ui-journal", daemon=True)
                    self._thread.start()

    def flush(self) -> None:
        """Write what was recorded so far."""
        with self._lock:
            items = []
            while self._queue:
                items.append(self._queue.popleft())
            if not items:
                return
            try:
                self._write(items)
            except (OSError, sqlite3.Error) as exc:  # a view: the spool has the events
                log.warning("status page journal write failed", extra=log_fields(path=str(self.path), error=str(exc)))

    def _loop(self) -> None:
        idle = 0.0
        while idle < 10.0:
            time.sleep(self.interval)
            if self._queue:
                idle = 0.0
                try:
                    self.flush()
                except Exception as exc:  # noqa: BLE001 - a view: the thread goes on, the spool has the events
                    log.error("status page journal write failed", extra=log_fields(
                        path=str(self.path), error=f"{type(exc).__name__}: {exc}"))
            else:
                idle += self.interval

    def _write(self, items: list[tuple[float, str, str]]) -> None:
        rows = _rows(items, self.secrets)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
        try:
            if not self._ready:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                self._ready = True
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN")
            db.executemany("INSERT INTO events(received, key, digest, run_id, job, event_type, event_time, datasets,"
                           " body) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            db.execute("DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?", (self.keep,))
            db.execute("COMMIT")
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.close()
