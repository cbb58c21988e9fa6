"""Pure translators: OpenLineage JSON <-> the neutral model, and the neutral model -> DataHub MCPs.

The two halves live in :mod:`translators.openlineage` and
:mod:`translators.datahub`; the names most callers need are re-exported here::

    from translators import parse_event, translate
    mcps = translate(parse_event(json.loads(body)))
"""

from translators.datahub import (
    DataHubTranslator,
    TranslatorConfig,
    aspect_mcp,
    translate,
)
from translators.openlineage import (
    from_client_event,
    parse_event,
    parse_events,
    read_events,
    to_openlineage,
)

__all__ = [
    "DataHubTranslator",
    "TranslatorConfig",
    "aspect_mcp",
    "from_client_event",
    "parse_event",
    "parse_events",
    "read_events",
    "to_openlineage",
    "translate",
]
