"""Read-only queries over a state directory: the spool, the lineage memory and the journal.

Every answer opens the files it reads read-only (``mode=ro``, one connection each) and closes them
again, so the page reads the same way inside ``bridge serve`` and from ``bridge ui`` beside a stopped
(or running) server, and never writes, locks or creates anything. A file that does not exist yet
reads as empty.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from bridge.lineage import MEMORY_FILE
from bridge.logs import log_fields
from bridge.rounds import digest
from bridge.spool import DeadLetter, _dead, _queue
from bridge.spool._store import SPOOL_FILE
from bridge.sqlite_files import connect_read_only
from bridge.ui._journal import JOURNAL_FILE
from translators.datahub.writes import quote

__all__ = ["JournalEntry", "SpoolState", "StateReader"]

#: The patch fields of lineage edges in the memory (``/<field>/<quoted URN of the other end>``):
#: field -> (its aspect, whether the edge points into the entity that holds it).
_EDGE_FIELDS = {"inputDatasetEdges": ("dataJobInputOutput", True), "outputDatasetEdges": ("dataJobInputOutput", False),
                "inputDatajobEdges": ("dataJobInputOutput", True), "upstreams": ("upstreamLineage", True)}
#: Entities looked up per query (the far-end query binds one path per entity and field: at most 750).
_CHUNK = 250
_JOURNAL_COLUMNS = ("id", "received", "key", "digest", "run_id", "job", "event_type", "event_time", "body")  # body last

JournalEntry = dict[str, Any]
#: A query over one file: ``(sql, args) -> rows``.
Query = Callable[[str, Sequence[Any]], list[tuple]]

log = logging.getLogger(__name__)


class SpoolState:
    """Where the spool has the events of one key: ``digest -> ("pending"|"retrying", attempts, error)``
    for queued ones, ``digest -> DeadLetter`` for dead letters."""

    def __init__(self, queued: dict[str, tuple[str, int, str | None]], dead: dict[str, DeadLetter]) -> None:
        self.queued = queued
        self.dead = dead


def _unquote(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _edge(urn: str, path: str) -> tuple[str, str]:
    """``(upstream URN, downstream URN)`` of the edge at ``path`` of the entity ``urn``."""
    field, _, other = path[1:].partition("/")
    into = _EDGE_FIELDS[field][1]
    return (_unquote(other), urn) if into else (urn, _unquote(other))


def _edge_queries(urns: Sequence[str], upstream: bool) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The memory's queries for the edges into (``upstream``) or out of ``urns``, each through an index.

    An edge is held by one of its ends: a job holds its inputs and outputs, a dataset its upstream
    datasets. The edges an entity holds are a key range of the primary key (destination, URN,
    aspect, ``/<field>/``); those the other end holds are found by their exact path
    (``/outputDatasetEdges/<URN>``), in the ``written_edge_paths`` index.
    """
    for start in range(0, len(urns), _CHUNK):
        chunk = tuple(urns[start:start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        far: list[str] = []
        for field, (aspect, into) in _EDGE_FIELDS.items():
            if into != upstream:
                far.extend(f"/{field}/{quote(urn)}" for urn in chunk)
                continue
            yield (f"SELECT DISTINCT urn, path FROM written WHERE edge = 1 AND dest IN (SELECT id FROM destinations) "
                   f"AND urn IN ({marks}) AND aspect = ? AND path > ? AND path < ?",
                   (*chunk, aspect, f"/{field}/", f"/{field}0"))  # ('0' follows '/')
        yield f"SELECT DISTINCT urn, path FROM written WHERE edge = 1 AND path IN ({','.join('?' * len(far))})", tuple(far)


class StateReader:
    """Read-only views of the files in ``state_dir``."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        self._edge_index_checked = False  # (once a memory file exists: the index is there, or the log said not)

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[Query]:
        """Queries over the file ``name``, on one connection while the block runs."""
        path = self.state_dir / name
        if not path.exists():
            yield lambda sql, args: []
            return
        db = connect_read_only(path)

        def query(sql: str, args: Sequence[Any]) -> list[tuple]:
            try:
                return db.execute(sql, tuple(args)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a file being created right now
                    return []
                raise

        try:
            yield query
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    # -- the spool -------------------------------------------------------------

    def spool_status(self) -> dict[str, Any]:
        """What ``bridge spool status`` prints (without the path); zeros when there is no spool yet."""
        if not (self.state_dir / SPOOL_FILE).exists():
            return {"pending": 0, "oldest_pending_age_s": None, "retrying": 0, "max_attempts": 0,
                    "last_error": None, "dead": 0, "last_dead_at": None}
        with self._open(SPOOL_FILE) as read:
            return _queue.status(read)

    def dead_count(self) -> int:
        if not (self.state_dir / SPOOL_FILE).exists():
            return 0
        with self._open(SPOOL_FILE) as read:
            return _dead.count(read)

    def dead_letters(self, *, limit: int = 100, ids: Sequence[int] | None = None) -> list[DeadLetter]:
        with self._open(SPOOL_FILE) as read:
            return _dead.letters(read, limit=limit, ids=ids)

    def spool_states(self, keys: Sequence[str]) -> dict[str, SpoolState]:
        """Where the spool holds the events of some ordering keys (jobs), by body digest: one read of the
        queue and one of the dead letters per 500 keys (the queue has no index on keys: a new event
        would pay for it), whatever the number of keys."""
        wanted = list(dict.fromkeys(keys))
        queued: dict[str, dict[str, tuple[str, int, str | None]]] = {k: {} for k in wanted}
        dead: dict[str, dict[str, DeadLetter]] = {k: {} for k in wanted}
        with self._open(SPOOL_FILE) as read:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, body, attempts, error in read(
                        f"SELECT key, body, attempts, last_error FROM events WHERE key IN ({marks})", chunk):  # fmt: skip
                    queued[key][digest(body)] = ("retrying" if attempts else "pending", attempts, error)
                for letter in _dead.of_keys(read, chunk):
                    dead[letter.key][digest(letter.body)] = letter
        return {k: SpoolState(queued[k], dead[k]) for k in wanted}

    # -- the journal -----------------------------------------------------------

    def _journal(self, where: str, args: Sequence[Any], limit: int, *, body: bool = True) -> list[JournalEntry]:
        names = _JOURNAL_COLUMNS if body else _JOURNAL_COLUMNS[:-1]
        with self._open(JOURNAL_FILE) as read:
            rows = read(f"SELECT {', '.join(names)} FROM events {where} ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dict(zip(names, row, strict=True)) for row in rows]

    def recent(self, *, limit: int = 500, search: str | None = None) -> list[JournalEntry]:
        """The newest journal entries (newest first, without their bodies), optionally only those whose
        job or datasets match."""
        if search:
            pattern = f"%{search}%"
            return self._journal("WHERE job LIKE ? OR datasets LIKE ? OR run_id LIKE ?",
                                 (pattern, pattern, pattern), limit, body=False)
        return self._journal("", (), limit, body=False)

    def run_entries(self, run_id: str) -> list[JournalEntry]:
        """The journal entries of one run, oldest first."""
        return list(reversed(self._journal("WHERE run_id = ?", (run_id,), 1000)))

    def journal_count(self) -> int:
        with self._open(JOURNAL_FILE) as read:
            rows = read("SELECT count(*) FROM events", ())
        return rows[0][0] if rows else 0

    # -- the lineage memory ----------------------------------------------------

    def lineage(self, urn: str, *, depth: int, limit: int) -> tuple[set[tuple[str, str]], bool]:
        """The lineage edges a destination confirmed around ``urn``: its upstream and downstream
        neighbours, ``depth`` hops each way, hop by hop, nearest first, at most ``limit`` edges.

        Returns:
            the edges, as ``(upstream URN, downstream URN)``, and whether there were more.
        """
        kept: set[tuple[str, str]] = set()
        frontier = {True: [urn], False: [urn]}  # upstream (or downstream): the entities of this hop
        seen = {True: {urn}, False: {urn}}
        truncated = False
        with self._open(MEMORY_FILE) as read:
            self._check_edge_index(read)
            for _hop in range(depth):
                for upstream in (True, False):
                    if truncated or not frontier[upstream]:
                        continue
                    found, again, truncated = _edges(read, frontier[upstream], upstream=upstream,
                                                     limit=limit - len(kept), known=kept)
                    kept.update(found)
                    ahead = dict.fromkeys(source if upstream else target for source, target in found + again)
                    frontier[upstream] = [u for u in ahead if u not in seen[upstream]]
                    seen[upstream].update(ahead)
        return kept, truncated

    def _check_edge_index(self, read: Query) -> None:
        """Say once when the memory file lacks the index the far ends of edges are found by: a file last
        written by an earlier version, until a bridge command opens it to write (the reader never writes)."""
        if self._edge_index_checked or not (self.state_dir / MEMORY_FILE).exists():
            return
        self._edge_index_checked = True
        if any(row[1] == "written_edge_paths" for row in read("PRAGMA index_list(written)", ())):
            return  # (the rows: seq, name, unique, origin, partial)
        log.warning("the lineage memory has no edge index yet: the status page's lineage reads the whole memory "
                    "until a bridge command opens it to write (bridge memory show, serve, consume, send)",
                    extra=log_fields(path=str(self.state_dir / MEMORY_FILE)))  # fmt: skip

    def known_urns(self, search: str, limit: int = 50) -> list[str]:
        """URNs of jobs and datasets the memory holds whose URN contains ``search``."""
        with self._open(MEMORY_FILE) as read:
            rows = read("SELECT DISTINCT urn FROM written WHERE (urn LIKE 'urn:li:dataset:%' OR "
                        "urn LIKE 'urn:li:dataJob:%') AND urn LIKE ? ORDER BY urn LIMIT ?", (f"%{search}%", limit))
        return [r[0] for r in rows]


def _edges(read: Query, urns: Sequence[str], *, upstream: bool, limit: int, known: AbstractSet[tuple[str, str]],
           ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], bool]:  # fmt: skip
    """The lineage edges a destination confirmed into (``upstream``) or out of these entities.

    Reads only those edges (see :func:`_edge_queries`), never the whole memory.

    Args:
        known: edges already found (a cycle leads back to them): returned apart, not counted.

    Returns:
        at most ``limit`` new edges as ``(upstream URN, downstream URN)``, the known edges read again
        (their far ends are still this hop's), and whether there were more new edges.
    """
    found: set[tuple[str, str]] = set()
    again: set[tuple[str, str]] = set()
    for sql, args in _edge_queries(urns, upstream):
        for urn, path in read(f"{sql} LIMIT ?", (*args, limit + 1 - len(found) + len(known))):
            edge = _edge(urn, path)
            (again if edge in known else found).add(edge)
        if len(found) > limit:
            return sorted(found)[:limit], sorted(again), True
    return sorted(found), sorted(again), False
