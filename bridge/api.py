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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from bridge.config import BridgeConfig, load_config
from bridge.errors import BridgeError, InvalidEventError, UndeliveredError
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


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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

    def emit(self, events: Event | Iterable[Event], callback: Callback | None = None) -> SendResult:
        """Translate and emit one event or many. Delivery may be asynchronous: call :meth:`flush`."""
        if isinstance(events, RunEvent | JobEvent | DatasetEvent):
            events = [events]
        return self.pipeline.send(events, callback)

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
                message=f"{type(exc).__name__}: {exc}",
                stack_trace="".join(traceback.format_exception(exc)),
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
        """Emit (and flush) one event of :meth:`run`; delivery failures are collected, not raised."""

        def note(error: BaseException | None, message: str) -> None:
            if error is not None:
                undelivered.append(error)

        try:
            self.emit(event, callback=note)
            if flush:
                self.flush()
        except InvalidEventError:
            if event.event_type is EventType.START:
                raise  # the run cannot be described: say so before the work starts
            undelivered.append(InvalidEventError(f"cannot describe the run {event.run.run_id}"))
        except UndeliveredError as exc:
            undelivered.extend(e for e in exc.errors if e not in undelivered)
            if not exc.errors:
                undelivered.append(exc)
        except BridgeError as exc:
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
