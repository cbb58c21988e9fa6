"""The spool service: spool + delivery core (translator, emitter, lineage memory) + workers, as one unit.

``bridge serve`` and ``bridge consume`` both put events in through
:meth:`SpoolService.submit` and let the workers deliver them.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Sequence
from typing import Any, cast

from bridge.config import BridgeConfig
from bridge.delivery import DeliveryCore
from bridge.errors import ConnectionFailedError
from bridge.lineage import LineageMemory
from bridge.logs import log_fields
from bridge.model import without_credentials
from bridge.spool._delivery import DeliveryWorker
from bridge.spool._metrics import Metrics
from bridge.spool._policy import CircuitBreaker, DeliveryConfig
from bridge.spool._store import Spool

__all__ = ["SpoolService", "event_key"]

log = logging.getLogger(__name__)


def event_key(obj: Any) -> str:
    """The ordering key of a raw OpenLineage event: its job (or dataset), so a run stays in order. A
    namespace's ``user:password@`` is left out (the key is shown by ``bridge spool dead`` and keys
    forwarded dead letters), as it is from the job's and dataset's names in DataHub."""
    for kind in ("job", "dataset"):
        named = obj.get(kind) if isinstance(obj, dict) else None
        if isinstance(named, dict):
            namespace = named.get("namespace")
            namespace = without_credentials(namespace) if isinstance(namespace, str) else namespace
            return f"{kind}:{namespace}/{named.get('name')}"
    return "other"


class SpoolService:
    """Durable intake -> delivery, in one process.

    Args:
        config: the bridge configuration (state dir, emitter, translator settings).
        delivery: worker settings; defaults to ``DeliveryConfig()``.
        synchronous: SQLite durability level (``FULL`` or ``NORMAL``).
        emitter: an emitter to use instead of the configured one (the service closes it).
        translator: a translator to use instead of ``DataHubTranslator(config.translator)``.
        metrics: a registry to update; a new one by default.
        deliver: ``"thread"`` (or ``True``): delivery workers in this process; ``"process"``: in a
            child process (its own GIL: the intake stays fast while translation runs);
            ``False``: only spool (useful to inspect or test intake).
        exclusive: take the state directory's lock (a delivery child shares its parent's spool).
    """

    def __init__(
        self,
        config: BridgeConfig,
        *,
        delivery: DeliveryConfig | None = None,
        synchronous: str = "FULL",
        emitter: Any = None,
        translator: Any = None,
        metrics: Metrics | None = None,
        deliver: bool | str = True,
        exclusive: bool = True,
    ) -> None:
        self.config = config
        self.delivery = delivery or DeliveryConfig()
        self.synchronous = synchronous
        self.metrics = metrics or Metrics()
        self.breaker = CircuitBreaker(
            threshold=self.delivery.breaker_threshold,
            initial=self.delivery.backoff_initial,
            maximum=self.delivery.backoff_max,
        )
        self._emitter = emitter
        self._translator = translator
        self._deliver = "thread" if deliver is True else deliver
        if self._deliver not in ("thread", "process", False):
            raise ValueError(f"deliver must be 'thread', 'process' or False, not {deliver!r}")
        self._exclusive = exclusive
        self._process: Any = None
        self.spool: Spool | None = None
        self.core: DeliveryCore | None = None
        self.workers: list[DeliveryWorker] = []
        self._stopped = False

    @property
    def emitter(self) -> Any:
        return self._emitter

    def start(self) -> SpoolService:
        """Open the spool and start the workers.

        Raises:
            ConfigError: the state directory is unusable or owned by another process;
                the emitter/translator config is wrong.
            SpoolCorruptError: the spool's file is damaged (see ``bridge spool recover``).
            MissingDependencyError: the configured emitter needs an extra that is not installed.
        """
        from translators.openlineage import parse_event

        if self._deliver == "process":
            return self._start_with_child()
        if self._translator is None:
            from translators.datahub import DataHubTranslator, TranslatorConfig

            self._translator = DataHubTranslator(TranslatorConfig.from_dict(self.config.translator))
        if self._emitter is None:
            from emitters.base import create_emitter

            emitter_config = self.config.emitter_config
            if self.config.emitter == "rest":
                # Batched background sending: a round's proposals go to GMS in a few batch requests.
                emitter_config.setdefault("delivery", "background")
            self._emitter = create_emitter(self.config.emitter, emitter_config)
        self.spool = self._open_spool()
        self._gauges()
        if self._deliver:
            self.core = DeliveryCore(self._emitter, self._translator, LineageMemory.in_state_dir(self.config.state_dir),
                                     lineage_ttl_days=self.config.lineage_ttl_days,
                                     run_memory_days=self.delivery.run_memory_days)  # fmt: skip
            self.workers = [
                DeliveryWorker(
                    i,
                    spool=self.spool,
                    core=self.core,
                    config=self.delivery,
                    metrics=self.metrics,
                    breaker=self.breaker,
                    parse=parse_event,
                )
                for i in range(self.delivery.workers)
            ]
            for worker in self.workers:
                worker.start()
        log.info(
            "spool open",
            extra=log_fields(spool=str(self.spool.path), emitter=self.config.emitter, workers=len(self.workers)),
        )
        return self

    def _open_spool(self) -> Spool:
        # A delivery child (not exclusive) shares its parent's spool, which was just checked.
        return Spool(self.config.state_dir, synchronous=self.synchronous, exclusive=self._exclusive,
                     verify=self._exclusive)

    def _gauges(self) -> None:
        spool = cast(Spool, self.spool)
        self.metrics.gauge("bridge_spool_depth", "Events waiting in the spool.", spool.depth)
        self.metrics.gauge("bridge_dead_letters", "Events in the dead-letter store.", spool.dead_count)
        self.metrics.gauge(
            "bridge_delivery_paused", "1 while the destination keeps failing: the circuit breaker holds delivery "
            "back but for probe rounds.", lambda: self.delivery_paused
        )

    def _start_with_child(self) -> SpoolService:
        from bridge.spool._process import DeliveryProcess
        from emitters.base import emitter_class

        # Check the emitter's config here, so a mistake stops `bridge serve` at once with a clear message.
        kind = emitter_class(self.config.emitter)
        cast(Any, kind.config_class).from_dict(self.config.emitter_config)
        self.spool = self._open_spool()
        self._gauges()
        self._process = DeliveryProcess(self.config, self.delivery, self.synchronous, self.metrics,
                                        on_corruption=self.spool.report_corruption).start()
        log.info("spool open", extra=log_fields(spool=str(self.spool.path), emitter=self.config.emitter,
                                                delivery="child process"))
        return self

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopped

    @property
    def delivery_paused(self) -> bool:
        """Whether delivery is holding back because the destination keeps failing (the breaker opened and no
        round has worked since; probe rounds still run)."""
        if self._process is not None:
            return self._process.paused
        return self.breaker.failing

    @property
    def breaker_opened(self) -> int:
        """How many times the circuit breaker opened."""
        return self._process.opened if self._process is not None else self.breaker.opened

    def check_emitter(self) -> None:
        """Raise if the destination is not reachable (``/readyz``)."""
        if self._process is not None:
            if self._process.emitter_status != "ok":
                raise ConnectionFailedError(self._process.emitter_status)
            return
        self._emitter.test_connection()

    def submit(self, items: Sequence[tuple[str, str]],
               sources: Sequence[tuple[str, int, int]] | None = None) -> concurrent.futures.Future:
        """Spool ``(key, event JSON)`` pairs; the future resolves (to how many were new) once they are durable.

        ``sources``: where each was read from (see :meth:`Spool.append`).
        """
        if self.spool is None:
            raise RuntimeError("SpoolService.start() was not called")
        future = self.spool.append(items, sources=sources)

        def counted(done: concurrent.futures.Future) -> None:
            if done.exception() is None:
                self.metrics.inc("spooled", done.result())

        future.add_done_callback(counted)
        return future

    def append_now(self, items: Sequence[tuple[str, str]], *, wait: bool = True, sync: bool = True) -> int | None:
        """Spool and commit ``(key, event JSON)`` pairs in the calling thread (see :meth:`Spool.append_now`).

        Returns:
            How many were committed; ``None`` when ``wait=False`` and another writer was busy.
        """
        if self.spool is None:
            raise RuntimeError("SpoolService.start() was not called")
        count = self.spool.append_now(items, wait=wait, sync=sync)
        if count is None:
            return None
        self.metrics.inc("spooled", count)
        self.metrics.inc("intake_commits")
        if self._process is not None:
            self._process.wake()  # delivering a not-yet-flushed event early is harmless: it was committed
        return count

    def sync_wal(self) -> None:
        """Make every commit so far durable (see :meth:`Spool.sync_wal`)."""
        if self.spool is None:
            raise RuntimeError("SpoolService.start() was not called")
        self.spool.sync_wal()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current round, close the emitter, the lineage memory and the spool. Safe to call twice."""
        if self.spool is None or self._stopped:
            return
        self._stopped = True
        if self._process is not None:
            self._process.stop(timeout)
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.join(timeout)
        self.workers = []
        try:
            if self._emitter is not None:
                self._emitter.close()
        except Exception as exc:  # noqa: BLE001 - closing must not hide the spool close
            log.warning("emitter close failed", extra=log_fields(error=str(exc)))
        try:
            if self.core is not None:
                self.core.lineage.close()  # after the emitter: its last confirmations are remembered
        except Exception as exc:  # noqa: BLE001 - the memory is an optimisation: at worst things are re-sent
            log.warning("lineage memory close failed", extra=log_fields(error=str(exc)))
        finally:
            if self.spool is not None:
                self.spool.close()

    def __enter__(self) -> SpoolService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
