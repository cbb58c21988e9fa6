"""Kafka emitter: DataHub ``MetadataChangeProposal`` Avro records through a Schema Registry.

Needs the ``kafka`` extra (``pip install 'lineage-bridge[kafka]'``): confluent-kafka
and fastavro are imported on first use, not when this package is imported.
"""

from .config import DEFAULT_MCP_TOPIC, KafkaConnectionConfig, KafkaEmitterConfig
from .emitter import KafkaEmitter

__all__ = ["DEFAULT_MCP_TOPIC", "KafkaConnectionConfig", "KafkaEmitter", "KafkaEmitterConfig"]
