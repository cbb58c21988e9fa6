"""``bridge consume``: OpenLineage events from a Kafka topic, delivered; Kafka is the log.

Producers write events with openlineage-python's Kafka transport (one JSON
event per message, keyed by job so a run's events share a partition). Any
number of ``bridge consume`` workers share the topic as one consumer group
(cooperative-sticky assignment). A partition's offset is committed only up to
the events the destination has acknowledged (:mod:`bridge.consume._partitions`):
the worker's spool is a cache, so a worker that vanishes with its disk loses
nothing (at-least-once; a replay changes nothing in DataHub). While the
destination is down, or too much is undelivered, the partitions are paused and
polling goes on, so the worker stays in the group with bounded state.

One message never stops a partition: whatever it holds (not UTF-8, not JSON,
nested past the recursion limit, a lone surrogate, not an event, too large, in a
record batch librdkafka cannot read: the batch is one dead letter naming the offsets
skipped), it is dead-lettered with the reason and its place (``topic[partition]@offset``)
and the next message is read; with a
dead-letter topic the offset moves past it once the broker has the dead letter
(:mod:`bridge.consume._dead_topic`, which cuts one to fit the topic). A poll is
bounded in bytes as well as count (:mod:`bridge.consume._poll`), and the spool
keeps dead letters of consumed messages within ``max_dead_bytes``. A
failure of the spool itself (disk full, I/O error) is not the message's fault:
nothing is dead-lettered; the batch is read again after a pause.

librdkafka's own logs go through the ``bridge.consume.kafka`` logger as
key=value lines, each distinct line at most once a minute; an unreachable broker
is said plainly once, and again when it is back (see :class:`ConsumeHealth`).
"""

from __future__ import annotations

from bridge.consume._dead_topic import ReplayStats, replay_dead

# Importable from here, though not in ``__all__``: the dead-letter text limit and its helper.
from bridge.consume._decode import DEAD_BODY_LIMIT as DEAD_BODY_LIMIT
from bridge.consume._decode import Decoded, decode_message
from bridge.consume._decode import storable as storable
from bridge.consume._kafka import ConsumeHealth, KafkaWatch
from bridge.consume._loop import ConsumeSettings, ConsumeStats, consume

__all__ = ["ConsumeHealth", "ConsumeSettings", "ConsumeStats", "Decoded", "KafkaWatch", "ReplayStats", "consume",
           "decode_message", "replay_dead"]
