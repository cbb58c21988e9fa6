"""``GET /metrics`` of ``bridge serve --to-topic``: the intake's series and the producer's, no spool's."""

from __future__ import annotations

import threading

from bridge.spool import Metrics

__all__ = ["TopicMetrics"]

_COUNTERS = {
    "produced": ("bridge_topic_events_produced_total", "Events handed to the Kafka producer."),
    "acked": ("bridge_topic_events_acked_total", "Events the broker acknowledged (acks=all)."),
    "failed": ("bridge_topic_events_failed_total",
               "Events the broker refused or did not acknowledge in time, or the producer could not take."),
    "producer_restarts": ("bridge_topic_producer_restarts_total", "Producers replaced after a fatal error."),
}
#: The series of the intake (the spool's and delivery's do not exist here).
_INTAKE_SERIES = ("bridge_events_received_total", "bridge_events_rejected_total", "bridge_acceptance_latency_",
                  "bridge_http_", "bridge_topic_")


class TopicMetrics(Metrics):
    """``GET /metrics`` of ``serve --to-topic``: the intake's series and the producer's, no spool's."""

    def __init__(self) -> None:
        super().__init__()
        self._topic_lock = threading.Lock()
        self._topic = dict.fromkeys(_COUNTERS, 0)

    def inc(self, name: str, amount: int = 1) -> None:
        if name not in _COUNTERS:
            super().inc(name, amount)
            return
        with self._topic_lock:
            self._topic[name] += amount

    def get(self, name: str) -> int:
        if name not in _COUNTERS:
            return super().get(name)
        with self._topic_lock:
            return self._topic[name]

    def render(self) -> str:
        families = super().render().split("# HELP ")
        lines = ["# HELP " + family.rstrip("\n") for family in families[1:] if family.startswith(_INTAKE_SERIES)]
        with self._topic_lock:
            for key, (name, help_text) in _COUNTERS.items():
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {self._topic[key]}"]
        return "\n".join(lines) + "\n"
