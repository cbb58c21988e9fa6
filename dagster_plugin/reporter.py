"""Report one finished Dagster run through the bridge: read it, build events, emit, confirm delivery.

The :class:`~bridge.Bridge` (and with it the emitter's connection) is built on
first use, inside a sensor evaluation — never when Dagster loads the code
location — and kept for later ticks. Its lineage memory (what DataHub already
holds, so unchanged aspects are not re-sent) is a SQLite file beside the Dagster
instance's storage, so it survives daemon restarts.
"""

from __future__ import annotations

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
from dagster_plugin.config import DagsterPluginConfig
from dagster_plugin.events import build_events, normalise_extracted
from dagster_plugin.runs import RunInfo, read_run
from emitters.base import Emitter

__all__ = ["ReportResult", "RunReporter", "memory_path_for"]

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

        settings: dict[str, Any] = {"env": self.config.env}
        if self.config.platform_instance:
            settings["platform_instance"] = self.config.platform_instance
        else:
            settings["cluster"] = self.config.env  # as DataHub's Dagster plugin: flows live in the env
        settings.update(self.config.translator)
        translator = DagsterTranslator(TranslatorConfig.from_dict(settings))
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
            fn = self.config.asset_lineage_extractor
            value = fn(run, context) if _positional_count(fn) >= 2 else fn(run)
            extracted = normalise_extracted(value)
        return run, extracted

    def report(self, instance: Any, run_id: str, *, repository_def: Any = None, context: Any = None) -> ReportResult:
        """Report one run and wait until every MCP is delivered.

        Raises:
            BridgeError: delivery failed (the caller retries the whole run later; the bridge's
                writes are idempotent, so what did arrive is harmless to send again).
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
        errors: list[BaseException] = []

        def on_delivery(error: BaseException | None, message: str) -> None:
            if error is not None:
                errors.append(error)

        bridge = self.bridge(instance)
        sent = bridge.emit(events, callback=on_delivery)
        bridge.flush()
        if errors:
            raise UndeliveredError(len(errors), errors)
        logger.info(
            "reported run run_id=%s job=%s status=%s events=%d mcps=%d unchanged=%d",
            run.run_id, run.job_name, run.status, sent.events, sent.mcps, sent.unchanged,
        )
        return ReportResult(run_id=run.run_id, events=sent.events, mcps=sent.mcps, unchanged=sent.unchanged)

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


def _positional_count(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (extractors may take ``(run)`` or ``(run, context)``)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
