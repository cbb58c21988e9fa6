"""The public surface is what ``__all__`` says, and everything in it exists."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["bridge", "translators", "translators.openlineage", "translators.datahub", "emitters"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name):
    module = importlib.import_module(name)
    assert module.__all__, f"{name} has an empty __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_core_does_not_import_heavy_or_reference_packages():
    """Importing the core must not pull in dagster, confluent_kafka, uvicorn or acryl-datahub."""
    import subprocess
    import sys

    code = (
        "import sys, bridge, translators, emitters, bridge.api, bridge.cli;"
        "heavy = [m for m in ('dagster', 'confluent_kafka', 'uvicorn', 'starlette', 'datahub', 'fastavro') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
