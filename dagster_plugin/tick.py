"""One sensor evaluation: which runs to try, in what order, and when to stop.

A tick works through two queues — runs on the retry list and new finished
runs after the cursor — taking them in turn (a new run first), so retries
never starve new runs, nor new runs retries. It stops when

- ``max_runs_per_tick`` runs were tried,
- ``tick_deadline_sec`` passed (a delivery still running then goes on in the
  background; the run stays on the retry list, and the runs not started are
  still after the cursor), or
- DataHub looks unreachable (a retriable failure): the next runs would fail alike.

A sensor with no cursor (its first tick, or its cursor was reset in the UI)
starts from now, as Dagster's run-status sensors and DataHub's plugin do: the
runs that finished before are not reported unless ``backfill`` is set, and the
tick says so in its log.

A run that failed ``max_tries`` times is dead-lettered (see
:mod:`dagster_plugin.dead_letters`): logged as an error, kept in the cursor,
no longer tried until a user requeues it. Retriable failures (DataHub down)
count towards that only in a tick where another run got through, so an outage
never dead-letters healthy runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bridge.errors import BridgeError, is_retriable
from dagster_plugin.cursor import SensorCursor
from dagster_plugin.dead_letters import requeue_requests, requeue_token
from dagster_plugin.reporter import RunReporter
from dagster_plugin.selection import RunSelection

__all__ = ["Tick", "finished_events", "latest_finished_event", "start_from"]

logger = logging.getLogger("dagster_plugin")


def _status_changes(instance: Any, job_names: Sequence[str] | None, *, after: int | None, limit: int,
                    ascending: bool) -> list[Any]:
    """Run success, failure and cancel records (each kind up to ``limit``), in storage order."""
    from dagster import DagsterEventType
    from dagster._core.event_api import RunStatusChangeRecordsFilter

    records = []
    for event_type in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED):
        selection = RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after,
                                                 job_names=list(job_names) if job_names else None)  # fmt: skip
        records += instance.fetch_run_status_changes(selection, limit=limit, ascending=ascending).records
    records.sort(key=lambda r: r.storage_id, reverse=not ascending)
    return records


def finished_events(instance: Any, after: int, limit: int, job_names: Sequence[str] | None) -> list[Any]:
    """Run success/failure/cancel events after storage id ``after``, oldest first, at most ``limit``."""
    return _status_changes(instance, job_names, after=after or None, limit=limit, ascending=True)[:limit]


def latest_finished_event(instance: Any, job_names: Sequence[str] | None) -> int:
    """The storage id of the newest run success/failure/cancel event (0 when there is none)."""
    newest = _status_changes(instance, job_names, after=None, limit=1, ascending=False)
    return newest[0].storage_id if newest else 0


def _log(context: Any, name: str, level: int, message: str, *args: Any) -> None:
    """Log to the sensor's evaluation log and the ``dagster_plugin`` logger, prefixed by the sensor's name."""
    text = f"{name} - {message % args if args else message}"
    context.log.log(level, text)
    logger.log(level, text)


def start_from(context: Any, name: str, job_names: Sequence[str] | None, *, backfill: bool) -> int | None:
    """Where a sensor with no cursor (first tick, or its cursor was reset) starts: the storage id of the newest
    finished run, whose runs up to it are not reported. None when the stored cursor is kept: there is one, or
    ``backfill`` asks for every finished run. Both are logged. Also for a sensor that cannot report yet (its config
    is wrong), so once fixed it reports the runs finished since its first tick.
    """
    if context.cursor:
        return None
    if backfill:
        _log(context, name, logging.INFO, "no cursor (first tick, or the cursor was reset): backfill is on, so every "
             "finished run in the instance is reported, oldest first, over as many ticks as it takes")
        return None
    started = latest_finished_event(context.instance, job_names)
    _log(context, name, logging.WARNING,
         "no cursor (first tick, or the cursor was reset): starting from now; runs that finished before "
         "(run events up to storage id %d) are not reported. Set backfill=True (BRIDGE_DAGSTER_BACKFILL=true) "
         "and reset the cursor to report them", started)
    return started


class Tick:
    """One sensor evaluation within the per-tick budget and deadline.

    Args:
        context: Dagster's sensor evaluation context.
        reporter: the sensor's reporter (kept across ticks).
        name: the sensor's name, prefixed to every log line.
        selection: the monitored jobs (:class:`~dagster_plugin.selection.RunSelection`, or job names;
            all jobs of the sensor's code location when None).
        all_locations: also report runs of other code locations.
        started: ``time.monotonic()`` when the evaluation began (the deadline counts from there).
    """

    def __init__(self, context: Any, reporter: RunReporter, name: str,
                 selection: RunSelection | Sequence[str] | None, all_locations: bool,
                 started: float | None = None) -> None:
        self.context = context
        self.reporter = reporter
        self.name = name
        self.selection = selection if isinstance(selection, RunSelection) else RunSelection.of(selection)
        self.job_names = self.selection.job_names
        self.all_locations = all_locations
        self.deadline = (time.monotonic() if started is None else started) + reporter.config.tick_deadline_sec
        self.reported = 0
        self.failed = 0
        self.dead_lettered = 0
        self.cut_off = False  # the deadline stopped the tick
        self.started_from: int | None = None  # no cursor: where the sensor started from (not a backfill)

    def log(self, level: int, message: str, *args: Any) -> None:
        _log(self.context, self.name, level, message, *args)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _ours(self, run_id: str, job_name: str) -> bool:
        """Whether the run is selected: by ``monitored_jobs`` / ``job_selection``, and, unless a selector
        names code locations or all are monitored, of this sensor's code location (each location's
        sensor reports its own runs)."""
        if self.job_names is not None and job_name not in self.job_names:
            return False  # some storages ignore the job-name filter
        selection = self.selection
        mine = getattr(self.context.code_location_origin, "location_name", None)
        if not selection.selectors and (self.all_locations or mine is None):
            return True
        run = self.context.instance.get_run_by_id(run_id)
        origin = run.remote_job_origin if run is not None else None
        theirs = origin.location_name if origin is not None else None
        repository = origin.repository_origin.repository_name if origin is not None else None
        if not selection.matches(job_name, theirs, repository, mine):
            return False
        if self.all_locations or selection.other_locations or mine is None:
            return True
        return theirs is None or theirs == mine

    # -- outcomes ----------------------------------------------------------------------------

    def _failure(self, cursor: SensorCursor, run_id: str, storage_id: int, exc: BaseException) -> SensorCursor:
        retriable = is_retriable(exc)
        # "DataHub is down" says nothing about the run, unless DataHub took another run meanwhile.
        counts = not retriable or self.reported > 0
        cursor = cursor.failed(run_id, storage_id, str(exc), count=counts)
        tries = cursor.retry[run_id].tries
        self.failed += 1
        max_tries = self.reporter.config.max_tries
        final = bool(getattr(exc, "final", False))  # e.g. an extractor using what the plugin lacks
        if counts and (tries >= max_tries or final):
            cursor = cursor.dead_lettered(run_id, token=requeue_token(self.context.instance, run_id))
            self.dead_lettered += 1
            self.log(logging.ERROR,
                     "gave up on run %s after %d failed tries: %s; it is dead-lettered (list: "
                     "dagster_plugin.dead_letters, retry: dagster_plugin.requeue_dead_letters)%s", run_id, tries, exc,
                     "; trying again cannot help until the cause is fixed" if final else "")
        elif not counts:
            self.log(logging.WARNING,
                     "could not deliver the metadata of run %s: %s; DataHub looks unreachable (not counted "
                     "towards dead-lettering); it will be retried on a later tick", run_id, exc)
        else:
            self.log(logging.WARNING,
                     "could not deliver the metadata of run %s (try %d): %s; it will be retried on a later tick "
                     "(dead-lettered after %d counted failures)", run_id, tries, exc, max_tries)
        return cursor

    def _apply_late(self, cursor: SensorCursor) -> SensorCursor:
        """Deliveries a past tick stopped waiting for, settled since: record their outcome."""
        for run_id, error in self.reporter.late_outcomes().items():
            entry = cursor.retry.get(run_id)
            if entry is None:
                continue
            if error is None:
                self.reported += 1
                self.log(logging.INFO, "reported run %s (its delivery finished after the last tick)", run_id)
                cursor = cursor.reported(run_id, entry.storage_id)
            else:
                cursor = self._failure(cursor, run_id, entry.storage_id, error)
        return cursor

    def _requeue(self, cursor: SensorCursor) -> SensorCursor:
        for run_id in requeue_requests(self.context.instance, cursor.dead):
            self.log(logging.INFO, "run %s was requeued: it will be tried again", run_id)
            cursor = cursor.requeued(run_id)
        return cursor

    def report(self, cursor: SensorCursor, run_id: str, storage_id: int) -> tuple[SensorCursor, bool]:
        """Try one run; returns the new cursor and whether to go on with this tick."""
        try:
            prepared = self.reporter.prepare(self.context.instance, run_id,
                                             repository_def=self.context.repository_def, context=self.context)
            result = self.reporter.deliver_within(self.context.instance, prepared, self.remaining())
        except BridgeError as exc:
            # Nothing answers: the next runs would fail the same way; stop and keep them for next tick.
            return self._failure(cursor, run_id, storage_id, exc), not is_retriable(exc)
        if result is None:
            self.cut_off = True
            self.log(logging.WARNING, "run %s was not delivered within the tick deadline (%ss); it is carried "
                     "to the next tick", run_id, self.reporter.config.tick_deadline_sec)
            return cursor.failed(run_id, storage_id, "cut off by the tick deadline", count=False), False
        self.reported += 1
        self.log(logging.INFO, "reported run %s (%d events, %d MCPs)", run_id, result.events, result.mcps)
        return cursor.reported(run_id, storage_id), True

    # -- the two queues ----------------------------------------------------------------------

    def _new_runs(self, after: int) -> Iterator[Any]:
        """Finished-run records after ``after``, fetched page by page as they are consumed."""
        while True:
            records = finished_events(self.context.instance, after, 100, self.job_names)
            if not records:
                return
            for record in records:
                after = record.storage_id
                yield record

    def _next_new(self, cursor: SensorCursor, records: Iterator[Any]) -> tuple[SensorCursor, Any]:
        """The next new run of ours; runs of other jobs or code locations are passed over, costing nothing."""
        for record in records:
            run_id = record.event_log_entry.run_id
            if self._ours(run_id, record.event_log_entry.job_name) and run_id not in cursor.retry \
                    and run_id not in cursor.dead:
                return cursor, record
            cursor = cursor.skipped(record.storage_id)
        return cursor, None

    def start(self, cursor: SensorCursor) -> SensorCursor:
        """A sensor with no cursor starts after the newest finished run, unless ``backfill`` is set."""
        self.started_from = start_from(self.context, self.name, self.job_names, backfill=self.reporter.config.backfill)
        return cursor if self.started_from is None else cursor.skipped(self.started_from)

    def run(self, cursor: SensorCursor) -> SensorCursor:
        cursor = self.start(cursor)
        busy = self.reporter.busy(wait=self.remaining())
        # after the wait: a delivery that settled meanwhile is counted, not sent again
        cursor = self._requeue(self._apply_late(cursor))
        if busy:
            self.cut_off = True
            self.log(logging.WARNING, "a delivery started by an earlier tick is still running; "
                     "everything else is carried to the next tick")
            return cursor
        budget = self.reporter.config.max_runs_per_tick
        retries = [(run_id, r.storage_id) for run_id, r in sorted(cursor.retry.items(),
                                                                 key=lambda item: item[1].storage_id)]
        records = self._new_runs(cursor.after)
        new_turn = True
        while budget > 0:
            if self.remaining() <= 0:
                self.cut_off = True
                self.log(logging.WARNING, "tick deadline (%ss) reached; the rest is carried to the next tick",
                         self.reporter.config.tick_deadline_sec)
                break
            item: tuple[str, int] | None = None
            if new_turn or not retries:
                cursor, record = self._next_new(cursor, records)
                if record is not None:
                    item = (record.event_log_entry.run_id, record.storage_id)
                    self.log(logging.DEBUG, "reporting run %s", item[0])
            if item is None and retries:
                item = retries.pop(0)
                entry = cursor.retry[item[0]]
                self.log(logging.INFO, "retrying run %s (%d counted failure(s); last: %s)",
                         item[0], entry.tries, entry.error)
            if item is None:
                break
            new_turn = not new_turn
            budget -= 1
            cursor, go_on = self.report(cursor, *item)
            if not go_on:
                break
        return cursor

    def summary(self, cursor: SensorCursor) -> str:
        text = f"reported {self.reported} run(s)"
        if self.started_from is not None:
            text += " (no cursor: started from now; backfill=True reports the runs finished before)"
        if self.failed:
            text += f", {self.failed} failed (retried on a later tick)"
        if self.dead_lettered:
            text += f", {self.dead_lettered} dead-lettered"
        if self.cut_off:
            text += ", stopped at the tick deadline (the rest is carried to the next tick)"
        if cursor.retry:
            text += f", {len(cursor.retry)} waiting for retry"
        if cursor.dead:
            text += f", {len(cursor.dead)} dead letter(s)"
        return text
