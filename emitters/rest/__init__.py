"""The REST emitter: MCPs to DataHub GMS over its Rest.li or OpenAPI ingestion API.

::

    from emitters.rest import RestEmitter

    with RestEmitter(gms_server="http://localhost:8080", token="...") as emitter:
        emitter.test_connection()
        emitter.emit(mcp)
        emitter.emit_mcps(many_mcps)

Configuration: :class:`RestEmitterConfig` (``from_dict`` / ``from_env``); ``emit_mode`` takes
DataHub's :class:`EmitMode` names.
"""

from emitters.rest.config import DEFAULT_GMS_SERVER, RestEmitterConfig, normalize_gms_url
from emitters.rest.emitter import RestEmitter
from emitters.rest.modes import EmitMode

#: DataHub's name (``datahub.emitter.rest_emitter.DatahubRestEmitter``): its users change only the import.
DatahubRestEmitter = RestEmitter

__all__ = ["DEFAULT_GMS_SERVER", "DatahubRestEmitter", "EmitMode", "RestEmitter", "RestEmitterConfig",
           "normalize_gms_url"]
