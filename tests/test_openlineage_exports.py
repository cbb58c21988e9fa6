"""The public surface of translators.openlineage is exactly what __all__ says."""

from __future__ import annotations

import importlib
from pathlib import Path

import translators.openlineage as ol


def test_exported_names() -> None:
    assert sorted(ol.__all__) == [
        "event_json",
        "from_client_event",
        "iter_json_records",
        "parse_event",
        "parse_events",
        "read_events",
        "standard_facets",
        "to_openlineage",
        "validate_event",
    ]
    for name in ol.__all__:
        assert callable(getattr(ol, name))
        assert getattr(ol, name).__doc__, f"{name} needs a docstring"


def test_importing_does_not_import_the_openlineage_client() -> None:
    """openlineage-python is optional: only from_client_event imports it, lazily."""
    import subprocess
    import sys

    code = "import sys, translators.openlineage; print('openlineage' in sys.modules)"
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"
    importlib.import_module("translators.openlineage._client")
