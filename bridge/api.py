"""The Python API orchestrators call: :class:`Bridge`.

Example::

    from bridge import Bridge, Dataset

    with Bridge.from_config(emitter="rest", emitters={"rest": {"gms_server": "http://gms:8080"}}) as lineage:
        with lineage.run("nightly_load", namespace="my-scheduler",
                         inputs=[Dataset(namespace="postgres://db:5432", name="shop.public.orders")],
                         outputs=[Dataset(namespace="s3://lake", name="orders/2024")]) as run:
            do_the_work()          # START was sent on entry
        # COMPLETE on normal exit; FAIL with the exception's message and stack on error
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from bridge.config import BridgeConfig, load_config
from bridge.errors import BridgeError, DeliveryError, InvalidEventError, UndeliveredError, storable
from bridge.lineage import LineageMemory
from bridge.logs import log_fields
from bridge.model import (
    Dataset,
    DatasetEvent,
    ErrorInfo,
    Event,
    EventType,
    Job,
    JobEvent,
    Owner,
    ParentRun,
    Run,
    RunEvent,
    Tag,
)
from bridge.pipeline import Pipeline, SendResult, Translator
from emitters.base import Callback, Emitter, create_emitter

__all__ = ["Bridge", "RunHandle", "PRODUCER"]

log = logging.getLogger("bridge.api")

PRODUCER = "https://github.com/lineage-bridge/lineage-bridge/python-api"


#: events one round of :meth:`Bridge.emit` translates and sends at most
ROUND_EVENTS = 500


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_an_event(value: object, index: int | None) -> str:
    """What ``value`` is instead of an event, and how to make one of it."""
    kind = type(value)
    what = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__
    events = "bridge events (bridge.RunEvent, JobEvent, DatasetEvent)"
    if index is None:
        text = f"Bridge.emit takes one of the {events} or an iterable of them, got {what}"
    else:
        text = f"Bridge.emit: item {index} of the events is {what}, not one of the {events}"
    if isinstance(value, Mapping):
        return text + "; OpenLineage JSON becomes one with translators.openlineage.parse_event(obj)"
    if isinstance(value, str | bytes | bytearray):
        return text + "; OpenLineage JSON text becomes one with translators.openlineage.parse_event(json.loads(text))"
    if kind.__module__.startswith("openlineage."):
        return text + "; an openlineage-python event becomes one with translators.openlineage.from_client_event(event)"
    return text


def _rounds(events: Iterable[Any], size: int) -> Iterator[list[Event]]:
    """The events in lists of at most ``size``; anything that is not an event is a ``TypeError`` saying where."""
    batch: list[Event] = []
    for index, event in enumerate(events):
        if not isinstance(event, RunEvent | JobEvent | DatasetEvent):
            raise TypeError(_not_an_event(event, index))
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _as_dataset(item: Dataset | tuple[str, str]) -> Dataset:
    if isinstance(item, Dataset):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return Dataset(namespace=item[0], name=item[1])
    raise TypeError(f"a dataset is a bridge.Dataset or a (namespace, name) tuple, not {item!r}")


@attrs.define
class RunHandle:
    """The run inside ``with bridge.run(...)``: its id, its job, and a way to report progress."""

    run_id: str
    job: Job
    _bridge: Bridge
    _base: dict[str, Any]
    undelivered: list[BaseException] = attrs.field(factory=list)

    def running(self, *, outputs: Sequence[Dataset | tuple[str, str]] = ()) -> None:
        """Send a RUNNING event (optionally with outputs learned so far); a delivery failure is noted, not raised."""
        event = self._bridge._event(self, EventType.RUNNING, outputs=tuple(_as_dataset(d) for d in outputs) or None)
        self._bridge._deliver(event, self.undelivered, flush=False)

    def add_outputs(self, *outputs: Dataset | tuple[str, str]) -> None:
        """Record more outputs; they are sent with the final event."""
        self._base["outputs"] = self._base["outputs"] + tuple(_as_dataset(d) for d in outputs)


class Bridge:
    """Emit neutral events to DataHub through the configured translator and emitter.

    Args:
        config: the resolved configuration (see :func:`bridge.load_config`).
        emitter: an emitter to use instead of the configured one.
        translator: a translator to use instead of ``DataHubTranslator(config.translator)``.
        memory: the lineage memory (what each destination already holds, so it is not sent
            again); by default the state directory's (``<state_dir>/memory.sqlite3``) when that
            directory exists, else one in this process. What is shared never depends on it: the
            bridge writes lineage as DataHub patches.
        namespace: default job namespace for :meth:`run`.
        raise_on_undelivered: whether :meth:`run` raises :class:`~bridge.errors.UndeliveredError`
            after a block that succeeded when its events could not be delivered (default: log).
    """

    def __init__(
        self,
        config: BridgeConfig | None = None,
        *,
        emitter: Emitter | None = None,
        translator: Translator | None = None,
        memory: LineageMemory | None = None,
        namespace: str = "default",
        raise_on_undelivered: bool = False,
    ) -> None:
        self.config = config or BridgeConfig()
        if emitter is None:
            emitter = create_emitter(self.config.emitter, self.config.emitter_config)
        if translator is None:
            from translators.datahub import DataHubTranslator, TranslatorConfig

            translator = DataHubTranslator(TranslatorConfig.from_dict(self.config.translator))
        self._own_memory = memory is None
        if memory is None and Path(self.config.state_dir).is_dir():
            memory = LineageMemory.in_state_dir(self.config.state_dir)
        self.memory = memory if memory is not None else LineageMemory()
        self.pipeline = Pipeline(emitter, translator, memory=self.memory,
                                 lineage_ttl_days=self.config.lineage_ttl_days)  # fmt: skip
        self.namespace = namespace
        self.raise_on_undelivered = raise_on_undelivered

    @classmethod
    def from_config(cls, path: str | None = None, **overrides: Any) -> Bridge:
        """Resolve config from file/environment/arguments (:func:`bridge.load_config`) and build a Bridge.

        ``overrides`` use the config file's shape, e.g. ``emitter="rest", emitters={"rest": {...}}``;
        ``namespace=`` sets the default job namespace.
        """
        namespace = overrides.pop("namespace", "default")
        return cls(load_config(path, overrides=overrides), namespace=namespace)

    @property
    def emitter(self) -> Emitter:
        return self.pipeline.emitter

    def emit(self, events: Event | Iterable[Event], callback: Callback | None = None, *,
             progress: Callable[[int], object] | None = None) -> SendResult:
        """Translate and emit one event or many. Delivery may be asynchronous: call :meth:`flush`.

        Many events (a generator, a long list) go in rounds of :data:`ROUND_EVENTS`, read as they are
        sent: memory holds one round, however many there are. What is the same in a round (a job's
        lineage repeated by every run) is sent once in it.

        Args:
            events: a :class:`~bridge.model.RunEvent`, :class:`~bridge.model.JobEvent` or
                :class:`~bridge.model.DatasetEvent`, or an iterable of them (OpenLineage JSON becomes
                one with ``translators.openlineage.parse_event``, an openlineage-python event with
                ``from_client_event``).
            callback: ``callback(error, message)`` for each MCP, once delivered or failed.
            progress: called with the number of events just handled, after each round (``tqdm.update``).

        Raises:
            TypeError: something that is not an event, naming its place in ``events``.
            InvalidEventError: an event cannot be translated, naming its place; the rounds before
                its own were sent, nothing of its round or after.
            DeliveryError: without a ``callback``, the first error a synchronous emitter raised, once
                every round was sent (a failed proposal does not stop the others); its ``result`` is
                the :class:`~bridge.pipeline.SendResult` of the whole call.
        """
        one = isinstance(events, RunEvent | JobEvent | DatasetEvent)
        if one:
            events = [events]  # type: ignore[list-item]
        elif not isinstance(events, Iterable) or isinstance(events, str | bytes | bytearray | Mapping):
            raise TypeError(_not_an_event(events, None))
        result = SendResult()
        start = 0
        failed: DeliveryError | None = None  # the first, raised once every round is sent
        for round_ in _rounds(events, ROUND_EVENTS):  # type: ignore[arg-type]
            try:
                done = self.pipeline.send(round_, callback,
                                          name_event=None if one else lambda i, start=start: f"event {start + i}")
            except DeliveryError as exc:
                failed = failed or exc
                done = exc.result  # type: ignore[attr-defined]
            result.sent_before += len(result.sent)
            result.events += done.events
            result.unchanged += done.unchanged
            result.sent = done.sent
            start += len(round_)
            if progress is not None:
                progress(len(round_))
        if failed is not None:
            failed.result = result  # type: ignore[attr-defined]
            raise failed
        return result

    def flush(self, timeout: float | None = None) -> None:
        self.pipeline.flush(timeout)

    def close(self) -> None:
        try:
            self.pipeline.close()
        finally:
            if self._own_memory:
                self.memory.close()

    def test_connection(self) -> dict[str, Any]:
        return self.emitter.test_connection()

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def run(
        self,
        job: str | Job,
        *,
        namespace: str | None = None,
        inputs: Sequence[Dataset | tuple[str, str]] = (),
        outputs: Sequence[Dataset | tuple[str, str]] = (),
        run_id: str | None = None,
        parent: ParentRun | None = None,
        description: str | None = None,
        owners: Sequence[str] = (),
        tags: Sequence[str] = (),
        raise_on_undelivered: bool | None = None,
    ) -> Iterator[RunHandle]:
        """Report a run: START on entry, COMPLETE on normal exit, FAIL (message + stack) on error.

        Lineage never gets in the way of the work:

        * When the block raises, FAIL is sent and the block's own exception propagates,
          unchanged; if the run's events could not be delivered, that is logged (with the
          count) on the ``bridge.api`` logger, never raised instead.
        * When the block succeeds and its events could not be delivered (DataHub down), the
          failure is logged and the ``with`` ends normally -- unless ``raise_on_undelivered``
          (here, or on the :class:`Bridge`) asks for :class:`~bridge.errors.UndeliveredError`.
          For events that must arrive even while DataHub is down, send them to ``bridge
          serve``, which spools them durably.
        * A START that cannot be delivered never stops the block from running.

        Raises:
            InvalidEventError: the run cannot be described (a dataset without a name...), before
                the block runs.
        """
        if not isinstance(job, Job):
            job = Job(
                namespace=namespace or self.namespace,
                name=job,
                description=description,
                owners=tuple(Owner(name=o) for o in owners),
                tags=tuple(Tag(key=t) for t in tags),
                integration="PYTHON",
                processing_type="BATCH",
            )
        handle = RunHandle(
            run_id=run_id or str(uuid.uuid4()),
            job=job,
            bridge=self,
            base={
                "parent": parent,
                "inputs": tuple(_as_dataset(d) for d in inputs),
                "outputs": tuple(_as_dataset(d) for d in outputs),
            },
        )
        undelivered = handle.undelivered
        self._deliver(self._event(handle, EventType.START), undelivered, flush=False)
        try:
            yield handle
        except BaseException as exc:
            error = ErrorInfo(
                message=storable(f"{type(exc).__name__}: {exc}"),
                stack_trace=storable("".join(traceback.format_exception(exc))),
                language="python",
            )
            self._deliver(self._event(handle, EventType.FAIL, error=error), undelivered)
            self._report_undelivered(handle, undelivered, failed=True)
            raise
        self._deliver(self._event(handle, EventType.COMPLETE), undelivered)
        self._report_undelivered(handle, undelivered, failed=False)
        if undelivered and (self.raise_on_undelivered if raise_on_undelivered is None else raise_on_undelivered):
            raise UndeliveredError(len(undelivered), undelivered)

    def _deliver(self, event: RunEvent, undelivered: list[BaseException], *, flush: bool = True) -> None:
        """Emit (and flush) one event of :meth:`run`; delivery failures are collected, not raised.

        Only a START that cannot be described raises (before the block runs); whatever else goes
        wrong, a bug of a translator or emitter too, is noted and logged: lineage never replaces the
        block's own exception, nor fails a block that succeeded.
        """

        def note(error: BaseException | None, message: str) -> None:
            if error is not None:
                undelivered.append(error)

        try:
            self.emit(event, callback=note)
            if flush:
                self.flush()
        except InvalidEventError as exc:
            if event.event_type is EventType.START:
                raise  # the run cannot be described: say so before the work starts
            undelivered.append(InvalidEventError(f"cannot describe the run {event.run.run_id}: {exc}"))
        except UndeliveredError as exc:
            undelivered.extend(e for e in exc.errors if e not in undelivered)
            if not exc.errors:
                undelivered.append(exc)
        except BridgeError as exc:
            undelivered.append(exc)
        except Exception as exc:  # noqa: BLE001 - a bug, not the block's business: logged with where it happened
            from bridge.secrets import Secrets

            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            log.error("reporting the run failed", extra=log_fields(
                job=event.job.name, run_id=event.run.run_id, event_type=event.event_type.value,
                error=Secrets().redact_text(storable(repr(exc))),
                where=f"{frame.filename}:{frame.lineno} in {frame.name}" if frame else None))
            undelivered.append(exc)

    def _report_undelivered(self, handle: RunHandle, undelivered: list[BaseException], *, failed: bool) -> None:
        if undelivered:
            log.error(
                "lineage of the run was not delivered",
                extra=log_fields(job=handle.job.name, run_id=handle.run_id, undelivered=len(undelivered),
                                 block_failed=failed, error=str(undelivered[0])),  # fmt: skip
            )

    def _event(
        self,
        handle: RunHandle,
        event_type: EventType,
        *,
        error: ErrorInfo | None = None,
        outputs: tuple[Dataset, ...] | None = None,
    ) -> RunEvent:
        base = handle._base
        return RunEvent(
            event_type=event_type,
            event_time=_utcnow(),
            producer=PRODUCER,
            run=Run(run_id=handle.run_id, parent=base["parent"], error=error),
            job=handle.job,
            inputs=base["inputs"],
            outputs=base["outputs"] if outputs is None else outputs,
        )
