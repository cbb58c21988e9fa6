"""``bridge consume``: OpenLineage events from a Kafka topic into the durable spool.

Producers write events with openlineage-python's Kafka transport (one JSON
event per message, keyed by job so a run's events share a partition). Any
number of ``bridge consume`` workers share the topic as one consumer group.
Offsets are committed only after the polled events are committed to the spool,
so a crash re-reads, never loses (at-least-once; DataHub UPSERTs are
idempotent).

One message never stops a partition: whatever it holds (not UTF-8, not JSON,
nested past the recursion limit, a lone surrogate, not an event, too large),
it is dead-lettered with the reason and its place (``topic[partition]@offset``)
and the next message is read. A failure of the spool itself (disk full, I/O
error) is not the message's fault: nothing is dead-lettered and nothing
committed; the batch is read again after a pause.

librdkafka's own logs go through the ``bridge.consume.kafka`` logger as
key=value lines, each distinct line at most once a minute; an unreachable broker
is said plainly once, and again when it is back (see :class:`ConsumeHealth`).
"""

from __future__ import annotations

# Importable from here, though not in ``__all__``: the dead-letter text limit and its helper.
from bridge.consume._decode import DEAD_BODY_LIMIT as DEAD_BODY_LIMIT
from bridge.consume._decode import Decoded, decode_message
from bridge.consume._decode import storable as storable
from bridge.consume._kafka import ConsumeHealth, KafkaWatch
from bridge.consume._loop import ConsumeSettings, ConsumeStats, consume

__all__ = ["ConsumeHealth", "ConsumeSettings", "ConsumeStats", "Decoded", "KafkaWatch", "consume", "decode_message"]
