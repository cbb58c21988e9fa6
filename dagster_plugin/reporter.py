"""Report one finished Dagster run through the bridge: read it, build events, emit, confirm delivery.

The :class:`~bridge.Bridge` (and with it the emitter's connection) is built on
first use, inside a sensor evaluation — never when Dagster loads the code
location — and kept for later ticks. Its lineage memory (what DataHub already
holds, so unchanged aspects are not re-sent) is a SQLite file beside the Dagster
instance's storage, so it survives daemon restarts.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from bridge.config import BridgeConfig
from bridge.errors import BridgeError, InvalidEventError, UndeliveredError
from bridge.lineage import LineageMemory
from dagster_plugin.compat import DATAHUB_PLUGIN
from dagster_plugin.config import DagsterPluginConfig
from dagster_plugin.events import build_events
from dagster_plugin.extractors import call_extractor, normalise_extracted
from dagster_plugin.runs import RunInfo, read_run
from emitters.base import Emitter

__all__ = ["Prepared", "ReportResult", "RunReporter", "memory_path_for"]

logger = logging.getLogger("dagster_plugin")


def memory_path_for(instance: Any) -> Path | None:
    """Where the lineage memory of this Dagster instance lives (None when the instance has no directory)."""
    root = getattr(instance, "root_directory", None)
    if not root:
        return None
    return Path(root) / "storage" / "lineage_bridge" / "memory.sqlite"


@attrs.frozen(kw_only=True)
class ReportResult:
    """What reporting one run did."""

    run_id: str
    events: int
    mcps: int
    unchanged: int


@attrs.frozen(kw_only=True)
class Prepared:
    """A run read from Dagster and turned into neutral events, ready to send."""

    run: RunInfo
    events: tuple[Any, ...]


class RunReporter:
    """Turns finished runs into DataHub metadata through one lazily built :class:`~bridge.Bridge`.

    Args:
        config: the plugin config.
        emitter: an emitter, or a zero-argument function returning one, to use instead of the
            configured ``datahub_client_config`` (tests, custom destinations). Called on first use.
    """

    def __init__(self, config: DagsterPluginConfig, *, emitter: Emitter | Callable[[], Emitter] | None = None) -> None:
        self.config = config
        self._emitter = emitter
        self._bridge: Any = None
        self._memory: LineageMemory | None = None
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: concurrent.futures.Future | None = None
        self._late: dict[str, BaseException | None] = {}

    def bridge(self, instance: Any = None) -> Any:
        """The bridge, built on first use (this is where the emitter is created).

        Its lineage memory lives next to ``instance``'s storage when it has a directory
        (:func:`memory_path_for`), so it outlives daemon restarts.
        """
        with self._lock:
            if self._bridge is None:
                self._bridge = self._build(instance)
            return self._bridge

    def _build(self, instance: Any) -> Any:
        from bridge.api import Bridge
        from dagster_plugin.translator import DagsterTranslator
        from translators.datahub import TranslatorConfig

        config = self.config
        settings: dict[str, Any] = {"env": config.env}
        if config.platform_instance:
            settings["platform_instance"] = config.platform_instance
        else:
            settings["cluster"] = config.env  # as DataHub's Dagster plugin: flows live in the env
        if config.materialize_dependencies is not None:
            settings["materialize_datasets"] = config.materialize_dependencies
        settings.update(config.translator)
        urn_scheme = config.urn_scheme
        if settings.get("compat") == DATAHUB_PLUGIN:  # the Dagster scheme lives in the Dagster translator
            urn_scheme = settings.pop("compat")
        translator = DagsterTranslator(
            TranslatorConfig.from_dict(settings),
            connect_ops_to_ops=config.connect_ops_to_ops,
            emit_siblings=config.emit_siblings,
            dagster_is_primary_sibling=config.dagster_is_primary_sibling,
            urn_scheme=urn_scheme,
        )
        path = memory_path_for(instance)
        memory = self._memory = LineageMemory(path) if path is not None else None
        if self._emitter is not None:
            emitter = self._emitter if isinstance(self._emitter, Emitter) else self._emitter()
            return Bridge(BridgeConfig(), emitter=emitter, translator=translator, memory=memory,
                          namespace=self.config.namespace)
        kind, emitter_config = self.config.emitter()
        bridge_config = BridgeConfig(emitter=kind, emitters={kind: emitter_config})
        return Bridge(bridge_config, translator=translator, memory=memory, namespace=self.config.namespace)

    def read(self, instance: Any, run_id: str, repository_def: Any = None, context: Any = None) -> tuple[RunInfo, dict]:
        """Read the run and ask the user's lineage extractor (if any) about it."""
        run = read_run(instance, run_id, repository_def)
        extracted: dict = {}
        if self.config.asset_lineage_extractor is not None:
            value = call_extractor(self.config.asset_lineage_extractor, self.config, run, instance=instance,
                                   context=context)
            extracted = normalise_extracted(value)
        return run, extracted

    def prepare(self, instance: Any, run_id: str, *, repository_def: Any = None, context: Any = None) -> Prepared:
        """Read the run and build its events (no network).

        Raises:
            InvalidEventError: the run cannot be described (Dagster storage, a user's extractor or
                converter failed); trying again will not help unless the cause is fixed.
        """
        try:
            run, extracted = self.read(instance, run_id, repository_def, context)
            events = build_events(run, self.config, now=dt.datetime.now(dt.UTC), extracted=extracted)
        except BridgeError:
            raise
        except Exception as exc:  # Dagster storage or a user's extractor/converter: say which run, keep the cause
            raise InvalidEventError(
                f"cannot describe the run: {type(exc).__name__}: {exc}", location=f"dagster run {run_id}"
            ) from exc
        return Prepared(run=run, events=tuple(events))

    def deliver(self, instance: Any, prepared: Prepared) -> ReportResult:
        """Send a prepared run and wait until every MCP is delivered.

        Raises:
            BridgeError: delivery failed (the caller retries the whole run later; the bridge's
                writes are idempotent, so what did arrive is harmless to send again).
        """
        errors: list[BaseException] = []
        debug = self.config.debug_mode

        def on_delivery(error: BaseException | None, message: str) -> None:
            if error is not None:
                errors.append(error)
            if debug:  # DataHub's plugin logs every MCP it emits in debug_mode
                logger.debug("run %s: %s%s", prepared.run.run_id, message, f" error={error}" if error else "")

        run = prepared.run
        bridge = self.bridge(instance)
        sent = bridge.emit(list(prepared.events), callback=on_delivery)
        bridge.flush()
        if errors:
            raise UndeliveredError(len(errors), errors)
        logger.info(
            "reported run run_id=%s job=%s status=%s events=%d mcps=%d unchanged=%d",
            run.run_id, run.job_name, run.status, sent.events, sent.mcps, sent.unchanged,
        )
        return ReportResult(run_id=run.run_id, events=sent.events, mcps=sent.mcps, unchanged=sent.unchanged)

    def report(self, instance: Any, run_id: str, *, repository_def: Any = None, context: Any = None) -> ReportResult:
        """Report one run and wait until every MCP is delivered (:meth:`prepare`, then :meth:`deliver`).

        Raises:
            BridgeError: the run cannot be described, or delivery failed.
        """
        prepared = self.prepare(instance, run_id, repository_def=repository_def, context=context)
        return self.deliver(instance, prepared)

    # -- delivery bounded by a deadline ----------------------------------------------------

    def deliver_within(self, instance: Any, prepared: Prepared, timeout: float) -> ReportResult | None:
        """Deliver on the reporter's delivery thread, waiting at most ``timeout`` seconds.

        Returns:
            The result, or ``None`` when the time ran out: the delivery goes on in the background
            and its outcome is handed to a later tick by :meth:`late_outcomes`.

        Raises:
            BridgeError: delivery failed within the time.
        """
        future = self._pool().submit(self.deliver, instance, prepared)
        try:
            return future.result(timeout=max(timeout, 0.0))
        except concurrent.futures.TimeoutError:
            run_id = prepared.run.run_id
            with self._lock:
                self._inflight = future

            def settled(done: concurrent.futures.Future) -> None:
                with self._lock:
                    self._late[run_id] = done.exception()

            future.add_done_callback(settled)
            return None

    def busy(self, wait: float) -> bool:
        """Whether a delivery a past tick gave up waiting for is still running after ``wait`` seconds."""
        with self._lock:
            future = self._inflight
        if future is None:
            return False
        try:
            future.exception(timeout=max(wait, 0.0))
        except concurrent.futures.TimeoutError:
            return True
        with self._lock:
            self._inflight = None
        return False

    def late_outcomes(self) -> dict[str, BaseException | None]:
        """Runs whose delivery finished after their tick stopped waiting: run id -> error (None: delivered).

        Each outcome is handed out once.
        """
        with self._lock:
            late, self._late = self._late, {}
        return late

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        # One thread: deliveries never overlap, so the bridge and its memory see one run at a time.
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="dagster-datahub-delivery")
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._bridge is not None:
                try:
                    self._bridge.close()
                except BridgeError as exc:
                    logger.warning("closing the emitter failed error=%s", exc)
                self._bridge = None
            if self._memory is not None:
                self._memory.close()
                self._memory = None
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
