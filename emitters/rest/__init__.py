"""The REST emitter: MCPs to DataHub GMS over its Rest.li ingestion API.

::

    from emitters.rest import RestEmitter

    with RestEmitter(gms_server="http://localhost:8080", token="...") as emitter:
        emitter.test_connection()
        emitter.emit(mcp)
        emitter.emit_mcps(many_mcps)

Configuration: :class:`RestEmitterConfig` (``from_dict`` / ``from_env``).
"""

from emitters.rest.config import DEFAULT_GMS_SERVER, RestEmitterConfig, normalize_gms_url
from emitters.rest.emitter import RestEmitter

__all__ = ["DEFAULT_GMS_SERVER", "RestEmitter", "RestEmitterConfig", "normalize_gms_url"]
