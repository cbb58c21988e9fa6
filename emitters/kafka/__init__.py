"""Kafka emitter: DataHub ``MetadataChangeProposal`` Avro records through a Schema Registry.

Needs the ``kafka`` extra (``pip install 'lineage-bridge[kafka]'``): confluent-kafka
and fastavro are imported on first use, not when this package is imported.
"""

from .config import DEFAULT_MCP_TOPIC, KafkaConnectionConfig, KafkaEmitterConfig
from .emitter import KafkaEmitter

#: DataHub's name (``datahub.emitter.kafka_emitter.DatahubKafkaEmitter``): its users change only the import.
DatahubKafkaEmitter = KafkaEmitter

__all__ = ["DEFAULT_MCP_TOPIC", "DatahubKafkaEmitter", "KafkaConnectionConfig", "KafkaEmitter", "KafkaEmitterConfig"]
