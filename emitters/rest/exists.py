"""Which URNs GMS does not know yet: the question ``bridge explain --gms-server`` asks.

A URN that lineage points at but nothing ever wrote (a *dangling* URN) breaks DataHub's lineage
graph: the edge leads to an entity with no aspects. GMS is asked the way DataHub's own client does
it (``DataHubGraph.exists``): read the entity's *key aspect*, which GMS writes with the first aspect
of any entity, with ``GET /aspects/<url-encoded urn>?aspect=<entityType>Key&version=0``. A 200 means
the entity exists, a 404 that it does not; anything else is an error.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable

from emitters.rest.client import GmsClient
from emitters.rest.connection import gms_error

__all__ = ["missing_urns"]


def missing_urns(client: GmsClient, urns: Iterable[str], key_aspect: Callable[[str], str]) -> list[str]:
    """The URNs of ``urns`` that GMS holds no entity for, in the order given (each asked once).

    ``key_aspect`` names a URN's key aspect (DataHub's entity registry knows them:
    :data:`translators.datahub.registry.EntityRegistry.key_aspects`).

    Each is one request without retries (a person is waiting; call
    :func:`~emitters.rest.connection.check_connection` first to learn that the URL is GMS's and
    the token is accepted).

    Raises:
        DeliveryError subclass: GMS did not answer, or answered something else than 200 or 404
            (a refused token, a server error); the error names the URN.
    """
    missing = []
    for urn in dict.fromkeys(urns):
        path = f"/aspects/{urllib.parse.quote(urn, safe='')}?aspect={key_aspect(urn)}&version=0"
        response = client.request_once("GET", path)
        if response.status == 404:
            missing.append(urn)
        elif response.status >= 300:
            raise gms_error(client, response, "/aspects", urn=urn)
    return missing
