"""``bridge serve``: the OpenLineage HTTP endpoint in front of the durable spool.

* :func:`create_app` / :class:`ServeSettings` -- the Starlette app and its settings;
* :func:`serve` -- run it under uvicorn in the foreground (:func:`run_foreground`: any app, as
  ``bridge ui`` does); :class:`BackgroundServer` -- in a thread;
* :func:`post_events` -- the client that replays events to a running bridge (``bridge send --to``).

Nothing here imports starlette or uvicorn until it is used.
"""

from __future__ import annotations

from bridge.intake._app import LINEAGE_ROUTES, create_app
from bridge.intake._replay import SendSummary, send_files
from bridge.intake._server import BackgroundServer, build_server, run_foreground, serve
from bridge.intake._settings import ServeSettings
from bridge.intake.client import PostResult, post_events

__all__ = [
    "LINEAGE_ROUTES",
    "BackgroundServer",
    "PostResult",
    "SendSummary",
    "ServeSettings",
    "build_server",
    "create_app",
    "post_events",
    "run_foreground",
    "send_files",
    "serve",
]
