"""DataHub's emit modes: how long GMS makes the emitter wait for a write.

The names and their meaning are DataHub's (``datahub.emitter.rest_emitter.EmitMode``):

================  ==========================  =============================================
mode              on the wire                 returns once
================  ==========================  =============================================
``SYNC_WAIT``     ``async=false``; OpenAPI:   written to the database and the search index
                  also the aspect header
                  ``X-DataHub-Sync-Index-Update: true``
``SYNC_PRIMARY``  ``async=false``             written to the database (search follows)
``ASYNC``         ``async=true``              queued by GMS (written later)
``ASYNC_WAIT``    ``async=true``, then the    GMS's trace API says the write is persisted
                  trace API is polled         (OpenAPI only, as in DataHub)
================  ==========================  =============================================

On the Rest.li endpoints ``SYNC_WAIT`` is sent like ``SYNC_PRIMARY`` and ``ASYNC_WAIT``
like ``ASYNC`` (the Rest.li body has only the ``async`` flag), exactly as DataHub's emitter does.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["DEFAULT_EMIT_MODE", "EmitMode", "parse_emit_mode"]


class EmitMode(enum.StrEnum):
    """How long GMS makes the emitter wait for a write (DataHub's ``EmitMode``)."""

    SYNC_WAIT = "SYNC_WAIT"
    SYNC_PRIMARY = "SYNC_PRIMARY"
    ASYNC = "ASYNC"
    ASYNC_WAIT = "ASYNC_WAIT"

    @property
    def is_async(self) -> bool:
        """Whether GMS is asked to queue the write (``async=true``)."""
        return self in (EmitMode.ASYNC, EmitMode.ASYNC_WAIT)


#: DataHub's default when ``DATAHUB_EMIT_MODE`` is not set; also what the bridge always sent
#: (``async=false``), so choosing it changes nothing on the wire for existing users.
DEFAULT_EMIT_MODE = EmitMode.SYNC_PRIMARY

# The bridge's older ``mode`` values, kept working: they meant exactly these.
_LEGACY = {"sync": EmitMode.SYNC_PRIMARY, "async": EmitMode.ASYNC}


def parse_emit_mode(value: Any) -> EmitMode:
    """An :class:`EmitMode` from its name in any case (or DataHub's enum, or ``sync``/``async``).

    Raises:
        ValueError: not a mode; the message lists the modes.
    """
    if isinstance(value, EmitMode):
        return value
    name = getattr(value, "name", value)  # acryl-datahub's own EmitMode enum
    text = str(name).strip()
    if text.lower() in _LEGACY:
        return _LEGACY[text.lower()]
    try:
        return EmitMode(text.upper())
    except ValueError:
        names = ", ".join(m.value for m in EmitMode)
        raise ValueError(f"expected one of {names}, got {value!r}") from None
