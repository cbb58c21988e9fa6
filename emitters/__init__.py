"""Delivery of MCPs to DataHub: REST (GMS), Kafka, a file, the console — one interface.

Emitters are created by kind with :func:`create_emitter`; the REST and Kafka
emitters live in their own subpackages and import their dependencies lazily.
"""

from emitters.base import Callback, Emitter, create_emitter, emitter_class, emitter_kinds
from emitters.console import ConsoleEmitter, ConsoleEmitterConfig
from emitters.file import FileEmitter, FileEmitterConfig

__all__ = [
    "Callback",
    "ConsoleEmitter",
    "ConsoleEmitterConfig",
    "Emitter",
    "FileEmitter",
    "FileEmitterConfig",
    "create_emitter",
    "emitter_class",
    "emitter_kinds",
]
