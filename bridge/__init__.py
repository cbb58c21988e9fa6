"""lineage-bridge: run/job/dataset lineage from any producer into DataHub.

The public API: the neutral event model, the MCP envelope, configuration,
errors, and the :class:`Bridge` facade orchestrators call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.config import BridgeConfig, load_config
from bridge.errors import (
    AuthError,
    BridgeError,
    ConfigError,
    ConnectionFailedError,
    DeliveryError,
    InvalidEventError,
    MissingDependencyError,
    QueueFullError,
    RejectedError,
    RetriableError,
    UndeliveredError,
)
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.model import (
    ColumnLineage,
    Dataset,
    DatasetEvent,
    DatasetStatistics,
    ErrorInfo,
    Event,
    EventType,
    InputField,
    Job,
    JobEvent,
    Owner,
    ParentRun,
    Run,
    RunEvent,
    SchemaField,
    SourceLocation,
    Symlink,
    Tag,
    Transformation,
)

if TYPE_CHECKING:
    from bridge.api import Bridge, RunHandle
    from bridge.pipeline import Pipeline

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "Bridge",
    "BridgeConfig",
    "BridgeError",
    "ColumnLineage",
    "ConfigError",
    "ConnectionFailedError",
    "Dataset",
    "DatasetEvent",
    "DatasetStatistics",
    "DeliveryError",
    "ErrorInfo",
    "Event",
    "EventType",
    "InputField",
    "InvalidEventError",
    "Job",
    "JobEvent",
    "MetadataChangeProposalWrapper",
    "MissingDependencyError",
    "Owner",
    "ParentRun",
    "Pipeline",
    "QueueFullError",
    "RejectedError",
    "RetriableError",
    "Run",
    "RunEvent",
    "RunHandle",
    "SchemaField",
    "SourceLocation",
    "Symlink",
    "Tag",
    "Transformation",
    "UndeliveredError",
    "load_config",
]

# The facade and pipeline import the translators and emitters, which import the
# model from here: load them on first use to keep imports one-way.
_LAZY = {"Bridge": "bridge.api", "RunHandle": "bridge.api", "Pipeline": "bridge.pipeline"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
