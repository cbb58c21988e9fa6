"""The status page: what the bridge received, what it sent to DataHub, what failed and why, and
the lineage it learned; served by ``bridge serve`` at ``/`` and by ``bridge ui --state-dir``.

* :class:`Journal` -- the newest events received, kept (redacted) for the page;
* :class:`StateReader` -- read-only queries over a state directory (spool, lineage memory, journal);
* :class:`Views` -- what the JSON endpoints answer;
* :func:`serving_backend` / :func:`offline_backend` + :func:`ui_routes` -- the routes, in
  ``bridge serve`` or over a state directory (:func:`offline_app`, ``bridge ui``).

Nothing here imports starlette until the routes are built.
"""

from __future__ import annotations

from bridge.ui._journal import JOURNAL_BYTES, JOURNAL_EVENTS, JOURNAL_FILE, Journal
from bridge.ui._modes import offline_app, offline_backend, serving_backend
from bridge.ui._reader import StateReader
from bridge.ui._routes import UiBackend, ui_routes
from bridge.ui._views import Views

__all__ = [
    "JOURNAL_BYTES",
    "JOURNAL_EVENTS",
    "JOURNAL_FILE",
    "Journal",
    "StateReader",
    "UiBackend",
    "Views",
    "offline_app",
    "offline_backend",
    "serving_backend",
    "ui_routes",
]
