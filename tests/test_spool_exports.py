"""The public surface of bridge.spool / bridge.intake, and that the serve extra is imported lazily."""

from __future__ import annotations

import subprocess
import sys

import bridge.intake
import bridge.spool


def test_exported_names_exist():
    assert sorted(bridge.spool.__all__) == sorted(set(bridge.spool.__all__))
    for module in (bridge.spool, bridge.intake):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_importing_the_intake_does_not_import_starlette_or_uvicorn():
    code = (
        "import sys, bridge.intake, bridge.spool, bridge.consume, bridge.cli.serve;"
        "print(sorted(m for m in ('starlette', 'uvicorn', 'confluent_kafka') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
