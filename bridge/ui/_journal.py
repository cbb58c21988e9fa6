"""The journal: the last events ``bridge serve`` received, kept for the status page.

The spool forgets an event once it is delivered, so the page could not show a run's history
from it. The journal keeps the newest events (2,000 and 64 MiB of them by default, whichever is
less; always the newest one) in ``<state_dir>/journal.sqlite3``, with the values of secret-looking keys already redacted (:mod:`bridge.secrets`, the
translator's own rules), so ``bridge ui --state-dir`` can show them after the
server stopped.

It costs the intake next to nothing: :meth:`Journal.record` only appends to an in-memory queue,
bounded by the same count and bytes; a thread of its own decodes and writes the newest events about
twice a second (and once more at exit), keeping the file open while it runs (it stops, closing it,
after :data:`IDLE_STOP` seconds without events). It is a view, not a store: an event accepted just
before a crash may be missing from it, never from the spool. The file gives back the space of what it drops
(:mod:`bridge.sqlite_files`), so heavy events do not keep it large once they are pruned.
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
from bridge.sqlite_files import CONVERT_BELOW, connect, enable, reclaim

__all__ = ["JOURNAL_BYTES", "JOURNAL_EVENTS", "JOURNAL_FILE", "Journal"]

log = logging.getLogger(__name__)

#: The journal's file in a state directory.
JOURNAL_FILE = "journal.sqlite3"
#: Most events the journal keeps, and most bytes of their (redacted) JSON.
JOURNAL_EVENTS = 2000
JOURNAL_BYTES = 64 << 20
#: Seconds without events after which the journal's thread stops (and closes the file); the next event
#: starts another.
IDLE_STOP = 10.0

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
    body TEXT NOT NULL,
    size INTEGER
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id);
"""
#: ``size``: the body's length, added since the first release (filled in once for older rows). Pruning
#: by bytes reads it from its index alone, never the bodies (the column sits after them in the row).
_SIZES = """
CREATE INDEX IF NOT EXISTS events_size ON events(id, size);
UPDATE events SET size = length(body) WHERE id IN (SELECT id FROM events INDEXED BY events_size WHERE size IS NULL);
"""
#: Keeps the newest rows whose bodies add up to at most ``?1`` bytes, and always the newest one.
_PRUNE_BYTES = """
DELETE FROM events WHERE id < coalesce(
    (SELECT min(id) FROM (SELECT id, sum(size) OVER (ORDER BY id DESC) AS total FROM events) WHERE total <= ?1),
    (SELECT max(id) FROM events))
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
    # searchable names, redacted as the body is: a namespace may carry a user:password@
    names = [secrets.redact_text(f"{d.get('namespace')}/{d.get('name')}") for side in ("inputs", "outputs")
             for d in event.get(side) or () if isinstance(d, dict)]
    if isinstance(event.get("dataset"), dict):
        names.append(secrets.redact_text(f"{event['dataset'].get('namespace')}/{event['dataset'].get('name')}"))
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
    """The rows of ``items``, each with its shown event's size last (ASCII JSON: its length is its
    bytes); one that fails (a bug) is left out and logged, the others are kept."""
    rows = []
    for item in items:
        try:
            row = _row(*item, secrets)
        except Exception as exc:  # noqa: BLE001 - one event must not cost the page the others
            log.error("status page journal skipped an event", extra=log_fields(
                key=item[1], error=f"{type(exc).__name__}: {exc}"))
        else:
            rows.append(row + (len(row[-1]),))
    return rows


class Journal:
    """The newest events received, written to ``path`` by a background thread.

    Args:
        path: the SQLite file (``<state_dir>/journal.sqlite3``).
        keep: how many events the file keeps (older ones are dropped).
        max_bytes: how many bytes of event JSON the file (and the queue waiting for it) keeps, older
            events dropped first; the newest event is kept whatever its size.
        interval: seconds between writes.
        secrets: whose values are redacted before anything is written (the translator's
            ``secret_keys`` over the defaults; see :mod:`bridge.secrets`).
    """

    def __init__(self, path: str | Path, *, keep: int = JOURNAL_EVENTS, max_bytes: int = JOURNAL_BYTES,
                 interval: float = 0.5, secrets: Secrets = DEFAULT_SECRETS) -> None:
        self.path = Path(path)
        self.secrets = secrets
        self.keep = keep
        self.max_bytes = max_bytes
        self.interval = interval
        self._queue: collections.deque[tuple[float, str, str]] = collections.deque()
        self._queued_bytes = 0
        self._queue_lock = threading.Lock()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None  # (open while the thread runs; guarded by _lock)
        # Written once more at exit; a weak reference, so a journal nobody holds can go.
        ref = weakref.ref(self)
        atexit.register(lambda: (journal := ref()) is not None and journal.close())

    @classmethod
    def in_state_dir(cls, state_dir: str | Path, **kwargs: Any) -> Journal:
        return cls(Path(state_dir) / JOURNAL_FILE, **kwargs)

    def record(self, items: Sequence[tuple[str, str]]) -> None:
        """Note one request's accepted ``(key, event JSON)`` pairs (cheap: decoded later, off the event loop)."""
        now = time.time()
        with self._queue_lock:
            for key, body in items:
                self._queue.append((now, key, body))
                self._queued_bytes += len(body)
            # What the file would drop anyway is not kept waiting for it either.
            while len(self._queue) > self.keep or (self._queued_bytes > self.max_bytes and len(self._queue) > 1):
                self._queued_bytes -= len(self._queue.popleft()[2])
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="bridge-ui-journal", daemon=True)
                    self._thread.start()

    def flush(self) -> None:
        """Write what was recorded so far."""
        with self._lock:
            with self._queue_lock:
                items = list(self._queue)
                self._queue.clear()
                self._queued_bytes = 0
            if not items:
                return
            try:
                self._write(items)
            except (OSError, sqlite3.Error) as exc:  # a view: the spool has the events
                self._close_db()  # (what was begun is rolled back; the next write opens the file again)
                log.warning("status page journal write failed", extra=log_fields(path=str(self.path), error=str(exc)))
            except BaseException:
                self._close_db()
                raise

    def close(self) -> None:
        """Write what was recorded so far and close the file (the next write opens it again)."""
        self.flush()
        with self._lock:
            self._close_db()

    def _loop(self) -> None:
        idle = 0.0
        while idle < IDLE_STOP:
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
        with self._lock:
            self._close_db()

    def _close_db(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(self.path, timeout=10.0)
        try:
            db.executescript(SCHEMA)
            if "size" not in {row[1] for row in db.execute("PRAGMA table_info(events)")}:
                db.execute("ALTER TABLE events ADD COLUMN size INTEGER")
            db.executescript(_SIZES)
        except BaseException:
            db.close()
            raise
        return db

    def _write(self, items: list[tuple[float, str, str]]) -> None:
        rows = _rows(items, self.secrets)
        opened = self._db is None
        if opened:
            self._db = self._open()
        db = self._db
        db.execute("BEGIN")
        db.executemany("INSERT INTO events(received, key, digest, run_id, job, event_type, event_time, datasets,"
                       " body, size) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        db.execute("DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?", (self.keep,))
        db.execute(_PRUNE_BYTES, (self.max_bytes,))
        db.execute("COMMIT")
        # Give back the space of what was dropped; an older file (made without incremental vacuuming)
        # is rewritten once, holding at most about max_bytes now.
        if opened:
            enable(db, self.path, below=max(CONVERT_BELOW, 2 * self.max_bytes))
        reclaim(db, above=max(1 << 20, min(self.max_bytes // 4, 32 << 20)))
