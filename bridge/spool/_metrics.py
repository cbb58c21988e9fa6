"""Counters, gauges and histograms for ``GET /metrics`` (Prometheus text format 0.0.4).

Hand-written so the serve extra needs no metrics library; thread-safe because
the intake (event loop) and the delivery workers (threads) both update them.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Mapping

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, name: str) -> list[str]:
        lines, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            lines.append(f'{name}_bucket{{le="{bound:g}"}} {running}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum {self.sum:.6f}")
        lines.append(f"{name}_count {self.count}")
        return lines


_COUNTERS = {
    "received": ("bridge_events_received_total", "OpenLineage events received (HTTP or Kafka), valid or not."),
    "spooled": ("bridge_events_spooled_total", "Events committed to the durable spool."),
    "intake_commits": ("bridge_spool_intake_commits_total",
                       "Group commits of received events (events spooled per commit = spooled / commits)."),
    "wal_flushes": ("bridge_spool_wal_flushes_total", "fdatasyncs of the spool's write-ahead log by the intake."),
    "wal_flush_errors": ("bridge_spool_wal_flush_errors_total",
                         "Failed fdatasyncs of the spool's write-ahead log (see the error log)."),
    "delivered": ("bridge_events_delivered_total", "Events whose MCPs were all delivered."),
    "retried": ("bridge_delivery_retries_total", "Event deliveries that failed retriably and were scheduled again."),
    "dead_lettered": ("bridge_events_dead_lettered_total", "Events moved to the dead-letter store."),
    "delivery_round_errors": ("bridge_delivery_round_errors_total",
                              "Delivery rounds that failed as a whole (the spool unreadable, a bug; see the error log)."),
    "mcps_emitted": ("bridge_mcps_emitted_total", "MCPs handed to the emitter and confirmed."),
    "mcps_unchanged": ("bridge_mcps_unchanged_total", "MCPs not sent because the same value was already delivered."),
    "kafka_rebalances": ("bridge_kafka_rebalances_total",
                         "Consumer-group rebalances this worker took part in (partitions assigned, revoked or lost)."),
}


#: At most this many distinct label values per labelled counter; the rest are counted under :data:`OTHER`.
MAX_LABELS = 200
#: Longer label values are cut to this many characters (and end in ``...``).
MAX_LABEL_LENGTH = 100
#: The label value of what is over :data:`MAX_LABELS`.
OTHER = "_other"


def _label(value: str) -> str:
    return value if len(value) <= MAX_LABEL_LENGTH else value[: MAX_LABEL_LENGTH - 3] + "..."


def _add(counts: dict[str, int], name: str, amount: int) -> None:
    """``counts[name] += amount``, keeping at most MAX_LABELS names (plus OTHER for the rest)."""
    if name in counts:
        counts[name] += amount
    elif len(counts) < MAX_LABELS:
        counts[name] = amount
    else:
        counts[OTHER] = counts.get(OTHER, 0) + amount


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """The bridge's metrics registry.

    Args:
        gauges: name -> (help, function returning the current value), read at scrape time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(_COUNTERS, 0)
        self._rejected: dict[str, int] = {}
        # facet name -> delivered events' occurrences nothing mapped (at most MAX_LABELS names, see _add)
        self._unmapped: dict[str, int] = {}
        self._unmapped_changed = False  # since the last snapshot()
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self._families: dict[str, tuple[str, str, Callable[[], Mapping[str, float]]]] = {}
        self.delivery_latency = _Histogram(_LATENCY_BUCKETS)
        self.acceptance_latency = _Histogram(_LATENCY_BUCKETS)
        # Counters reported by a delivery child process: its latest snapshot, plus what
        # earlier (dead) children had counted.
        self._remote: dict | None = None
        self._remote_base: dict = {"counters": {}, "unmapped": {},
                                   "delivery": {"counts": [0] * (len(_LATENCY_BUCKETS) + 1), "sum": 0.0, "count": 0}}

    def inc(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def get(self, name: str) -> int:
        with self._lock:
            return self._counters[name] + self._remote_counter(name)

    def _remote_counter(self, name: str) -> int:
        base = self._remote_base["counters"].get(name, 0)
        return base + (self._remote["counters"].get(name, 0) if self._remote else 0)

    def snapshot(self) -> dict:
        """Counters and the delivery-latency histogram, to send to another process.

        The unmapped facets (at most :data:`MAX_LABELS` of them) are in it only when they changed
        since the previous snapshot: :meth:`absorb` keeps the last ones it got otherwise, so an idle
        child's report every quarter second stays a few hundred bytes.
        """
        with self._lock:
            hist = self.delivery_latency
            out = {"counters": dict(self._counters),
                   "delivery": {"counts": list(hist.counts), "sum": hist.sum, "count": hist.count}}
            if self._unmapped_changed:
                out["unmapped"] = dict(self._unmapped)
                self._unmapped_changed = False
            return out

    def absorb(self, snapshot: dict | None, *, keep: bool = False) -> None:
        """Take a delivery child's latest snapshot; ``keep=True`` when that child died (its counts stay)."""
        with self._lock:
            if keep:
                if self._remote:
                    base = self._remote_base
                    for key, value in self._remote["counters"].items():
                        base["counters"][key] = base["counters"].get(key, 0) + value
                    for key, value in self._remote.get("unmapped", {}).items():
                        _add(base["unmapped"], key, value)
                    d = self._remote["delivery"]
                    base["delivery"]["counts"] = [a + b for a, b in zip(base["delivery"]["counts"], d["counts"],
                                                                        strict=True)]
                    base["delivery"]["sum"] += d["sum"]
                    base["delivery"]["count"] += d["count"]
                self._remote = None
            else:
                if snapshot is not None and "unmapped" not in snapshot:
                    snapshot = {**snapshot, "unmapped": (self._remote or {}).get("unmapped", {})}
                self._remote = snapshot

    def _delivery_histogram(self) -> _Histogram:
        merged = _Histogram(_LATENCY_BUCKETS)
        parts = [self.delivery_latency, self._remote_base["delivery"]]
        if self._remote:
            parts.append(self._remote["delivery"])
        for part in parts:
            counts, total, count = (
                (part.counts, part.sum, part.count) if isinstance(part, _Histogram)
                else (part["counts"], part["sum"], part["count"])
            )
            merged.counts = [a + b for a, b in zip(merged.counts, counts, strict=True)]
            merged.sum += total
            merged.count += count
        return merged

    def reject(self, reason: str, amount: int = 1) -> None:
        """Count a refused request/event by reason (``invalid_json``, ``invalid_event``, ``unauthorized``, ...)."""
        with self._lock:
            _add(self._rejected, _label(reason), amount)

    def rejected(self, reason: str) -> int:
        with self._lock:
            return self._rejected.get(reason, 0)

    def count_unmapped_facets(self, counts: Mapping[str, int]) -> None:
        """Count facets of a delivered event that nothing mapped (``bridge_facets_unmapped_total{facet}``).

        Facet names are the producers': the first :data:`MAX_LABELS` distinct ones (cut to
        :data:`MAX_LABEL_LENGTH` characters) get a label each, later ones are counted as :data:`OTHER`.
        """
        if not counts:
            return
        with self._lock:
            for name, count in counts.items():
                _add(self._unmapped, _label(name), count)
            self._unmapped_changed = True

    def unmapped_facets(self) -> dict[str, int]:
        """Facet name -> count, this process's and its delivery children's."""
        with self._lock:
            return self._unmapped_total()

    def _unmapped_total(self) -> dict[str, int]:
        total = dict(self._unmapped)
        for part in (self._remote_base["unmapped"], (self._remote or {}).get("unmapped", {})):
            for name, count in part.items():
                _add(total, name, count)
        return total

    def observe_delivery(self, seconds: float) -> None:
        with self._lock:
            self.delivery_latency.observe(max(seconds, 0.0))

    def observe_acceptance(self, seconds: float) -> None:
        with self._lock:
            self.acceptance_latency.observe(max(seconds, 0.0))

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Register a gauge read at scrape time."""
        with self._lock:
            self._gauges[name] = (help_text, read)

    def gauge_family(self, name: str, help_text: str, label: str, read: Callable[[], Mapping[str, float]]) -> None:
        """Register gauges read at scrape time, one per value of ``label`` (``read`` returns value -> gauge)."""
        with self._lock:
            self._families[name] = (help_text, label, read)

    def render(self) -> str:
        """The Prometheus text exposition of everything."""
        lines: list[str] = []
        with self._lock:
            for key, (name, help_text) in _COUNTERS.items():
                value = self._counters[key] + self._remote_counter(key)
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {value}"]
            name = "bridge_events_rejected_total"
            lines += [f"# HELP {name} Requests or events refused, by reason.", f"# TYPE {name} counter"]
            lines += [f'{name}{{reason="{reason}"}} {count}' for reason, count in sorted(self._rejected.items())]
            name = "bridge_facets_unmapped_total"
            lines += [f"# HELP {name} Facets of delivered events that nothing maps to DataHub, by facet name.",
                      f"# TYPE {name} counter"]
            lines += [f'{name}{{facet="{_escape(facet)}"}} {count}'
                      for facet, count in sorted(self._unmapped_total().items())]
            for name, hist, help_text in (
                ("bridge_delivery_latency_seconds", self._delivery_histogram(), "Time from acceptance to delivery."),
                ("bridge_acceptance_latency_seconds", self.acceptance_latency, "Time to make a request durable."),
            ):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram", *hist.render(name)]
            # Copies: a gauge may be registered (by the consume loop starting) while /metrics is scraped;
            # the gauges themselves are read outside the lock (they may take locks of their own).
            gauges, families = list(self._gauges.items()), list(self._families.items())
        for name, (help_text, read) in gauges:
            try:
                gauge_value = read()
            except Exception:  # noqa: BLE001 - a broken gauge must not break the scrape
                continue
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {gauge_value:g}"]
        for name, (help_text, label, read_all) in families:
            try:
                values = dict(read_all())
            except Exception:  # noqa: BLE001 - as above
                continue
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f'{name}{{{label}="{_escape(key)}"}} {value:g}' for key, value in sorted(values.items())]
        return "\n".join(lines) + "\n"
